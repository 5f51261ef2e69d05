"""The GPUs this process would see, read through NVML (nvidia-ml-py), numbered as CUDA numbers them.

vLLM budgets on ``cudaMemGetInfo``; NVML is what can be read without creating a CUDA context (which would
itself take ~0.5 GiB of the card and needs torch). The two disagree on the total: NVML counts memory the
driver reserves for itself, CUDA does not. kvplan models the CUDA total as ``NVML total - reserved``:

* ollama/ollama#18201 (96 GiB card): nvidia-smi/NVML 95.59 GiB, ``cuDeviceTotalMem`` 94.97 GiB (638 MiB gap);
* shared/fixtures/gpu-memory.md pairs both figures for L4 (-0.45 GiB), L40S (-0.57) and H200 (-0.59);
  on the RTX 5090 (consumer, no ECC) they are equal;
* unslothai/unsloth#9362 states that torch's ``total_memory`` already excludes the reserved framebuffer.

No public reading pairs nvidia-smi's "Reserved" with torch's total on one box, so the model is not confirmed
to the MiB: ``_V2_MODEL_ERROR_BYTES`` says so. ``pynvml`` is imported inside functions only, to keep it off
the import path of ``kvplan check`` when NVML is not consulted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kvplan.core.errors import GpuError, UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.units import MiB

# Memory info v2 gives the reserve, so only the model itself is uncertain: 0.1 GiB.
_V2_MODEL_ERROR_BYTES = 102 * MiB
# Memory info v1 has no reserve. Drivers old enough to lack v2 left it out of the total already (A100-40GB:
# nvidia-smi 40536 MiB = torch 39.59 GiB in huggingface/text-generation-inference#1020), but a current driver
# whose v2 call fails (WSL: XuehaiPan/nvitop#30) counts it in; the largest gap seen is 638 MiB.
_V1_MODEL_ERROR_BYTES = 640 * MiB

_NO_GPU_HINT = "Plan without reading the GPU: pass --gpu NAME or --gpu-memory SIZE"


@dataclass(frozen=True, kw_only=True)
class GpuProcess:
    """A compute process on the device. PIDs are the host's (a container may not see them)."""

    pid: int
    used_bytes: int | None  # None: the driver does not say (WDDM)


@dataclass(frozen=True, kw_only=True)
class NvmlDevice:
    """One visible device as NVML reports it. ``index`` is NVML's (PCI bus order), not CUDA's ordinal."""

    index: int
    name: str
    uuid: str
    nvml_total_bytes: int
    reserved_bytes: int  # 0 when only memory info v1 answered (see memory_info_version)
    used_bytes: int
    free_bytes: int
    memory_info_version: int  # 2: total/reserved/used/free; 1: total/used/free, used includes the reserve;
    # 0: unified memory NVML does not report (GB10): the catalog's total, the host's available memory as free
    compute_capability: tuple[int, int] | None
    processes: tuple[GpuProcess, ...] | None  # None: the driver would not list them

    @property
    def cuda_total_bytes(self) -> int:
        """The modelled ``cudaMemGetInfo`` total (module docstring)."""
        return self.nvml_total_bytes - self.reserved_bytes


