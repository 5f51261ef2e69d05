"""Deployment settings, named as vLLM names them, and the per-version defaults that fill them in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from kvplan.core.errors import UsageError

Platform = Literal["cuda", "cpu"]
Entrypoint = Literal["serve", "llm"]
AUTO_MAX_MODEL_LEN = -1  # vLLM's --max-model-len -1 / auto


@dataclass(frozen=True, kw_only=True)
class VllmBehaviour:
    """What changes between vLLM releases for the planner. Each field names the release it was read in."""

    version: str
    engine: Literal["v0", "v1"]
    default_gpu_memory_utilization: float  # config/cache.py: 0.92 from 0.20 (0.20-0.33 wheels), 0.90 up to 0.19
    null_block_in_check: bool  # 0.31+: the max-len check reserves the permanent null block
    counts_cudagraphs: bool  # 0.20+: VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS defaults to 1 (0 in 0.19)
    hybrid_allocator: bool  # V1: sliding-window / hybrid groups (V0 allocates windows as full attention)
    # NemotronHForCausalLMConfig (model_executor/models/config.py) when --mamba-ssm-cache-dtype is auto:
    # None before 0.13 (no hook: the model dtype), then the config's mamba_ssm_cache_dtype or this default:
    # float16 from #29978 (Dec 2025), float32 from #39032 (Apr 2026; read in the 0.32 and 0.33 wheels).
    nemotron_h_ssm_default: str | None = None
    # 0.19+ (#38270, Mar 2026): with FULL decode CUDA graphs a hybrid Mamba model needs max_num_seqs <= num_blocks
    mamba_blocks_check: bool = False
    # Prefix caching by default on hybrid (attention + Mamba / linear-attention) models, hence Mamba "align"
    # mode (2 state blocks a request instead of 1): 0.28+. Before, V1 kept it off: 0.10.2/0.11
    # HybridAttentionMambaModelConfig forces it off, 0.12-0.25 ModelConfig.is_prefix_caching_supported says no
    # for attn_type "hybrid", 0.26/0.27 EngineArgs keep it opt-in (`not model_config.is_hybrid`). Confirmed on
    # an H100 with 0.26.0 (benchmarks/gpu-runs: Nemotron-Nano-9B-v2 logs enable_prefix_caching=False).
    hybrid_prefix_caching: bool = False
    # 0.32+ (mamba_mixer2.py get_kv_cache_spec): Mamba-2 layers keep one prefill checkpoint block in align mode.
    mamba2_prefill_checkpoint: bool = False
    # V0 0.7.2/0.7.3 (worker/cache_engine.py _align_cache, VLLM_CUDA_MEM_ALIGN_KV_CACHE=1): on CUDA each MLA
    # cache entry is padded to 256 bytes (576 -> 640 bf16 values); gone in 0.8.0.
    mla_entry_align_bytes: int = 0
    # 0.34+ (config/vllm.py _resolve_extensible_kv_cache, v1/worker/extensible_kv_cache.py): on CUDA the KV cache
    # is sized after warm-up and CUDA-graph capture from measured memory, unless something rules it out
    # (kvplan.core.kv_sizing); its default gpu_memory_utilization is then 1.0 (resolved_gpu_memory_utilization).
    extensible_kv_cache: bool = False
    # CacheConfig.DEFAULT_BLOCK_SIZE: 16 up to 0.33, 64 from 0.34; update_block_size_for_backend keeps it when
    # the attention backend takes it (FlashAttention: multiples of 16; FlashMLA: 64; FlashInfer MLA: 32 or 64).
    default_block_size: int = 16


DEFAULT_VLLM_VERSION = "0.34.0"

# Every name a vLLM release from 0.5.4 to 0.34.0 accepts for --quantization (QuantizationMethods / the
# QUANTIZATION_METHODS table, read in 0.5.4, 0.8.5, 0.10.1.1, 0.14, 0.20, 0.26, 0.33, 0.34): a name outside this
# set is refused by every release ("Unknown quantization method"). 0.34 added lut_b_moe, mxfp4_hadamard32 and
# w4afp8 (and dropped fp_quant, which older releases take).
QUANTIZATION_METHODS = frozenset({
    "aqlm", "auto-round", "auto_awq", "auto_gptq", "awq", "awq_marlin", "bitblas", "bitsandbytes",
    "compressed-tensors", "cpu_awq", "deepseek_v4_fp8", "deepspeedfp", "experts_int8", "fbgemm_fp8", "fp8",
    "fp8_per_block", "fp8_per_channel", "fp8_per_tensor", "fp_quant", "gguf", "gpt_oss_mxfp4", "gptq", "gptq_bitblas",
    "gptq_marlin", "gptq_marlin_24", "hqq", "humming", "inc", "int8_per_channel_weight_only", "ipex", "lut_b_moe",
    "marlin", "modelopt", "modelopt_fp4", "modelopt_mixed", "modelopt_mxfp8", "moe_wna16", "mxfp4",
    "mxfp4_hadamard32", "mxfp8", "neuron_quant", "nvfp4", "nvfp4_per_token", "online", "petit_nvfp4", "ptpc_fp8",
    "qqq", "quark", "rtn", "squeezellm", "torchao", "tpu_int8", "w4afp8",
})
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # config/lora.py MaxLoRARanks (0.33)
MAMBA_CACHE_DTYPES = ("auto", "float32", "bfloat16", "float16")  # config/cache.py MambaDType


@cache  # pure, and read thousands of times a plan: recommend without MODEL plans the whole catalog
def version_tuple(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a release; "0.10.1.1" reads as (0, 10, 1)."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        raise UsageError(f"--vllm-version: cannot read '{text}'", hint="Write it like 0.33.0 or 0.6.6")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def release(version: str) -> tuple[int, int]:
    """(major, minor) of a release, for comparisons inside the core (``vllm_behaviour`` has read it already)."""
    major, minor, _ = version_tuple(version)
    return major, minor


def v0_behaviour(version: str) -> VllmBehaviour:
    """The V0 engine: block bytes over the attention layers, windows save nothing, no null block, graphs not
    counted, Mamba state in a cache of its own (``MambaCacheManager``) outside the KV blocks."""
    v = version_tuple(version)
    return VllmBehaviour(version=version, engine="v0", default_gpu_memory_utilization=0.90,
                         null_block_in_check=False, counts_cudagraphs=False, hybrid_allocator=False,
                         mla_entry_align_bytes=256 if (0, 7, 2) <= v < (0, 8, 0) else 0)


@cache  # pure (a frozen dataclass per release string)
def vllm_behaviour(version: str) -> VllmBehaviour:
    """Map a vLLM release to the arithmetic kvplan models for it (read in the 0.5.4, 0.6.6, 0.11-0.34 wheels).

    0.8-0.10.1 default to V1 but fall back to V0 for some models: ``model_runner.engine_for_model``."""
    v = version_tuple(version)
    if v < (0, 5, 0):
        raise UsageError(f"--vllm-version {version} is older than kvplan models (0.5 and later)")
    if v < (0, 8, 0):
        return v0_behaviour(version)
    return VllmBehaviour(
        version=version,
        engine="v1",
        default_gpu_memory_utilization=0.92 if v >= (0, 20, 0) else 0.90,
        null_block_in_check=v >= (0, 31, 0),
        counts_cudagraphs=v >= (0, 20, 0),
        hybrid_allocator=True,
        nemotron_h_ssm_default="float32" if v >= (0, 20, 0) else "float16" if v >= (0, 13, 0) else None,
        mamba_blocks_check=v >= (0, 19, 0),
        hybrid_prefix_caching=v >= (0, 28, 0),
        mamba2_prefill_checkpoint=v >= (0, 32, 0),
        extensible_kv_cache=v >= (0, 34, 0),
        default_block_size=64 if v >= (0, 34, 0) else 16,
    )


# vLLM's SpeculativeConfig methods that kvplan plans: model-free ones hold no KV; EAGLE-style and draft models
# host the draft's attention layers; MTP hosts the checkpoint's own MTP layers ("deepseek_mtp" etc. are MTP).
MODEL_FREE_METHODS = ("ngram", "ngram_gpu", "suffix")
DRAFT_MODEL_METHODS = ("eagle", "eagle3", "draft_model")
SPECULATIVE_METHODS = (*MODEL_FREE_METHODS, *DRAFT_MODEL_METHODS, "mtp")


@dataclass(frozen=True, kw_only=True)
class SpeculativeSettings:
    """``--speculative-config``: what vLLM's ``SpeculativeConfig`` gets (method, tokens, draft model)."""

    method: str
    num_speculative_tokens: int
    draft_model: str | None = None
    # The whole object as given (JSON, keys sorted), so a launch line passes on keys kvplan does not plan with
    # (prompt_lookup_max ...); not part of equality: it changes no number.
    given_json: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.method not in SPECULATIVE_METHODS:
            raise UsageError(f"--speculative-config: method '{self.method}' is not one kvplan plans",
                             hint=f"Use one of {', '.join(SPECULATIVE_METHODS)}")
        if self.num_speculative_tokens < 1:
            raise UsageError("--speculative-config: num_speculative_tokens must be at least 1, "
                             f"got {self.num_speculative_tokens}")
        if self.method in DRAFT_MODEL_METHODS and not self.draft_model:
            raise UsageError(f"--speculative-config: method '{self.method}' needs a draft \"model\"")

    def vllm_config(self) -> dict[str, object]:
        """As vLLM's ``speculative_config`` takes it (the probe passes it on; calibration records key on it)."""
        config: dict[str, object] = {"method": self.method, "num_speculative_tokens": self.num_speculative_tokens}
        if self.draft_model:
            config["model"] = self.draft_model
        return config


