"""The Rich view for people. Data goes to stdout; the CLI sends notes and errors to stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvplan.api import CheckReport
from kvplan.core.estimate import Estimate
from kvplan.core.units import GiB
from kvplan.render.summary import group_rows, layers_by_kind

if TYPE_CHECKING:
    from rich.console import Console

    from kvplan.core.plan import PlanResult

_STATUS_STYLE = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red"}


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / GiB:.2f}"


def _error(estimate: Estimate | None) -> str:
    if estimate is None or estimate.exact:
        return ""
    return f"± {estimate.error_bytes / GiB:.2f}"


def print_check(report: CheckReport, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    result, source = report.result, report.source
    model, engine, memory, kv, gpu = result.model, result.engine, result.memory, result.kv_cache, result.gpu
    entry = "vllm serve" if result.settings.entrypoint == "serve" else "LLM class"
    console.print(Text.assemble(("kvplan check ", "bold"), (source.ref, "bold cyan"),
                                f"  ({source.config_source})   vLLM {engine.behaviour.version} "
                                f"({engine.behaviour.engine.upper()}) · {result.settings.platform} · {entry}"))

    kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in layers_by_kind(model).items())
    attention = model.attention_layers[0] if model.attention_layers else None
    heads = (f"{attention.num_kv_heads} KV heads × {attention.head_size}" if attention and attention.kind != "mla"
             else f"MLA latent {attention.head_size}" if attention else "no attention")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Model", f"{model.model_type} · {model.num_layers} layers: {kinds} · {heads} · "
                           f"{engine.model_dtype} · max length {model.max_position_tokens:,} "
                           f"({model.max_position_key})")
    if result.weights:
        label = "" if result.weights.exact else " (estimate)"
        facts.add_row("Weights", f"{result.weights.total_bytes / GiB:.2f} GiB in all{label} · {result.weights.source}")
    if gpu:
        free = "not measured" if gpu.free_bytes is None else f"{gpu.free_bytes / GiB:.2f} GiB free"
        err = f" ±{gpu.total_error_bytes / GiB:.2f}" if gpu.total_error_bytes else ""
        facts.add_row("GPU", f"{gpu.name} · {gpu.total_bytes / GiB:.2f}{err} GiB as CUDA reports it "
                             f"({gpu.source}) · {free}")
    else:
        facts.add_row("GPU", "none: KV cache sized by --kv-cache-memory; free-memory check not checked")
    facts.add_row("Engine", f"tp {engine.tensor_parallel_size} · pp {engine.pipeline_parallel_size} · "
                            f"KV {engine.kv_cache_dtype} · block {engine.block_size} · "
                            f"max_num_batched_tokens {engine.max_num_batched_tokens} · "
                            f"max_num_seqs {engine.max_num_seqs}"
                            + (" · Model Runner V2" if engine.model_runner == "v2" else "")
                            + _prefix_caching(result) + _speculation(result) + _kv_sizing(result))
    console.print(facts)

    table = Table(title="Memory per GPU (GiB)", title_justify="left", show_edge=False)
    table.add_column("term")
    table.add_column("GiB", justify="right")
    table.add_column("±", justify="right")
    table.add_column("source", overflow="fold")
    if memory.total_bytes is not None:
        table.add_row("total (CUDA)", _gib(memory.total_bytes), "", gpu.source if gpu else "")
        table.add_row(f"budget = total × {memory.gpu_memory_utilization}", _gib(memory.budget_bytes), "", "")
    overheads = memory.overheads
    if overheads is not None:
        for name, estimate in (("weights", overheads.weights), ("activation peak", overheads.activation),
                               ("non-torch", overheads.non_torch), ("CUDA graphs", overheads.cudagraph)):
            table.add_row(name, _gib(estimate.value_bytes), _error(estimate), estimate.source)
        if overheads.mamba_cache.value_bytes:  # V0 only: shown when there is one
            table.add_row("Mamba state cache", _gib(overheads.mamba_cache.value_bytes), "",
                          overheads.mamba_cache.source)
    sizing = memory.extensible
    if sizing is not None:
        other = (f"NVML free less vLLM's CUDA context; other processes hold "
                 f"{sizing.other_processes_bytes / GiB:.2f} GiB" if sizing.other_processes_bytes is not None
                 else "total less vLLM's CUDA context (estimate; no GPU measured)")
        if "NVLS" in sizing.init_free_source:  # NCCL NVLS buffers made before vLLM's snapshot (overheads.py)
            other += "; less " + sizing.init_free_source.partition(" and ")[2]
        table.add_row("free at start", _gib(sizing.init_free_bytes), "", other)
        table.add_row("kept free: transient", _gib(sizing.transient_peak_bytes), "",
                      "activation peak + CUDA-graph estimate (vLLM keeps both free)")
        table.add_row("kept free: margin", _gib(sizing.margin_bytes), "", sizing.margin_formula)
    kv_err = f"± {memory.kv_cache_error_bytes / GiB:.2f}" if memory.kv_cache_error_bytes else ""
    table.add_row(Text("KV cache", style="bold"), _gib(memory.kv_cache_bytes), kv_err, memory.kv_cache_source)
    console.print(table)
    _print_release_comparison(result, console)

    cache = Table(title="KV cache", title_justify="left", show_edge=False, show_header=False)
    cache.add_column(style="bold")
    cache.add_column(justify="right")
    cache.add_row("KV cache size", f"{kv.tokens:,} tokens")
    cache.add_row("blocks", f"{kv.num_blocks:,} × {kv.block_size} tokens ({kv.bytes_per_block:,} B per block)")
    cache.add_row(f"max concurrency at {kv.max_model_len:,} tokens", f"{kv.max_concurrency:.2f}x "
                  f"({kv.blocks_per_request:,} blocks per request)")
    cache.add_row("largest max_model_len that fits", f"{kv.max_model_len_fit:,}")
    console.print(cache)

    groups = Table(title="KV cache groups (per GPU)", title_justify="left", show_edge=False)
    for column in ("kind", "layers", "page bytes", "block", "blocks/request", "detail"):
        groups.add_column(column, justify="left" if column in ("kind", "detail") else "right")
    for row in group_rows(result):
        roles = f"{', '.join(row['roles'])}: " if "roles" in row else ""  # DeepSeek-V4's packed caches
        detail = roles + (f"window {row['sliding_window']}" if "sliding_window" in row
                          else f"{row['tokens_per_state']} tokens a state" if "tokens_per_state" in row
                          else f"chunk {row['attention_chunk_size']}" if "attention_chunk_size" in row
                          else f"state {row['state_bytes']:,} B" if "state_bytes" in row
                          else f"{row['num_kv_heads_per_rank']} heads × {row['head_size']}")
        if "group_page_bytes" in row:  # a packed group: all its layers' pages
            pages = f"{row['group_page_bytes']:,}"
        else:  # one page shape, or several in one group (DeepSeek-V3.2's latent and indexer key)
            pages = " / ".join(f"{p:,}" for p in row.get("layer_page_sizes_bytes") or [row["page_size_bytes"]])
        groups.add_row(row["kind"], str(row["num_layers"]), pages, str(row["block_size"]),
                       f"{row['blocks_per_request']:,}", detail)
    console.print(groups)

    status = result.verdict.status
    console.print(Text.assemble(("Verdict: ", "bold"), (status.upper(), _STATUS_STYLE[status])))
    for reason in result.verdict.reasons:
        console.print(f"  {reason}")
    for error in result.verdict.vllm_errors:
        console.print(Text.assemble(("  vLLM would stop with: ", "bold"), (error, "italic")))
    if result.verdict.remedies:
        console.print(Text("Remedies", style="bold"))
        for remedy in result.verdict.remedies:
            flags = " ".join(f"{k}={v}" if k.isupper() else f"{k} {v}".rstrip() for k, v in remedy.flags.items())
            mark = "•" if remedy.fits else "✗"
            console.print(f"  {mark} {remedy.summary}" + (f"   [{flags}]" if flags else ""), markup=False)


def _prefix_caching(result: PlanResult) -> str:
    """Shown where it moves the arithmetic: Mamba state blocks per request on V1 (vLLM's default varies)."""
    engine = result.engine
    if not result.model.mamba_layers or engine.behaviour.engine != "v1":
        return ""
    return " · prefix caching " + ("on" if engine.enable_prefix_caching else "off")


def _kv_sizing(result: PlanResult) -> str:
    """From 0.34, which way vLLM sizes the KV cache (and why, off the default path)."""
    engine = result.engine
    if not engine.behaviour.extensible_kv_cache:
        return ""
    if engine.kv_sizing == "extensible":
        return " · KV sizing extensible (measured after warm-up)"
    return f" · KV sizing {engine.kv_sizing} ({engine.kv_sizing_reason})"


def _print_release_comparison(result: PlanResult, console: Console) -> None:
    """The KV cache of this release and of the default one side by side, with what makes them differ."""
    from rich.table import Table

    from kvplan.core.plan import release_comparison

    comparison = release_comparison(result)
    if comparison is None:
        return
    table = Table(title="KV cache by release (per GPU)", title_justify="left", show_edge=False)
    for column in ("vLLM", "KV sizing", "utilisation", "KV cache GiB", "±", "tokens", "block"):
        table.add_column(column, justify="left" if column in ("vLLM", "KV sizing") else "right")
    for side in (comparison.planned, comparison.other):
        memory = side.memory
        table.add_row(side.settings.vllm_version, memory.kv_sizing, f"{memory.gpu_memory_utilization}",
                      _gib(memory.kv_cache_bytes),
                      f"{memory.kv_cache_error_bytes / GiB:.2f}" if memory.kv_cache_error_bytes else "",
                      f"{side.kv_cache.tokens:,}", str(side.kv_cache.block_size))
    console.print(table)
    console.print(f"  {comparison.note}", markup=False, highlight=False)


def _speculation(result: PlanResult) -> str:
    spec = result.settings.speculative
    if spec is None:
        return ""
    layers = len(result.model.draft_layers)
    kv = f", +{layers} KV layer{'s' if layers != 1 else ''}" if layers else ", no KV"
    return f" · speculative {spec.method} x{spec.num_speculative_tokens}{kv}"