def read_visible_gpus(environ: Mapping[str, str] = os.environ) -> list[NvmlDevice]:
    """The devices CUDA would expose under ``environ``'s ``CUDA_VISIBLE_DEVICES``, in CUDA's order.

    ``[]`` when there is no NVML library or no driver (a laptop, CI). Any other NVML failure is a
    :class:`GpuError`, as is a MIG instance, whose memory this adapter does not read.
    """
    entries = _parse_visible(environ.get("CUDA_VISIBLE_DEVICES"))
    if entries == []:
        return []
    try:
        import pynvml
    except ImportError:  # the binding is a dependency; without it there is no NVML to read either
        return []
    try:
        pynvml.nvmlInit()
    except (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded):
        return []
    except pynvml.NVMLError as exc:
        raise _nvml_error(exc) from exc
    try:
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        uuids = [str(pynvml.nvmlDeviceGetUUID(handle)) for handle in handles]
        visible = _visible_indices(entries, uuids)
        return [_read_device(pynvml, i, handles[i], uuids[i]) for i in visible]
    except (pynvml.NVMLError, pynvml.NVMLLibraryMismatchError) as exc:
        raise _nvml_error(exc) from exc
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def to_gpu_spec(devices: Sequence[NvmlDevice], count: int) -> GpuSpec:
    """The device to plan on for ``count`` = TP x PP workers: the first ``count`` visible, as vLLM takes them.

    Every worker runs vLLM's start check on its own device, so the plan takes the smallest total and,
    for free memory, the device with the least to spare: ``free - (total - smallest total)``, which is
    never optimistic whatever the utilisation. With alike devices this is simply the least free memory.

    ``free_bytes`` is NVML's free memory now, before vLLM's own CUDA context, NCCL and cuBLAS exist; vLLM
    takes its snapshot after creating them (VLLM-MEMORY.md 2.1), so the start check must allow for them.
    """
    if count < 1:
        raise UsageError(f"The number of GPUs (TP x PP) must be at least 1 (got {count})")
    if len(devices) < count:
        raise GpuError(
            f"The plan needs {count} GPUs (TP x PP) but NVML shows {len(devices)} visible",
            hint="Check CUDA_VISIBLE_DEVICES, or plan without this machine's GPUs (--gpu or --gpu-memory)",
        )
    chosen = list(devices[:count])
    total = min(d.cuda_total_bytes for d in chosen)

    def spare(d: NvmlDevice) -> int:
        return d.free_bytes - (d.cuda_total_bytes - total)

    binding = min(chosen, key=lambda d: (spare(d), d.index))
    names = list(dict.fromkeys(d.name for d in chosen))
    capabilities = [d.compute_capability for d in chosen if d.compute_capability is not None]
    all_v2 = all(d.memory_info_version >= 2 for d in chosen)
    return GpuSpec(
        name=names[0] if len(names) == 1 else "mixed: " + ", ".join(names),
        total_bytes=total,
        total_error_bytes=_V2_MODEL_ERROR_BYTES if all_v2 else _V1_MODEL_ERROR_BYTES,
        free_bytes=max(0, spare(binding)),
        nvml_total_bytes=binding.nvml_total_bytes,
        reserved_bytes=binding.reserved_bytes if binding.memory_info_version >= 2 else None,
        used_bytes=binding.used_bytes,
        source="nvml",
        count=len(devices),
        compute_capability=min(capabilities) if len(capabilities) == len(chosen) else None,
        nvswitch=_catalog_nvswitch(names[0]) if len(names) == 1 else None,
    )


def _catalog_nvswitch(name: str) -> bool | None:
    """The GPU catalog's NVSwitch flag for the card NVML names (NCCL NVLS buffers); None for a card it lacks."""
    from kvplan.gpu.catalog import get_gpu

    try:
        return get_gpu(name).nvswitch
    except UsageError:
        return None


def _parse_visible(value: str | None) -> list[str] | None:
    """``CUDA_VISIBLE_DEVICES`` as entries; ``None`` when unset (all devices), ``[]`` when empty (none)."""
    if value is None:
        return None
    entries = [entry.strip() for entry in value.split(",")]
    if entries == [""]:
        return []
    for entry in entries:
        if entry.upper().startswith("MIG-"):
            raise GpuError(
                f"CUDA_VISIBLE_DEVICES names a MIG instance ({entry[:24]}); kvplan cannot read MIG memory",
                hint="Give the instance's memory with --gpu-memory, or size the cache with --kv-cache-memory",
            )
    return entries


def _visible_indices(entries: list[str] | None, uuids: list[str]) -> list[int]:
    """CUDA's reading of the list: an index or a ``GPU-`` UUID prefix matching exactly one device each.

    The first entry CUDA cannot use (out of range, unknown or ambiguous UUID, a repeat, anything else such
    as ``-1``) ends the list, silently, as it does in CUDA. Assumes CUDA numbers devices in NVML's (PCI)
    order, which holds with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` and, in practice, on machines with one model.
    """
    if entries is None:
        return list(range(len(uuids)))
    chosen: list[int] = []
    for entry in entries:
        index: int | None = None
        if entry.isdigit():
            index = int(entry) if int(entry) < len(uuids) else None
        elif entry.upper().startswith("GPU-"):
            matches = [i for i, uuid in enumerate(uuids) if uuid.upper().startswith(entry.upper())]
            index = matches[0] if len(matches) == 1 else None
        if index is None or index in chosen:
            break
        chosen.append(index)
    return chosen


