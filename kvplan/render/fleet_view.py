"""The two tables of `kvplan recommend`: every model on this box, and one model across the GPU catalog.

One data object per table (what --json prints); human (Rich), Markdown and CSV are views of it, so every
format carries the same rows and numbers.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from kvplan.core.fleet import FleetRow, ModelRow, smallest_per_gpu

if TYPE_CHECKING:
    from rich.console import Console

    from kvplan.cli.fleet_run import BoxResult, FleetResult

_GIB = 2**30


def _gib(value: int | None) -> float | None:
    return None if value is None else round(value / _GIB, 2)


def _conc(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _fp8_object(row: ModelRow) -> dict[str, Any] | None:
    fp8, base = row.fp8, row.deployment
    if fp8 is None or base is None or fp8.refused is not None:
        return None
    limit = fp8.model_limit
    return {"max_model_len": fp8.max_model_len, "adds_tokens": fp8.max_model_len - base.max_model_len,
            "concurrency_at_limit": _conc(fp8.concurrency_at(limit)), "max_num_seqs": fp8.max_num_seqs}


def _model_row(row: ModelRow) -> dict[str, Any]:
    d = row.deployment
    concurrency: dict[str, float | None] = {}
    if d is not None:
        for length, value in d.concurrency:
            concurrency[str(length)] = _conc(value)
    return {
        "model": row.ref,
        "fits": row.fits,
        "plannable": row.plannable,
        "max_model_len": row.max_model_len if d is not None else 0,
        "model_limit": d.model_limit if d is not None else None,
        "tensor_parallel_size": d.tensor_parallel_size if d is not None else None,
        "pipeline_parallel_size": d.pipeline_parallel_size if d is not None else None,
        "needs_tensor_parallel_size": row.needs_tp,
        "weights_per_gpu_bytes": d.weights_per_gpu_bytes if d is not None else None,
        "max_num_seqs": d.max_num_seqs if d is not None else None,
        "concurrency": concurrency,
        "fp8_kv": _fp8_object(row),
        "shortfall_bytes": d.shortfall_bytes if d is not None and not row.fits else None,
        "why": row.why,
        "param_count": row.param_count,
        "family": row.family,
    }


def box_object(result: BoxResult) -> dict[str, Any]:
    settings, box, query = result.settings, result.box, result.query
    return {
        "mode": "models_on_gpu",
        "gpus": {
            "source": box.source,
            "count": box.count,
            "catalog_key": box.catalog_key,
            "note": box.note,
            "devices": [{"index": d.index, "name": d.name, "total_bytes": d.total_bytes, "free_bytes": d.free_bytes,
                         "busy": d.busy} for d in box.devices],
        },
        "settings": {"vllm_version": settings.vllm_version, "gpu_memory_utilization": result.utilization,
                     "kv_cache_dtype": settings.kv_cache_dtype},
        "filters": {"min_context": query.min_context, "concurrency": query.concurrency},
        "lengths": list(query.lengths),
        "filtered_out": result.filtered_out,
        "rows": [_model_row(row) for row in result.rows],
    }


def _fleet_row(row: FleetRow, smallest: bool, name: str) -> dict[str, Any]:
    d = row.deployment
    return {
        "gpu": row.gpu_key,
        "gpu_name": name,
        "tensor_parallel_size": d.tensor_parallel_size,
        "pipeline_parallel_size": d.pipeline_parallel_size,
        "gpus": d.gpus,
        "max_model_len": d.max_model_len,
        "target_max_model_len": row.target_length,
        "max_concurrency": _conc(row.max_concurrency),
        "meets_target": row.meets,
        "smallest_for_gpu": smallest,
        "weights_per_gpu_bytes": d.weights_per_gpu_bytes,
        "max_num_seqs": d.max_num_seqs,
        "refused": d.refused,
    }


def fleet_object(result: FleetResult) -> dict[str, Any]:
    best = smallest_per_gpu(result.rows)
    return {
        "mode": "gpus_for_model",
        "model": {"ref": result.ref, "max_position_tokens": result.max_position_tokens},
        "target": {"max_model_len": result.target_length, "concurrency": result.concurrency},
        "rows": [_fleet_row(row, best.get(row.gpu_key) is row, result.names.get(row.gpu_key, row.gpu_key))
                 for row in result.rows],
        "smallest": {key: {"tensor_parallel_size": row.deployment.tensor_parallel_size,
                           "pipeline_parallel_size": row.deployment.pipeline_parallel_size,
                           "gpus": row.deployment.gpus, "max_concurrency": _conc(row.max_concurrency)}
                     for key, row in best.items()},
        "gpu_notes": result.notes,
    }


# --- Markdown and CSV: the same rows, flattened ----------------------------------------------------------------

BOX_COLUMNS = ("model", "fits", "tensor_parallel_size", "max_model_len", "model_limit", "weights_per_gpu_gib",
               "concurrency_4k", "concurrency_32k", "concurrency_at_limit", "fp8_kv_max_model_len",
               "fp8_kv_concurrency_at_limit", "needs_tensor_parallel_size", "shortfall_gib", "why")
FLEET_COLUMNS = ("gpu", "tensor_parallel_size", "pipeline_parallel_size", "gpus", "max_model_len",
                 "target_max_model_len", "max_concurrency", "meets_target", "smallest_for_gpu", "weights_per_gpu_gib")


def _box_flat(row: dict[str, Any], lengths: list[int]) -> dict[str, Any]:
    conc = row["concurrency"]
    fp8 = row["fp8_kv"] or {}
    limit = row["model_limit"]
    short, long_ = [*lengths, 0, 0][:2]
    return {
        "model": row["model"], "fits": row["fits"], "tensor_parallel_size": row["tensor_parallel_size"],
        "max_model_len": row["max_model_len"], "model_limit": limit,
        "weights_per_gpu_gib": _gib(row["weights_per_gpu_bytes"]),
        "concurrency_4k": conc.get(str(short)), "concurrency_32k": conc.get(str(long_)),
        "concurrency_at_limit": conc.get(str(limit)) if limit else None,
        "fp8_kv_max_model_len": fp8.get("max_model_len"),
        "fp8_kv_concurrency_at_limit": fp8.get("concurrency_at_limit"),
        "needs_tensor_parallel_size": row["needs_tensor_parallel_size"],
        "shortfall_gib": _gib(row["shortfall_bytes"]), "why": row["why"],
    }


def _fleet_flat(row: dict[str, Any]) -> dict[str, Any]:
    flat = {key: row.get(key) for key in FLEET_COLUMNS}
    flat["weights_per_gpu_gib"] = _gib(row["weights_per_gpu_bytes"])
    return flat


def flat_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    if data["mode"] == "models_on_gpu":
        return BOX_COLUMNS, [_box_flat(row, data["lengths"]) for row in data["rows"]]
    return FLEET_COLUMNS, [_fleet_flat(row) for row in data["rows"]]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def to_csv(data: dict[str, Any]) -> str:
    columns, rows = flat_rows(data)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(row[key]) for key in columns})
    return out.getvalue()


def to_markdown(data: dict[str, Any]) -> str:
    columns, rows = flat_rows(data)

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(escape(_cell(row[key])) for key in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- human ----------------------------------------------------------------------------------------------------


def _count(value: float | None, *, unit: bool = True) -> str:
    if value is None:
        return "-"
    text = f"{value:.0f}" if value >= 100 else f"{value:.1f}"
    return text + ("x" if unit else "")


def _short(n: int) -> str:
    """A length in K (1024 tokens) where it is a whole number of them."""
    return f"{n // 1024}K" if n % 1024 == 0 else f"{n:,}"


def _tokens(n: int | None) -> str:
    return "-" if not n else f"{n:,}"


def _params(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e12:.1f}T" if n >= 1e12 else f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def _gib_text(value: int | None) -> str:
    return "?" if value is None else f"{value / _GIB:.1f}"


def _fp8_text(row: dict[str, Any]) -> str:
    fp8 = row["fp8_kv"]
    if fp8 is None or not fp8["max_model_len"]:
        return "-"
    at_limit = fp8["concurrency_at_limit"]
    return _tokens(fp8["max_model_len"]) + (f" {_count(at_limit)}" if at_limit else "")


def print_box(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    gpus = data["gpus"]
    settings = data["settings"]
    for device in gpus["devices"][: 1 if gpus["source"] != "nvml" else None]:
        free = "" if device["free_bytes"] is None else f", {device['free_bytes'] / _GIB:.2f} GiB free"
        count = f"{gpus['count']} x " if gpus["source"] != "nvml" else f"cuda:{device['index']} "
        console.print(f"{count}{device['name']}: {device['total_bytes'] / _GIB:.2f} GiB{free}", markup=False)
    for device in gpus["devices"]:
        if device["busy"]:
            console.print(f"[bold yellow]busy:[/] {device['busy']}", highlight=False)
    if gpus["note"]:
        console.print(f"note: {gpus['note']}", markup=False)
    console.print(f"vLLM {settings['vllm_version']} · utilization {settings['gpu_memory_utilization']} · "
                  f"KV {settings['kv_cache_dtype']}", markup=False)
    short, long_ = [*data["lengths"], 0, 0][:2]
    fits = [r for r in data["rows"] if r["fits"]]
    table = Table(show_edge=False, title=f"Fits ({len(fits)})", title_justify="left")
    table.add_column("model", overflow="fold", min_width=16, ratio=1)
    for column in ("params", "TP", "GiB/GPU", "longest", f"{short // 1024}K/{long_ // 1024}K/max", "fp8 KV"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in fits:
        conc = row["concurrency"]
        limit = row["model_limit"]
        concurrency = "/".join(_count(conc.get(str(n)), unit=False) for n in (short, long_, limit))
        longest = _tokens(row["max_model_len"]) + ("" if row["max_model_len"] == limit else f"/{_short(limit)}")
        table.add_row(row["model"], _params(row["param_count"]), str(row["tensor_parallel_size"]),
                      _gib_text(row["weights_per_gpu_bytes"]), longest, concurrency, _fp8_text(row))
    console.print(table)
    if fits:
        console.print(f"longest: the longest max_model_len that surely starts (/the model's limit when shorter); "
                      f"{short // 1024}K/{long_ // 1024}K/max: full-length requests in flight at {short:,}, "
                      f"{long_:,} and the model's limit (- where that length does not surely start); fp8 KV: "
                      "the longest and the concurrency at the limit with --kv-cache-dtype fp8", markup=False)
    misses = [r for r in data["rows"] if not r["fits"] and r["plannable"]]
    if misses:
        miss = Table(show_edge=False, title=f"Does not fit ({len(misses)})", title_justify="left")
        miss.add_column("model", overflow="fold", ratio=2)
        miss.add_column("params", justify="right", no_wrap=True)
        miss.add_column("why", overflow="fold", ratio=3)
        miss.add_column("fp8 KV", justify="right", no_wrap=True)
        for row in misses:
            miss.add_row(row["model"], _params(row["param_count"]), row["why"] or "", _fp8_text(row))
        console.print(miss)
    refused = [r for r in data["rows"] if not r["plannable"]]
    if refused:
        console.print(f"[bold]Not plannable ({len(refused)}):[/]")
        for row in refused:
            console.print(f"  {row['model']}: {_first_sentence(row['why'] or '')}", markup=False)
    if data["filtered_out"]:
        console.print(f"{data['filtered_out']} model(s) left out by --max-params / --family", markup=False)


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".")


def print_fleet(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    target = data["target"]
    want = f"{target['max_model_len']:,} tokens" + (
        f", {target['concurrency']:g} requests in flight" if target["concurrency"] is not None else "")
    console.print(f"[bold]{data['model']['ref']}[/] across the GPU catalog · target {want} "
                  f"(model limit {data['model']['max_position_tokens']:,})", highlight=False)
    table = Table(show_edge=False)
    for column in ("GPU", "TP", "PP", "GPUs", "longest context", "concurrency @ target", "meets", "weights/GPU"):
        table.add_column(column, justify="left" if column == "GPU" else "right")
    last = None
    for row in data["rows"]:
        if last is not None and row["gpu"] != last:
            table.add_section()
        last = row["gpu"]
        meets = "[bold green]yes *[/]" if row["smallest_for_gpu"] else "yes" if row["meets_target"] else "no"
        table.add_row(row["gpu"], str(row["tensor_parallel_size"]), str(row["pipeline_parallel_size"]),
                      str(row["gpus"]), _tokens(row["max_model_len"]),
                      _count(row["max_concurrency"]) if row["max_concurrency"] else "-", meets,
                      f"{row['weights_per_gpu_bytes'] / _GIB:.1f} GiB" if row["weights_per_gpu_bytes"] else "?")
    console.print(table)
    console.print("* the smallest configuration of that GPU that meets the target")
    if data["smallest"]:
        best = sorted(data["smallest"].items(), key=lambda kv: (kv[1]["gpus"], kv[0]))
        console.print("Smallest per GPU: " + ", ".join(
            f"{key} x{b['gpus']}" + (f" (TP {b['tensor_parallel_size']} x PP {b['pipeline_parallel_size']})"
                                     if b["pipeline_parallel_size"] > 1 else "") for key, b in best), markup=False)
    else:
        console.print("[bold red]No configuration in the table meets the target.[/]")
    for key, note in data["gpu_notes"].items():
        console.print(f"note ({key}): {note}", markup=False)
