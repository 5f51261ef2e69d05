"""kvplan.gpu.nvml through the real nvidia-ml-py binding, against the stub libnvidia-ml.so.1 (conftest.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kvplan.core.errors import GpuError, UsageError
from kvplan.core.units import GiB, MiB
from kvplan.gpu.nvml import GpuProcess, NvmlDevice, to_gpu_spec

from .conftest import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_ERROR_UNKNOWN,
    UUIDS,
    StubGpu,
    StubNvml,
)

H100_TOTAL = 81559 * MiB
H100_RESERVED = 552 * MiB


def two_gpus(**second: object) -> list[StubGpu]:
    return [StubGpu(uuid=UUIDS[0]), StubGpu(uuid=UUIDS[1], **second)]  # type: ignore[arg-type]


def indices(result: dict[str, object]) -> list[int]:
    devices = result["devices"]
    assert isinstance(devices, list)
    return [d["index"] for d in devices]


# --- reading memory -----------------------------------------------------------------------------------


def test_reads_memory_info_v2_processes_and_capability(stub_nvml: StubNvml) -> None:
    gpu = StubGpu(uuid=UUIDS[0], used=10 * GiB, procs=[(4242, 6 * GiB), (4343, 4 * GiB)])
    result = stub_nvml.read([gpu])
    assert result["pynvml_loaded"] is True
    assert result["devices"] == [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "uuid": UUIDS[0],
            "nvml_total_bytes": H100_TOTAL,
            "reserved_bytes": H100_RESERVED,
            "used_bytes": 10 * GiB,
            "free_bytes": H100_TOTAL - H100_RESERVED - 10 * GiB,
            "memory_info_version": 2,
            "compute_capability": [9, 0],
            "processes": [{"pid": 4242, "used_bytes": 6 * GiB}, {"pid": 4343, "used_bytes": 4 * GiB}],
        }
    ]


def test_old_driver_without_v2_falls_back_to_v1_and_process_query_v2(stub_nvml: StubNvml) -> None:
    # Drivers before R510 have neither symbol; their v1 total already leaves the reserve out.
    gpu = StubGpu(
        uuid=UUIDS[0],
        name="NVIDIA A100-SXM4-40GB",
        total=40536 * MiB,
        reserved=0,
        used=2 * GiB,
        cc=(8, 0),
        procs=[(77, 2 * GiB)],
    )
    (device,) = stub_nvml.read([gpu], driver="old")["devices"]
    assert device["memory_info_version"] == 1
    assert device["reserved_bytes"] == 0
    assert device["nvml_total_bytes"] == 40536 * MiB
    assert device["used_bytes"] == 2 * GiB
    assert device["free_bytes"] == 40536 * MiB - 2 * GiB
    assert device["processes"] == [{"pid": 77, "used_bytes": 2 * GiB}]


def test_v2_refused_uses_v1_whose_used_includes_the_reserve(stub_nvml: StubNvml) -> None:
    gpu = StubGpu(uuid=UUIDS[0], used=1 * GiB, v2_rc=NVML_ERROR_NOT_SUPPORTED)
    (device,) = stub_nvml.read([gpu])["devices"]
    assert device["memory_info_version"] == 1
    assert device["reserved_bytes"] == 0
    assert device["used_bytes"] == 1 * GiB + H100_RESERVED
    assert device["used_bytes"] + device["free_bytes"] == H100_TOTAL


@pytest.mark.parametrize("rc", [NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_NO_PERMISSION])
def test_unlisted_processes_are_unknown_not_an_error(stub_nvml: StubNvml, rc: int) -> None:
    (device,) = stub_nvml.read([StubGpu(uuid=UUIDS[0], procs_rc=rc)])["devices"]
    assert device["processes"] is None
    assert device["free_bytes"] == H100_TOTAL - H100_RESERVED


def test_no_processes_is_an_empty_list(stub_nvml: StubNvml) -> None:
    (device,) = stub_nvml.read([StubGpu(uuid=UUIDS[0])])["devices"]
    assert device["processes"] == []


# --- no NVML, and NVML failures ------------------------------------------------------------------------


def test_driver_not_loaded_means_no_gpus(stub_nvml: StubNvml) -> None:
    assert stub_nvml.read([StubGpu(uuid=UUIDS[0])], init_rc=NVML_ERROR_DRIVER_NOT_LOADED) == {
        "devices": [],
        "pynvml_loaded": True,
    }


def test_library_that_cannot_be_loaded_means_no_gpus(stub_nvml: StubNvml) -> None:
    assert stub_nvml.read(driver="broken")["devices"] == []


def test_init_refused_is_a_gpu_error(stub_nvml: StubNvml) -> None:
    result = stub_nvml.read([StubGpu(uuid=UUIDS[0])], init_rc=NVML_ERROR_NO_PERMISSION)
    assert result["error"] == {
        "type": "GpuError",
        "line": "Reading the GPUs through NVML failed: Insufficient Permissions. "
        "Plan without reading the GPU: pass --gpu NAME or --gpu-memory SIZE",
    }


@pytest.mark.parametrize("fault", [{"count_rc": NVML_ERROR_UNKNOWN}, {"name_rc": NVML_ERROR_UNKNOWN}])
def test_a_failing_query_is_a_one_line_gpu_error(stub_nvml: StubNvml, fault: dict[str, int]) -> None:
    gpu = StubGpu(uuid=UUIDS[0], name_rc=fault.get("name_rc", 0))
    result = stub_nvml.read([gpu], count_rc=fault.get("count_rc", 0))
    assert result["error"]["type"] == "GpuError"
    assert result["error"]["line"].startswith("Reading the GPUs through NVML failed: ")
    assert "\n" not in result["error"]["line"]


# --- CUDA_VISIBLE_DEVICES --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        (None, [0, 1, 2]),
        ("1", [1]),
        ("2,0", [2, 0]),
        (" 1 , 0 ", [1, 0]),
        (UUIDS[1], [1]),
        ("gpu-9F8E7D", [1]),  # a unique prefix, in any case
        ("GPU-0a1b,1", [0, 1]),
        ("GPU-9f", []),  # ambiguous prefix: CUDA stops at it
        ("0,7,1", [0]),  # out of range: the rest is ignored
        ("0,0,1", [0]),  # a repeat ends the list too
        ("-1", []),
        ("GPU-ffff", []),
    ],
)
def test_cuda_visible_devices(stub_nvml: StubNvml, visible: str | None, expected: list[int]) -> None:
    gpus = [StubGpu(uuid=uuid) for uuid in UUIDS]
    assert indices(stub_nvml.read(gpus, cuda_visible_devices=visible)) == expected


def test_empty_cuda_visible_devices_does_not_load_nvml(stub_nvml: StubNvml) -> None:
    assert stub_nvml.read([StubGpu(uuid=UUIDS[0])], cuda_visible_devices="") == {
        "devices": [],
        "pynvml_loaded": False,
    }


def test_mig_instance_in_cuda_visible_devices_is_unsupported(stub_nvml: StubNvml) -> None:
    result = stub_nvml.read([StubGpu(uuid=UUIDS[0])], cuda_visible_devices="MIG-4ef7d0b3-8a7c-5f3a-9d39-1c5e")
    assert result["error"]["type"] == "GpuError"
    assert "MIG instance (MIG-4ef7d0b3" in result["error"]["line"]
    assert "--gpu-memory" in result["error"]["line"]


def test_gpu_in_mig_mode_is_unsupported(stub_nvml: StubNvml) -> None:
    result = stub_nvml.read([StubGpu(uuid=UUIDS[0], mig=True)])
    assert result["error"]["type"] == "GpuError"
    assert "GPU 0 (GPU-0a1b2c3d...) is in MIG mode" in result["error"]["line"]


# --- to_gpu_spec end to end ------------------------------------------------------------------------------


def test_spec_from_one_gpu_models_the_cuda_total(stub_nvml: StubNvml) -> None:
    result = stub_nvml.spec([StubGpu(uuid=UUIDS[0], used=3 * GiB)], count=1)
    assert result["spec"] == {
        "name": "NVIDIA H100 80GB HBM3",
        "total_bytes": H100_TOTAL - H100_RESERVED,  # NVML total less reserved: 81007 MiB
        "total_error_bytes": 102 * MiB,
        "free_bytes": H100_TOTAL - H100_RESERVED - 3 * GiB,
        "nvml_total_bytes": H100_TOTAL,
        "reserved_bytes": H100_RESERVED,
        "used_bytes": 3 * GiB,
        "source": "nvml",
        "count": 1,
        "compute_capability": [9, 0],
        "rocm": False,  # NVML reads NVIDIA GPUs only
        "nvswitch": True,  # the catalog's H100 80GB HBM3 is the SXM board (NCCL NVLS at TP > 2)
    }


def test_spec_for_tp2_plans_on_the_busier_of_the_first_two(stub_nvml: StubNvml) -> None:
    gpus = [
        StubGpu(uuid=UUIDS[0], used=1 * GiB),
        StubGpu(uuid=UUIDS[1], used=5 * GiB),
        StubGpu(uuid=UUIDS[2], used=70 * GiB),
    ]
    spec = stub_nvml.spec(gpus, count=2)["spec"]
    assert spec["free_bytes"] == H100_TOTAL - H100_RESERVED - 5 * GiB
    assert spec["used_bytes"] == 5 * GiB
    assert spec["count"] == 3


def test_spec_on_a_driver_without_v2_widens_the_error(stub_nvml: StubNvml) -> None:
    spec = stub_nvml.spec([StubGpu(uuid=UUIDS[0], reserved=0)], count=1, driver="old")["spec"]
    assert spec["total_bytes"] == H100_TOTAL
    assert spec["reserved_bytes"] is None
    assert spec["total_error_bytes"] == 640 * MiB


def test_spec_needs_as_many_visible_gpus_as_workers(stub_nvml: StubNvml) -> None:
    result = stub_nvml.spec(two_gpus(), count=2, cuda_visible_devices="1")
    assert result["error"] == {
        "type": "GpuError",
        "line": "The plan needs 2 GPUs (TP x PP) but NVML shows 1 visible. "
        "Check CUDA_VISIBLE_DEVICES, or plan without this machine's GPUs (--gpu or --gpu-memory)",
    }


# --- to_gpu_spec on hand-made devices (pure) -------------------------------------------------------------


def device(
    index: int,
    *,
    total_gib: int,
    free_gib: int,
    name: str = "GPU",
    reserved_gib: int = 0,
    version: int = 2,
    cc: tuple[int, int] | None = (8, 0),
) -> NvmlDevice:
    return NvmlDevice(
        index=index,
        name=name,
        uuid=f"GPU-{index}",
        nvml_total_bytes=total_gib * GiB,
        reserved_bytes=reserved_gib * GiB,
        used_bytes=(total_gib - reserved_gib - free_gib) * GiB,
        free_bytes=free_gib * GiB,
        memory_info_version=version,
        compute_capability=cc,
        processes=(GpuProcess(pid=1, used_bytes=None),),
    )


def test_mixed_totals_charge_the_larger_device_its_extra_memory() -> None:
    # B has more free memory but also a larger total, so at utilisation 1 it needs 4 GiB more:
    # its spare is 76 - (84 - 80) = 72 GiB, below A's 75.
    a = device(0, total_gib=80, free_gib=75, name="A")
    b = device(1, total_gib=84, free_gib=76, name="B", cc=(9, 0))
    spec = to_gpu_spec([a, b], 2)
    assert spec.total_bytes == 80 * GiB
    assert spec.free_bytes == 72 * GiB
    assert spec.nvml_total_bytes == 84 * GiB
    assert spec.name == "mixed: A, B"
    assert spec.compute_capability == (8, 0)


def test_unknown_capability_on_any_worker_is_unknown() -> None:
    spec = to_gpu_spec(
        [device(0, total_gib=24, free_gib=20), device(1, total_gib=24, free_gib=20, cc=None)], 2
    )
    assert spec.compute_capability is None


def test_count_must_be_positive() -> None:
    with pytest.raises(UsageError):
        to_gpu_spec([device(0, total_gib=24, free_gib=20)], 0)


def test_no_devices_is_a_gpu_error() -> None:
    with pytest.raises(GpuError, match="needs 1 GPUs"):
        to_gpu_spec([], 1)


# --- import cost ------------------------------------------------------------------------------------------


def test_importing_the_gpu_package_does_not_import_pynvml() -> None:
    code = (
        "import sys, kvplan.gpu.resolve, kvplan.gpu.nvml, kvplan.gpu.catalog; print('pynvml' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
