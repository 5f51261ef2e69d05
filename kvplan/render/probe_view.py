"""``kvplan probe`` for people (measured beside predicted) and for machines (``--json``, one object)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvplan.core.units import GiB
from kvplan.probe.compare import ProbeOutcome, Row

if TYPE_CHECKING:
    from rich.console import Console

SCHEMA_VERSION = 1
LOG_TAIL_IN_JSON = 40
_STATUS_STYLE = {"match": "bold green", "mismatch": "bold yellow", "engine_error": "bold red", "timeout": "bold red",
                 "unplanned": "bold yellow"}


def probe_object(outcome: ProbeOutcome) -> dict[str, Any]:
    from kvplan.render.json_out import check_object

    comparison, child = outcome.comparison, outcome.child
    failed = comparison.status in ("engine_error", "timeout")
    return {
        "schema_version": SCHEMA_VERSION,
        "status": comparison.status,
        "exit_code": comparison.exit_code,
        "agrees": comparison.agrees,
        "predicted": check_object(outcome.report) if outcome.report else None,
        "measured": comparison.measured,
        "comparison": [
            {"field": r.field, "predicted": r.predicted, "measured": r.measured, "ok": r.ok, "note": r.note}
            for r in comparison.rows
        ],
        "reasons": list(comparison.reasons),
        "error": comparison.error,
        "calibration_record": outcome.calibration_record,
        "elapsed_s": round(child.elapsed_s, 2),
        "kvplan_elapsed_s": round(outcome.kvplan_elapsed_s, 4),
        "vllm_python": outcome.vllm_python,
        "engine_args": outcome.engine_args,
        "notes": list(outcome.notes),
        # The log only where something went wrong: it is what a bug report needs.
        "log_tail": list(child.log_tail[-LOG_TAIL_IN_JSON:]) if failed else [],
    }


def _value(field: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field.endswith("_bytes") and isinstance(value, int):
        return f"{value / GiB:.3f} GiB"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _row_cells(row: Row) -> tuple[str, str, str, str, str]:
    mark = "[green]✓[/]" if row.ok else "[red]✗[/]"
    return row.field, _value(row.field, row.predicted), _value(row.field, row.measured), mark, row.note


def print_probe(outcome: ProbeOutcome, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    comparison, child, measured = outcome.comparison, outcome.child, outcome.comparison.measured
    ref = outcome.report.source.ref if outcome.report else str(outcome.engine_args.get("model"))
    version, device = measured.get("vllm_version"), measured.get("device")
    where = f"vLLM {version} on {device}" if version and device else "vLLM (version and device not reported)"
    console.print(Text.assemble(("kvplan probe ", "bold"), (ref, "bold cyan"), f"  {where} · LLM class"))

    if comparison.rows:
        table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2))
        for name, justify in (("", "left"), ("kvplan", "right"), ("vLLM", "right"), ("", "left"), ("", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for row in comparison.rows:
            table.add_row(*_row_cells(row))
        console.print(table)

    status = comparison.status
    console.print(Text.assemble((status.upper().replace("_", " "), _STATUS_STYLE[status]),
                                f"  (exit {comparison.exit_code})"))
    for reason in comparison.reasons:
        console.print(f"  {reason}", highlight=False)
    kv = measured.get("kv_cache")
    if status == "unplanned" and isinstance(kv, dict) and kv.get("tokens") is not None:
        console.print(f"  vLLM: {kv['tokens']:,} KV tokens, {kv.get('num_blocks')} blocks of {kv.get('block_size')} "
                      f"tokens, {kv.get('max_concurrency')}x", highlight=False)
    if comparison.error and comparison.status != "timeout":  # a timeout's message is kvplan's, already shown
        console.print(Text.assemble(("vLLM: ", "bold"), f"[{comparison.error['kind']}] ",
                                    str(comparison.error.get("message") or "")))
        if outcome.report and outcome.report.result.verdict.vllm_errors:
            console.print(Text.assemble(("kvplan predicted: ", "bold"), outcome.report.result.verdict.vllm_errors[0]))
        elif outcome.report:
            console.print(Text.assemble(("kvplan predicted: ", "bold"),
                                        "; ".join(outcome.report.result.verdict.reasons)))
    kvplan_s = outcome.kvplan_elapsed_s
    started = comparison.status in ("match", "mismatch")
    speedup = f" ({child.elapsed_s / kvplan_s:,.0f}x faster)" if started and 0 < kvplan_s < child.elapsed_s else ""
    console.print(f"vLLM took {child.elapsed_s:.1f} s; kvplan took {kvplan_s * 1000:.0f} ms{speedup}",
                  highlight=False)
    if outcome.calibration_record:
        console.print(f"calibration record appended to {outcome.calibration_record}", highlight=False)
    if comparison.status in ("engine_error", "timeout") and child.log_tail:
        console.print(Text("last lines of vLLM's log:", style="dim"))
        for line in child.log_tail[-12:]:
            console.print(Text(f"  {line}", style="dim"))
