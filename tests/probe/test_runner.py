"""kvplan.probe.runner with fake children: timeouts, crashes, vLLM errors in the log, no orphans left."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kvplan.core.errors import ProbeError
from kvplan.probe import runner
from kvplan.probe.child import classify_error, estimated_max_model_len, find_engine_error, parse_capacity_line
from kvplan.probe.runner import ChildResult, find_vllm_python, run_child
from tests.probe.processes import wait_gone as _wait_gone

TOO_SMALL = (
    "To serve at least one request with the model's max seq len (4096), (0.02 GiB KV cache is needed, which "
    "is larger than the available KV cache memory (0.0 GiB). Based on the available memory, the estimated "
    "maximum model length is 384. Try increasing `gpu_memory_utilization` (which also controls CPU memory on "
    "the CPU backend) or decreasing `max_model_len` when initializing the engine. See "
    "https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."
)




def _fake(tmp_path: Path, body: str) -> tuple[str, dict[str, str]]:
    (tmp_path / "fake_child.py").write_text(textwrap.dedent(body))
    return "fake_child", {"PYTHONPATH": str(tmp_path)}


def _run(tmp_path: Path, body: str, *, timeout_s: float = 30.0, **kwargs: object) -> ChildResult:
    module, env = _fake(tmp_path, body)
    return run_child(
        sys.executable,
        {"pids": str(tmp_path / "pids")},
        timeout_s=timeout_s,
        module=module,
        env=env,
        kill_grace_s=1.0,
        **kwargs,  # type: ignore[arg-type]
    )


SPAWN_GRANDCHILD = textwrap.dedent("""
    import json, os, subprocess, sys, time
    req = json.loads(sys.stdin.read())
    grand = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(req["pids"], "w") as f:
        f.write(f"{os.getpid()} {grand.pid}")
    print("engine starting", flush=True)
