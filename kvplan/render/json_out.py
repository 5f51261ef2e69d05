"""``--json``: one object per run, schema documented in README.md (bump SCHEMA_VERSION on breaking change)."""

from __future__ import annotations

import json
from typing import Any

from kvplan import __version__
from kvplan.api import CheckReport
from kvplan.core.estimate import Estimate
from kvplan.core.kv_sizing import ExtensibleSizing
from kvplan.render.summary import group_rows, layers_by_kind, speculative_object

SCHEMA_VERSION = 1


def _estimate(prefix: str, estimate: Estimate | None) -> dict[str, Any]:
    if estimate is None:
        return {f"{prefix}_bytes": None, f"{prefix}_error_bytes": None, f"{prefix}_source": None}
    return {f"{prefix}_bytes": estimate.value_bytes, f"{prefix}_error_bytes": estimate.error_bytes,
            f"{prefix}_source": estimate.source}


def _extensible(sizing: ExtensibleSizing | None) -> dict[str, Any] | None:
    """The terms of vLLM 0.34's measured sizing (kvplan.core.kv_sizing), null on other paths."""
    if sizing is None:
        return None
    return {
        "init_free_bytes": sizing.init_free_bytes,
        # how that free memory was found (NVML or the total), less what: NCCL NVLS buffers made before the snapshot
        "init_free_source": sizing.init_free_source,
        "requested_bytes": sizing.requested_bytes,
        "non_kv_bytes": sizing.non_kv_bytes,
        "transient_peak_bytes": sizing.transient_peak_bytes,
        "margin_bytes": sizing.margin_bytes,
        "measured_bytes": sizing.measured_bytes,
        "capacity_bytes": sizing.capacity_bytes,
        "mm_ipc_reserve_bytes": sizing.mm_ipc_reserve_bytes,
        "withheld_bytes": sizing.withheld_bytes,
        "other_processes_bytes": sizing.other_processes_bytes,
        "other_processes_cost_bytes": sizing.other_processes_cost_bytes,
        "warning": sizing.warning,
    }


def check_object(report: CheckReport) -> dict[str, Any]:
    result, source = report.result, report.source
    model, engine, memory, kv, gpu = result.model, result.engine, result.memory, result.kv_cache, result.gpu
    attention = model.attention_layers[0] if model.attention_layers else None
    overheads = memory.overheads
    return {
        "schema_version": SCHEMA_VERSION,
        "kvplan_version": __version__,
        "model": {
            "ref": source.ref,
            "source": source.config_source,
            "location": source.location,
            "revision": source.revision,
            "model_type": model.model_type,
            "architecture": model.architecture,
            "num_layers": model.num_layers,
            "layers_by_kind": layers_by_kind(model),
            "num_kv_heads": attention.num_kv_heads if attention else 0,
            "head_size": attention.head_size if attention else 0,
            "config_dtype": model.config_dtype,
            "dtype": engine.model_dtype,
            "max_position_tokens": model.max_position_tokens,
            "max_position_key": model.max_position_key,
            "quantization": model.quantization,
            "weights_bytes": result.weights.total_bytes if result.weights else None,
            "weights_source": result.weights.source if result.weights else None,
            "draft_kv_layers": len(model.draft_layers),
        },
        "settings": {
            "vllm_version": engine.behaviour.version,
            "engine": engine.behaviour.engine,
            "model_runner": engine.model_runner,
            "speculative": speculative_object(result.settings),
            "platform": result.settings.platform,
            "entrypoint": result.settings.entrypoint,
            "max_model_len": engine.max_model_len,
            "gpu_memory_utilization": engine.gpu_memory_utilization,
            "kv_sizing": engine.kv_sizing,
            "kv_sizing_reason": engine.kv_sizing_reason,
            "tensor_parallel_size": engine.tensor_parallel_size,
            "pipeline_parallel_size": engine.pipeline_parallel_size,
            "dtype": engine.model_dtype,
            "kv_cache_dtype": engine.kv_cache_dtype,
            "block_size": engine.block_size,
            "max_num_seqs": engine.max_num_seqs,
            "max_num_batched_tokens": engine.max_num_batched_tokens,
            "inflight_tokens": engine.inflight_tokens,
            "enable_prefix_caching": engine.enable_prefix_caching,
            "enforce_eager": result.settings.enforce_eager,
            "kv_cache_memory_bytes": result.settings.kv_cache_memory_bytes,
        },
        "gpu": {
            "name": gpu.name if gpu else None,
            "source": gpu.source if gpu else None,
            "total_bytes": gpu.total_bytes if gpu else None,
            "total_error_bytes": gpu.total_error_bytes if gpu else None,
            "nvml_total_bytes": gpu.nvml_total_bytes if gpu else None,
            "reserved_bytes": gpu.reserved_bytes if gpu else None,
            "free_bytes": gpu.free_bytes if gpu else None,
            "count": gpu.count if gpu else None,
        },
        "memory": {
            "total_bytes": memory.total_bytes,
            "gpu_memory_utilization": memory.gpu_memory_utilization,
            "budget_bytes": memory.budget_bytes,
            **_estimate("weights", overheads.weights if overheads else None),
            **_estimate("activation", overheads.activation if overheads else None),
            **_estimate("non_torch", overheads.non_torch if overheads else None),
            **_estimate("cudagraph", overheads.cudagraph if overheads else None),
            **_estimate("mamba_cache", overheads.mamba_cache if overheads else None),
            "kv_cache_bytes": memory.kv_cache_bytes,
            "kv_cache_error_bytes": memory.kv_cache_error_bytes,
            "kv_cache_source": memory.kv_cache_source,
            "free_bytes": memory.free_bytes,
            "free_check": memory.free_check,
            "extensible": _extensible(memory.extensible),
        },
        "kv_cache": {
            "tokens": kv.tokens,
            "num_blocks": kv.num_blocks,
            "block_size": kv.block_size,
            "max_concurrency": kv.max_concurrency,
            "max_model_len": kv.max_model_len,
            "max_model_len_fit": kv.max_model_len_fit,
            "bytes_per_block": kv.bytes_per_block,
            "blocks_per_request": kv.blocks_per_request,
            "dtype": kv.kv_cache_dtype,
            "groups": group_rows(result),
        },
        "verdict": {
            "status": result.verdict.status,
            "may_start": result.verdict.may_start,
            "reasons": list(result.verdict.reasons),
            "vllm_errors": list(result.verdict.vllm_errors),
            "remedies": [
                {"kind": r.kind, "summary": r.summary, "flags": r.flags, "fits": r.fits, "tokens": r.tokens}
                for r in result.verdict.remedies
            ],
        },
        "notes": list(source.notes) + list(result.notes)
        + ([report.calibration_note] if report.calibration_note else []),
    }


def render_check_json(report: CheckReport) -> str:
    return json.dumps(check_object(report), indent=2)
