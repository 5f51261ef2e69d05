"""`kvplan calibration list|clear`: the records `kvplan probe` writes and `kvplan check` uses."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from kvplan.cli.app import guarded
from kvplan.cli.options import JsonOpt


def register(app: typer.Typer) -> None:
    app.add_typer(_calibration_app(), name="calibration")


def _calibration_app() -> typer.Typer:
    sub = typer.Typer(help="The records `kvplan probe` writes and `kvplan check` uses.", no_args_is_help=True,
                      add_completion=False, rich_markup_mode=None)

    @sub.command("list")
    def list_command(json_output: JsonOpt = False) -> None:
        """List the calibration records (oldest first)."""
        from kvplan.probe.calibration import read_records, store_path

        path, records = store_path(os.environ), guarded(lambda: read_records(os.environ))
        if json_output:
            import json

            typer.echo(json.dumps({"path": str(path), "records": records}, indent=2, default=str))
            return
        _print_records(path, records)

    @sub.command("clear")
    def clear_command() -> None:
        """Delete every calibration record."""
        from kvplan.probe.calibration import clear_records, store_path

        count = guarded(lambda: clear_records(os.environ))
        typer.echo(f"removed {count} calibration record(s) from {store_path(os.environ)}")

    return sub


def _print_records(path: Path, records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not records:
        console.print(f"no calibration records in {path}")
        return
    table = Table(title=str(path), title_justify="left", box=None, padding=(0, 2))
    for name in ("created", "model", "gpu", "vLLM", "status", "tokens", "non-KV GiB", "vLLM s"):
        # Model paths are long: fold them rather than cut the part that tells models apart.
        table.add_column(name, justify="right" if name in ("tokens", "non-KV GiB", "vLLM s") else "left",
                         overflow="fold" if name == "model" else "ellipsis", no_wrap=name != "model")
    for r in records:
        measured, non_kv = r.get("measured") or {}, r.get("non_kv_bytes")
        tokens = measured.get("tokens")
        table.add_row(str(r.get("created", "")), str(r.get("model", "")), str(r.get("gpu", "")),
                      str(r.get("vllm_version", "")), str(r.get("status", "")),
                      f"{tokens:,}" if isinstance(tokens, int) else "-",
                      f"{non_kv / 2**30:.2f}" if isinstance(non_kv, int) else "-", f"{r.get('elapsed_s', 0):.1f}")
    console.print(table)
    if sys.stdout.isatty():
        console.print("[dim]non-KV GiB is used by `kvplan check` for the same model, GPU, vLLM and settings[/]")
