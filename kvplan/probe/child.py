"""Start one real vLLM engine and report what it decided: the only kvplan module that imports vllm.

Run in vLLM's own interpreter, with kvplan's source root on ``PYTHONPATH`` (kvplan is not installed there)::

    echo '{"model": "/m", "engine_args": {...}}' | /venv-vllm/bin/python -m kvplan.probe.child

Request (JSON on stdin)::

    {"model": path, "engine_args": {... passed to vllm.LLM ...}, "verify_long_prompt": bool,
     "env": {"VLLM_...": "..."}, "inprocess": true}

Prints exactly one ``KVPLAN_RESULT {json}`` line on stdout (see ``RESULT_PREFIX``); vLLM's own log goes
to stdout/stderr as usual, so the parent can show progress and keep a tail. Exit code 0: the engine
started (and the long prompt ran, if asked); 3: vLLM refused (``error`` is set); 1: crash.

By default the engine core runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``): vLLM's
``ValueError`` then reaches this module with its exact text, and the engine core's own numbers
(available KV bytes, groups) can be read directly. With ``"inprocess": false`` the engine core is a
separate process whose errors show only in its log; ``kvplan.probe.runner`` parses them from stderr.

Only the standard library is imported at module level, so ``classify_error`` and the constants can be
shared with the runner without vllm installed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from typing import Any

RESULT_PREFIX = "KVPLAN_RESULT "
EXIT_OK = 0
EXIT_CRASH = 1
EXIT_ENGINE_ERROR = 3

# vLLM's own wording (0.28-0.33): the message decides the kind, never the exception type alone.
_ERROR_PATTERNS: tuple[tuple[str, str], ...] = (
    ("To serve at least one request with the model's max seq len", "kv_cache_too_small"),
    ("Cannot auto-fit max_model_len", "kv_cache_too_small"),
    ("No available memory for the cache blocks", "no_kv_memory"),
    ("Free memory on device", "insufficient_free_memory"),
    ("on kv cache allocation is less than requested memory for kv", "insufficient_free_memory"),
    ("CUDA out of memory", "cuda_oom"),
    ("OutOfMemoryError", "cuda_oom"),
    ("is not supported", "unsupported"),
    ("not supported", "unsupported"),
    ("Unsupported", "unsupported"),
    ("NotImplementedError", "unsupported"),
)
ERROR_KINDS = frozenset(
    {"kv_cache_too_small", "no_kv_memory", "insufficient_free_memory", "cuda_oom", "unsupported", "crash"}
)

# A traceback's last line for an exception whose message names a known kind.
_EXC_LINE = re.compile(r"^\s*(?:\S+\s+)*?(?P<type>[A-Za-z_][\w.]*(?:Error|Exception)):\s(?P<msg>.+)$")

CAPACITY_RE = re.compile(
    r"(?P<device>[A-Za-z+ ]+) KV cache size: (?P<tokens>[\d,]+) tokens, "
    r"Maximum concurrency for (?P<len>[\d,]+) tokens per request: (?P<conc>[\d.]+)x"
)
_EST_RE = re.compile(r"estimated maximum model length is (\d+)")

# Log lines worth keeping in the result (substrings of vLLM's INFO/WARNING messages).
_INTERESTING = (
    "KV cache size",
    "block size",
    "Setting attention block size",
    "Padding mamba page size",
    "padding layers",
    "Explicitly set",
    "Model loading took",
    "Available KV cache memory",
    "Auto-fit",
    "max_model_len",
    "sliding window",
    "chunked",
    "hybrid",
    "Disabling",
    "kv cache dtype",
    "fp8",
    "Using ",
)
_MAX_LINE = 600


def classify_error(message: str) -> str:
    """Map vLLM's error text to one of ``ERROR_KINDS``."""
    for needle, kind in _ERROR_PATTERNS:
        if needle in message:
            return kind
    return "crash"


