"""How vLLM sizes the KV cache on a GPU from 0.34: from memory measured after warm-up, or as before.

vLLM 0.34.0 (read in the wheel; no GPU run of 0.34 was possible here, so the terms below marked
[source only] carry widened error bars) has three ways, and kvplan names them ``settings.kv_sizing``:

* ``extensible``: the default on CUDA and ROCm. ``VllmConfig._resolve_extensible_kv_cache`` (config/vllm.py)
  turns ``enable_extensible_kv_cache`` on unless ``kv_cache_memory_bytes`` or ``num_gpu_blocks_override`` is
  set (or elastic EP, a legacy-IPC or custom-memory-pool KV connector); a NIXL-style connector exporting
  FABRIC handles without an IMEX channel keeps it off unless asked for; the worker then turns it off where the
  driver lacks VMM support (``Worker.extensible_kv_cache_unsupported_reason``, ``vmm_unavailable_reason``).
  The cache reserves address space, warm-up and CUDA-graph capture run, then
  ``measure_kv_cache_blocks`` (v1/worker/extensible_kv_cache.py) sizes it from the memory free:
  ``measure_kv_cache_bytes`` below, exact. Its inputs are measured by vLLM, so kvplan estimates them:

  - ``init_free``: cudaMemGetInfo's free memory at the worker's snapshot (after its CUDA context, NCCL and
    cuBLAS handles): NVML's free memory less that context when a GPU is visible, else the total less it. So
    memory other processes hold on the GPU comes straight off the KV cache.
  - ``non_kv_used``: everything resident after warm-up but the committed KV prefix: weights, non-torch memory
    and the CUDA graph pool, kvplan's ``Overheads.resident_bytes``.
  - ``transient_peak``: ``reserved_headroom_bytes``, set to the profile run's ``peak_activation_memory``
    (transient peak + the CUDA-graph estimate, ``Worker.determine_available_memory``) and raised to the
    sizing warm-up's own peak (``record_transient_peak``): kvplan's activation + CUDA-graph estimates, the
    graphs thus counted twice (resident and kept free), as vLLM does.
  - the margin, ``max(1 GiB (3 GiB on ROCm), 0.75 x transient peak)``; its 0.5 GiB (1 GiB on ROCm)
    ``KV_CACHE_NON_TORCH_RESERVE_BYTES`` is kept free for allocations outside torch by capping torch's
    allocator, inside the margin, not on top of it.
  - ``requested = ceil(total x gpu_memory_utilization)``, the utilisation defaulting to 1.0
    (``CacheConfig.resolved_gpu_memory_utilization``); start-up no longer refuses a budget above the free
    memory (``request_memory``).

  The block count is then capped at the capacity reserved before warm-up, the profiled estimate at that
  budget (``finalize_extensible_kv_cache``), and the multimodal IPC reserve (``reserve_mm_ipc_gpu_memory``:
  ``mm_ipc_gpu_memory_gb``, 0 by default) comes off. vLLM warns, in its words (``utilization_warning``), when
  an explicit utilisation in (0.7, 1.0) withholds 1 GiB or more.
* ``profiled``: the estimate-based sizing of 0.33 (profile run, ``requested - non-KV``), with
  ``gpu_memory_utilization`` defaulting to 0.92 and the start-up free-memory check.
* ``fixed``: ``kv_cache_memory_bytes`` sizes the cache (and the CPU build, which kvplan plans that way).

Releases before 0.34 have only ``profiled`` and ``fixed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Literal

from kvplan.core.errors import UsageError
from kvplan.core.estimate import Estimate
from kvplan.core.settings import DeploySettings, VllmBehaviour
from kvplan.core.units import GiB, MiB, format_gib

KvSizing = Literal["extensible", "profiled", "fixed"]

# v1/worker/extensible_kv_cache.py (0.34.0)
KV_CACHE_MARGIN_FLOOR_BYTES = 1 << 30  # (3 if current_platform.is_rocm() else 1) << 30
KV_CACHE_MARGIN_FLOOR_BYTES_ROCM = 3 << 30
KV_CACHE_MARGIN_FRACTION = 0.75
KV_CACHE_NON_TORCH_RESERVE_BYTES = 1 << 29  # (2 if is_rocm() else 1) << 29: inside the margin
EXTENSIBLE_DEFAULT_UTILIZATION = 1.0  # CacheConfig.resolved_gpu_memory_utilization with the extensible cache
WARNING_LOW_UTILIZATION = 0.7  # measure_kv_cache_blocks warns for 0.7 < utilization < 1.0 ...
WARNING_WITHHELD_BYTES = 1 << 30  # ... when it withholds this much or more
# ExtensibleKVCache commits each segment in whole granules (cuMemGetAllocationGranularity: 2 MiB on NVIDIA
# GPUs); a per-layer segment loses at most one granule, half on average.
VMM_GRANULE_BYTES = 2 * MiB

# [source only] the error bar of the 0.34-only terms: no 0.34 start-up could be run here. The sizing warm-up
# (run_kv_cache_sizing_warmup) runs full-batch steps the profile run does not, whose peak may exceed it (it
# rarely can: the reserve starts at the profile peak plus the CUDA-graph estimate, which the warm-up steps do
# not hold), and torch's reservation growth over them is not modelled: 0.5 GiB more error is allowed for, on
# top of the activation and CUDA-graph estimates' own errors; all three count 1.75 times where the margin
# (0.75 x transient) is above its floor. With the CUDA context's 0.2 GiB, Llama-3.1-8B on an H100 carries
# +-1.6 GiB on 0.34 against +-1.0 GiB on 0.33.
ERR_WARMUP_TRANSIENT_BYTES = GiB // 2


@dataclass(frozen=True, kw_only=True)
class SizingPath:
    kind: KvSizing
    reason: str


def sizing_path(settings: DeploySettings, behaviour: VllmBehaviour | None = None) -> SizingPath:
    """Which way vLLM sizes the KV cache for these settings (``VllmConfig._resolve_extensible_kv_cache`` and
    ``Worker.extensible_kv_cache_unsupported_reason``, 0.34.0). Raises vLLM's error where the extensible cache
    is asked for explicitly and cannot be had."""
    behaviour = behaviour or settings.behaviour
    requested = settings.enable_extensible_kv_cache
    if settings.kv_cache_memory_bytes is not None:
        if requested and behaviour.extensible_kv_cache:
            raise UsageError("enable_extensible_kv_cache: it sizes the KV cache from measured memory, which "
                             "kv_cache_memory_bytes overrides.", hint="Drop one of the two flags")
        return SizingPath(kind="fixed", reason="kv_cache_memory_bytes sizes the KV cache")
    if settings.platform == "cpu":
        return SizingPath(kind="fixed", reason="the CPU build's KV cache space sizes it")
    if not behaviour.extensible_kv_cache:
        if requested:
            raise UsageError(f"--enable-extensible-kv-cache: vLLM {behaviour.version} has no extensible KV cache "
                             "(it came in 0.34.0)")
        return SizingPath(kind="profiled", reason=f"vLLM {behaviour.version} sizes the KV cache from the profile run")
    unsupported = None
    if settings.num_gpu_blocks_override is not None:
        unsupported = "it sizes the KV cache from measured memory, which num_gpu_blocks_override overrides"
    if requested is False:
        return SizingPath(kind="profiled", reason="--no-enable-extensible-kv-cache")
    if unsupported is not None:
        if requested:
            raise UsageError(f"enable_extensible_kv_cache: {unsupported}.")
        return SizingPath(kind="profiled", reason="num_gpu_blocks_override is set")
    if settings.extensible_unavailable:
        # the worker turns it off at start-up (vLLM warns "Disabling the extensible KV cache: ...")
        return SizingPath(kind="profiled", reason=settings.extensible_unavailable)
    return SizingPath(kind="extensible", reason="the default on CUDA from vLLM 0.34")


def default_utilization(path: SizingPath, behaviour: VllmBehaviour) -> float:
    """``CacheConfig.resolved_gpu_memory_utilization`` (0.34) when none is given: 1.0 with the extensible KV
    cache, else the release's default (0.92 from 0.20)."""
    return EXTENSIBLE_DEFAULT_UTILIZATION if path.kind == "extensible" else behaviour.default_gpu_memory_utilization


