"""Which GPU to plan on: what the user said first, then this machine's GPUs, else nothing when not needed."""

from __future__ import annotations

from collections.abc import Mapping

from kvplan.core.errors import GpuError, UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.units import GiB
from kvplan.gpu.catalog import catalog_gpu_spec, get_gpu
from kvplan.gpu.nvml import read_visible_gpus, to_gpu_spec


def resolve_gpu(
    *,
    gpu: str | None,
    gpu_memory_bytes: int | None,
    count: int,
    kv_cache_memory_set: bool,
    environ: Mapping[str, str],
) -> GpuSpec | None:
    """``--gpu-memory`` > ``--gpu NAME`` > NVML; ``None`` when none answers and the KV cache is sized.

    Flags win over NVML so that planning for another machine works on this one. ``None`` means no device
    total is known: the plan uses ``--kv-cache-memory`` and the start check is reported as not checked.
    """
    if count < 1:
        raise UsageError(f"The number of GPUs (TP x PP) must be at least 1 (got {count})")
    if gpu_memory_bytes is not None:
        return _flag_spec(gpu, gpu_memory_bytes)
    if gpu is not None:
        return catalog_gpu_spec(gpu, count)
    devices = read_visible_gpus(environ)
    if devices:
        return to_gpu_spec(devices, count)
    if kv_cache_memory_set:
        return None
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    why = "NVML unavailable"
    if visible is not None:  # a driver may be there, with every device hidden
        why += f" or CUDA_VISIBLE_DEVICES='{visible}' selects none"
    raise GpuError(
        f"No GPU found ({why}) and none of --gpu, --gpu-memory or --kv-cache-memory given",
        hint="Pass --gpu h100, --gpu-memory 80GB or --kv-cache-memory 20GiB",
    )


def _flag_spec(gpu: str | None, total_bytes: int) -> GpuSpec:
    """``--gpu-memory`` is the CUDA total itself, so it carries no error; ``--gpu`` then only names the card.

    A name the catalog knows lends its marketing name and compute capability; an unknown one is shown as
    typed, since the memory is already given (a card the catalog lacks is the reason to pass both).
    """
    if total_bytes < 1:
        raise UsageError(f"--gpu-memory must be more than zero bytes (got {total_bytes})")
    name = f"custom ({round(total_bytes / GiB, 2):g} GiB)"
    capability: tuple[int, int] | None = None
    rocm = False
    nvswitch: bool | None = None
    if gpu is not None:
        try:
            known = get_gpu(gpu)
        except UsageError:
            name = gpu
        else:
            name, capability, rocm = known.name, known.compute_capability, known.platform == "rocm"
            nvswitch = known.nvswitch
    return GpuSpec(name=name, total_bytes=total_bytes, source="flag", compute_capability=capability, rocm=rocm,
                   nvswitch=nvswitch)
