"""Parameter counts of the families added for issue 15's catalog models (DSA, DeepSeek-V4, Gemma 4, MiniMax-M2,
MiMo, Step-3.x, Laguna, Muse-Glimmer, Nemotron-NAS, Qwen3-Omni), each checked against a real checkpoint size where
one is known and otherwise against a hand count written here from the config (and the published total in the
model card, to the precision it is published)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.params import count_params

SOURCES = Path(__file__).parent / "data" / "catalog_sources"


def _cfg(name: str) -> dict[str, Any]:
    return json.loads((SOURCES / name / "config.json").read_text())  # type: ignore[no-any-return]


def _quant(name: str) -> dict[str, Any] | None:
    path = SOURCES / name / "hf_quant_config.json"
    return json.loads(path.read_text()) if path.exists() else None  # type: ignore[no-any-return]


def _swiglu(h: int, inter: int) -> int:
    return 3 * h * inter


def test_mimo_7b_equals_the_real_index_total_size() -> None:
    """MiMo-7B: a Qwen2 decoder plus one MTP layer (model.mtp_layers.0). A vendored MiMo-7B index
    (github.com/jj8127/mimo_kor, model.safetensors.index.json) says total_size 15,666,819,072: error 0.000 %."""
    r = count_params(_cfg("XiaomiMiMo__MiMo-7B-Base"))
    assert r.bytes == 15_666_819_072
    assert r.exact and r.dtype == "bfloat16"
    h, inter = 4096, 11008
    block = h * 4096 + 4096 + 2 * (h * 1024 + 1024) + 4096 * h + _swiglu(h, inter) + 2 * h
    assert r.mtp_param_count == block + 2 * h * h + 3 * h


def _mla_v3(h: int, heads: int, q_lora: int, nope: int, rope: int, v: int, kv_lora: int = 512) -> int:
    return (h * q_lora + q_lora + q_lora * heads * (nope + rope) + h * (kv_lora + rope) + kv_lora
            + kv_lora * heads * (nope + v) + heads * v * h)


def test_deepseek_v32_is_v3_plus_one_indexer_per_layer() -> None:
    """V3.2 = V3 + the lightning indexer in each of the 61 layers and the MTP layer (vLLM 0.34 ``Indexer``:
    wq_b 1536 -> 64 x 128, wk 7168 -> 128, weights_proj 7168 -> 64, k_norm weight and bias of 128)."""
    v3 = count_params(_cfg("deepseek-ai__DeepSeek-V3"))
    v32 = count_params(_cfg("deepseek-ai__DeepSeek-V3.2"))
    indexer = 1536 * 64 * 128 + 7168 * 128 + 7168 * 64 + 2 * 128
    assert v32.param_count - v3.param_count == 62 * indexer
    assert v32.mtp_param_count - v3.mtp_param_count == indexer


def _glm5_hand_count(indexers: int) -> int:
    """GLM-5 (glm_moe_dsa) from its config: 78 layers (3 dense), 256 experts + 1 shared of 2048, MLA with
    q_lora 2048, nope 192, rope 64, v 256; fp32 router bias; one MTP layer without embedding or head."""
    h, vocab, n, dense = 6144, 154880, 78, 3
    attn = _mla_v3(h, 64, 2048, 192, 64, 256)
    moe = h * 256 + 256 + 256 * _swiglu(h, 2048) + _swiglu(h, 2048)
    indexer = 2048 * 32 * 128 + h * 128 + h * 32 + 2 * 128
    main = 2 * vocab * h + n * (attn + 2 * h) + dense * _swiglu(h, 12288) + (n - dense) * moe + h
    mtp = attn + 2 * h + moe + indexer + 2 * h * h + 3 * h
    return main + indexers * indexer + mtp


def test_glm5_hand_count_and_published_total() -> None:
    """GLM-5: 753,864,139,008 parameters; the Hub lists GLM-5-FP8 at 753.9B (its fp8 scales add ~0.05B)."""
    r = count_params(_cfg("zai-org__GLM-5"))
    assert r.param_count == _glm5_hand_count(78) == 753_864_139_008
    assert abs(r.param_count / 753.9e9 - 1) < 0.0005
    assert not r.exact  # the MTP layout is taken, not read from an index


def test_glm52_index_cache_layers_have_no_indexer() -> None:
    """GLM-5.2: index_topk_freq 4, offset 3 -> 21 layers build an indexer, 57 reuse a neighbour's top-k
    (vLLM 0.34 ``DeepseekV2MLAAttention``; the config's ``indexer_types`` says the same: 21 full, 57 shared)."""
    cfg = _cfg("zai-org__GLM-5.2")
    assert cfg["indexer_types"].count("full") == 21
    assert count_params(cfg).param_count == _glm5_hand_count(21)


def test_glm5_fp8_bytes_are_block_quantized() -> None:
    r = count_params(_cfg("zai-org__GLM-5-FP8"))
    assert "fp8 block" in r.dtype and 0.5 < r.bytes / (2 * r.param_count) < 0.51


def test_kimi_k25_counts_its_text_tower() -> None:
    """Kimi-K2.5 wraps a Kimi-K2 text tower (same shapes as Kimi-K2-Instruct, no MTP) and a MoonViT tower not
    counted; the INT4 (compressed-tensors, group 32) checkpoint is about 0.58 of bf16."""
    k25 = count_params(_cfg("moonshotai__Kimi-K2.5"))
    k2 = count_params(_cfg("moonshotai__Kimi-K2-Instruct"))
    assert k25.param_count == k2.param_count - k2.mtp_param_count
    assert "vision tower not counted" in k25.notes and not k25.exact
    assert 0.25 < k25.bytes / (2 * k25.param_count) < 0.35


def test_minimax_m2_hand_count() -> None:
    """MiniMax-M2.5: 62 layers, hidden 3072, 48/8 heads of 128, per-layer q/k norms over the whole projections,
    256 experts of 1536, fp32 routing bias. Published: 229B total."""
    h, n = 3072, 62
    attn = h * 48 * 128 + 2 * h * 8 * 128 + 48 * 128 * h + (48 + 8) * 128
    moe = h * 256 + 256 + 256 * _swiglu(h, 1536)
    expected = 2 * 200064 * h + n * (attn + moe + 2 * h) + h
    r = count_params(_cfg("MiniMaxAI__MiniMax-M2.5"))
    assert r.param_count == expected
    assert abs(r.param_count / 229e9 - 1) < 0.005


def test_deepseek_v4_against_published_totals() -> None:
    """DeepSeek-V4-Flash (published 284B, 13B active) and -Pro (1.6T): the main model (MTP layer apart) lands
    on the published totals; routed experts ship in FP4, the rest in fp8 blocks."""
    flash = count_params(_cfg("deepseek-ai__DeepSeek-V4-Flash"))
    assert abs((flash.param_count - flash.mtp_param_count) / 284e9 - 1) < 0.005
    assert "fp4 experts" in flash.dtype and flash.bytes < 0.6 * flash.param_count
    pro = count_params(_cfg("deepseek-ai__DeepSeek-V4-Pro"))
    assert abs(pro.param_count / 1.6e12 - 1) < 0.005
    fp8 = count_params(_cfg("sgl-project__DeepSeek-V4-Flash-FP8"))
    assert fp8.param_count == flash.param_count and fp8.bytes > 1.8 * flash.bytes


def test_deepseek_v4_attention_hand_count() -> None:
    """One V4-Flash layer's attention (hidden 4096, 64 heads of 512, q_lora 1024, 8 groups of o_lora 1024):
    a compress-128 layer adds the compressor (wkv + wgate 4096 -> 512, norm, fp32 ape 128 x 512), a compress-4
    layer the overlapped compressor (x2) and the indexer (wq_b 1024 -> 64 x 128, weights_proj 4096 -> 64, its
    own compressor of 128)."""
    cfg = _cfg("deepseek-ai__DeepSeek-V4-Flash")
    base = dict(cfg, num_hidden_layers=1, num_nextn_predict_layers=0, num_hash_layers=0)
    swa = count_params(dict(base, compress_ratios=[0])).param_count
    c128 = count_params(dict(base, compress_ratios=[128])).param_count
    c4 = count_params(dict(base, compress_ratios=[4])).param_count
    assert c128 - swa == 4096 * 2 * 512 + 512 + 128 * 512
    indexer = 1024 * 64 * 128 + 4096 * 64 + 4096 * 4 * 128 + 128 + 4 * 2 * 128
    assert c4 - swa == 4096 * 4 * 512 + 512 + 4 * 2 * 512 + indexer


def test_gemma4_31b_text_hand_count() -> None:
    """Gemma-4-31B text tower: 60 layers, 50 sliding (16 KV heads of 256) and 10 full (4 KV heads of 512,
    K shared with V), 32 query heads, q/k norms, a gated MLP of 21504, four norms, tied embeddings."""
    cfg = _cfg("nvidia__Gemma-4-31B-IT-NVFP4")
    text = cfg["text_config"]
    types = text["layer_types"]
    h = 5376
    total = 262144 * h + h
    for t in types:
        d, kv, kmats = (512, 4, 1) if t == "full_attention" else (256, 16, 2)
        total += h * 32 * d + kmats * h * kv * d + 32 * d * h + 2 * d + _swiglu(h, 21504) + 4 * h
    plain = {k: v for k, v in cfg.items() if k not in ("quantization_config", "vision_config")}
    r = count_params(plain)
    assert r.param_count == total
    assert types.count("full_attention") == 10


def test_step37_flash_hand_count() -> None:
    """Step-3.7-Flash: 45 layers (3 dense of 11264), 64/8 heads of 128 with q/k norms, 288 experts of 1280 and a
    shared expert of 1280, fp32 router bias. Published: 196B."""
    h, n = 4096, 45
    attn = h * 64 * 128 + 2 * h * 8 * 128 + 64 * 128 * h + 2 * 128
    moe = h * 288 + 288 + 288 * _swiglu(h, 1280) + _swiglu(h, 1280)
    expected = 2 * 128896 * h + n * (attn + 2 * h) + 3 * _swiglu(h, 11264) + 42 * moe + h
    r = count_params(_cfg("stepfun-ai__Step-3.7-Flash"))
    assert r.param_count == expected
    assert abs(r.param_count / 196e9 - 1) < 0.005


def test_laguna_xs2_hand_count() -> None:
    """Laguna-XS.2: per-layer query heads (48 on full, 64 on sliding layers), 8 KV heads of 128, q/k norms,
    per-head softplus gate (hidden -> heads); layer 0 dense (8192), 39 MoE layers (256 experts of 512 + a shared
    expert of 512, fp32 bias). Published: 33B total."""
    cfg = _cfg("poolside__Laguna-XS.2-FP8")
    h = 2048
    total = 2 * 100352 * h + h
    for heads, kind in zip(cfg["num_attention_heads_per_layer"], cfg["mlp_layer_types"], strict=True):
        total += h * heads * 128 + 2 * h * 8 * 128 + heads * 128 * h + h * heads + 2 * 128 + 2 * h
        total += _swiglu(h, 8192) if kind == "dense" else h * 256 + 256 + 257 * _swiglu(h, 512)
    r = count_params(_cfg("poolside__Laguna-XS.2-FP8"))
    assert r.param_count == total
    assert abs(r.param_count / 33e9 - 1) < 0.02


def test_mimo_v2_flash_hand_count() -> None:
    """MiMo-V2-Flash: 48 layers; sliding layers 64 heads / 8 KV of 192 (v 128) with sinks, full layers 64 / 4 of
    192 (v 128); layer 0 dense (16384), 47 MoE (256 experts of 2048, fp32 bias). Published: 309B."""
    cfg = _cfg("XiaomiMiMo__MiMo-V2-Flash")
    h = 4096
    total = 2 * 152576 * h + h
    for swa, moe in zip(cfg["hybrid_layer_pattern"], cfg["moe_layer_freq"], strict=True):
        kv, sink = (8, 64) if swa else (4, 0)
        total += h * 64 * 192 + h * kv * 192 + h * kv * 128 + 64 * 128 * h + sink + 2 * h
        total += h * 256 + 256 + 256 * _swiglu(h, 2048) if moe else _swiglu(h, 16384)
    r = count_params(cfg)
    assert r.param_count == total
    assert abs(r.param_count / 309e9 - 1) < 0.005


def test_nemotron_nas_super_49b() -> None:
    """Llama-3.3-Nemotron-Super-49B-v1: 80 blocks, 49 with attention (8 KV heads), 31 attention no-ops, FFN
    widths from ffn_mult (int(2 x mult x 8192 / 3) rounded up to 256). Published: 49.9B."""
    cfg = _cfg("nvidia__Llama-3_3-Nemotron-Super-49B-v1")
    h = 8192
    total = 2 * 128256 * h + h
    for block in cfg["block_configs"]:
        if not block["attention"]["no_op"]:
            total += 2 * h * h + 2 * h * 1024 + h
        inter = int(2 * block["ffn"]["ffn_mult"] * h / 3)
        inter += (-inter) % 256
        total += _swiglu(h, inter) + h
    r = count_params(cfg)
    assert r.param_count == total
    assert abs(r.param_count / 49.9e9 - 1) < 0.001


def test_muse_glimmer_text_hand_count() -> None:
    """Muse-Glimmer-30B text: 52 layers, 32/2 heads of 128, output gate hidden -> 32 x 128, gated MLP of 19968,
    four norms, untied head; the vision encoder (50 blocks of 1536) comes on top."""
    h = 6656
    layer = h * 4096 + 2 * h * 256 + 4096 * h + h * 4096 + _swiglu(h, 19968) + 4 * h
    text = 2 * 202048 * h + 52 * layer + h
    r = count_params(_cfg("meta-models__Muse-Glimmer-30B"))
    assert r.param_count - r.vision_param_count == text
    assert 1.8e9 < r.vision_param_count < 2.0e9
    assert abs(r.param_count / 30e9 - 1) < 0.01


def test_qwen3_omni_thinker_matches_qwen3_vl_30b() -> None:
    """Qwen3-Omni-30B-A3B's thinker has Qwen3-VL-30B-A3B's text and vision shapes but a vocabulary of 152,064
    (151,936 there): transformers counts those at 30,532,122,624 + 538,631,408, plus 2 x 128 x 2048 for the
    128 more rows of the embedding and the head. The audio encoder (and the talker vLLM skips) is not counted:
    an estimate."""
    r = count_params(_cfg("Qwen__Qwen3-Omni-30B-A3B-Instruct"))
    assert r.param_count == 30_532_122_624 + 538_631_408 + 2 * 128 * 2048
    assert r.vision_param_count == 538_631_408
    assert not r.exact


@pytest.mark.parametrize(
    "name",
    [
        "nvidia__GLM-5-NVFP4",
        "nvidia__DeepSeek-V3.2-NVFP4",
        "nvidia__Kimi-K2.5-NVFP4",
        "nvidia__MiniMax-M2.5-NVFP4",
        "nvidia__Gemma-4-26B-A4B-NVFP4",
    ],
)
def test_nvfp4_variants_are_smaller_estimates(name: str) -> None:
    r = count_params(_cfg(name), hf_quant_config=_quant(name))
    assert not r.exact and "nvfp4" in r.dtype and r.bytes < 0.75 * 2 * r.param_count


# --- SSM and hybrid families outside the catalog: configs as published (fields that size weights), hand counts.

MAMBA_130M = {  # state-spaces/mamba-130m-hf config.json (sizing fields)
    "model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24, "intermediate_size": 1536, "state_size": 16,
    "conv_kernel": 4, "time_step_rank": 48, "vocab_size": 50280, "use_bias": False, "use_conv_bias": True,
    "tie_word_embeddings": True,
}


def test_mamba1_hand_count() -> None:
    """Mamba-130m: in_proj 768 -> 2 x 1536, conv 1536 x 4 + bias, x_proj 1536 -> 48 + 2 x 16, dt_proj 48 -> 1536
    + bias, A_log 1536 x 16, D, out_proj, a norm; tied embeddings. 129,135,360 (the published "130m")."""
    layer = 768 * 3072 + 1536 * 5 + 1536 * 80 + 48 * 1536 + 1536 + 1536 * 16 + 1536 + 1536 * 768 + 768
    expected = 50280 * 768 + 24 * layer + 768
    r = count_params(MAMBA_130M)
    assert r.param_count == expected == 129_135_360 and r.exact
    untied = count_params({**MAMBA_130M, "tie_word_embeddings": False})
    assert untied.param_count - r.param_count == 50280 * 768
    falcon = count_params({**MAMBA_130M, "model_type": "falcon_mamba"})
    assert falcon.param_count == r.param_count  # its dt/B/C RMSNorms have no weight


def test_mamba1_auto_time_step_rank() -> None:
    r = count_params({**MAMBA_130M, "time_step_rank": "auto"})
    assert r.param_count == count_params(MAMBA_130M).param_count  # ceil(768 / 16) = 48


def test_mamba2_hand_count() -> None:
    """A Mamba-2 of 2 layers: hidden 256, 8 heads of 64 (inner 512), 1 group of state 128, conv 4."""
    cfg = {"model_type": "mamba2", "hidden_size": 256, "num_hidden_layers": 2, "num_heads": 8, "head_dim": 64,
           "expand": 2, "n_groups": 1, "state_size": 128, "conv_kernel": 4, "vocab_size": 1000, "use_bias": False,
           "use_conv_bias": True, "tie_word_embeddings": True}
    conv_dim = 512 + 2 * 128
    layer = 256 * (512 + conv_dim + 8) + conv_dim * 5 + 3 * 8 + 512 + 512 * 256 + 256
    assert count_params(cfg).param_count == 1000 * 256 + 2 * layer + 256


def test_falcon_h1_hand_count() -> None:
    """Falcon-H1: attention and Mamba-2 in every layer (d_ssm 1536, 24 heads of 64, 1 group of state 128),
    a gated MLP of 2048, two norms; untied head."""
    cfg = {"model_type": "falcon_h1", "hidden_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
           "num_key_value_heads": 2, "head_dim": 64, "intermediate_size": 2048, "vocab_size": 32768,
           "mamba_d_ssm": 1536, "mamba_n_heads": 24, "mamba_d_head": 64, "mamba_n_groups": 1, "mamba_d_state": 128,
           "mamba_d_conv": 4, "mamba_expand": 2, "mamba_conv_bias": True, "mamba_proj_bias": False,
           "mamba_rms_norm": False, "mlp_bias": False, "tie_word_embeddings": False}
    h = 1024
    attn = h * 512 + 2 * h * 128 + 512 * h
    conv_dim = 1536 + 256
    mamba = h * (1536 + conv_dim + 24) + conv_dim * 5 + 3 * 24 + 1536 * h
    expected = 2 * 32768 * h + 4 * (attn + mamba + _swiglu(h, 2048) + 2 * h) + h
    assert count_params(cfg).param_count == expected


def test_granite_4_h_hand_count() -> None:
    """Granite-4.0-H shape (h-small: hidden 4096, 32/8 heads, 72 experts of 768, shared MLP of 1536, Mamba-2 of
    128 heads x 64, state 128), cut to 4 layers (3 Mamba, 1 attention); tied embeddings."""
    cfg = {"model_type": "granitemoehybrid", "hidden_size": 4096, "num_hidden_layers": 4, "num_attention_heads": 32,
           "num_key_value_heads": 8, "layer_types": ["mamba", "mamba", "mamba", "attention"],
           "num_local_experts": 72, "num_experts_per_tok": 10, "intermediate_size": 768,
           "shared_intermediate_size": 1536, "mamba_n_heads": 128, "mamba_d_head": 64, "mamba_n_groups": 1,
           "mamba_d_state": 128, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_conv_bias": True,
           "mamba_proj_bias": False, "attention_bias": False, "vocab_size": 100352, "tie_word_embeddings": True}
    h = 4096
    attn = h * h + 2 * h * 1024 + h * h
    conv_dim = 8192 + 256
    mamba = h * (8192 + conv_dim + 128) + conv_dim * 5 + 3 * 128 + 8192 + 8192 * h
    moe = h * 72 + 72 * _swiglu(h, 768) + _swiglu(h, 1536)
    expected = 100352 * h + attn + 3 * mamba + 4 * (moe + 2 * h) + h
    assert count_params(cfg).param_count == expected


def test_lfm2_1_2b_hand_count() -> None:
    """LFM2-1.2B (LiquidAI config.json sizing fields): 16 layers, 6 attention (32/8 heads of 64, q/k norms),
    10 short-conv (in_proj 2048 -> 6144, conv 2048 x 3, out_proj); MLP block_ff_dim 12288 auto-adjusted to
    int(2 x 12288 / 3) = 8192 (multiple of 256); tied embeddings. 1,170,340,608 (published: 1.17B)."""
    attn_idx = [2, 5, 8, 10, 12, 14]
    cfg = {"model_type": "lfm2", "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
           "num_key_value_heads": 8, "intermediate_size": 12288, "block_ff_dim": 12288, "block_multiple_of": 256,
           "block_ffn_dim_multiplier": 1.0, "block_auto_adjust_ff_dim": True, "conv_L_cache": 3,
           "conv_bias": False, "vocab_size": 65536, "tie_word_embeddings": True,
           "layer_types": ["full_attention" if i in attn_idx else "conv" for i in range(16)]}
    h = 2048
    attn = h * h + 2 * h * 512 + h * h + 2 * 64
    conv = h * 3 * h + h * 3 + h * h
    expected = 65536 * h + 6 * attn + 10 * conv + 16 * (_swiglu(h, 8192) + 2 * h) + h
    r = count_params(cfg)
    assert r.param_count == expected == 1_170_340_608


def test_kimi_k3_text_hand_count() -> None:
    """Kimi-K3 (kimi_linear text tower, vLLM 0.34 models/kimi_k3): 93 layers, 69 KDA (96 heads of 128, full-rank
    gate: in_proj 7168 -> 4 x 12288 + 128 + 96, f_b 128 -> 12288, fp32 dt_bias 12288 and A_log 96, conv
    3 x 12288 x 4, o_norm, o_proj) and 24 MLA with an output gate (7168 -> 96 x 128); layer 0 a gated MLP of
    33792, 92 latent-MoE layers (router 896 + fp32 bias, 7168 <-> 3584 projections and a latent norm, 896 experts
    of 3072 in the latent, 2 shared experts of 3072); attn_res norms and 1-wide projections. Vision not counted."""
    cfg = _cfg("moonshotai__Kimi-K3")
    text = cfg["text_config"]
    assert len(text["linear_attn_config"]["kda_layers"]) == 69
    h, n = 7168, 93
    kda = h * (4 * 12288 + 128 + 96) + 128 * 12288 + 12288 * h + 12288 + 96 + 3 * 12288 * 4 + 128
    mla = _mla_v3(h, 96, 1536, 128, 64, 128) + h * 96 * 128
    moe = h * 896 + 896 + 2 * h * 3584 + 3584 + 896 * _swiglu(3584, 3072) + _swiglu(h, 2 * 3072)
    attn_res = 2 * h + 2 * h
    expected = 2 * 163840 * h + 69 * kda + 24 * mla + _swiglu(h, 33792) + 92 * moe + n * (2 * h + attn_res) + 2 * h + h
    r = count_params(cfg)
    assert r.param_count == expected
    assert "vision tower not counted" in r.notes
    # MXFP4 experts (uint8 scale per 32): about a quarter of bf16 over the whole model
    assert 0.26 < r.bytes / (2 * r.param_count) < 0.30


def test_kimi_linear_low_rank_gate_hand_count() -> None:
    """Kimi-Linear's KDA (no full-rank gate): in_proj hidden -> 3 P + heads + head_dim, plus g_a (hidden ->
    head_dim) and g_b (head_dim -> P) instead of the full-rank gate's 4th P and f_a; DSA layers are refused."""
    from kvplan.core.errors import UnsupportedModelError

    text = dict(_cfg("moonshotai__Kimi-K3")["text_config"])
    text.pop("quantization_config")
    full = count_params(text).param_count
    text["linear_attn_config"] = {**text["linear_attn_config"], "use_full_rank_gate": False}
    h, p, hd, heads = 7168, 96 * 128, 128, 96
    per_layer_full = h * (4 * p + hd + heads)
    per_layer_low = h * (3 * p + heads + hd) + h * hd + hd * p
    assert count_params(text).param_count - full == 69 * (per_layer_low - per_layer_full)
    with pytest.raises(UnsupportedModelError):
        count_params({**text, "dsa_config": {"dsa_layers": [4]}})


def test_gemma4_26b_a4b_against_published_total() -> None:
    """Gemma-4-26B-A4B: model cards give 25.2B total parameters (with a ~550M vision encoder described apart);
    the text tower counts 25,233,141,760 (+0.13 %), the dense MLP beside the 128 experts included."""
    r = count_params(_cfg("google__gemma-4-26B-A4B"))
    assert r.param_count == 25_233_141_760
    assert abs(r.param_count / 25.2e9 - 1) < 0.005
    assert "vision tower not counted" in r.notes


def test_zamba2_hand_count() -> None:
    """Zamba2: 6 layers (2 hybrid) over 2 shared blocks; Mamba-2 of 32 heads (inner 2048, state 64, 1 group) in
    every layer; each shared block MHA over 2 x hidden, a gated MLP of 4096; each hybrid layer a hidden x hidden
    linear and its LoRA adapters (rank 128) on gate_up and, with use_shared_attention_adapter, on q/k/v."""
    cfg = {"model_type": "zamba2", "hidden_size": 1024, "layers_block_type":
           ["mamba", "hybrid", "mamba", "mamba", "hybrid", "mamba"], "hybrid_layer_ids": [1, 4],
           "n_mamba_heads": 32, "mamba_expand": 2, "mamba_ngroups": 1, "mamba_d_state": 64, "mamba_d_conv": 4,
           "add_bias_linear": False, "use_conv_bias": True, "num_mem_blocks": 2, "num_attention_heads": 16,
           "attention_hidden_size": 2048, "intermediate_size": 4096, "adapter_rank": 128,
           "use_shared_attention_adapter": True, "vocab_size": 32000, "tie_word_embeddings": True}
    h, a = 1024, 2048
    conv_dim = 2048 + 2 * 64
    mamba = h * (2048 + conv_dim + 32) + conv_dim * 5 + 3 * 32 + 2048 + 2048 * h + h
    block = 2 * h + 3 * a * a + a * h + h + _swiglu(h, 4096)
    adapters = h * 128 + 128 * 2 * 4096 + 3 * (a * 128 + 128 * a)
    expected = 32000 * h + 6 * mamba + 2 * (h * h + adapters) + 2 * block + h
    assert count_params(cfg).param_count == expected
    no_attn_adapter = count_params({**cfg, "use_shared_attention_adapter": False}).param_count
    assert expected - no_attn_adapter == 2 * 3 * (a * 128 + 128 * a)


def test_compressed_tensors_groups_apply_to_the_layers_they_target() -> None:
    """RedHatAI/DeepSeek-V4-Flash-NVFP4-FP8 names two groups: fp8 128x128 blocks for the attention projections
    (``re:.*attn.*(fused_wqa_wkv|wq_b|wo_a|wo_b)$``) and NVFP4 (fp8 scale per 16) for the FFN projections. Taking
    the first group for every layer gave 292 GB; by target the experts are 4-bit: about the native FP4 release."""
    r = count_params(_cfg("RedHatAI__DeepSeek-V4-Flash-NVFP4-FP8"))
    assert r.dtype == "compressed-tensors float4, compressed-tensors float8"
    native = count_params(_cfg("deepseek-ai__DeepSeek-V4-Flash"))
    assert 1.0 < r.bytes / native.bytes < 1.1  # NVFP4 carries 1/16 byte of scale per weight, MXFP4 1/32
    # one layer's expert weights: 256 x 3 x 4096 x 2048, half a byte each plus one float8 scale per 16
    cfg = dict(_cfg("RedHatAI__DeepSeek-V4-Flash-NVFP4-FP8"), num_hidden_layers=1, num_nextn_predict_layers=0)
    one = count_params(dict(cfg, compress_ratios=[0])).bytes
    bf16_experts = count_params(dict(cfg, compress_ratios=[0], quantization_config={
        **cfg["quantization_config"], "config_groups": {"g": cfg["quantization_config"]["config_groups"]["group_0"]}}))
    n = 256 * 3 * 4096 * 2048
    assert bf16_experts.bytes - one == 2 * n - (n // 2 + n // 16) + 2 * (4096 * 2048 * 3) - (4096 * 2048 * 3) * 9 // 16