def margin_bytes(transient_peak_bytes: int, *, rocm: bool = False) -> int:
    floor = KV_CACHE_MARGIN_FLOOR_BYTES_ROCM if rocm else KV_CACHE_MARGIN_FLOOR_BYTES
    return max(floor, int(transient_peak_bytes * KV_CACHE_MARGIN_FRACTION))


def unclamped_kv_cache_bytes(*, init_free_memory: int, free_memory: int, committed_bytes: int,
                             requested_memory: int, transient_peak_bytes: int = 0, torch_reserve_growth_bytes: int = 0,
                             margin_floor_bytes: int = KV_CACHE_MARGIN_FLOOR_BYTES,
                             margin_fraction: float = KV_CACHE_MARGIN_FRACTION) -> int:
    """vLLM 0.34's ``measure_kv_cache_bytes`` (v1/worker/extensible_kv_cache.py), term for term, before its clamp
    at 0: the KV cache gets the budget less what the engine holds, capped by the headroom (free + committed KV)
    less the margin, less the larger of the transient peak and torch's reservation growth. Negative by the bytes
    the engine is short: vLLM clamps, an estimate must not, or a plan 0.1 GiB short and one 10 GiB short would
    read the same and the first would lose the error bar that says it may well start."""
    non_kv_used = init_free_memory - free_memory - committed_bytes
    headroom = free_memory + committed_bytes
    margin = max(margin_floor_bytes, int(transient_peak_bytes * margin_fraction))
    available = min(requested_memory - non_kv_used, headroom - margin)
    return available - max(transient_peak_bytes, torch_reserve_growth_bytes)


