"""vLLM's own words for the start-up failures kvplan predicts, per engine generation.

V1 text: vllm/v1/core/kv_cache_utils.py ``_check_enough_kv_cache_memory`` (0.32 = 0.33; 0.34's in
v1/core/kv_cache_planning.py words its hint by sizing path) and
vllm/v1/worker/utils.py ``request_memory``. V0 text: vllm/worker/worker.py ``raise_if_cache_size_invalid``.
GiB figures use vLLM's ``format_gib`` (round to 2 places, printed with ``str``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvplan.core.units import format_gib

if TYPE_CHECKING:
    from kvplan.core.capacity import KvLayout
    from kvplan.core.engine import EngineConfig

DOCS = "See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."

NO_MEMORY_V1 = (
    "No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the "
    "engine (this flag also controls CPU memory reservation on the CPU backend, despite its name). " + DOCS
)
NO_MEMORY_V0 = (
    "No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the "
    "engine."
)
AUTO_FIT_FAILED = (
    "Cannot auto-fit max_model_len: not enough GPU memory available to serve even a single token. "
    "Try increasing `gpu_memory_utilization`."
)


PROFILED_HINT_034 = (
    "Try increasing `gpu_memory_utilization` when initializing the engine (this flag also controls CPU memory "
    "reservation on the CPU backend, despite its name)."
)


def more_kv_memory_hint(utilization: float, *, extensible: bool, after_warmup: bool = True) -> str:
    """vLLM 0.34's ``_more_kv_cache_memory_hint`` (v1/core/kv_cache_planning.py)."""
    if not extensible:
        return PROFILED_HINT_034
    used_by = "the model, its activations, CUDA graphs and warmup" if after_warmup else "the model and its activations"
    graphs = (" CUDA graphs take less with fewer or smaller capture sizes in the compilation config."
              if after_warmup else "")
    if utilization < 1.0:
        return (f"The KV cache gets what is left after {used_by} within `gpu_memory_utilization`={utilization}; "
                "increase it (with the extensible KV cache it defaults to 1.0) or decrease `max_model_len` or "
                f"`max_num_seqs`.{graphs}")
    return (f"The extensible KV cache already takes all device memory left after {used_by}; decrease "
            f"`max_model_len` or `max_num_seqs`, or the model needs a device with more memory.{graphs}")


def auto_fit_failed(engine: EngineConfig) -> str:
    """``_auto_fit_max_model_len``'s refusal: 0.34 words it by path (after warm-up on the extensible one)."""
    if not engine.behaviour.extensible_kv_cache:
        return AUTO_FIT_FAILED
    head = "Cannot auto-fit max_model_len: not enough GPU memory available to serve even a single token. "
    if engine.kv_sizing == "extensible":
        return head + ("CUDA graph capture and warmup left no memory for the KV cache. Increase "
                       "`gpu_memory_utilization`, reduce the memory CUDA graphs take (fewer or smaller capture sizes "
                       "in the compilation config), or use more GPUs.")
    return head + PROFILED_HINT_034


def _kv_error_034(layout: KvLayout, available_bytes: int, max_model_len: int, estimate: int) -> str:
    """0.34's ``_check_enough_kv_cache_memory``: the hint depends on the sizing path; with the extensible KV
    cache the check that binds is the one after warm-up (``shrink_kv_cache_configs``)."""
    from kvplan.core.capacity import check_bytes

    engine = layout.engine
    hint = more_kv_memory_hint(engine.gpu_memory_utilization, extensible=engine.kv_sizing == "extensible")
    for stage in range(len(layout.stage_bytes_per_block)):
        check = check_bytes(layout, available_bytes, stage)
        if check <= 0:
            return f"No available memory for the cache blocks. {hint} {DOCS}"
        needed = layout.needed_bytes(max_model_len, stage)
        if needed > check:
            estimated = (f"Based on the available memory, the estimated maximum model length is {estimate}. "
                         if estimate > 0 else "")
            return (f"To serve at least one request with the model's max seq len ({max_model_len}), "
                    f"({format_gib(needed)} GiB KV cache is needed, which is larger than the available KV cache "
                    f"memory ({format_gib(check)} GiB). {estimated}{hint} Decreasing `max_model_len` also reduces "
                    f"what is needed. {DOCS}")
    return f"No available memory for the cache blocks. {hint} {DOCS}"


