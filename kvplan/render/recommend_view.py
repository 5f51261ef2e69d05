"""Rendering for `kvplan recommend`: a length table and the flags to deploy with."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kvplan.core.lora_offload import extra_engine_args
from kvplan.core.plan import utilization_for
from kvplan.core.settings import version_tuple
from kvplan.core.sweep import Sweep
from kvplan.render.summary import speculative_object
from kvplan.sources.types import ResolvedModel

if TYPE_CHECKING:
    from rich.console import Console


def _engine_args(sweep: Sweep, length: int) -> list[tuple[str, object]]:
    """vLLM's engine arguments for the recommended deployment: every setting it was planned with that is not
    vLLM's default, so the line starts what kvplan planned (flag=True means a bare switch)."""
    base = sweep.base
    engine, settings = base.engine, base.settings
    args: list[tuple[str, object]] = [("max_model_len", length)]
    if settings.kv_cache_memory_bytes is not None:
        if version_tuple(settings.vllm_version) >= (0, 10, 2):
            args.append(("kv_cache_memory_bytes", settings.kv_cache_memory_bytes))
        else:  # no kv_cache_memory_bytes before 0.10.2: the same KV cache, as a block count
            args.append(("num_gpu_blocks_override", base.kv_cache.num_blocks))
            overheads, gpu = base.memory.overheads, base.gpu
            if base.engine.behaviour.engine == "v1" and overheads is not None and gpu is not None:
                # V1 checks the profiled KV memory against the request before it applies the override
                # (check_enough_kv_cache_memory, 0.8-0.10.1): the utilisation must leave that much
                util = utilization_for(overheads.total_bytes, settings.kv_cache_memory_bytes, gpu.total_bytes)
                args.append(("gpu_memory_utilization", min(1.0, util)))
    else:
        args.append(("gpu_memory_utilization", engine.gpu_memory_utilization))
    if engine.tensor_parallel_size > 1:
        args.append(("tensor_parallel_size", engine.tensor_parallel_size))
    if engine.pipeline_parallel_size > 1:
        args.append(("pipeline_parallel_size", engine.pipeline_parallel_size))
    for name in ("dtype", "kv_cache_dtype", "mamba_ssm_cache_dtype"):
        if getattr(settings, name) != "auto":
            args.append((name, getattr(settings, name)))
    for name in ("quantization", "block_size", "max_num_batched_tokens"):
        if getattr(settings, name) is not None:
            args.append((name, getattr(settings, name)))
    seqs = [n for n in (settings.max_num_seqs, sweep.max_num_seqs_cap) if n is not None]
    if seqs:
        args.append(("max_num_seqs", min(seqs)))
    if settings.enforce_eager:
        args.append(("enforce_eager", True))
    if settings.disable_hybrid_kv_cache_manager:
        args.append(("disable_hybrid_kv_cache_manager", True))
    if settings.enable_prefix_caching is not None:  # said by the user: it moves hybrids' numbers, so keep it
        args.append(("enable_prefix_caching", settings.enable_prefix_caching))
    if settings.enable_extensible_kv_cache is not None and settings.kv_cache_memory_bytes is None:
        # said by the user (0.34+): it picks the sizing path and the default utilisation (0.92 profiled, 1.0
        # extensible), so the line without it would start vLLM's default path with the other's utilisation
        args.append(("enable_extensible_kv_cache", settings.enable_extensible_kv_cache))
    if settings.speculative is not None:
        given = settings.speculative.given_json
        args.append(("speculative_config", json.loads(given) if given else settings.speculative.vllm_config()))
    return args + extra_engine_args(settings)  # multimodal, LoRA and offload flags


def _launch_line(ref: str, sweep: Sweep, length: int) -> str:
    """A `vllm serve` command line, or the ``LLM(...)`` call for the LLM class, shell- or Python-quoted."""
    import shlex

    settings = sweep.base.settings
    args = _engine_args(sweep, length)
    env = "" if settings.use_v1 is None else f"VLLM_USE_V1={int(settings.use_v1)} "
    if settings.entrypoint == "llm":
        kwargs = ", ".join(f"{name}={value!r}" for name, value in args)
        setup = "" if settings.use_v1 is None else f'import os; os.environ["VLLM_USE_V1"] = "{int(settings.use_v1)}"; '
        return f"{setup}LLM(model={ref!r}, {kwargs})"
    flags = [f"{env}vllm serve {shlex.quote(ref)}"]
    for name, value in args:
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append(f"--no-{name.replace('_', '-')}")
        elif isinstance(value, dict):
            flags.append(f"{flag} {shlex.quote(json.dumps(value, separators=(',', ':')))}")
        else:
            flags.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(flags)


