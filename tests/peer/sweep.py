"""The registry sweep: every non-plain KV layout of vLLM 0.32 (plus one of each plain group) on the real engine,
against ``kvplan check`` on the same settings.

    python -m tests.peer.sweep OUT.json [--full] [--write-proven] [CASE ...]
    python -m tests.peer.sweep OUT.json --records-from     # rewrite the data files from an earlier OUT.json

Runs the cases of ``sweep_cases`` through vLLM's own KV sizing (``sizing_child``: many models per process, two
processes; ``--full``: one real engine start per case through ``kvplan.probe.child``), asks kvplan the same
question, prints one line per case and writes the raw records to OUT.json. ``--write-proven`` also rewrites
``kvplan/data/engine_proven.json`` (the architectures kvplan sizes exactly as the engine did) and
``kvplan/data/engine_errors.json`` (those the CPU engine does not start, in vLLM's words) from this run; ``kvplan
models --coverage`` reads them. Run the whole sweep for that: a subset would drop the other cases' entries.

Each case ends in one verdict:

- ``proven``: the engine started; kvplan exits 0 with the engine's tokens, blocks and concurrency;
- ``refused``: the engine started; kvplan exits 2 with one line naming what it does not know;
- ``silently_wrong``: the engine started; kvplan answers (exit 0 or 1) with other numbers. The worst answer;
- ``engine_error``: the CPU build cannot start it (vLLM's own words kept), kvplan's answer recorded only;
- ``no_config``: transformers' class refused the tiny config (a harness gap, reported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.peer.sweep_cases import CASES, CASES_BY_NAME, SweepCase

REPO = Path(__file__).resolve().parents[2]
PROVEN_PATH = REPO / "kvplan" / "data" / "engine_proven.json"
ERRORS_PATH = REPO / "kvplan" / "data" / "engine_errors.json"
SIZING_PREFIX = "KVPLAN_SIZING "
BATCH_TIMEOUT_S = 900.0
# No Hub look-ups from the engine: each one waits out a network timeout (about 8 s a model here).
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass(frozen=True, kw_only=True)
class Verdict:
    case: str
    verdict: str  # proven | refused | silently_wrong | engine_error | no_config
    engine: dict[str, Any]
    kvplan_exit: int | None = None
    kvplan: dict[str, Any] | None = None
    kvplan_stderr: str = ""
    detail: str = ""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + old if old else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def make_configs(vllm_python: str, root: Path, cases: Iterable[SweepCase]) -> dict[str, str]:
    """Write each case's config.json in vLLM's interpreter; returns {case: error} for configs not built."""
    names = [c.name for c in cases]
    proc = subprocess.run(
        [vllm_python, "-m", "tests.peer.sweep_models", str(root), *names],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=REPO,
    )
    errors: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return errors


def _run_batch(vllm_python: str, root: Path, cases: list[SweepCase], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Sizing processes for ``cases``, one after another.

    A process stops at its first failure. A failure is kept only when it was the first model of its process
    (what vLLM says in a fresh process); otherwise that case opens the next process. A case that kills the
    process as its first model is recorded as a crash.
    """
    results: dict[str, dict[str, Any]] = {}
    pending = list(cases)
    while pending:
        requests = [{"name": c.name, "engine_args": c.engine_args(str(root / c.name))} for c in pending]
        try:
            proc = subprocess.run(
                [vllm_python, "-m", "tests.peer.sizing_child"],
                input=json.dumps(requests),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=_env(),
                cwd=REPO,
            )
            stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            stderr, code = "timeout", -1
        lines = [line for line in stdout.splitlines() if line.startswith(SIZING_PREFIX)]
        items = [json.loads(line[len(SIZING_PREFIX) :]) for line in lines]
        for index, item in enumerate(items):
            if item["status"] == "ok" or index == 0:
                results[item["name"]] = item
        if not items:  # the first model killed the process
            results[pending[0].name] = {
                "name": pending[0].name,
                "status": "crash",
                "error": {"kind": "crash", "message": f"sizing process ended (exit {code})", "type": "crash"},
                "traceback_tail": (stderr or "").strip().splitlines()[-15:],
            }
        pending = [c for c in pending if c.name not in results]
    return results


def run_light(
    vllm_python: str, root: Path, cases: list[SweepCase], *, workers: int = 2, timeout_s: float = BATCH_TIMEOUT_S
) -> dict[str, dict[str, Any]]:
    batches = [cases[i::workers] for i in range(workers) if cases[i::workers]]
    results: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=len(batches) or 1) as pool:
        for part in pool.map(lambda b: _run_batch(vllm_python, root, b, timeout_s), batches):
            results.update(part)
    return results


