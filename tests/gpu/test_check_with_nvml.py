"""`kvplan check` end to end on a machine whose driver is the compiled stub: vLLM's free-memory check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kvplan.core.units import GiB, MiB
from tests.gpu.conftest import REPO_ROOT, UUIDS, StubGpu

L4 = dict(name="NVIDIA L4", total=23034 * MiB, reserved=460 * MiB, cc=(8, 9))


def _check(stub_libs: dict[str, Path], tmp_path: Path, gpu: StubGpu, *args: str) -> tuple[int, dict, str]:
    config = tmp_path / "nvml-stub.txt"
    config.write_text("\n".join(["init 0", "count_rc 0", *gpu.lines()]) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "LD_PRELOAD")}
    env.update(LD_LIBRARY_PATH=str(stub_libs["current"]), KVPLAN_STUB_NVML=str(config), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-m", "kvplan", "check", "Qwen/Qwen2.5-1.5B-Instruct", *args, "--json"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, json.loads(done.stdout) if done.stdout else {}, done.stderr


def test_idle_gpu_read_through_nvml(stub_libs: dict[str, Path], tmp_path: Path) -> None:
    code, data, err = _check(stub_libs, tmp_path, StubGpu(uuid=UUIDS[0], **L4), "--max-model-len", "8192",
                             "--vllm-version", "0.33.0")  # the start-up free-memory check: gone in 0.34's default
    assert code == 0, err
    assert data["gpu"]["source"] == "nvml" and data["gpu"]["name"] == "NVIDIA L4"
    # NVML total less the driver's reservation: 22.04 GiB, what torch reports on an L4 (gpu-memory.md)
    assert data["gpu"]["total_bytes"] == (23034 - 460) * MiB
    assert data["memory"]["free_check"] == "ok"


def test_busy_gpu_fails_vllms_free_memory_check(stub_libs: dict[str, Path], tmp_path: Path) -> None:
    busy = StubGpu(uuid=UUIDS[0], used=8 * 1024 * MiB, **L4)  # another process holds 8 GiB
    code, data, _ = _check(stub_libs, tmp_path, busy, "--max-model-len", "8192", "--vllm-version", "0.33.0")
    assert code == 1
    assert data["memory"]["free_check"] == "fail"
    message = data["verdict"]["vllm_errors"][-1]
    assert message.startswith("Free memory on device cuda:0 (")
    assert "is less than desired GPU memory utilization (0.92, 20.28 GiB)" in message
    assert data["memory"]["free_bytes"] < 0.92 * data["gpu"]["total_bytes"] <= 23 * GiB


def test_busy_gpu_shrinks_the_kv_cache_on_vllm_034(stub_libs: dict[str, Path], tmp_path: Path) -> None:
    """0.34's extensible KV cache skips the free-memory check (request_memory) and sizes the cache from the
    memory free after warm-up: the 8 GiB another process holds come straight off the KV cache."""
    idle_code, idle, _ = _check(stub_libs, tmp_path, StubGpu(uuid=UUIDS[0], **L4), "--max-model-len", "8192")
    busy = StubGpu(uuid=UUIDS[0], used=8 * 1024 * MiB, **L4)
    code, data, err = _check(stub_libs, tmp_path, busy, "--max-model-len", "8192")
    assert idle_code == 0 and code == 0, err
    assert data["settings"]["kv_sizing"] == "extensible" and data["settings"]["gpu_memory_utilization"] == 1.0
    assert data["memory"]["free_check"] == "not checked" and data["verdict"]["vllm_errors"] == []
    sizing = data["memory"]["extensible"]
    assert sizing["other_processes_bytes"] == idle["memory"]["free_bytes"] - data["memory"]["free_bytes"] + \
        idle["memory"]["extensible"]["other_processes_bytes"]
    # the headroom term binds: every byte others hold is a byte less of KV cache
    assert idle["memory"]["kv_cache_bytes"] - data["memory"]["kv_cache_bytes"] == 8 * GiB
    assert sizing["other_processes_cost_bytes"] == 8 * GiB + idle["memory"]["extensible"]["other_processes_cost_bytes"]
    assert any(note.startswith("other processes hold 8.0") for note in data["notes"]), data["notes"]
