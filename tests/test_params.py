"""Parameter counts from config, checked against published figures (transformers' numel sums, index sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvplan.core.errors import UnsupportedModelError
from kvplan.core.params import count_params

SOURCES = Path(__file__).parent / "data" / "catalog_sources"


def _cfg(name: str) -> dict[str, object]:
    return json.loads((SOURCES / name / "config.json").read_text())  # type: ignore[no-any-return]


# sum(p.numel()) of the transformers model built on the meta device from the same config (transformers 5.24)
# or the published figure; MTP layers and the float32 router bias are checkpoint tensors transformers omits.
EXACT = {
    "meta-llama__Llama-3.1-8B": 8_030_261_248,
    "meta-llama__Llama-3.1-8B-Instruct": 8_030_261_248,
    "meta-llama__Llama-3.1-70B": 70_553_706_496,
    "meta-llama__Llama-3.1-405B": 405_853_388_800,
    "meta-llama__Llama-3.2-1B-Instruct": 1_235_814_400,
    "meta-llama__Llama-3.2-3B-Instruct": 3_212_749_824,
    "Qwen__Qwen2.5-7B": 7_615_616_512,
    "Qwen__Qwen2.5-72B": 72_706_203_648,
    "Qwen__Qwen3-8B": 8_190_735_360,
    "Qwen__Qwen3-14B": 14_768_307_200,
    "Qwen__Qwen3-32B": 32_762_123_264,
    "Qwen__Qwen3-30B-A3B": 30_532_122_624,
    "Qwen__Qwen3-235B-A22B": 235_093_634_560,
    "Qwen__Qwen3-Next-80B-A3B-Thinking": 79_674_391_296,
    "mistralai__Mistral-7B-v0.1": 7_241_732_096,
    "mistralai__Mistral-Nemo-Instruct-2407": 12_247_782_400,
    "mistralai__Mixtral-8x7B-v0.1": 46_702_792_704,
    "google__gemma-2-9b-it": 9_241_705_984,
    "google__gemma-3-4b-it": 4_300_079_472,  # includes the SigLIP tower and projector
    "google__gemma-3-27b-it": 27_432_406_640,
    "OpenPipe__gemma-3-12b-it-text-only": 11_766_034_176,
    "ssg97__gemma-2-27b-it-gptq-int4": 27_227_128_320,
    "microsoft__Phi-3-mini-4k-instruct": 3_821_079_552,
    "microsoft__phi-4": 14_659_507_200,
    "openai__gpt-oss-20b": 20_914_757_184,
    "openai__gpt-oss-120b": 116_829_156_672,
    "ai21labs__Jamba-v0.1": 51_570_323_328,
    "nvidia__Nemotron-H-56B-Base-8K": 56_324_350_464,
    "nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": 31_577_937_344 + 23 * 128,  # + e_score_correction_bias
    "deepseek-ai__DeepSeek-V2-Lite": 15_706_484_224,
    "deepseek-ai__DeepSeek-V3": 671_026_404_352 + 58 * 256 + 13_463_426_304,  # + router bias, + MTP layer
    "meta-llama__Llama-4-Scout-17B-16E-Instruct": 107_769_861_120,  # text only
    "tiiuae__falcon-7b": 6_921_720_704,
    "Qwen__Qwen-7B-Chat": 7_721_324_544,
    "THUDM__glm-4-9b-chat": 9_399_951_360,
    "Qwen__Qwen3-0.6B": 596_049_920,
    "Qwen__Qwen3-1.7B": 1_720_574_976,
    "Qwen__Qwen2.5-32B-Instruct": 32_763_876_352,
    "Qwen__Qwen3-Coder-480B-A35B-Instruct": 480_154_875_392,
    "Qwen__Qwen3-VL-2B-Instruct": 1_720_574_976 + 406_957_056,  # text + vision (transformers' count)
    "Qwen__Qwen3-VL-30B-A3B-Instruct": 30_532_122_624 + 538_631_408,  # text + vision (transformers' count)
    "Qwen__Qwen3.5-27B": 26_895_998_464 + 460_730_096,  # text + vision (transformers' count), MTP not counted
    "Qwen__Qwen3.5-35B-A3B": 34_660_610_688 + 446_571_248,  # text + vision (transformers' count), MTP not counted
    "allenai__Olmo-3.1-32B-Instruct": 32_233_522_176,
    "meta-llama__Llama-2-7b-hf": 6_738_415_616,
    "01-ai__Yi-34B": 34_388_917_248,
    "codellama__CodeLlama-34b-Instruct-hf": 33_743_970_304,
    "mistralai__Mixtral-8x22B-v0.1": 140_620_634_112,
    "meta-llama__Llama-4-Maverick-17B-128E-Instruct": 400_711_848_960,  # text tower
    "nvidia__NVIDIA-Nemotron-3-Super-120B-A12B-FP8": 120_668_687_360 + 40 * 512,  # latent MoE; + router bias
    "nvidia__NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16": 549_308_968_960 + 48 * 512,  # layers_block_type form
}


def test_llama_3_1_8b_exact() -> None:
    r = count_params(_cfg("meta-llama__Llama-3.1-8B"))
    assert r.param_count == 8_030_261_248
    assert r.bytes == 16_060_522_496  # the published model.safetensors.index.json total_size
    assert r.exact and r.source == "counted from config" and r.dtype == "bfloat16"


@pytest.mark.parametrize(("name", "expected"), sorted(EXACT.items()))
def test_exact_counts(name: str, expected: int) -> None:
    assert count_params(_cfg(name)).param_count == expected


def test_gemma2_9b_bytes_match_published_index() -> None:
    assert count_params(_cfg("google__gemma-2-9b-it")).bytes == 18_483_411_968


def test_deepseek_v3_mtp_reported() -> None:
    r = count_params(_cfg("deepseek-ai__DeepSeek-V3"))
    assert r.mtp_param_count == 13_463_426_304
    assert not r.exact and "fp8" in r.dtype  # block-quantized: an estimate


def test_quantized_bytes_are_estimates_and_smaller() -> None:
    awq = count_params(_cfg("LDCC__Qwen2.5-72B-Instruct-ko-AWQ"))
    assert awq.param_count == 72_706_203_648
    assert not awq.exact and awq.dtype.startswith("awq 4-bit")
    assert 0.25 < awq.bytes / (2 * awq.param_count) < 0.35
    oss = count_params(_cfg("openai__gpt-oss-20b"))
    assert oss.dtype == "mxfp4 experts" and oss.bytes == 13_761_264_768


def test_modelopt_fp8_from_sidecar() -> None:
    name = "nvidia__Llama-3.1-70B-Instruct-FP8"
    quant = json.loads((SOURCES / name / "hf_quant_config.json").read_text())
    r = count_params(_cfg(name), hf_quant_config=quant)
    assert "fp8" in r.dtype and r.bytes < 0.6 * 2 * r.param_count


def test_unknown_family_raises() -> None:
    with pytest.raises(UnsupportedModelError):
        count_params({"model_type": "t5", "d_model": 512})


def test_modelopt_mixed_precision_takes_each_group_width() -> None:
    """nvidia/Qwen3.6-35B-A3B-NVFP4: experts in NVFP4 (group 1), linear attention in FP8 (group 0).

    Counting every linear layer as FP8 gave 33.2 GiB, more than the RTX 5090 it was logged starting on."""
    from kvplan.core.params import _mixed_precision_bits
    from kvplan.sources import catalog

    entry = catalog.find("nvidia/Qwen3.6-35B-A3B-NVFP4")
    assert entry is not None
    q = entry.config["quantization_config"]
    assert _mixed_precision_bits(q)["expert"] == 4
    assert _mixed_precision_bits(q)["ssm"] == 8
    counted = count_params(entry.config)
    assert 19 * 2**30 < counted.bytes < 21 * 2**30


def test_modelopt_mixed_precision_quantized_layers_map() -> None:
    """Nemotron-3.5-Lightning's hf_quant_config.json lists each module's quant_algo (``quantized_layers``): NVFP4
    routed and shared experts and LM head, FP8 Mamba projections, bf16 attention (not listed). vLLM quantizes
    exactly the listed modules, the LM head included (ModelOptMixedPrecisionConfig.get_quant_method)."""
    folder = SOURCES / "nvidia__NVIDIA-Nemotron-3.5-Lightning-30B-A3B-NVFP4"
    config = json.loads((folder / "config.json").read_text())
    quant = json.loads((folder / "hf_quant_config.json").read_text())
    counted = count_params(config, hf_quant_config=quant)
    plain = count_params(config)
    assert counted.dtype == "modelopt mixed fp8, modelopt mixed nvfp4"
    assert plain.bytes == 63_155_886_464 and counted.bytes == 18_873_134_184
    layers = dict(quant["quantization"]["quantized_layers"])
    del layers["lm_head"]
    head_bf16 = count_params(config, hf_quant_config={"quantization": {**quant["quantization"],
                                                                       "quantized_layers": layers}})
    n = 131_072 * 2688
    assert head_bf16.bytes - counted.bytes == 2 * n - (n // 2 + n // 16 + 8)


def _counted(folder: str) -> tuple[dict[str, object], dict[str, object] | None, int]:
    config = json.loads((SOURCES / folder / "config.json").read_text())
    path = SOURCES / folder / "hf_quant_config.json"
    quant = json.loads(path.read_text()) if path.exists() else None
    return config, quant, count_params(config, hf_quant_config=quant).bytes


def test_exclusion_lists_keep_named_layers_in_the_model_dtype() -> None:
    """Nemotron-3-Nano-30B-A3B-NVFP4 keeps 6 of its 23 Mamba blocks (in_proj, out_proj) and all 6 attention
    layers (q/k/v/o) in bf16 (``exclude_modules``). Counted with that list: 19,323,954,688 B, against the
    19,342,796,720 B its safetensors hold (-0.10 %); without the list, 18,788,311,840 B (-2.9 %)."""
    config, quant, counted = _counted("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4")
    assert counted == 19_323_954_688
    assert quant is not None
    bare = {"quantization": {k: v for k, v in quant["quantization"].items() if k != "exclude_modules"}}
    assert count_params(config, hf_quant_config=bare).bytes == 18_788_311_840
    # Mamba: 6 x (2688 x 10304 + 4096 x 2688) weights go back from NVFP4 to bf16.
    mamba = 6 * (2688 * 10304 + 4096 * 2688)
    attention = 6 * (2688 * 4096 + 2 * 2688 * 256 + 4096 * 2688)
    assert abs((counted - 18_788_311_840) - (mamba + attention) * (2 - 0.5625)) < 0.001 * counted


def test_an_exclusion_naming_single_projections_covers_only_those() -> None:
    """DeepSeek-V3.1-NVFP4 keeps q_a/q_b/kv_a/kv_b in bf16 in all 61 layers but quantizes o_proj: the count
    grows by those four projections only (16.8 GB would be the whole attention block). The checkpoint's MTP
    layer (which vLLM does not load) is counted alike: 62 layers' worth."""
    _, _, counted = _counted("nvidia__DeepSeek-V3.1-NVFP4")
    per_layer = 7168 * 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 * 128 * 256
    assert abs((counted - 390_511_494_024) - 62 * per_layer * (2 - 0.5625)) < 1e-5 * counted