def run_full(
    vllm_python: str, root: Path, cases: list[SweepCase], *, workers: int = 2, timeout_s: float = 420.0
) -> dict[str, dict[str, Any]]:
    """One real engine start per case (``kvplan.probe.child``), ``workers`` at a time."""
    from kvplan.probe.runner import run_child

    def one(case: SweepCase) -> tuple[str, dict[str, Any]]:
        request = {"model": str(root / case.name), "engine_args": case.engine_args(str(root / case.name)),
                   "env": OFFLINE_ENV}
        res = run_child(vllm_python, request, timeout_s=timeout_s)
        item: dict[str, Any] = dict(res.result or {})
        item.update({"name": case.name, "status": res.status, "elapsed_s": round(res.elapsed_s, 1)})
        if res.status != "ok":
            item["error"] = {"kind": res.error_kind, "message": res.error_message}
            item["log_tail"] = list(res.log_tail[-25:])
        return case.name, item

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, cases))


def kvplan_check(
    case: SweepCase, model_dir: Path, vllm_version: str = "0.32.0"
) -> tuple[int, dict[str, Any] | None, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "kvplan", "check", *case.kvplan_args(str(model_dir)), "--vllm-version", vllm_version],
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


def _numbers(kv: dict[str, Any]) -> tuple[Any, Any, Any]:
    conc = kv.get("max_concurrency")
    return kv.get("tokens"), kv.get("num_blocks"), round(conc, 2) if isinstance(conc, (int, float)) else conc


def judge(case: SweepCase, model_dir: Path, engine: dict[str, Any]) -> Verdict:
    if engine.get("status") == "no_config":
        return Verdict(case=case.name, verdict="no_config", engine=engine, detail=str(engine.get("error")))
    code, data, stderr = kvplan_check(case, model_dir, str(engine.get("vllm_version") or "0.32.0"))
    kv = (data or {}).get("kv_cache") or {}
    common = {"case": case.name, "engine": engine, "kvplan_exit": code, "kvplan": kv or None,
              "kvplan_stderr": stderr[-600:]}
    if engine.get("status") != "ok":
        return Verdict(verdict="engine_error", detail=str((engine.get("error") or {}).get("message")), **common)
    want = (engine["kv_cache_tokens"], engine["num_blocks"], engine["max_concurrency"])
    if code == 2:
        return Verdict(verdict="refused", detail=stderr.splitlines()[-1] if stderr else "", **common)
    got = _numbers(kv)
    if code == 0 and got == want:
        return Verdict(verdict="proven", **common)
    detail = f"kvplan exit {code}: tokens/blocks/concurrency {got}; engine {want}"
    return Verdict(verdict="silently_wrong", detail=detail, **common)


def sweep(
    vllm_python: str,
    root: Path,
    cases: Iterable[SweepCase] = CASES,
    *,
    full: bool = False,
    workers: int = 2,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Verdict]:
    cases = list(cases)
    root.mkdir(parents=True, exist_ok=True)
    config_errors = make_configs(vllm_python, root, cases)
    runnable = [c for c in cases if c.name not in config_errors]
    engine = (run_full if full else run_light)(vllm_python, root, runnable, workers=workers)
    for name, message in config_errors.items():
        engine[name] = {"name": name, "status": "no_config", "error": {"kind": "no_config", "message": message}}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda c: judge(c, root / c.name, engine[c.name]), cases))
    if progress is not None:
        for v in verdicts:
            progress(describe(v))
    return {v.case: v for v in verdicts}


def describe(v: Verdict) -> str:
    e = v.engine
    if v.verdict in ("proven", "refused", "silently_wrong"):
        eng = f"engine {e.get('kv_cache_tokens')} tok / {e.get('num_blocks')} blk / {e.get('max_concurrency')}x"
    else:
        eng = f"engine: {str((e.get('error') or {}).get('message'))[:160]}"
    extra = f" | {v.detail[:200]}" if v.detail and v.verdict != "engine_error" else ""
    return f"{v.case:18} {v.verdict:15} {eng}{extra}"


