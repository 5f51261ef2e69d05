"""Rendering for `kvplan explain`: plain text (stable for golden tests) and one JSON object."""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

from kvplan.core import engine_args
from kvplan.core.explain import Explanation, Fix

# The settings a launch line repeats from the log (what a user sets; the dtype and the switches vLLM's config
# line reports at their defaults are left to vLLM)
_KEPT = ("max_model_len", "gpu_memory_utilization", "tensor_parallel_size", "pipeline_parallel_size", "kv_cache_dtype",
         "quantization", "max_num_seqs", "max_num_batched_tokens", "block_size", "enforce_eager")
_DEFAULTS: dict[str, object] = {"tensor_parallel_size": 1, "pipeline_parallel_size": 1, "kv_cache_dtype": "auto",
                                "enforce_eager": False}


def _launch(ref: str | None, result: Explanation, fix: Fix) -> str | None:
    """The whole `vllm serve MODEL ...` line: the log's settings with the fix's changes."""
    if not fix.changes:
        return None
    values: dict[str, engine_args.Value] = {}
    for name in _KEPT:
        value = getattr(result.reading.settings, name)
        if value is not None and _DEFAULTS.get(name) != value:
            values[name] = value
    values.update(fix.changes)
    flags = []
    for name, value in values.items():
        flag = engine_args.flag_for(name)
        flags.append(flag if value is True else f"--no-{flag[2:]}" if value is False else f"{flag} {value}")
    return f"vllm serve {shlex.quote(ref or 'MODEL')} {' '.join(flags)}"


def explain_object(result: Explanation, *, label: str, model_ref: str | None,
                   model_source: str | None) -> dict[str, Any]:
    reading = result.reading
    log = dataclasses.asdict(reading)
    replan: dict[str, Any] | None = None
    if result.plan is not None:
        p = result.plan
        kv = p.kv_cache
        replan = {
            "vllm_version": p.engine.behaviour.version,
            "engine": p.engine.behaviour.engine,
            "settings": {k: v for k, v in dataclasses.asdict(p.settings).items() if k != "speculative"},
            "gpu": {"name": p.gpu.name, "total_bytes": p.gpu.total_bytes, "source": p.gpu.source} if p.gpu else None,
            "kv_cache_bytes": p.memory.kv_cache_bytes,
            "kv_cache_error_bytes": p.memory.kv_cache_error_bytes,
            "kv_cache_source": p.memory.kv_cache_source,
            "logged_kv_cache_bytes": result.kv_cache_bytes,
            "logged_kv_cache_source": result.kv_cache_source,
            "terms": [dataclasses.asdict(t) for t in result.terms],
            "agreement": [dict(dataclasses.asdict(a), equal=a.equal) for a in result.agreement],
            "planning_error_zero": bool(result.agreement) and all(a.equal for a in result.agreement),
            "kv_cache": {"tokens": kv.tokens, "num_blocks": kv.num_blocks, "block_size": kv.block_size,
                         "bytes_per_block": kv.bytes_per_block, "blocks_per_request": kv.blocks_per_request,
                         "max_model_len": kv.max_model_len, "max_model_len_fit": kv.max_model_len_fit,
                         "max_concurrency": round(kv.max_concurrency, 4), "kv_cache_dtype": kv.kv_cache_dtype},
            "verdict": p.verdict.status,
            "reasons": list(p.verdict.reasons),
            "vllm_errors": list(p.verdict.vllm_errors),
        }
    return {
        "input": label,
        "log": log,
        "model": {"ref": model_ref, "source": model_source},
        "classification": {
            "cause": result.cause,
            "failed": result.failed,
            "headline": result.headline,
            "error": dataclasses.asdict(result.error) if result.error else None,
            "details": list(result.details),
        },
        "replan": replan,
        "terms": [dataclasses.asdict(t) for t in result.terms],
        "fixes": [dict(dataclasses.asdict(f), vllm_serve=_launch(model_ref, result, f)) for f in result.fixes],
        "missing": list(result.missing),
        "notes": list(result.notes),
    }


