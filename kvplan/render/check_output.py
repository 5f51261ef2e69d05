"""`kvplan check`'s output, without Typer: the JSON object or the human view, notes on stderr (shared by the
Typer command and the fast path in kvplan/cli/fast_check.py)."""

from __future__ import annotations

import sys


def emit_report(report: object, json_output: bool) -> None:
    from kvplan.api import CheckReport

    assert isinstance(report, CheckReport)
    notes = list(report.source.notes) + ([report.calibration_note] if report.calibration_note else [])
    if json_output:
        from kvplan.render.json_out import render_check_json

        sys.stdout.write(render_check_json(report) + "\n")
        sys.stdout.flush()
        for note in notes:
            sys.stderr.write(f"kvplan: note: {note}\n")
        return
    from rich.console import Console

    from kvplan.render.human import print_check

    err = Console(stderr=True)
    for note in notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    print_check(report, Console(highlight=False))
    for note in report.result.notes:
        err.print(f"[dim]note: {note}[/]", highlight=False)
