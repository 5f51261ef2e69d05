"""The GPU as the planner sees it: what CUDA would report, and where that figure came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class GpuSpec:
    """One device of the deployment (TP/PP workers are assumed alike; NVML readings use the smallest).

    ``total_bytes`` is what ``cudaMemGetInfo`` reports (vLLM budgets ``total * utilization`` on it),
    which on data-centre cards is ~0.4-0.6 GiB below NVML's total.
    """

    name: str
    total_bytes: int
    total_error_bytes: int = 0
    free_bytes: int | None = None  # None: not measured (catalog or --gpu-memory), so the start check is not run
    nvml_total_bytes: int | None = None
    reserved_bytes: int | None = None
    used_bytes: int | None = None
    source: str = "flag"  # "nvml" | "catalog" | "flag"
    count: int | None = None  # visible devices, when known (NVML)
    compute_capability: tuple[int, int] | None = None
    rocm: bool = False  # an AMD GPU under vLLM's ROCm platform (its attention backends pick other block sizes)
    # An SXM board on an NVSwitch fabric of Hopper or later, where NCCL sets up NVLink SHARP (NVLS) buffers for
    # communicators of more than 2 GPUs (kvplan.core.overheads.estimate_nvls); None: not known (no catalog entry).
    nvswitch: bool | None = None