def measure_kv_cache_bytes(*, init_free_memory: int, free_memory: int, committed_bytes: int, requested_memory: int,
                           transient_peak_bytes: int = 0, torch_reserve_growth_bytes: int = 0,
                           margin_floor_bytes: int = KV_CACHE_MARGIN_FLOOR_BYTES,
                           margin_fraction: float = KV_CACHE_MARGIN_FRACTION) -> int:
    """vLLM 0.34's ``measure_kv_cache_bytes``: ``unclamped_kv_cache_bytes``, never below 0."""
    return max(unclamped_kv_cache_bytes(
        init_free_memory=init_free_memory, free_memory=free_memory, committed_bytes=committed_bytes,
        requested_memory=requested_memory, transient_peak_bytes=transient_peak_bytes,
        torch_reserve_growth_bytes=torch_reserve_growth_bytes, margin_floor_bytes=margin_floor_bytes,
        margin_fraction=margin_fraction), 0)


def utilization_warning(utilization: float, requested_bytes: int, withheld_bytes: int) -> str | None:
    """``measure_kv_cache_blocks``'s warning (0.34), in vLLM's words, or None where it stays silent."""
    if not WARNING_LOW_UTILIZATION < utilization < 1.0 or withheld_bytes < WARNING_WITHHELD_BYTES:
        return None
    return (f"gpu_memory_utilization={utilization} caps this instance at {format_gib(requested_bytes)} GiB, keeping "
            f"{format_gib(withheld_bytes)} GiB of free device memory out of the KV cache. The extensible KV cache "
            "is sized from the memory measured after warmup and CUDA graph capture, so vLLM's own use needs no "
            "headroom below 1.0. Leave gpu_memory_utilization unset unless it leaves room for memory vLLM does "
            "not measure: other processes sharing the GPU (including ones that allocate on it later), the CPU on "
            "a unified-memory device, weight transfer buffers for weight updates, or a KV connector's own device "
            "buffers.")


@dataclass(frozen=True, kw_only=True)
class ExtensibleSizing:
    """The extensible path's terms for one worker, as kvplan estimates them (bytes)."""

    init_free_bytes: int  # free memory at vLLM's snapshot
    requested_bytes: int  # ceil(total x utilization)
    non_kv_bytes: int  # resident after warm-up: weights, non-torch, CUDA graphs
    transient_peak_bytes: int  # activation peak + CUDA-graph estimate, kept free
    margin_bytes: int
    measured_bytes: int  # measure_kv_cache_bytes
    capacity_bytes: int  # the profiled reservation that caps it
    mm_ipc_reserve_bytes: int
    kv_cache_bytes: int
    error_bytes: int
    withheld_bytes: int  # what an explicit utilisation keeps out of the KV cache (the warning's figure)
    other_processes_bytes: int | None  # memory other processes hold (NVML), None when not measured
    other_processes_cost_bytes: int  # by how much that memory shrinks the KV cache
    warning: str | None
    margin_floor_bytes: int = KV_CACHE_MARGIN_FLOOR_BYTES  # 3 GiB on ROCm
    init_free_source: str = ""  # how the free memory at the snapshot was found (NVML or the total, less what)

    @property
    def margin_formula(self) -> str:
        return f"max({self.margin_floor_bytes >> 30} GiB, {KV_CACHE_MARGIN_FRACTION} x transient peak)"

    @property
    def source(self) -> str:
        return ("estimate (vLLM 0.34 extensible KV cache, verified from source only): min(budget - non-KV, free "
                f"at start - non-KV - margin) - transient peak, margin = {self.margin_formula}")