def _read_device(pynvml: Any, index: int, handle: Any, uuid: str) -> NvmlDevice:
    if _mig_enabled(pynvml, handle):
        raise GpuError(
            f"GPU {index} ({uuid[:12]}...) is in MIG mode; kvplan cannot read MIG memory",
            hint="Give the instance's memory with --gpu-memory, or size the cache with --kv-cache-memory",
        )
    name = str(pynvml.nvmlDeviceGetName(handle))
    total, reserved, used, free, version = _memory(pynvml, handle) or _unified_memory(index, name)
    return NvmlDevice(
        index=index,
        name=name,
        uuid=uuid,
        nvml_total_bytes=total,
        reserved_bytes=reserved,
        used_bytes=used,
        free_bytes=free,
        memory_info_version=version,
        compute_capability=_compute_capability(pynvml, handle),
        processes=_processes(pynvml, handle),
    )


def _memory(pynvml: Any, handle: Any) -> tuple[int, int, int, int, int] | None:
    """(total, reserved, used, free, info version); None where the driver has no device memory to report."""
    try:
        info = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
        return int(info.total), int(info.reserved), int(info.used), int(info.free), 2
    except pynvml.NVMLError:
        # v2 is optional: absent before R510 (FunctionNotFound), refused by some (NotSupported, Unknown on
        # WSL). v1 exists on every driver, so a failure there is the one worth reporting.
        pass
    try:
        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
    except pynvml.NVMLError_NotSupported:
        return None  # unified memory (GB10: nvidia-smi prints "Not Supported"): the caller decides
    return int(info.total), 0, int(info.used), int(info.free), 1


def _unified_memory(index: int, name: str) -> tuple[int, int, int, int, int]:
    """A GPU that shares the host's memory (the catalog says which): the total CUDA reports there, from the
    catalog, and the free memory as vLLM counts it on such a GPU, the OS's available memory
    (``device_memory_info`` in vllm/utils/mem_utils.py, 0.34: psutil's ``available`` replaces cudaMemGetInfo's
    free, which leaves out reclaimable page cache)."""
    from kvplan.gpu.catalog import get_gpu

    try:
        entry = get_gpu(name)
    except UsageError:
        entry = None
    if entry is None or not entry.unified_memory:
        raise GpuError(f"NVML reports no memory for GPU {index} ({name})",
                       hint="Give its memory with --gpu-memory SIZE, or size the cache with --kv-cache-memory")
    total = entry.cuda_total_bytes
    free = min(total, _host_available_bytes())
    return total, 0, total - free, free, 0


def _host_available_bytes(path: str = "/proc/meminfo") -> int:
    """MemAvailable, what psutil.virtual_memory().available reads on Linux."""
    try:
        with open(path, encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    raise GpuError("Cannot read the host's available memory (MemAvailable in /proc/meminfo) for a unified-memory GPU",
                   hint="Give its memory with --gpu-memory SIZE")


def _mig_enabled(pynvml: Any, handle: Any) -> bool:
    try:
        current, _pending = pynvml.nvmlDeviceGetMigMode(handle)
    except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_FunctionNotFound):
        return False  # GPUs without MIG (everything before A100) answer NotSupported
    return bool(current == pynvml.NVML_DEVICE_MIG_ENABLE)


def _compute_capability(pynvml: Any, handle: Any) -> tuple[int, int] | None:
    try:
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
    except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_FunctionNotFound):
        return None
    return (int(major), int(minor))


def _processes(pynvml: Any, handle: Any) -> tuple[GpuProcess, ...] | None:
    # _v3 first (what the binding's unversioned call wraps), _v2 for drivers that predate it.
    queries = (pynvml.nvmlDeviceGetComputeRunningProcesses_v3, pynvml.nvmlDeviceGetComputeRunningProcesses_v2)
    for query in queries:
        try:
            infos = query(handle)
        except pynvml.NVMLError_FunctionNotFound:
            continue
        except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_NoPermission):
            return None  # an unlisted process still shows in used/free, which is what the check reads
        return tuple(
            GpuProcess(pid=int(p.pid), used_bytes=None if p.usedGpuMemory is None else int(p.usedGpuMemory))
            for p in infos
        )
    return None


def _nvml_error(exc: Exception) -> GpuError:
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    return GpuError(f"Reading the GPUs through NVML failed: {detail}", hint=_NO_GPU_HINT)
