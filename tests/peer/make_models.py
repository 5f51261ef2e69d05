"""Tiny random models for the vLLM peer suite: a config.json per family, nothing else.

The engine runs with ``load_format="dummy"`` and ``skip_tokenizer_init=True``, so a directory with a
config.json is a whole model. Configs are written with transformers' own config classes (so defaults
and derived fields such as ``layer_types`` are what a real checkpoint would have), float32, hidden 256,
head size 64 or 128 (the CPU attention backend rejects 16), a few layers.

    python tests/peer/make_models.py OUT_DIR [NAME ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Shared by every text model: hidden 256, 4 query heads, room for long max_model_len values.
_BASE: dict[str, Any] = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_attention_heads": 4,
    "vocab_size": 1024,
    "max_position_embeddings": 65536,
    "torch_dtype": "float32",
    "tie_word_embeddings": False,
}

# name -> (transformers config class, architecture, overrides of _BASE)
MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # 4 layers x 2 KV heads x 64: the first reference case (262,144 tokens at 1 GiB, L 2048).
    "llama_gqa": (
        "LlamaConfig",
        "LlamaForCausalLM",
        {"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 64},
    ),
    # 3 layers x 2 KV heads x 128: the second reference case (174,720 tokens at 1 GiB, L 4096).
    "llama_gqa_h128": (
        "LlamaConfig",
        "LlamaForCausalLM",
        {"num_hidden_layers": 3, "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 128},
    ),
    "llama_mha": (
        "LlamaConfig",
        "LlamaForCausalLM",
        {"num_hidden_layers": 4, "num_key_value_heads": 4, "head_dim": 64},
    ),
    # Falcon-7B style: multi_query without new_decoder_architecture -> 1 KV head; head 256/4 = 64.
    "falcon_mqa": (
        "FalconConfig",
        "FalconForCausalLM",
        {
            "num_hidden_layers": 4,
            "multi_query": True,
            "new_decoder_architecture": False,
            "parallel_attn": True,
            "alibi": False,
            "bias": False,
        },
    ),
    # Every layer windowed (CacheConfig.sliding_window is set).
    "mistral_swa": (
        "MistralConfig",
        "MistralForCausalLM",
        {"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 512},
    ),
    # Interleaved: layer_types alternate sliding/full.
    "gemma2": (
        "Gemma2Config",
        "Gemma2ForCausalLM",
        {"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 512},
    ),
    # Window pattern 6: 12 layers -> 10 sliding + 2 full.
    "gemma3_text": (
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        {
            "num_hidden_layers": 12,
            "num_key_value_heads": 2,
            "head_dim": 64,
            "sliding_window": 512,
            "sliding_window_pattern": 6,
        },
    ),
    # gpt-oss: alternating 128-token window via layer_types, MoE, unquantised.
    "gpt_oss": (
        "GptOssConfig",
        "GptOssForCausalLM",
        {
            "num_hidden_layers": 4,
            "num_key_value_heads": 2,
            "head_dim": 64,
            "intermediate_size": 256,
            "num_local_experts": 4,
            "num_experts_per_tok": 2,
            "sliding_window": 128,
            "layer_types": ["sliding_attention", "full_attention"] * 2,
        },
    ),
    # Llama 4 text: chunked local attention on 3 of 4 layers (no_rope_layers marks the global one).
    "llama4_text": (
        "Llama4TextConfig",
        "Llama4ForCausalLM",
        {
            "num_hidden_layers": 4,
            "num_key_value_heads": 2,
            "head_dim": 64,
            "intermediate_size": 256,
            "intermediate_size_mlp": 512,
            "num_local_experts": 2,
            "num_experts_per_tok": 1,
            "interleave_moe_layer_step": 2,
            "attention_chunk_size": 256,
            "no_rope_layers": [1, 1, 1, 0],
        },
    ),
    # MLA: head size = kv_lora_rank + qk_rope_head_dim = 64 + 64 = 128.
    "deepseek_v2_mla": (
        "DeepseekV2Config",
        "DeepseekV2ForCausalLM",
        {
            "num_hidden_layers": 3,
            "num_key_value_heads": 4,
            "q_lora_rank": None,
            "kv_lora_rank": 64,
            "qk_nope_head_dim": 64,
            "qk_rope_head_dim": 64,
            "v_head_dim": 64,
            "head_dim": 64,
            "n_routed_experts": 4,
            "n_shared_experts": 1,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 128,
            "first_k_dense_replace": 1,
            "topk_method": "greedy",
            "n_group": 1,
            "topk_group": 1,
            "torch_dtype": "bfloat16",
        },
    ),
    "mixtral_moe": (
        "MixtralConfig",
        "MixtralForCausalLM",
        {
            "num_hidden_layers": 4,
            "num_key_value_heads": 2,
            "head_dim": 64,
            "intermediate_size": 256,
            "num_local_experts": 4,
            "num_experts_per_tok": 2,
            "sliding_window": None,
        },
    ),
    # Jamba (mamba1): 8 layers, attention on layers 2 and 6, no MoE.
    "jamba": (
        "JambaConfig",
        "JambaForCausalLM",
        {
            "num_hidden_layers": 8,
            "num_key_value_heads": 2,
            "attn_layer_period": 4,
            "attn_layer_offset": 2,
            "num_experts": 1,
            "expert_layer_period": 1,
            "expert_layer_offset": 0,
            "mamba_d_state": 16,
            "mamba_d_conv": 4,
            "mamba_expand": 2,
            "mamba_dt_rank": 16,
            "use_mamba_kernels": False,
        },
    ),
    # Qwen3-Next: gated delta net 3 : 1 full attention.
    "qwen3_next": (
        "Qwen3NextConfig",
        "Qwen3NextForCausalLM",
        {
            "num_hidden_layers": 4,
            "num_key_value_heads": 2,
            "head_dim": 64,
            "full_attention_interval": 4,
            "linear_num_key_heads": 2,
            "linear_num_value_heads": 4,
            "linear_key_head_dim": 64,
            "linear_value_head_dim": 64,
            "linear_conv_kernel_dim": 4,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 128,
            "shared_expert_intermediate_size": 128,
            "decoder_sparse_step": 1,
        },
    ),
    # Nemotron-H (mamba2): pattern M-M* -> 2 Mamba, 1 MLP, 1 attention layer.
    "nemotron_h": (
        "NemotronHConfig",
        "NemotronHForCausalLM",
        {
            "num_hidden_layers": 4,
            "hybrid_override_pattern": "M-M*",
            "num_key_value_heads": 2,
            "head_dim": 64,
            "mamba_num_heads": 8,
            "mamba_head_dim": 64,
            "ssm_state_size": 16,
            "n_groups": 1,
            "conv_kernel": 4,
            "expand": 2,
        },
    ),
}

# Hybrids whose Mamba/GDN state is larger than one 128-token attention page (1,024 B/token here), so
# vLLM raises the attention block size (Platform._align_hybrid_block_size): 384, 384 and 256 tokens.
MODELS["jamba_big_state"] = (
    "JambaConfig",
    "JambaForCausalLM",
    {**MODELS["jamba"][2], "mamba_d_state": 128},
)
MODELS["qwen3_next_big_state"] = (
    "Qwen3NextConfig",
    "Qwen3NextForCausalLM",
    {**MODELS["qwen3_next"][2], "linear_num_value_heads": 8, "linear_value_head_dim": 128},
)
MODELS["nemotron_h_big_state"] = (
    "NemotronHConfig",
    "NemotronHForCausalLM",
    {**MODELS["nemotron_h"][2], "ssm_state_size": 64},
)
# The published Nemotron-Nano-9B-v2 names no mamba_ssm_cache_dtype (transformers' class writes float32): this
# one drops it, so vLLM's own release default decides the SSM state dtype (float32 in 0.20+), under bf16.
MODELS["nemotron_h_no_ssm_dtype"] = (
    "NemotronHConfig",
    "NemotronHForCausalLM",
    {**MODELS["nemotron_h"][2], "ssm_state_size": 64, "torch_dtype": "bfloat16"},
)
# Speculative decoding: an EAGLE draft of one Llama layer with llama_gqa's attention, and Qwen3-Next with one
# MTP module (vLLM hosts it as one more full-attention layer).
MODELS["llama_eagle_draft"] = ("LlamaConfig", "LlamaForCausalLM", {**MODELS["llama_gqa"][2], "num_hidden_layers": 1})
MODELS["qwen3_next_mtp"] = ("Qwen3NextConfig", "Qwen3NextForCausalLM", {**MODELS["qwen3_next"][2]})
EXTRA_KEYS: dict[str, dict[str, Any]] = {"qwen3_next_mtp": {"mtp_num_hidden_layers": 1}}
DROP_KEYS: dict[str, tuple[str, ...]] = {"nemotron_h_no_ssm_dtype": ("mamba_ssm_cache_dtype",)}


# Multimodal: PaliGemma (SigLIP tower + Gemma), the one vision-language model whose vLLM module imports without
# torchvision (absent from the CPU venv). Served text-only (--language-model-only): its processor needs a tokenizer.
MULTIMODAL: dict[str, tuple[str, str, dict[str, Any]]] = {
    "paligemma": (
        "PaliGemmaConfig",
        "PaliGemmaForConditionalGeneration",
        {
            "text_config": {**_BASE, "model_type": "gemma", "num_hidden_layers": 4, "num_key_value_heads": 1,
                            "head_dim": 64, "max_position_embeddings": 8192},
            "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 128, "intermediate_size": 256,
                              "num_attention_heads": 2, "num_hidden_layers": 2, "patch_size": 14, "image_size": 224,
                              "projection_dim": 256},
            "image_token_index": 1000, "vocab_size": 1024, "projection_dim": 256, "hidden_size": 256,
            "torch_dtype": "float32",
        },
    ),
}


def config_dict(name: str) -> dict[str, Any]:
    """The config.json content for ``name``, built with transformers' config class."""
    import transformers

    if name in MULTIMODAL:
        cls_name, arch, kwargs = MULTIMODAL[name]
        config = getattr(transformers, cls_name)(**kwargs, architectures=[arch])
        return dict(json.loads(config.to_json_string(use_diff=False)))
    cls_name, arch, overrides = MODELS[name]
    kwargs = {**_BASE, **overrides, "architectures": [arch]}
    config = getattr(transformers, cls_name)(**kwargs)
    data: dict[str, Any] = json.loads(config.to_json_string(use_diff=False))
    for key in DROP_KEYS.get(name, ()):
        data.pop(key, None)
    data.update(EXTRA_KEYS.get(name, {}))
    return data


def write_model(root: Path, name: str) -> Path:
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config_dict(name), indent=2, sort_keys=True) + "\n")
    return out


def write_models(root: Path, names: list[str] | None = None) -> dict[str, Path]:
    return {name: write_model(root, name) for name in (names or [*MODELS, *MULTIMODAL])}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for model, path in write_models(Path(sys.argv[1]), sys.argv[2:] or None).items():
        print(model, path)
