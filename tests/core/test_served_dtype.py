"""Weights as vLLM holds them in the dtype it serves (``cast_to_served_dtype``)."""

from __future__ import annotations

from kvplan.core.weights import WeightsInfo, cast_to_served_dtype


def _weights(by_dtype: dict[str, int]) -> WeightsInfo:
    return WeightsInfo(total_bytes=sum(by_dtype.values()), source="safetensors headers", bytes_by_dtype=by_dtype)


def test_floating_tensors_take_the_served_width() -> None:
    bf16 = _weights({"BF16": 1000})
    assert cast_to_served_dtype(bf16, "bfloat16", "float32", quantized=False).total_bytes == 2000
    assert cast_to_served_dtype(bf16, "bfloat16", "float16", quantized=False) is bf16  # same width: unchanged
    f32 = _weights({"F32": 1000})
    assert cast_to_served_dtype(f32, "float32", "bfloat16", quantized=False).total_bytes == 500


def test_quantized_tensors_and_their_scales_keep_their_bytes() -> None:
    fp8 = _weights({"F8_E4M3": 1000, "F32": 10, "BF16": 200})  # weights, scales, embeddings and norms
    assert cast_to_served_dtype(fp8, "bfloat16", "float32", quantized=True).total_bytes == 1000 + 10 + 400
    assert cast_to_served_dtype(fp8, "bfloat16", "bfloat16", quantized=True) is fp8


def test_without_per_dtype_bytes_the_stored_width_comes_from_the_parameters() -> None:
    """Configs often say float32 for bf16 files: bytes per parameter tell the stored width."""
    catalog = WeightsInfo(total_bytes=2000, source="catalog", param_count=1000)
    assert cast_to_served_dtype(catalog, "float32", "bfloat16", quantized=False) is catalog
    assert cast_to_served_dtype(catalog, "float32", "float32", quantized=False).total_bytes == 4000
    assert cast_to_served_dtype(catalog, None, "float32", quantized=True) is catalog
