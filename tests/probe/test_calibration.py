"""The calibration store: concurrent appends, keys that match or not, and `check` using a record."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kvplan.cli.app import app
from kvplan.core.hardware import GpuSpec
from kvplan.core.settings import DeploySettings
from kvplan.probe import calibration

GiB = 1 << 30
A10G = GpuSpec(name="NVIDIA A10G", total_bytes=22 * GiB)
SETTINGS = DeploySettings(
    vllm_version="0.32.0", entrypoint="llm", max_model_len=4096, dtype="float32", gpu_memory_utilization=0.9
)


def _record(
    model: str = "org/model",
    *,
    gpu: str = "NVIDIA A10G",
    settings: DeploySettings = SETTINGS,
    non_kv: int = 3 * GiB,
    **measured: Any,
) -> dict[str, Any]:
    budget = 20 * GiB
    return calibration.make_record(
        model_ref=model,
        revision=None,
        device=gpu,
        gpu_total_bytes=22 * GiB,
        vllm_version=settings.vllm_version,
        settings=settings,
        measured={"available_kv_cache_bytes": budget - non_kv, **measured},
        budget_bytes=budget,
        available_error_bytes=0,
        status="match",
        predicted_tokens=1,
        elapsed_s=20.0,
    )


APPENDER = """
import json, sys
from kvplan.probe import calibration
worker, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    # ~70 KB per record: far above PIPE_BUF and one page, so interleaving would show without the lock.
    calibration.append_record({"schema": 1, "worker": worker, "i": i, "pad": str(worker) * 70_000})