def recommend_object(source: ResolvedModel, sweep: Sweep) -> dict[str, Any]:
    base = sweep.base
    recommended = sweep.recommended
    return {
        "model": {"ref": source.ref, "source": source.config_source, "max_position_tokens":
                  base.model.max_position_tokens},
        "gpu": {"name": base.gpu.name if base.gpu else None,
                "total_bytes": base.gpu.total_bytes if base.gpu else None},
        "settings": {"vllm_version": base.engine.behaviour.version, "engine": base.engine.behaviour.engine,
                     "entrypoint": base.settings.entrypoint,
                     "gpu_memory_utilization": base.engine.gpu_memory_utilization,
                     "kv_cache_dtype": base.engine.kv_cache_dtype,
                     "tensor_parallel_size": base.engine.tensor_parallel_size,
                     "enable_prefix_caching": base.engine.enable_prefix_caching,
                     "speculative": speculative_object(base.settings)},
        "engine_note": base.engine.engine_note,  # why vLLM runs another engine than the release's default
        "prefix_caching_note": base.engine.prefix_caching_note,  # why vLLM turns off the prefix caching asked for
        "kv_cache_bytes": base.memory.kv_cache_bytes,
        "kv_cache_error_bytes": base.memory.kv_cache_error_bytes,
        "longest_max_model_len": sweep.longest_fit,
        "longest_max_model_len_sure": sweep.longest_sure,  # starts even at the low end of the estimates
        "lengths_above_model_limit": list(sweep.dropped_lengths),
        "max_num_seqs_cap": sweep.max_num_seqs_cap,
        "target_concurrency": sweep.target_concurrency,
        "max_model_len_for_concurrency": sweep.length_for_concurrency,
        "lengths": [{"max_model_len": r.max_model_len, "fits": r.fits, "status": r.status, "tokens": r.tokens,
                     "max_concurrency": r.max_concurrency, "refused": r.refused, "may_start": r.may_start}
                    for r in sweep.rows],
        "recommended": None if recommended <= 0 else {
            "max_model_len": recommended,
            "vllm_serve": _launch_line(source.ref, sweep, recommended),
            "env": f"CONTEXT_LEN={recommended}",
        },
        "remedies": [{"kind": r.kind, "summary": r.summary, "flags": r.flags} for r in base.verdict.remedies],
    }


def print_recommend(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    gpu = data["gpu"]["name"] or "no GPU (KV cache sized by --kv-cache-memory)"
    engine = " (V0)" if data["settings"]["engine"] == "v0" else ""
    console.print(f"[bold]{data['model']['ref']}[/] on {gpu} · vLLM {data['settings']['vllm_version']}{engine} · "
                  f"utilization {data['settings']['gpu_memory_utilization']} · KV {data['settings']['kv_cache_dtype']}")
    for key in ("engine_note", "prefix_caching_note"):
        if data.get(key):
            console.print(f"note: {data[key]}", markup=False)
    err, kv = data["kv_cache_error_bytes"], data["kv_cache_bytes"]
    if kv < 0:  # the shortfall kept with its error (vLLM 0.34's extensible plan): no memory is negative
        console.print(f"KV cache memory: none, {-kv / 2**30:.2f} GiB short" +
                      (f" ± {err / 2**30:.2f} (estimate)" if err else ""))
    else:
        console.print(f"KV cache memory {kv / 2**30:.2f} GiB" +
                      (f" ± {err / 2**30:.2f} (estimate)" if err else " (exact)"))
    table = Table(show_edge=False)
    for column in ("max_model_len", "starts", "KV cache size (tokens)", "max concurrency"):
        table.add_column(column, justify="right")
    refused = [row for row in data["lengths"] if row["refused"]]
    for row in data["lengths"]:
        mark = "refused" if row["refused"] else {"ok": "yes", "warn": "yes (inside error)", "fail": "no"}[row["status"]]
        if row.get("may_start"):
            mark = "no (may, inside error)"
        table.add_row(f"{row['max_model_len']:,}", mark, f"{row['tokens']:,}", f"{row['max_concurrency']:.2f}x")
    console.print(table)
    if refused:  # one reason is enough: the lengths are refused by the same check
        lengths = ", ".join(f"{row['max_model_len']:,}" for row in refused)
        console.print(f"refused at {lengths}: vLLM would stop with: {refused[0]['refused']}", markup=False)
    if data["max_num_seqs_cap"] is not None:
        console.print(f"max_num_seqs capped at {data['max_num_seqs_cap']:,}: under full CUDA graphs vLLM 0.19+ needs "
                      "one KV block per sequence for Mamba layers (the most sequences whose own plan keeps that "
                      "many blocks at the low end of the estimate)")
    if data["lengths_above_model_limit"]:
        above = ", ".join(f"{n:,}" for n in data["lengths_above_model_limit"])
        console.print(f"left out: {above} (above the model's limit of {data['model']['max_position_tokens']:,})")
    console.print(f"Longest max_model_len that starts: [bold]{data['longest_max_model_len']:,}[/] "
                  f"(model limit {data['model']['max_position_tokens']:,})")
    sure = data["longest_max_model_len_sure"]
    if 0 < sure < data["longest_max_model_len"]:
        console.print(f"Longest that starts even at the low end of the estimates: [bold]{sure:,}[/]")
    if data["target_concurrency"] is not None:
        found = data["max_model_len_for_concurrency"]
        console.print(f"Longest context keeping {data['target_concurrency']:g} requests in flight: "
                      + (f"[bold]{found:,}[/]" if found else "none"))
    rec = data["recommended"]
    if rec:
        console.print("Recommended:")
        # one line however narrow the terminal: Rich's wrapping cut the command with a newline, and a pasted
        # `vllm serve ... 0.92 <newline> --no-enable-extensible-kv-cache` runs without its last flags
        console.print(f"  {rec['vllm_serve']}", markup=False, soft_wrap=True)
        console.print(f"  {rec['env']}   # api-for-open-llm .env", markup=False, soft_wrap=True)
    elif data["longest_max_model_len"] > 0 and sure == 0:
        console.print(f"[bold red]Nothing surely starts:[/] the longest context that starts "
                      f"({data['longest_max_model_len']:,} tokens) does so only inside the estimates' error. "
                      "Confirm with `kvplan probe`, or give vLLM more memory.")
    elif data["longest_max_model_len"] > 0:
        console.print(f"[bold red]No length keeps {data['target_concurrency']:g} requests in flight with these "
                      "settings.[/]")
    else:
        console.print("[bold red]Nothing starts with these settings.[/]")
        for remedy in data["remedies"]:
            console.print(f"  • {remedy['summary']}", markup=False)