""")


def _pids(tmp_path: Path) -> list[int]:
    return [int(p) for p in (tmp_path / "pids").read_text().split()]


def test_hang_times_out_and_leaves_no_process(tmp_path: Path) -> None:
    started = time.monotonic()
    res = _run(tmp_path, SPAWN_GRANDCHILD + "time.sleep(600)\n", timeout_s=3.0)
    assert res.status == "timeout"
    assert "3 s" in (res.error_message or "")
    assert "engine starting" in res.log_tail
    assert time.monotonic() - started < 15
    assert _wait_gone(_pids(tmp_path)) == []


def test_sigterm_ignored_is_killed(tmp_path: Path) -> None:
    ignore_term = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    body = SPAWN_GRANDCHILD + ignore_term + "time.sleep(600)\n"
    res = _run(tmp_path, body, timeout_s=3.0)
    assert res.status == "timeout"
    assert _wait_gone(_pids(tmp_path)) == []


def test_grandchild_left_after_normal_exit_is_ended(tmp_path: Path) -> None:
    body = SPAWN_GRANDCHILD + 'print("KVPLAN_RESULT " + json.dumps({"num_blocks": 7}), flush=True)\n'
    started = time.monotonic()
    res = _run(tmp_path, body)
    assert res.status == "ok"
    assert res.result == {"num_blocks": 7}
    assert time.monotonic() - started < 15
    assert _wait_gone(_pids(tmp_path)) == []


def test_keyboard_interrupt_kills_group_and_reraises(tmp_path: Path) -> None:
    def interrupt(line: str) -> None:
        if line == "engine starting":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, SPAWN_GRANDCHILD + "time.sleep(600)\n", on_line=interrupt)
    assert _wait_gone(_pids(tmp_path)) == []


def test_crash_without_result(tmp_path: Path) -> None:
    res = _run(tmp_path, "import sys\nsys.stdin.read()\nraise RuntimeError('segfault-ish failure')\n")
    assert res.status == "crash"
    assert res.error_kind == "crash"
    assert res.returncode == 1
    assert res.result is None
    assert "RuntimeError: segfault-ish failure" in (res.error_message or "")


def test_ok_result_and_progress_lines(tmp_path: Path) -> None:
    seen: list[str] = []
    body = """
        import json, sys
        sys.stdin.read()
        print("INFO CPU KV cache size: 262,144 tokens", flush=True)
        print("a warning", file=sys.stderr, flush=True)
        print("KVPLAN_RESULT " + json.dumps({"num_blocks": 2048, "block_size": 128}), flush=True)
    """
    res = _run(tmp_path, body, on_line=seen.append)
    assert res.status == "ok", res
    assert res.result == {"num_blocks": 2048, "block_size": 128}
    assert res.error_kind is None and res.error_message is None
    assert res.returncode == 0
    assert set(seen) == {"INFO CPU KV cache size: 262,144 tokens", "a warning"}
    assert not any(line.startswith("KVPLAN_RESULT") for line in res.log_tail)


def test_engine_core_error_in_stderr_is_classified(tmp_path: Path) -> None:
    # What a multiprocess V1 engine looks like: the engine core's traceback on stderr, the parent only
    # sees "Engine core initialization failed".
    body = f"""
        import json, sys
        sys.stdin.read()
        print("(EngineCore pid=1) ERROR Traceback (most recent call last):", file=sys.stderr)
        print('(EngineCore pid=1) ERROR   File "kv_cache_utils.py", line 1, in check', file=sys.stderr)
        print("(EngineCore pid=1) ERROR ValueError: " + {TOO_SMALL!r}, file=sys.stderr)
        print("RuntimeError: Engine core initialization failed. See root cause above.", file=sys.stderr)
        err = {{"kind": "crash", "message": "Engine core initialization failed. See root cause above."}}
        print("KVPLAN_RESULT " + json.dumps({{"error": err}}), flush=True)
        sys.exit(1)
    """
    res = _run(tmp_path, body)
    assert res.status == "engine_error"
    assert res.error_kind == "kv_cache_too_small"
    assert res.error_message == TOO_SMALL
    assert res.result is not None


def test_engine_error_without_result_line(tmp_path: Path) -> None:
    body = """
        import sys
        sys.stdin.read()
        raise ValueError("No available memory for the cache blocks. Try increasing `gpu_memory_utilization`.")
    """
    res = _run(tmp_path, body)
    assert res.status == "engine_error"
    assert res.error_kind == "no_kv_memory"
    assert res.error_message is not None and res.error_message.startswith("No available memory for the cache")


def test_child_reported_error_wins(tmp_path: Path) -> None:
    body = """
        import json, sys
        sys.stdin.read()
        err = {"kind": "insufficient_free_memory", "message": "Free memory on device cuda:0 (1.0/79.2 GiB)"}
        print("KVPLAN_RESULT " + json.dumps({"error": err}), flush=True)
        sys.exit(3)
    """
    res = _run(tmp_path, body)
    assert (res.status, res.error_kind) == ("engine_error", "insufficient_free_memory")
    assert res.returncode == 3


def test_child_gets_request_and_pythonpath(tmp_path: Path) -> None:
    body = """
        import json, os, sys
        req = json.loads(sys.stdin.read())
        print("KVPLAN_RESULT " + json.dumps({"req": req, "pp": os.environ["PYTHONPATH"]}), flush=True)
    """
    res = _run(tmp_path, body)
    assert res.result is not None and res.result["req"] == {"pids": str(tmp_path / "pids")}
    # Without an explicit PYTHONPATH the kvplan source root goes first.
    env = runner._child_env(None)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(Path(runner.__file__).resolve().parents[2])


# --- classification helpers (shared with the child) ---


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (TOO_SMALL, "kv_cache_too_small"),
        ("No available memory for the cache blocks. Try increasing", "no_kv_memory"),
        ("Free memory on device cuda:0 (3.1/79.22 GiB) on startup is less", "insufficient_free_memory"),
        (
            "Available memory on node 0 (1.0/9.3 GiB) on kv cache allocation is less than requested memory "
            "for kv (20.0 GiB).",
            "insufficient_free_memory",
        ),
        ("CUDA out of memory. Tried to allocate 2.00 GiB", "cuda_oom"),
        ("Head size 16 is not supported by CPU_ATTN", "unsupported"),
        ("Engine core initialization failed. See root cause above.", "crash"),
    ],
)
def test_classify_error(message: str, kind: str) -> None:
    assert classify_error(message) == kind


def test_estimated_max_model_len() -> None:
    assert estimated_max_model_len(TOO_SMALL) == 384
    assert estimated_max_model_len("To serve at least one request with the model's max seq len (9)") is None


def test_find_engine_error_takes_last_known_refusal() -> None:
    lines = ["INFO starting", "(EngineCore pid=9) ValueError: " + TOO_SMALL, "RuntimeError: core failed"]
    assert find_engine_error(lines) == ("kv_cache_too_small", TOO_SMALL)
    assert find_engine_error(["RuntimeError: boom"]) is None


def test_parse_capacity_line() -> None:
    line = (
        "(MainProcess pid=1) INFO 11-26 06:41:45 [kv_cache_utils.py:2327] CPU KV cache size: 174,720 tokens, "
        "Maximum concurrency for 4,096 tokens per request: 42.66x"
    )
    parsed = parse_capacity_line(line)
    assert parsed is not None
    assert (parsed["kv_cache_tokens"], parsed["max_concurrency_len"], parsed["max_concurrency"]) == (
        174720,
        4096,
        42.66,
    )
    assert parsed["capacity_line"].startswith("CPU KV cache size")
    assert parse_capacity_line("nothing here") is None


# --- find_vllm_python ---


def test_find_vllm_python_explicit_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "python"
    exe.write_text("")
    with pytest.raises(ProbeError, match="not executable"):
        find_vllm_python(str(exe))
    exe.chmod(0o755)
    monkeypatch.setenv("KVPLAN_VLLM_PYTHON", "/nonexistent/python")
    assert find_vllm_python(str(exe)) == str(exe)
    with pytest.raises(ProbeError, match="KVPLAN_VLLM_PYTHON"):
        find_vllm_python(None)
    monkeypatch.setenv("KVPLAN_VLLM_PYTHON", str(exe))
    assert find_vllm_python(None) == str(exe)
    with pytest.raises(ProbeError, match="vllm-python"):
        find_vllm_python(str(tmp_path / "missing"))


def test_a_program_that_cannot_run_is_a_probe_error(tmp_path: Path) -> None:
    """An executable that is no program (exec format error) fails in Popen: one line, not a traceback."""
    exe = tmp_path / "python"
    exe.write_bytes(b"\x00\x01 not a program")
    exe.chmod(0o755)
    with pytest.raises(ProbeError, match="cannot start"):
        run_child(str(exe), {}, timeout_s=5)


def test_find_vllm_python_fallbacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KVPLAN_VLLM_PYTHON", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ProbeError) as info:
        find_vllm_python(None)
    assert "KVPLAN_VLLM_PYTHON" in info.value.one_line()
    local = tmp_path / ".venv-vllm-cpu" / "bin" / "python"
    local.parent.mkdir(parents=True)
    local.write_text("")
    assert find_vllm_python(None) == str(local)
    monkeypatch.setattr(runner.importlib.util, "find_spec", lambda name: object())
    assert find_vllm_python(None) == sys.executable


def test_result_is_frozen() -> None:
    res = ChildResult(
        status="ok", result=None, error_kind=None, error_message=None, log_tail=(), elapsed_s=0, returncode=0
    )
    with pytest.raises(AttributeError):
        res.status = "crash"  # type: ignore[misc]
    assert json.dumps(res.log_tail) == "[]"


def test_capacity_line_from_stream_fills_result(tmp_path: Path) -> None:
    # Multiprocess engines log the capacity line in the engine-core process, not in the child's logger.
    body = """
        import json, sys
        sys.stdin.read()
        print("(EngineCore pid=2) INFO [kv_cache_utils.py:1] CPU KV cache size: 174,720 tokens, "
              "Maximum concurrency for 4,096 tokens per request: 42.66x", flush=True)
        print("KVPLAN_RESULT " + json.dumps({"num_blocks": 1365}), flush=True)
    """
    res = _run(tmp_path, body)
    assert res.status == "ok"
    assert res.result is not None
    assert res.result["num_blocks"] == 1365
    assert (res.result["kv_cache_tokens"], res.result["max_concurrency"]) == (174720, 42.66)
    assert res.result["capacity_from"] == "stream"
