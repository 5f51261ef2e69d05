"""`kvplan gpus` and `kvplan models`: what the bundled catalogs hold."""

from __future__ import annotations

from typing import Annotated

import typer

from kvplan.cli.options import JsonListOpt, ListVersionOpt

CoverageOpt = Annotated[bool, typer.Option(
    "--coverage", help="For each architecture the vLLM release serves: proven on the CPU engine, derived from "
                       "vLLM's source, or refused (and why), with counts.")]


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
    def models_command(json_output: JsonListOpt = False, coverage: CoverageOpt = False,
                       vllm_version: ListVersionOpt = None) -> None:
        """List the bundled model catalog (works offline), or with --coverage what kvplan knows of each vLLM
        architecture."""
        import json

        if coverage:
            from kvplan.cli.app import guarded

            guarded(lambda: _print_coverage(vllm_version, json_output))
            return
        from kvplan.sources.catalog import names

        listed = names()
        if json_output:
            typer.echo(json.dumps(listed, indent=2))
        else:
            typer.echo("\n".join(listed))


def _print_coverage(vllm_version: str | None, json_output: bool) -> None:
    import json
    from importlib import resources

    from kvplan.core.coverage import STATUS_WORDS, counts, coverage
    from kvplan.core.settings import vllm_behaviour
    from kvplan.core.vllm_archs import registry_release
    from kvplan.sources.installed_vllm import choose_vllm_version

    # as check chooses it (the help says so): the installed vllm before the newest modelled; and a release
    # kvplan does not model is refused as check refuses it (0.3.0 was listed as "registry of 0.5.4")
    chosen = choose_vllm_version(vllm_version)
    version = chosen.version
    vllm_behaviour(version)
    if chosen.note:
        typer.echo(f"kvplan: note: {chosen.note}", err=True)
    proven = json.loads(resources.files("kvplan").joinpath("data/engine_proven.json").read_text(encoding="utf-8"))
    rows = coverage(version, proven)
    if json_output:
        typer.echo(json.dumps([{"architecture": r.architecture, "kind": r.kind, "status": r.status,
                                "layout": r.layout, "detail": r.detail, "vllm_version": version} for r in rows],
                              indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("architecture", "kind", "status", "layout", "detail"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r.architecture, r.kind, STATUS_WORDS[r.status], r.layout, r.detail)
    console = Console()
    console.print(table)
    found = counts(rows)
    console.print(f"vLLM {version} (registry of {registry_release(version)}): {len(rows)} text-generating "
                  f"architectures: {found['proven']} {STATUS_WORDS['proven']}, {found['derived']} "
                  f"{STATUS_WORDS['derived']}, {found['refused']} {STATUS_WORDS['refused']}", highlight=False)