def kv_error(layout: KvLayout, available_bytes: int, max_model_len: int, estimate: int) -> str:
    engine = layout.engine
    if engine.behaviour.extensible_kv_cache:
        return _kv_error_034(layout, available_bytes, max_model_len, estimate)
    if engine.behaviour.engine == "v0":
        blocks = max(0, available_bytes // layout.bytes_per_block) if layout.bytes_per_block else 0
        if blocks <= 0:
            return NO_MEMORY_V0
        return (
            f"The model's max seq len ({max_model_len}) is larger than the maximum number of tokens that can be "
            f"stored in KV cache ({blocks * engine.block_size}). Try increasing `gpu_memory_utilization` or "
            "decreasing `max_model_len` when initializing the engine."
        )
    # The binding worker: the first whose check fails.
    from kvplan.core.capacity import check_bytes

    for stage in range(len(layout.stage_bytes_per_block)):
        check = check_bytes(layout, available_bytes, stage)
        if check <= 0:
            return NO_MEMORY_V1
        needed = layout.needed_bytes(max_model_len, stage)
        if needed > check:
            estimated = (
                f"Based on the available memory, the estimated maximum model length is {estimate}. "
                if estimate > 0 else ""
            )
            return (
                f"To serve at least one request with the model's max seq len ({max_model_len}), "
                f"({format_gib(needed)} GiB KV cache is needed, which is larger than the available KV cache "
                f"memory ({format_gib(check)} GiB). {estimated}Try increasing `gpu_memory_utilization` (which "
                "also controls CPU memory on the CPU backend) or decreasing `max_model_len` when initializing "
                f"the engine. {DOCS}"
            )
    return NO_MEMORY_V1


def free_memory_error(free_bytes: int, total_bytes: int, utilization: float, requested_bytes: int) -> str:
    return (
        f"Free memory on device cuda:0 ({format_gib(free_bytes)}/{format_gib(total_bytes)} GiB) on startup is less "
        f"than desired GPU memory utilization ({utilization}, {format_gib(requested_bytes)} GiB). Decrease GPU "
        "memory utilization or reduce GPU memory used by other processes."
    )


def long_max_model_len(requested: int, key: str, derived: int) -> str:
    return (
        f"User-specified max_model_len ({requested}) is greater than the derived max_model_len "
        f"({key}={derived} in model's config.json). To allow overriding this maximum, set the env var "
        "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 (with extreme caution), or lower --max-model-len"
    )


def mamba_blocks_error(max_num_seqs: int, num_blocks: int) -> str:
    """vllm/config/compilation.py (0.19+, #38270): full decode CUDA graphs need one Mamba block per sequence."""
    return (
        f"max_num_seqs ({max_num_seqs}) exceeds available Mamba cache blocks ({num_blocks}). Each decode sequence "
        "requires one Mamba cache block, so CUDA graph capture cannot proceed. Please lower max_num_seqs to at most "
        f"{num_blocks} or increase gpu_memory_utilization."
    )


def kv_allocation_oom(kv_bytes: int, free_bytes: int) -> str:
    """torch's words when ``kv_cache_memory_bytes`` asks for more than the GPU has left after the weights
    (the allocation in initialize_kv_cache; torch adds its own allocator statistics after this)."""
    return (f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {format_gib(kv_bytes)} GiB "
            f"(about {format_gib(max(free_bytes, 0))} GiB of the GPU is left after the weights)")


def bfloat16_unsupported(gpu_name: str, capability: tuple[int, int]) -> str:
    """platforms/cuda.py check_if_supports_dtype (worker start-up), 0.33's wording."""
    return (f"Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your {gpu_name} GPU has "
            f"compute capability {capability[0]}.{capability[1]}. You can use float16 instead by explicitly "
            "setting the `dtype` flag in CLI, for example: --dtype=half.")