"""


def test_concurrent_appends_from_processes_stay_whole(tmp_path: Path) -> None:
    env = dict(os.environ)
    workers, count = 6, 25
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(w), str(count)], env=env) for w in range(workers)]
    assert [p.wait(timeout=120) for p in procs] == [0] * workers
    records = calibration.read_records()
    assert len(records) == workers * count
    assert {(r["worker"], r["i"]) for r in records} == {(w, i) for w in range(workers) for i in range(count)}
    assert all(r["pad"] == str(r["worker"]) * 70_000 for r in records)
    raw = calibration.store_path().read_text().splitlines()
    assert len(raw) == workers * count  # no torn or merged lines


def test_store_location_follows_the_environment(tmp_path: Path) -> None:
    assert calibration.store_path({"KVPLAN_CACHE_DIR": str(tmp_path / "k")}) == tmp_path / "k" / "calibration.jsonl"
    assert calibration.store_path({"XDG_CACHE_HOME": str(tmp_path / "x")}) == tmp_path / "x/kvplan/calibration.jsonl"


def test_bad_lines_are_skipped_and_clear_empties() -> None:
    calibration.append_record(_record())
    with calibration.store_path().open("a") as f:
        f.write('{"schema": 1, "truncat\n')
        f.write("not json\n")
    calibration.append_record(_record(non_kv=2 * GiB))
    assert len(calibration.read_records()) == 2
    assert calibration.clear_records() == 4  # the lines, readable or not
    assert calibration.read_records() == []
    assert calibration.clear_records() == 0


def test_records_of_the_wrong_shape_are_skipped() -> None:
    """An edited line must not crash `check`, `gate` or `calibration list`: it is skipped like a torn one."""
    calibration.append_record(_record())
    for broken in ({"settings": [1]}, {"elapsed_s": "slow"}, {"non_kv_bytes": True}, {"measured": "x"}):
        calibration.append_record({**_record(), **broken})
    assert len(calibration.read_records()) == 1
    result = CliRunner().invoke(app, ["calibration", "list", "--json"])
    assert result.exit_code == 0 and len(json.loads(result.stdout)["records"]) == 1


def test_an_unreadable_store_is_one_line_and_does_not_stop_a_check(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "calibration.jsonl").mkdir(parents=True)  # a directory where the store should be
    env = {"KVPLAN_CACHE_DIR": str(cache)}
    runner = CliRunner()
    for args in (["calibration", "list"], ["calibration", "clear"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 2 and "calibration store" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    estimate, note = calibration.lookup_overhead("org/model", None, A10G, SETTINGS, env)
    assert estimate is None and note and note.startswith("calibration not used: cannot read the calibration store")


def test_lookup_matches_model_gpu_version_and_settings() -> None:
    calibration.append_record(_record())
    estimate, note = calibration.lookup_overhead("org/model", None, A10G, SETTINGS, os.environ)
    assert estimate is not None and estimate.value_bytes == 3 * GiB
    assert note is not None and note.startswith("calibrated: non-KV memory 3.00 GiB")
    # Utilisation and block size only size the KV cache, not vLLM's own memory: the same record applies.
    other_util = replace(SETTINGS, gpu_memory_utilization=0.8, block_size=32)
    assert calibration.lookup_overhead("org/model", None, A10G, other_util, os.environ)[0] == estimate
    # GPU named as NVML/torch or the catalog spells it: one card.
    short = GpuSpec(name="a10g", total_bytes=22 * GiB)
    assert calibration.lookup_overhead("org/model", None, short, SETTINGS, os.environ)[0] == estimate


def test_lookup_misses_say_why() -> None:
    calibration.append_record(_record())
    env = os.environ
    assert calibration.lookup_overhead("org/other", None, A10G, SETTINGS, env) == (None, None)
    assert calibration.lookup_overhead("org/model", "v2", A10G, SETTINGS, env) == (None, None)
    l4 = GpuSpec(name="NVIDIA L4", total_bytes=22 * GiB)
    assert calibration.lookup_overhead("org/model", None, l4, SETTINGS, env) == (None, None)
    estimate, note = calibration.lookup_overhead("org/model", None, A10G, replace(SETTINGS, max_num_seqs=8), env)
    assert estimate is None and note is not None and "--max-num-seqs None (this check: 8)" in note
    estimate, note = calibration.lookup_overhead("org/model", None, A10G, replace(SETTINGS, vllm_version="0.33.0"), env)
    assert estimate is None and note is not None and "--vllm-version 0.32.0" in note
    cpu = replace(SETTINGS, platform="cpu")
    assert calibration.lookup_overhead("org/model", None, A10G, cpu, env) == (None, None)


def test_records_without_a_gpu_budget_are_never_used() -> None:
    calibration.append_record(_record(settings=replace(SETTINGS, kv_cache_memory_bytes=GiB)))
    calibration.append_record(_record(gpu="cpu", settings=replace(SETTINGS, platform="cpu")))
    assert all(r["non_kv_bytes"] is None for r in calibration.read_records())
    assert calibration.lookup_overhead("org/model", None, A10G, SETTINGS, os.environ) == (None, None)


def test_newest_record_wins_and_spread_is_the_error() -> None:
    calibration.append_record(_record(non_kv=3 * GiB))
    calibration.append_record(_record(non_kv=3 * GiB + 50 * 2**20))
    estimate, _ = calibration.lookup_overhead("org/model", None, A10G, SETTINGS, os.environ)
    assert estimate is not None
    assert estimate.value_bytes == 3 * GiB + 50 * 2**20 and estimate.error_bytes == 50 * 2**20


def test_local_paths_are_one_model(tmp_path: Path, monkeypatch: Any) -> None:
    model = tmp_path / "m"
    model.mkdir()
    monkeypatch.chdir(tmp_path)
    calibration.append_record(_record("./m"))
    assert calibration.read_records()[0]["model"] == str(model.resolve())
    assert calibration.lookup_overhead(str(model), None, A10G, SETTINGS, os.environ)[0] is not None


def test_check_uses_a_record_and_says_so(tmp_path: Path) -> None:
    model = tmp_path / "qwen"
    model.mkdir()
    src = Path(__file__).resolve().parents[1] / "data" / "catalog_sources" / "Qwen__Qwen-7B-Chat" / "config.json"
    config = json.loads(src.read_text())
    config.pop("architectures")  # QWenLMHeadModel left vLLM after 0.23.0; this record is for 0.32.0
    (model / "config.json").write_text(json.dumps(config))
    args = [
        "check",
        str(model),
        "--gpu",
        "a10g",
        "--gpu-memory",
        "22GiB",
        "--max-model-len",
        "4096",
        "--entrypoint",
        "llm",
        "--vllm-version",
        "0.32.0",
        "--gpu-memory-utilization",
        "0.9",
        "--json",
    ]
    runner = CliRunner()
    before = json.loads(runner.invoke(app, args).stdout)
    assert before["memory"]["kv_cache_source"].startswith("estimate")

    settings = DeploySettings(vllm_version="0.32.0", entrypoint="llm", max_model_len=4096, gpu_memory_utilization=0.9)
    budget = before["memory"]["budget_bytes"]
    non_kv = 16 * GiB
    record = calibration.make_record(
        model_ref=str(model),
        revision=None,
        device="NVIDIA A10G",
        gpu_total_bytes=22 * GiB,
        vllm_version="0.32.0",
        settings=settings,
        measured={"available_kv_cache_bytes": budget - non_kv},
        budget_bytes=budget,
        available_error_bytes=0,
        status="match",
        predicted_tokens=None,
        elapsed_s=30.0,
    )
    calibration.append_record(record)

    result = runner.invoke(app, args)
    after = json.loads(result.stdout)
    assert after["memory"]["kv_cache_bytes"] == budget - non_kv
    assert after["memory"]["kv_cache_source"].startswith("budget - measured non-KV memory")
    assert any(n.startswith("calibrated: non-KV memory 16.00 GiB") for n in after["notes"])
    assert "calibrated" in result.stderr
    human = runner.invoke(app, args[:-1])
    assert "calibrated: non-KV memory 16.00 GiB" in human.stderr.replace("\n", " ")
    # A different utilisation is the same deployment for non-KV memory: the record still applies.
    other = runner.invoke(app, [*args[:-2], "0.8", "--json"])
    assert json.loads(other.stdout)["memory"]["kv_cache_bytes"] == math.ceil(22 * GiB * 0.8) - non_kv


def test_a_record_without_a_drafter_does_not_stand_for_one() -> None:
    from kvplan.core.settings import SpeculativeSettings

    env = dict(os.environ)
    calibration.append_record(_record(), env)
    mtp = replace(SETTINGS, speculative=SpeculativeSettings(method="mtp", num_speculative_tokens=2))
    estimate, note = calibration.lookup_overhead("org/model", None, A10G, mtp, env)
    assert estimate is None and note is not None and "--speculative-config" in note
    calibration.append_record(_record(settings=mtp, non_kv=4 * GiB), env)
    found, _ = calibration.lookup_overhead("org/model", None, A10G, mtp, env)
    assert found is not None and found.value_bytes == 4 * GiB
