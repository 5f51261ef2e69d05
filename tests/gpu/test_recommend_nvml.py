"""`kvplan recommend` without MODEL on this machine's GPUs, read through the stub NVML library."""

from __future__ import annotations

import json

from kvplan.core.units import GiB, MiB

from .conftest import UUIDS, StubGpu, StubNvml

L4 = dict(name="NVIDIA L4", total=23034 * MiB, reserved=465 * MiB, cc=(8, 9))


def test_two_kinds_in_one_box_are_reported_per_device_and_a_busy_one_is_flagged(stub_nvml: StubNvml) -> None:
    h100 = StubGpu(uuid=UUIDS[0])
    busy_l4 = StubGpu(uuid=UUIDS[1], used=18 * GiB, **L4)  # another process holds 18 GiB of it
    # vLLM 0.33 (the profiled sizing path) refuses to start where free memory is below the budget
    done = stub_nvml.cli(["recommend", "--gpu-util", "0.9", "--family", "llama-3.2", "--json", "--vllm-version",
                          "0.33.0"], [h100, busy_l4])
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    gpus = data["gpus"]
    assert gpus["source"] == "nvml" and gpus["count"] == 2
    first, second = gpus["devices"]
    # NVML total less the reserve: the CUDA total each device reports
    assert (first["index"], first["name"], first["total_bytes"]) == (0, "NVIDIA H100 80GB HBM3", (81559 - 552) * MiB)
    assert (second["index"], second["name"], second["total_bytes"]) == (1, "NVIDIA L4", (23034 - 465) * MiB)
    assert first["busy"] is None
    assert second["busy"].startswith("Free memory on device cuda:1 (")
    assert second["busy"].endswith("on startup is less than desired GPU memory utilization (0.9, 19.84 GiB). "
                                   "Decrease GPU memory utilization or reduce GPU memory used by other processes.")
    # vLLM takes cuda:0 for one GPU: the idle H100 serves every Llama 3.2 at its full context
    rows = {r["model"]: r for r in data["rows"]}
    assert rows["meta-llama/Llama-3.2-3B-Instruct"]["fits"]
    assert rows["meta-llama/Llama-3.2-3B-Instruct"]["tensor_parallel_size"] == 1
    # 0.34's extensible KV cache has no such start-up check (other processes' memory comes off the KV cache)
    later = stub_nvml.cli(["recommend", "--gpu-util", "0.9", "--family", "llama-3.2", "--json"], [h100, busy_l4])
    assert [d["busy"] for d in json.loads(later.stdout)["gpus"]["devices"]] == [None, None]


def test_cuda_visible_devices_picks_the_devices(stub_nvml: StubNvml) -> None:
    h100 = StubGpu(uuid=UUIDS[0])
    busy_l4 = StubGpu(uuid=UUIDS[1], used=18 * GiB, **L4)
    done = stub_nvml.cli(["recommend", "--gpu-util", "0.9", "--family", "llama-3.2", "--json", "--vllm-version",
                          "0.33.0"], [h100, busy_l4], cuda_visible_devices="1")
    data = json.loads(done.stdout)
    assert [d["name"] for d in data["gpus"]["devices"]] == ["NVIDIA L4"]
    assert data["gpus"]["devices"][0]["busy"].startswith("Free memory on device cuda:0 (")
    # the only visible GPU is busy: vLLM's start-up check fails for every model
    assert done.returncode == 1 and not any(r["fits"] for r in data["rows"])
    human = stub_nvml.cli(["recommend", "--gpu-util", "0.9", "--family", "llama-3.2", "--vllm-version", "0.33.0"],
                          [h100, busy_l4])
    assert "cuda:0 NVIDIA H100 80GB HBM3: 79.11 GiB" in human.stdout
    assert "cuda:1 NVIDIA L4: 22.04 GiB" in human.stdout and "busy: Free memory on device cuda:1" in human.stdout


def test_recommend_model_with_a_driver_plans_on_it_not_the_fleet(stub_nvml: StubNvml) -> None:
    done = stub_nvml.cli(["recommend", "meta-llama/Llama-3.2-1B-Instruct", "--json"], [StubGpu(uuid=UUIDS[0])])
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["gpu"]["name"] == "NVIDIA H100 80GB HBM3" and data["recommended"] is not None


def _mem_available() -> int:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        line = next(line for line in meminfo if line.startswith("MemAvailable:"))
    return int(line.split()[1]) * 1024


def test_a_gb10_whose_memory_nvml_does_not_report_is_planned_as_vllm_counts_it(stub_nvml: StubNvml) -> None:
    # DGX Spark: nvidia-smi prints "Not Supported" for memory. vLLM takes CUDA's total and, on an integrated GPU,
    # the OS's available memory as free (device_memory_info, 0.34).
    gb10 = StubGpu(uuid=UUIDS[0], name="NVIDIA GB10", total=0, reserved=0, cc=(12, 1), v2_rc=3, v1_rc=3)
    read = stub_nvml.read([gb10])
    (device,) = read["devices"]
    assert device["nvml_total_bytes"] == 124611 * MiB and device["memory_info_version"] == 0
    available = _mem_available()
    assert abs(device["free_bytes"] - min(available, 124611 * MiB)) < 512 * MiB
    done = stub_nvml.cli(["recommend", "--gpu-util", "0.8", "--family", "llama-3.2", "--json"], [gb10])
    data = json.loads(done.stdout)
    assert data["gpus"]["devices"][0]["total_bytes"] == 124611 * MiB
    assert "unified memory" in data["gpus"]["note"]


def test_an_unknown_gpu_without_memory_info_is_one_line(stub_nvml: StubNvml) -> None:
    odd = StubGpu(uuid=UUIDS[0], name="NVIDIA Mystery", v2_rc=3, v1_rc=3)
    result = stub_nvml.read([odd])
    assert result["error"]["line"].startswith("NVML reports no memory for GPU 0 (NVIDIA Mystery)")