@dataclass(frozen=True, kw_only=True)
class DeploySettings:
    """The flags a user gives vLLM (``None`` = vLLM's default for the version, platform and entry point)."""

    vllm_version: str = DEFAULT_VLLM_VERSION
    platform: Platform = "cuda"
    entrypoint: Entrypoint = "serve"
    max_model_len: int | None = None  # None: the model's own; AUTO_MAX_MODEL_LEN: vLLM's auto-fit
    gpu_memory_utilization: float | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    dtype: str = "auto"
    kv_cache_dtype: str = "auto"
    block_size: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    kv_cache_memory_bytes: int | None = None
    enforce_eager: bool = False
    quantization: str | None = None
    enable_chunked_prefill: bool | None = None
    enable_prefix_caching: bool | None = None
    disable_hybrid_kv_cache_manager: bool = False
    mamba_cache_dtype: str = "auto"  # conv state (and SSM state unless the next is set)
    mamba_ssm_cache_dtype: str = "auto"
    num_gpu_blocks_override: int | None = None
    speculative: SpeculativeSettings | None = None
    use_v1: bool | None = None  # VLLM_USE_V1 (0.8-0.10.2): None unset, vLLM's own choice
    # NCCL_NVLS_ENABLE in the deployment's environment: False for 0 (no NVLink SHARP buffers), None otherwise
    # (NCCL's own choice: NVLS on NVSwitch GPUs for groups of more than 2; kvplan.core.overheads.estimate_nvls)
    nccl_nvls_enable: bool | None = None
    # --enable-extensible-kv-cache (0.34+): None is vLLM's own choice (on where supported)
    enable_extensible_kv_cache: bool | None = None
    # Why this host cannot back an extensible KV cache although vLLM would pick it (0.34+: a driver without
    # VMM support, a NIXL connector without an IMEX channel); vLLM then falls back to the profiled sizing.
    extensible_unavailable: str | None = None
    # How the release was chosen when --vllm-version was not given (a note for the report); changes no number.
    version_note: str | None = field(default=None, compare=False)
    # Multimodal (config/multimodal.py, 0.33): per-modality item limits as (modality, limit) pairs (None: 999
    # each), the processor's largest image in pixels from --mm-processor-kwargs (None: the publisher's), how
    # the encoder uses TP ("weights" split, "data" replicated), and --language-model-only (every limit 0).
    limit_mm_per_prompt: tuple[tuple[str, int], ...] | None = None
    mm_max_pixels: int | None = None
    mm_video_max_pixels: int | None = None  # the same for videos (videos_kwargs, or the flat keys)
    mm_encoder_tp_mode: str = "weights"
    language_model_only: bool = False
    skip_mm_profiling: bool = False  # --skip-mm-profiling: vLLM profiles the text model only
    # LoRA (config/lora.py, 0.33): adapter slots preallocated on each GPU; max_cpu_loras only sizes host memory.
    enable_lora: bool = False
    max_loras: int = 1
    max_lora_rank: int = 16
    max_cpu_loras: int | None = None
    cpu_offload_gb: float = 0.0  # --cpu-offload-gb: weight bytes per GPU moved to (pinned) CPU memory

    @property
    def num_speculative_tokens(self) -> int:
        return self.speculative.num_speculative_tokens if self.speculative else 0

    def __post_init__(self) -> None:
        util = self.gpu_memory_utilization
        if util is not None and not 0 < util <= 1:
            raise UsageError(f"--gpu-memory-utilization must be in (0, 1], got {util}")
        for name in ("tensor_parallel_size", "pipeline_parallel_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("block_size", "max_num_seqs", "max_num_batched_tokens", "kv_cache_memory_bytes",
                     "num_gpu_blocks_override"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.max_model_len is not None and self.max_model_len <= 0 and self.max_model_len != AUTO_MAX_MODEL_LEN:
            raise UsageError(f"--max-model-len must be positive or 'auto', got {self.max_model_len}")
        for name in ("mamba_cache_dtype", "mamba_ssm_cache_dtype"):
            if getattr(self, name) not in MAMBA_CACHE_DTYPES:
                raise UsageError(f"--{name.replace('_', '-')} must be one of {', '.join(MAMBA_CACHE_DTYPES)}, "
                                 f"got '{getattr(self, name)}'")
        if self.platform not in ("cuda", "cpu"):
            raise UsageError(f"--platform must be cuda or cpu, got {self.platform}")
        if self.entrypoint not in ("serve", "llm"):
            raise UsageError(f"--entrypoint must be serve or llm, got {self.entrypoint}")
        self._check_mm_lora_offload()
        if self.quantization is not None and self.quantization.lower() not in QUANTIZATION_METHODS:
            raise UsageError(f"Unknown quantization method: {self.quantization}",
                             hint="vLLM takes one of its own methods, e.g. fp8, awq, gptq, compressed-tensors, "
                                  "modelopt, bitsandbytes, gguf, mxfp4")

    def _check_mm_lora_offload(self) -> None:
        """vLLM's own limits on the multimodal, LoRA and offload flags (config/multimodal.py, config/lora.py,
        config/offload.py, 0.33)."""
        if self.mm_encoder_tp_mode not in ("weights", "data"):
            raise UsageError(f"--mm-encoder-tp-mode must be weights or data, got '{self.mm_encoder_tp_mode}'")
        for modality, limit in self.limit_mm_per_prompt or ():
            if limit < 0:
                raise UsageError(f"--limit-mm-per-prompt: {modality} must be 0 or more, got {limit}")
        for pixels in (self.mm_max_pixels, self.mm_video_max_pixels):
            if pixels is not None and pixels <= 0:
                raise UsageError(f"--mm-processor-kwargs: max_pixels must be positive, got {pixels}")
        if self.max_loras < 1:
            raise UsageError(f"--max-loras must be at least 1, got {self.max_loras}")
        if self.max_lora_rank not in LORA_RANKS:
            raise UsageError(f"--max-lora-rank must be one of {', '.join(map(str, LORA_RANKS))}, "
                             f"got {self.max_lora_rank}")
        if self.max_cpu_loras is not None and self.max_cpu_loras < self.max_loras:
            raise UsageError(f"max_cpu_loras ({self.max_cpu_loras}) must be >= max_loras ({self.max_loras})")
        if self.cpu_offload_gb < 0:
            raise UsageError(f"--cpu-offload-gb must be 0 or more, got {self.cpu_offload_gb}")

    @property
    def mm_text_only(self) -> bool:
        """Every modality limited to 0 (or --language-model-only): vLLM profiles no encoder."""
        limits = self.limit_mm_per_prompt
        return self.language_model_only or (limits is not None and bool(limits)
                                            and all(limit == 0 for _, limit in limits))

    @property
    def world_size(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size

    @property
    def behaviour(self) -> VllmBehaviour:
        return vllm_behaviour(self.vllm_version)
