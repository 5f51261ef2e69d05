"""What vLLM did (a probe child's result) against what kvplan predicted -> one status and exit code.

Statuses: ``match`` (exit 0), ``mismatch`` (3), ``engine_error`` (1 when vLLM refused for lack of memory,
2 for any other failure), ``timeout`` (2). With ``--kv-cache-memory`` kvplan's numbers are exact and must
equal vLLM's; with an estimated budget the measured block count must fall inside the estimate's error bar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from kvplan.api import CheckReport
from kvplan.core import capacity as cap
from kvplan.core.plan import PlanResult
from kvplan.core.units import GiB
from kvplan.probe.runner import ChildResult

Status = Literal["match", "mismatch", "engine_error", "timeout", "unplanned"]
MEMORY_ERRORS = frozenset({"kv_cache_too_small", "no_kv_memory", "insufficient_free_memory", "cuda_oom"})
_AVAILABLE_RE = re.compile(r"Available KV cache memory: ([\d.]+) GiB")
# vLLM logs GiB with two decimals: a budget read back from that line is only this close.
LOG_GIB_ERROR_BYTES = GiB // 200


@dataclass(frozen=True, kw_only=True)
class Row:
    field: str
    predicted: Any
    measured: Any
    ok: bool
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Comparison:
    status: Status
    exit_code: int
    agrees: bool  # kvplan called it right (numbers match, or it predicted vLLM's refusal)
    rows: tuple[Row, ...]
    reasons: tuple[str, ...]
    error: dict[str, Any] | None
    measured: dict[str, Any]


def measured_from(child: ChildResult) -> dict[str, Any]:
    """The child's payload in the JSON contract's shape (structured values first, log lines as fallback)."""
    r = child.result or {}
    tokens = r.get("engine_kv_cache_tokens")
    if tokens is None:
        tokens = r.get("kv_cache_tokens")
    concurrency = r.get("max_concurrency_exact")
    if concurrency is None:
        concurrency = r.get("max_concurrency")
    available, available_error = r.get("available_kv_cache_bytes"), 0
    if available is None:
        for line in r.get("log_lines") or []:
            match = _AVAILABLE_RE.search(line)
            if match:
                available, available_error = round(float(match.group(1)) * GiB), LOG_GIB_ERROR_BYTES
    return {
        "kv_cache": {
            "tokens": tokens,
            "num_blocks": r.get("num_blocks"),
            "block_size": r.get("block_size"),
            "max_concurrency": concurrency,
            "max_model_len": r.get("max_model_len"),
            "dtype": r.get("kv_cache_dtype"),
            "groups": r.get("groups"),
        },
        "available_kv_cache_bytes": available,
        "available_kv_cache_error_bytes": available_error,
        "model_loading_bytes": r.get("model_loading_bytes"),
        "model_dtype": r.get("model_dtype"),
        "vllm_version": r.get("vllm_version"),
        "device": r.get("device"),
        "long_prompt": r.get("long_prompt"),
        "estimated_max_model_len": r.get("estimated_max_model_len"),
    }


def _started_rows(predicted: PlanResult, measured: dict[str, Any]) -> list[Row]:
    kv, memory, layout = predicted.kv_cache, predicted.memory, predicted.layout
    got = measured["kv_cache"]
    err = memory.kv_cache_error_bytes
    rows = [
        Row(field="block_size", predicted=kv.block_size, measured=got["block_size"],
            ok=kv.block_size == got["block_size"]),
        Row(field="max_model_len", predicted=kv.max_model_len, measured=got["max_model_len"],
            ok=kv.max_model_len == got["max_model_len"]),
    ]
    if err == 0:
        concurrency = got["max_concurrency"]
        rows += [
            Row(field="num_blocks", predicted=kv.num_blocks, measured=got["num_blocks"],
                ok=kv.num_blocks == got["num_blocks"]),
            Row(field="tokens", predicted=kv.tokens, measured=got["tokens"], ok=kv.tokens == got["tokens"]),
            # vLLM prints concurrency with two decimals; kvplan computes the same quotient.
            Row(field="max_concurrency", predicted=kv.max_concurrency, measured=concurrency,
                ok=concurrency is not None and round(kv.max_concurrency, 2) == round(float(concurrency), 2)),
        ]
    else:
        low = cap.num_blocks(layout, memory.kv_cache_bytes - err) if memory.kv_cache_bytes > err else 0
        high = cap.num_blocks(layout, memory.kv_cache_bytes + err)
        blocks = got["num_blocks"]
        inside = isinstance(blocks, int) and low <= blocks <= high
        bar = f"estimate: {low:,}-{high:,} blocks inside the error bar"
        rows += [
            Row(field="num_blocks", predicted=kv.num_blocks, measured=blocks, ok=inside, note=bar),
            Row(field="tokens", predicted=kv.tokens, measured=got["tokens"], ok=inside, note="follows num_blocks"),
            Row(field="max_concurrency", predicted=kv.max_concurrency, measured=got["max_concurrency"], ok=inside,
                note="follows num_blocks"),
        ]
    available = measured["available_kv_cache_bytes"]
    if available is not None:
        slack = err + measured["available_kv_cache_error_bytes"]
        rows.append(Row(field="available_kv_cache_bytes", predicted=memory.kv_cache_bytes, measured=available,
                        ok=abs(memory.kv_cache_bytes - available) <= slack,
                        note=f"± {slack / GiB:.2f} GiB" if slack else ""))
    return rows


def compare(predicted: PlanResult | None, child: ChildResult, *, verify_long_prompt: bool = False) -> Comparison:
    """``predicted`` is None when kvplan could not plan: a failed child is compared as far as it can be, a started
    one is reported as ``unplanned`` with its measurement."""
    measured = measured_from(child)
    predicted_fail = predicted is not None and predicted.verdict.status == "fail"
    if child.status == "timeout":
        error = {"kind": "timeout", "message": child.error_message}
        return Comparison(status="timeout", exit_code=2, agrees=False, rows=(), reasons=(child.error_message or "",),
                          error=error, measured=measured)
    if child.status in ("engine_error", "crash"):
        kind = child.error_kind or "crash"
        error = {"kind": kind, "message": child.error_message,
                 "estimated_max_model_len": measured["estimated_max_model_len"]}
        memory_error = kind in MEMORY_ERRORS
        if predicted is None:
            return Comparison(status="engine_error", exit_code=1 if memory_error else 2, agrees=False, rows=(),
                              reasons=("kvplan could not plan this deployment",), error=error, measured=measured)
        rows = [Row(field="starts", predicted=not predicted_fail, measured=False,
                    ok=predicted_fail and memory_error)]
        estimated = measured["estimated_max_model_len"]
        if estimated is not None:
            fit = predicted.kv_cache.max_model_len_fit
            rows.append(Row(field="max_model_len_fit", predicted=fit, measured=estimated, ok=fit == estimated))
        if not memory_error:
            reasons = [f"vLLM failed for a reason other than memory ({kind}); kvplan cannot compare"]
        elif predicted_fail:
            reasons = ["kvplan predicted this refusal"]
        else:
            reasons = ["kvplan predicted a start; vLLM refused: the estimate was too optimistic"]
        return Comparison(status="engine_error", exit_code=1 if memory_error else 2,
                          agrees=all(row.ok for row in rows), rows=tuple(rows), reasons=tuple(reasons),
                          error=error, measured=measured)

    if predicted is None:  # vLLM started on settings kvplan refuses to plan (e.g. the release it really ran)
        return Comparison(status="unplanned", exit_code=2, agrees=False, rows=(),
                          reasons=("kvplan cannot plan the deployment vLLM ran; vLLM's figures are shown as measured",),
                          error=None, measured=measured)
    rows = [Row(field="starts", predicted=not predicted_fail, measured=True, ok=not predicted_fail)]
    rows += _started_rows(predicted, measured)
    reasons = [f"{row.field}: kvplan {row.predicted}, vLLM {row.measured}" for row in rows if not row.ok]
    if predicted_fail:
        reasons.insert(0, "kvplan predicted that vLLM would refuse to start; it started")
    long_prompt = measured["long_prompt"]
    if verify_long_prompt:
        ok = isinstance(long_prompt, dict) and bool(long_prompt.get("ok"))
        rows.append(Row(field="long_prompt", predicted=True, measured=ok, ok=ok,
                        note=f"one token from a {predicted.kv_cache.max_model_len - 1}-token prompt"))
        if not ok:
            why = long_prompt.get("error") if isinstance(long_prompt, dict) else "the engine reported no result"
            reasons.append(f"a prompt of max_model_len - 1 tokens failed: {why}")
    matched = all(row.ok for row in rows)
    return Comparison(status="match" if matched else "mismatch", exit_code=0 if matched else 3, agrees=matched,
                      rows=tuple(rows), reasons=tuple(reasons), error=None, measured=measured)


@dataclass(frozen=True, kw_only=True)
class ProbeOutcome:
    """Everything one ``kvplan probe`` run learnt, for the renderers."""

    report: CheckReport | None  # None only when kvplan could not plan and vLLM never said where it ran
    comparison: Comparison
    child: ChildResult
    engine_args: dict[str, Any]
    vllm_python: str
    calibration_record: str | None
    kvplan_elapsed_s: float
    notes: tuple[str, ...] = ()
