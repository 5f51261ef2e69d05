"""resolve_gpu: --gpu-memory > --gpu > NVML > nothing (with --kv-cache-memory) > an error.

The NVML branches run in a child against the stub library (conftest.py); the others run here with
``CUDA_VISIBLE_DEVICES=""``, which hides every device without touching NVML, so a real driver on the test
machine cannot change the outcome.
"""

from __future__ import annotations

from typing import Any

import pytest

from kvplan.core.errors import GpuError, UsageError
from kvplan.core.units import GiB, MiB
from kvplan.gpu.catalog import get_gpu
from kvplan.gpu.resolve import resolve_gpu

from .conftest import UUIDS, StubGpu, StubNvml

NO_DEVICES = {"CUDA_VISIBLE_DEVICES": ""}


def resolve(**kw: Any) -> Any:
    args: dict[str, Any] = {"gpu": None, "gpu_memory_bytes": None, "count": 1, "kv_cache_memory_set": False}
    return resolve_gpu(environ=NO_DEVICES, **{**args, **kw})


def test_gpu_memory_alone_is_a_custom_device() -> None:
    spec = resolve(gpu_memory_bytes=24 * GiB)
    assert (spec.name, spec.total_bytes, spec.total_error_bytes, spec.source) == (
        "custom (24 GiB)",
        24 * GiB,
        0,
        "flag",
    )
    assert spec.free_bytes is None
    assert spec.compute_capability is None


def test_gpu_memory_in_decimal_units_names_its_gib() -> None:
    assert resolve(gpu_memory_bytes=80 * 10**9).name == "custom (74.51 GiB)"


def test_gpu_memory_with_a_known_name_borrows_name_and_capability_only() -> None:
    spec = resolve(gpu="h100", gpu_memory_bytes=79 * GiB)
    assert spec.name == "NVIDIA H100 80GB HBM3"
    assert spec.total_bytes == 79 * GiB
    assert spec.source == "flag"
    assert spec.compute_capability == (9, 0)


def test_gpu_memory_with_a_name_the_catalog_lacks_shows_it_as_typed() -> None:
    spec = resolve(gpu="my-lab-card", gpu_memory_bytes=48 * GiB)
    assert spec.name == "my-lab-card"
    assert spec.compute_capability is None


def test_gpu_memory_must_be_positive() -> None:
    with pytest.raises(UsageError):
        resolve(gpu_memory_bytes=0)


def test_gpu_name_uses_the_catalog() -> None:
    spec = resolve(gpu="A100", count=4)
    gpu = get_gpu("a100-80g")
    assert (spec.name, spec.total_bytes, spec.total_error_bytes) == (
        gpu.name,
        gpu.cuda_total_bytes,
        gpu.total_error_bytes,
    )
    assert spec.source == "catalog"
    assert spec.free_bytes is None


def test_unknown_gpu_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Unknown GPU 'h900'"):
        resolve(gpu="h900")


def test_nothing_known_but_kv_cache_memory_gives_none() -> None:
    assert resolve(kv_cache_memory_set=True) is None


def test_nothing_known_is_a_gpu_error_naming_the_flags() -> None:
    with pytest.raises(GpuError) as caught:
        resolve()
    assert caught.value.one_line() == (
        "No GPU found (NVML unavailable or CUDA_VISIBLE_DEVICES='' selects none) and none of --gpu, "
        "--gpu-memory or --kv-cache-memory given. "
        "Pass --gpu h100, --gpu-memory 80GB or --kv-cache-memory 20GiB"
    )


def test_count_must_be_positive() -> None:
    with pytest.raises(UsageError, match="at least 1"):
        resolve(gpu="h100", count=0)


# --- with the stub NVML ----------------------------------------------------------------------------------

NONE_GIVEN = {"gpu": None, "gpu_memory_bytes": None, "count": 1, "kv_cache_memory_set": False}


def test_nvml_answers_when_no_flag_is_given(stub_nvml: StubNvml) -> None:
    gpu = StubGpu(
        uuid=UUIDS[0], name="NVIDIA L4", total=23034 * MiB, reserved=465 * MiB, used=1 * GiB, cc=(8, 9)
    )
    spec = stub_nvml.resolve([gpu], kwargs=NONE_GIVEN)["spec"]
    assert spec["source"] == "nvml"
    assert spec["name"] == "NVIDIA L4"
    assert spec["total_bytes"] == (23034 - 465) * MiB
    assert spec["free_bytes"] == (23034 - 465) * MiB - 1 * GiB


@pytest.mark.parametrize(
    ("flags", "source"),
    [
        ({"gpu": "h100"}, "catalog"),
        ({"gpu_memory_bytes": 20 * GiB}, "flag"),
        ({"gpu": "l4", "gpu_memory_bytes": 20 * GiB}, "flag"),
    ],
)
def test_flags_win_over_nvml_without_reading_it(
    stub_nvml: StubNvml, flags: dict[str, Any], source: str
) -> None:
    result = stub_nvml.resolve([StubGpu(uuid=UUIDS[0])], kwargs={**NONE_GIVEN, **flags})
    assert result["spec"]["source"] == source
    assert result["pynvml_loaded"] is False


def test_tp_beyond_the_visible_gpus_is_a_gpu_error(stub_nvml: StubNvml) -> None:
    result = stub_nvml.resolve([StubGpu(uuid=UUIDS[0])], kwargs={**NONE_GIVEN, "count": 2})
    assert result["error"]["type"] == "GpuError"
    assert result["error"]["line"].startswith("The plan needs 2 GPUs (TP x PP) but NVML shows 1 visible")


def test_no_library_and_no_flags_is_the_documented_error(stub_nvml: StubNvml) -> None:
    result = stub_nvml.resolve(kwargs=NONE_GIVEN, driver="broken")
    assert result["error"] == {
        "type": "GpuError",
        "line": "No GPU found (NVML unavailable) and none of --gpu, --gpu-memory or --kv-cache-memory given. "
        "Pass --gpu h100, --gpu-memory 80GB or --kv-cache-memory 20GiB",
    }


def test_no_driver_with_kv_cache_memory_gives_none(stub_nvml: StubNvml) -> None:
    result = stub_nvml.resolve(kwargs={**NONE_GIVEN, "kv_cache_memory_set": True}, init_rc=9)
    assert result == {"spec": None, "pynvml_loaded": True}


def test_a_broken_driver_is_reported_even_with_kv_cache_memory(stub_nvml: StubNvml) -> None:
    result = stub_nvml.resolve(kwargs={**NONE_GIVEN, "kv_cache_memory_set": True}, init_rc=4)
    assert result["error"]["type"] == "GpuError"