def record(v: Verdict, root: Path) -> dict[str, Any]:
    """One raw record of a run (OUT.json): the case, its config's model type, both answers, the verdict."""
    case = CASES_BY_NAME[v.case]
    return {
        "case": v.case,
        "architecture": case.architecture,
        "model_type": _model_type(root / v.case),
        "layout": case.layout,
        "max_model_len": case.max_model_len,
        "kv_cache_memory_bytes": case.kv_cache_memory_bytes,
        "verdict": v.verdict,
        "detail": v.detail,
        "engine": {k: val for k, val in v.engine.items() if k != "log_lines"},
        "kvplan_exit": v.kvplan_exit,
        "kvplan": v.kvplan,
        "kvplan_stderr": v.kvplan_stderr,
    }


def engine_error_text(engine: dict[str, Any]) -> str:
    """vLLM's error as kept in the data file: the message without pydantic's input dump (it holds temp paths)."""
    message = str((engine.get("error") or {}).get("message"))
    lines = [line.split(" [type=")[0].rstrip() for line in message.splitlines()]
    return "\n".join(line for line in lines if line and not line.lstrip().startswith("For further information"))


def proven_records(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``kvplan/data/engine_proven.json`` and ``engine_errors.json`` from a run's raw records: what kvplan sizes
    exactly as the engine did, and the architectures the CPU engine does not start (vLLM's own words)."""
    proven, errors = [], []
    for r in records:
        e = r["engine"]
        head = {
            "architecture": r["architecture"],
            "model_type": r["model_type"],
            "vllm_version": str(e.get("vllm_version") or "0.32.0"),
            "case": r["case"],
        }
        if r["verdict"] == "proven":
            proven.append({
                **head,
                "tokens": e["kv_cache_tokens"],
                "num_blocks": e["num_blocks"],
                "max_concurrency": e["max_concurrency"],
                "block_size": e["block_size"],
                "max_model_len": r["max_model_len"],
                "kv_cache_memory_bytes": r["kv_cache_memory_bytes"],
                "layout": r["layout"],
            })
        elif r["verdict"] == "engine_error":
            note = CASES_BY_NAME[r["case"]].note
            why = {"why": note} if note else {}
            errors.append({**head, "engine_error": engine_error_text(e), "layout": r["layout"], **why})

    def key(item: dict[str, Any]) -> tuple[str, str]:
        return item["architecture"], item["case"]

    return sorted(proven, key=key), sorted(errors, key=key)


def write_proven(records: list[dict[str, Any]]) -> None:
    proven, errors = proven_records(records)
    # the peer cases' entries (tests/peer/cases.py::NAME, proven by tests/test_peer_vllm.py) are kept as they are
    kept = [e for e in json.loads(PROVEN_PATH.read_text()) if str(e["case"]).startswith("tests/peer/cases.py::")]
    proven = proven + kept
    PROVEN_PATH.write_text(json.dumps(proven, indent=1) + "\n")
    ERRORS_PATH.write_text(json.dumps(errors, indent=1) + "\n")
    print(f"wrote {PROVEN_PATH.relative_to(REPO)} ({len(proven)}) and {ERRORS_PATH.relative_to(REPO)} ({len(errors)})")


def _model_type(model_dir: Path) -> str | None:
    try:
        return str(json.loads((model_dir / "config.json").read_text()).get("model_type"))
    except (OSError, ValueError):
        return None


def main(argv: list[str]) -> None:
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    if not args:
        raise SystemExit(__doc__)
    out = Path(args[0])
    if "--records-from" in flags:  # rewrite the data files from an earlier run's OUT.json
        records = json.loads(out.read_text())
        models = out.with_suffix("").with_name(out.stem + "-models")
        for r in records:
            case = CASES_BY_NAME[r["case"]]
            r.setdefault("model_type", _model_type(models / r["case"]))
            r.setdefault("max_model_len", case.max_model_len)
            r.setdefault("kv_cache_memory_bytes", case.kv_cache_memory_bytes)
        write_proven(records)
        return
    selected = [CASES_BY_NAME[n] for n in args[1:]] or list(CASES)
    from kvplan.probe.runner import find_vllm_python

    vllm_python = find_vllm_python(None)
    root = out.with_suffix("").with_name(out.stem + "-models")
    started = time.monotonic()
    verdicts = sweep(vllm_python, root, selected, full="--full" in flags, progress=lambda s: print(s, flush=True))
    elapsed = time.monotonic() - started
    records = [record(v, root) for v in verdicts.values()]
    out.write_text(json.dumps(records, indent=1, default=str) + "\n")
    counts: dict[str, int] = {}
    for v in verdicts.values():
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
    print(f"{len(verdicts)} cases in {elapsed:.0f} s: {counts} -> {out}")
    if "--write-proven" in flags:
        write_proven(records)


if __name__ == "__main__":
    main(sys.argv[1:])