def estimate_extensible(*, total_bytes: int, utilization: float, init_free: Estimate, resident: Estimate,
                        activation: Estimate, cudagraph: Estimate, profiled_capacity_bytes: int,
                        empty_init_free_bytes: int, other_processes_bytes: int | None, segments: int = 0,
                        mm_ipc_reserve_bytes: int = 0, rocm: bool = False) -> ExtensibleSizing:
    """The extensible path's KV bytes from kvplan's estimates of vLLM's measured terms.

    ``init_free`` is the free memory at vLLM's snapshot; ``empty_init_free_bytes`` the same on an idle GPU
    (total less vLLM's own context), for the cost of other processes. ``resident`` is the memory the engine
    keeps after warm-up (weights, non-torch, CUDA graphs); the transient peak is ``activation + cudagraph``.
    ``segments`` is the number of per-layer VMM segments (granule rounding, in the error only)."""
    requested = ceil(total_bytes * utilization)
    transient = activation.value_bytes + cudagraph.value_bytes
    floor = KV_CACHE_MARGIN_FLOOR_BYTES_ROCM if rocm else KV_CACHE_MARGIN_FLOOR_BYTES

    def unclamped_at(init_free_bytes: int, requested_bytes: int) -> int:
        # after warm-up: free = init_free - resident, with nothing committed (vLLM shrinks to the null block)
        return unclamped_kv_cache_bytes(init_free_memory=init_free_bytes,
                                        free_memory=init_free_bytes - resident.value_bytes, committed_bytes=0,
                                        requested_memory=requested_bytes, transient_peak_bytes=transient,
                                        margin_floor_bytes=floor)

    def kv_at(init_free_bytes: int, requested_bytes: int) -> int:
        return max(unclamped_at(init_free_bytes, requested_bytes), 0)  # what vLLM measures

    raw = unclamped_at(init_free.value_bytes, requested)
    measured = max(raw, 0)
    # short of memory, the plan keeps by how much (the profiled path's plan does the same)
    kv = min(raw, profiled_capacity_bytes) - mm_ipc_reserve_bytes
    withheld = kv_at(init_free.value_bytes, init_free.value_bytes) - measured
    warning = utilization_warning(utilization, requested, withheld)
    empty = max(min(kv_at(empty_init_free_bytes, requested), profiled_capacity_bytes) - mm_ipc_reserve_bytes, 0)
    margin = max(floor, int(transient * KV_CACHE_MARGIN_FRACTION))
    # The headroom term binds where free memory at start, less the margin, is below the budget (always at the
    # default utilisation of 1.0); then the free-memory estimate's error counts, and d(kv)/d(transient) is 1.75
    # while the margin is above its floor.
    headroom_binds = init_free.value_bytes - margin <= requested
    slope = 1 + (KV_CACHE_MARGIN_FRACTION if headroom_binds and margin > floor else 0)
    transient_error = (activation.error_bytes, cudagraph.error_bytes, ERR_WARMUP_TRANSIENT_BYTES)
    squares = (init_free.error_bytes ** 2 if headroom_binds else 0) + resident.error_bytes ** 2 \
        + sum((slope * e) ** 2 for e in transient_error) + (segments * VMM_GRANULE_BYTES / 2) ** 2
    error = int(squares ** 0.5) + 1
    return ExtensibleSizing(
        init_free_bytes=init_free.value_bytes, requested_bytes=requested, non_kv_bytes=resident.value_bytes,
        transient_peak_bytes=transient, margin_bytes=margin,
        measured_bytes=measured, capacity_bytes=profiled_capacity_bytes, mm_ipc_reserve_bytes=mm_ipc_reserve_bytes,
        kv_cache_bytes=kv, error_bytes=error, withheld_bytes=max(withheld, 0),
        other_processes_bytes=other_processes_bytes, other_processes_cost_bytes=max(empty - kv, 0), warning=warning,
        margin_floor_bytes=floor, init_free_source=init_free.source)