def estimated_max_model_len(message: str) -> int | None:
    """vLLM's "estimated maximum model length is N" (None where vLLM dropped that sentence)."""
    match = _EST_RE.search(message)
    return int(match.group(1)) if match else None


def find_engine_error(lines: list[str]) -> tuple[str, str] | None:
    """The last known vLLM refusal in a log (engine-core tracebacks): ``(kind, exact message)``."""
    for line in reversed(lines):
        match = _EXC_LINE.match(line.rstrip("\n"))
        if not match:
            continue
        msg = match.group("msg").strip()
        kind = classify_error(msg)
        if kind in ("kv_cache_too_small", "no_kv_memory", "insufficient_free_memory", "cuda_oom"):
            return kind, msg
    return None


def parse_capacity_line(line: str) -> dict[str, Any] | None:
    match = CAPACITY_RE.search(line)
    if not match:
        return None
    return {
        "kv_cache_tokens": int(match.group("tokens").replace(",", "")),
        "max_concurrency_len": int(match.group("len").replace(",", "")),
        "max_concurrency": float(match.group("conc")),
        "capacity_line": line[match.start() :].strip(),
    }


class _Capture:
    """Keeps interesting vLLM log messages, whatever handlers vLLM installs.

    vLLM re-runs ``logging.config.dictConfig`` while building the engine, which drops any handler added
    to its loggers; a record factory installed before the import survives (vLLM wraps it).
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._seen: set[str] = set()
        self._inner = logging.getLogRecordFactory()

    def install(self) -> None:
        logging.setLogRecordFactory(self._factory)

    def _factory(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._inner(*args, **kwargs)
        if record.name.startswith("vllm"):
            try:
                text = record.getMessage()
            except Exception:  # a malformed record must not break the probe
                return record
            if record.levelno >= logging.WARNING or any(s in text for s in _INTERESTING):
                line = f"{record.levelname} {record.name}: {text}"
                if len(line) > _MAX_LINE:  # the engine's whole config dump
                    line = line[: _MAX_LINE - 3] + "..."
                if line not in self._seen:
                    self._seen.add(line)
                    self.lines.append(line)
        return record


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        chain.append(cur)
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return chain


def _error_payload(exc: BaseException) -> dict[str, Any]:
    # The root cause carries vLLM's words; the outer one may be "Engine core initialization failed".
    for item in reversed(_exception_chain(exc)):
        text = f"{type(item).__name__}: {item}"
        kind = classify_error(text)
        if kind != "crash":
            return {"kind": kind, "message": str(item), "type": type(item).__name__}
    return {"kind": "crash", "message": str(exc), "type": type(exc).__name__}


def _device_name() -> str:
    from vllm.platforms import current_platform

    device_type = str(getattr(current_platform, "device_type", "unknown"))
    if device_type == "cuda":
        try:
            return str(current_platform.get_device_name(0))
        except Exception:
            return "cuda"
    return device_type


def _groups(engine_core: Any) -> list[dict[str, Any]] | None:
    scheduler = getattr(engine_core, "scheduler", None)
    config = getattr(scheduler, "kv_cache_config", None)
    return None if config is None else kv_cache_group_rows(config)


def kv_cache_group_rows(config: Any) -> list[dict[str, Any]]:
    """One row per group of a vLLM ``KVCacheConfig``: spec class, layers, block, page bytes and the spec's
    shape fields (also read by the peer suite's sizing child)."""
    out = []
    for group in config.kv_cache_groups:
        spec = group.kv_cache_spec
        item: dict[str, Any] = {
            "spec": type(spec).__name__,
            "num_layers": len(group.layer_names),
            "block_size": int(spec.block_size),
            "page_size_bytes": int(spec.page_size_bytes),
        }
        for attr in ("sliding_window", "attention_chunk_size", "num_kv_heads", "head_size", "dtype"):
            value = getattr(spec, attr, None)
            if value is not None:
                item[attr] = value if isinstance(value, int) else str(value)
        out.append(item)
    return out


def _verify_long_prompt(llm: Any, max_model_len: int) -> dict[str, Any]:
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    n = max_model_len - 1
    prompt = TokensPrompt(prompt_token_ids=[(i % 100) + 1 for i in range(n)])
    params = SamplingParams(max_tokens=1, detokenize=False, temperature=0.0)
    started = time.monotonic()
    outputs = llm.generate([prompt], params, use_tqdm=False)
    generated = len(outputs[0].outputs[0].token_ids) if outputs and outputs[0].outputs else 0
    return {"ok": generated == 1, "prompt_tokens": n, "elapsed_s": round(time.monotonic() - started, 2)}


def _engine_result(llm: Any, capture: _Capture) -> dict[str, Any]:
    engine = llm.llm_engine
    cache = engine.vllm_config.cache_config
    result: dict[str, Any] = {
        "num_blocks": cache.num_gpu_blocks,
        "block_size": cache.block_size,
        "max_model_len": engine.vllm_config.model_config.max_model_len,
        "kv_cache_dtype": str(cache.cache_dtype),
        "model_dtype": str(engine.vllm_config.model_config.dtype).removeprefix("torch."),
        "engine_kv_cache_tokens": getattr(cache, "kv_cache_size_tokens", None),
        "max_concurrency_exact": getattr(cache, "kv_cache_max_concurrency", None),
        "mamba_block_size": getattr(cache, "mamba_block_size", None),
    }
    core = getattr(getattr(engine, "engine_core", None), "engine_core", None)  # InprocClient only
    if core is not None:
        available = getattr(core, "available_gpu_memory_for_kv_cache", None)
        result["available_kv_cache_bytes"] = int(available) if available is not None else None
        result["groups"] = _groups(core)
    for line in capture.lines:
        parsed = parse_capacity_line(line)
        if parsed:
            result.update(parsed)
        match = re.search(r"Model loading took ([\d.]+) GiB", line)
        if match:
            result["model_loading_bytes"] = round(float(match.group(1)) * 2**30)
    return result


def run(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    started = time.monotonic()
    for key, value in (request.get("env") or {}).items():
        os.environ[str(key)] = str(value)
    if request.get("inprocess", True):
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    engine_args = dict(request.get("engine_args") or {})
    if request.get("model"):
        engine_args.setdefault("model", request["model"])

    capture = _Capture()
    capture.install()
    payload: dict[str, Any] = {"request": {"engine_args": engine_args}}
    code = EXIT_OK
    llm = None
    try:
        import vllm

        payload["vllm_version"] = str(vllm.__version__)
        payload["device"] = _device_name()
        llm = vllm.LLM(**engine_args)
        payload.update(_engine_result(llm, capture))
        if request.get("verify_long_prompt"):
            try:
                payload["long_prompt"] = _verify_long_prompt(llm, int(payload["max_model_len"]))
            except Exception as exc:
                payload["long_prompt"] = {"ok": False, "error": _error_payload(exc)}
    except Exception as exc:
        payload["error"] = _error_payload(exc)
        code = EXIT_ENGINE_ERROR if payload["error"]["kind"] != "crash" else EXIT_CRASH
        est = estimated_max_model_len(payload["error"]["message"])
        if est is not None:
            payload["estimated_max_model_len"] = est
    payload["log_lines"] = capture.lines
    payload["elapsed_s"] = round(time.monotonic() - started, 2)
    if llm is not None:
        with contextlib.suppress(Exception):
            llm.llm_engine.engine_core.shutdown()
    return code, payload


def main() -> None:
    try:
        request = json.loads(sys.stdin.read())
    except ValueError as exc:
        print(f"kvplan.probe.child: bad request on stdin: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    code, payload = run(request)
    sys.stderr.flush()
    sys.stdout.write(RESULT_PREFIX + json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()
    # vLLM's atexit hooks and leftover threads can hang interpreter shutdown; the result is out.
    os._exit(code)


if __name__ == "__main__":
    main()