def _settings_line(result: Explanation) -> str:
    r = result.reading
    s = r.settings
    parts = []
    if r.vllm_version:
        parts.append(f"vLLM {r.vllm_version}")
    if r.engine:
        parts.append(r.engine.upper())
    if r.source:
        parts.append(r.source)
    if r.model:
        parts.append(f"model {r.model}")
    for name, text in (("dtype", "{}"), ("max_model_len", "max_model_len {}"), ("tensor_parallel_size", "tp {}"),
                       ("pipeline_parallel_size", "pp {}"), ("gpu_memory_utilization", "util {}"),
                       ("kv_cache_dtype", "KV {}"), ("quantization", "quant {}"), ("max_num_seqs", "seqs {}"),
                       ("block_size", "block {}")):
        value = getattr(s, name)
        if value is not None:
            parts.append(text.format(value))
    if s.enforce_eager:
        parts.append("eager")
    return " · ".join(parts) or "(no settings in the log)"


def render_text(result: Explanation, *, label: str, model_ref: str | None, model_source: str | None) -> str:
    lines = [f"kvplan explain {label}", f"Log      {_settings_line(result)}"]
    reading = result.reading
    measured = []
    for name, value, unit in (("weights", reading.model_loading_gib, "GiB"),
                              ("available KV", reading.available_kv_cache_gib, "GiB"),
                              ("GPU blocks", reading.gpu_blocks, ""), ("KV tokens", reading.kv_cache_tokens, ""),
                              ("GPU total", reading.total_gpu_memory_gib, "GiB")):
        if value is not None:
            measured.append(f"{name} {value:,}{(' ' + unit) if unit else ''}")
    if reading.max_concurrency is not None and reading.max_concurrency_len is not None:
        measured.append(f"concurrency {reading.max_concurrency}x at {reading.max_concurrency_len:,}")
    if measured:
        lines.append(f"Measured {' · '.join(measured)}")
    status = "FAIL" if result.failed else "OK"
    lines.append(f"Cause    {status}: {result.headline}")
    lines.extend(f"  {d}" for d in result.details)
    if result.plan is not None:
        p = result.plan
        where = f"{model_ref} ({model_source})" if model_ref else "model"
        lines.append(f"Re-plan  {where} · vLLM {p.engine.behaviour.version} arithmetic "
                     f"({p.engine.behaviour.engine.upper()}) · block {p.kv_cache.block_size} · "
                     f"{p.kv_cache.bytes_per_block:,} B a block")
        for term in result.terms:
            gib = f"{term.gib:.2f} GiB" if term.gib is not None else "-"
            detail = f"  {term.detail}" if term.detail else ""
            lines.append(f"  {term.name:<17} {gib:>10}  {term.source}{detail}")
        kv = p.kv_cache
        lines.append(f"  kvplan: {kv.tokens:,} KV tokens · {kv.num_blocks:,} blocks · {kv.max_concurrency:.2f}x at "
                     f"{kv.max_model_len:,} · verdict {p.verdict.status}")
        if result.agreement:
            rows = ", ".join(f"{a.what} {a.logged:,} vs {a.kvplan:,}" for a in result.agreement)
            exact = all(a.equal for a in result.agreement)
            lines.append(f"  log vs kvplan: {rows}" + (" (planning error 0)" if exact else ""))
    if result.fixes:
        lines.append("Fixes")
        for i, fix in enumerate(result.fixes, 1):
            tag = " (not re-planned)" if fix.fits is None else ""
            lines.append(f"  {i}. {fix.summary}{tag}")
            if fix.serve_flags:
                lines.append(f"     vllm serve: {fix.serve_flags}")
            if fix.env:
                lines.append(f"     {fix.env_for}: {fix.env}")
            if fix.env_note:
                lines.append(f"     ({fix.env_note})")
    for item in result.missing:
        lines.append(f"Missing  {item}")
    for note in result.notes:
        lines.append(f"Note     {note}")
    return "\n".join(lines) + "\n"

