"""``--quantization fp8`` on an unquantized checkpoint: vLLM quantizes the linear layers online.

Hand counts: Llama-3.1-8B has 32 layers x (q 4096x4096, k and v 4096x1024, o 4096x4096, gate and up
4096x14336, down 14336x4096) = 6,979,321,856 linear weights; fp8 saves a byte on each and adds a float32
scale per matrix (7 per layer). Qwen3-30B-A3B: 48 x (128 experts x 3 x 2048x768 + attention 18,874,368).
"""

from __future__ import annotations

import pytest

from kvplan.core.errors import UsageError
from kvplan.core.params import online_fp8_saving_bytes
from kvplan.core.weights import WeightsInfo, with_quantization_flag
from kvplan.sources import catalog


def _config(name: str) -> dict:  # type: ignore[type-arg]
    entry = catalog.find(name)
    assert entry is not None
    return dict(entry.config)


def test_llama_8b_linear_layers_go_to_one_byte() -> None:
    assert online_fp8_saving_bytes(_config("meta-llama/Llama-3.1-8B")) == 6_979_321_856 - 4 * 7 * 32


def test_moe_experts_are_quantized_too() -> None:
    linear = 48 * (128 * 3 * 2048 * 768 + 18_874_368)
    assert online_fp8_saving_bytes(_config("Qwen/Qwen3-30B-A3B")) == linear - 4 * 48 * (4 + 128 * 3)


def test_flag_applies_to_the_checkpoint_figure() -> None:
    base = WeightsInfo(total_bytes=16_060_522_496, source="safetensors headers")
    fp8 = with_quantization_flag(base, _config("meta-llama/Llama-3.1-8B"), "fp8", None)
    assert fp8.total_bytes == 16_060_522_496 - (6_979_321_856 - 896)
    assert not fp8.exact and "--quantization fp8" in fp8.source and fp8.source.startswith("safetensors headers")


def test_flag_matching_the_checkpoint_changes_nothing() -> None:
    base = WeightsInfo(total_bytes=1000, source="catalog")
    assert with_quantization_flag(base, _config("Qwen/Qwen3-32B-FP8"), "fp8", "fp8") is base
    assert with_quantization_flag(base, _config("meta-llama/Llama-3.1-8B"), None, None) is base


def test_fp8_on_another_quantization_is_refused_like_vllm() -> None:
    with pytest.raises(UsageError, match="does not match the checkpoint's quantization"):
        with_quantization_flag(WeightsInfo(total_bytes=1000, source="catalog"), {}, "fp8", "awq")


def test_deepseek_mtp_layer_is_not_loaded() -> None:
    """vLLM's DeepseekV2ForCausalLM.load_weights skips layer 61 (num_nextn_predict_layers = 1): a full MoE
    decoder layer, eh_proj, and the layer's own embedding and shared head."""
    from kvplan.core.params import count_params, mtp_layer_bytes
    from kvplan.core.weights import without_skipped_layers

    config = _config("deepseek-ai/DeepSeek-R1")
    skipped = mtp_layer_bytes(config)
    assert skipped == count_params(config).bytes - count_params({**config, "num_nextn_predict_layers": 0}).bytes
    assert 14.2 * 2**30 < skipped < 14.3 * 2**30
    loaded = without_skipped_layers(WeightsInfo(total_bytes=688_472_104_000, source="catalog"), config)
    assert loaded.total_bytes == 688_472_104_000 - skipped and "MTP layers" in loaded.source
    llama = WeightsInfo(total_bytes=1000, source="catalog")
    assert without_skipped_layers(llama, _config("meta-llama/Llama-3.1-8B")) is llama
    assert mtp_layer_bytes(_config("moonshotai/Kimi-K2-Instruct")) == 0  # num_nextn_predict_layers 0
