"""`kvplan gpus` and `kvplan models`: what the bundled catalogs hold."""

from __future__ import annotations

import typer

from kvplan.cli.options import JsonListOpt


def register(app: typer.Typer) -> None:
    @app.command("gpus")
    def gpus_command(json_output: JsonListOpt = False) -> None:
        """List the GPU catalog (CUDA-reported totals) for --gpu."""
        import json

        from kvplan.gpu.catalog import list_gpus

        rows = list_gpus()
        if json_output:
            typer.echo(json.dumps([
                {"key": g.key, "name": g.name, "total_bytes": g.cuda_total_bytes,
                 "total_error_bytes": g.total_error_bytes, "source": g.source}
                for g in rows], indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(show_edge=False)
        for column in ("--gpu", "name", "CUDA total GiB", "±", "source"):
            table.add_column(column, overflow="fold")
        for g in rows:
            table.add_row(g.key, g.name, f"{g.cuda_total_bytes / 2**30:.2f}", f"{g.total_error_bytes / 2**30:.2f}",
                          g.source)
        Console().print(table)

    @app.command("models")
    def models_command(json_output: JsonListOpt = False) -> None:
        """List the bundled model catalog (works offline)."""
        import json

        from kvplan.sources.catalog import names

        listed = names()
        if json_output:
            typer.echo(json.dumps(listed, indent=2))
        else:
            typer.echo("\n".join(listed))
