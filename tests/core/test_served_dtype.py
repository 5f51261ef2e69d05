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


def test_counted_weights_carry_one_percent_unless_quantized_or_multimodal() -> None:
    """A size counted from the config: +- 1 % for an unquantized text-only checkpoint (within 0.68 % of
    'Model loading took' on 40 benchmark lines), +- 2 % for quantized or multimodal ones (AWQ 1.47 %)."""
    from kvplan.core.architectures import model_spec_from_config
    from kvplan.core.plan import counted_weights_error
    from kvplan.core.settings import DeploySettings
    from tests.conftest import load_config

    text = model_spec_from_config(load_config("meta-llama__Llama-3.1-8B-Instruct"))
    vision = model_spec_from_config(load_config("google__gemma-3-4b-it"))
    assert vision.is_multimodal and not text.is_multimodal
    assert counted_weights_error(10_000, text, DeploySettings()) == 100
    assert counted_weights_error(10_000, text, DeploySettings(quantization="fp8")) == 200
    assert counted_weights_error(10_000, vision, DeploySettings()) == 200
