"""`kvplan gate FILE...`: check every deployment of one or more manifests, for CI.

Exit codes: 0 every deployment passes, 1 at least one fails (does not start, or misses a policy such as
`min_concurrency`), 2 a manifest or deployment is unusable. Reports are written only after all were checked.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kvplan.cli.app import guarded
from kvplan.cli.options import JsonOpt

if TYPE_CHECKING:
    from kvplan.core.gate import GateResult
    from kvplan.inputs.manifest import Deployment

FilesArg = Annotated[list[Path], typer.Argument(help="Manifests (.toml or .json) listing deployments.",
                                                show_default=False)]
JunitOpt = Annotated[Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")]
MarkdownOpt = Annotated[Path | None, typer.Option("--markdown", help="Also write a Markdown table here.")]

EXAMPLES = """Manifest (TOML):

  [defaults]
  gpu = "h100"

  [[deployment]]
  name = "chat"
  model = "Qwen/Qwen2.5-7B-Instruct"
  max_model_len = 32768
  min_concurrency = 4

Exit codes: 0 all pass, 1 a deployment fails, 2 unusable input."""


def register(app: typer.Typer) -> None:
    @app.command("gate", epilog=EXAMPLES)
    def gate_command(files: FilesArg, junit: JunitOpt = None, markdown_file: MarkdownOpt = None,
                     json_output: JsonOpt = False) -> None:
        """Gate a deploy: check every deployment in the manifests; exit 1 if any would not start."""

        def run() -> int:
            from kvplan.core.gate import exit_code
            from kvplan.inputs.manifest import load_manifest

            deployments = [d for path in files for d in load_manifest(path)]
            # Refuse a report path before minutes of checks, not after them.
            _check_report_paths({"--junit": junit, "--markdown": markdown_file}, files)
            results: list[GateResult] = [_check_one(d) for d in deployments]
            code = exit_code(results)
            _report(results, code, junit, markdown_file, json_output)
            return code

        raise typer.Exit(guarded(run))


_REPORT_HEADS = {"--junit": '<testsuite name="kvplan gate"', "--markdown": "| deployment | gate |"}


def _check_report_paths(reports: dict[str, Path | None], manifests: list[Path]) -> None:
    """A report may replace an earlier kvplan report (CI reruns) or an empty file, never anything else: not a
    manifest, not the other report, not a file of the user's."""
    from kvplan.core.errors import UsageError

    taken: dict[Path, str] = {m.resolve(): "a manifest" for m in manifests}
    for flag, path in reports.items():
        if path is None:
            continue
        if not str(path).strip() or str(path) == ".":
            raise UsageError(f"{flag}: give a file name")
        resolved = path.resolve()
        if resolved in taken:
            raise UsageError(f"{flag} {path} is {taken[resolved]}: not overwritten")
        taken[resolved] = f"the {flag} report"
        if path.is_dir():
            raise UsageError(f"{flag} {path} is a directory")
        if not resolved.parent.is_dir():
            raise UsageError(f"{flag} {path}: folder {resolved.parent} does not exist")
        if resolved.exists() and not _is_own_report(resolved, flag):
            raise UsageError(f"{flag} {path} exists and is not a kvplan gate report: not overwritten",
                             hint="Remove it or pick another path")


def _is_own_report(path: Path, flag: str) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(64).decode("utf-8", errors="replace")
    except OSError:
        return False
    return head == "" or head.startswith(_REPORT_HEADS[flag])


def _check_one(deployment: Deployment) -> GateResult:
    from kvplan import api
    from kvplan.core.errors import KvplanError
    from kvplan.core.gate import GateResult, Policy, judge
    from kvplan.core.units import parse_size
    from kvplan.inputs.settings_values import settings_from_values

    if deployment.problem:
        return GateResult(name=deployment.name, status="error", reasons=(), error=deployment.problem,
                          manifest=deployment.source)
    s = deployment.settings  # typed by the manifest reader (inputs/manifest.py)
    try:
        settings = settings_from_values(s)
        gpu_bytes = parse_size(deployment.gpu_memory, flag="gpu_memory") if deployment.gpu_memory else None
        report = api.check(deployment.model, settings, gpu=deployment.gpu, gpu_memory_bytes=gpu_bytes,
                           revision=deployment.revision, environ=os.environ)
    except KvplanError as err:
        return GateResult(name=deployment.name, status="error", reasons=(), error=err.one_line(),
                          manifest=deployment.source)
    policy = Policy(min_concurrency=deployment.min_concurrency, fail_on_warn=deployment.fail_on_warn)
    return replace(judge(deployment.name, report.result, policy), manifest=deployment.source)


def _write_report(path: Path, text: str) -> None:
    """Write beside the target and rename, so a failed write never leaves half a report."""
    from kvplan.core.errors import UsageError

    temporary = path.with_name(f".{path.name}.kvplan-tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write report {path}: {err.strerror or err}") from None


def _report(results: list[GateResult], code: int, junit: Path | None, markdown_file: Path | None,
            json_output: bool) -> None:
    import json

    from kvplan.render.gate_reports import gate_object, junit_xml, markdown

    typed = results
    for path, text in ((junit, junit_xml(typed)), (markdown_file, markdown(typed))):
        if path is not None:
            _write_report(path, text)
    if json_output:
        typer.echo(json.dumps(gate_object(typed, code), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("deployment", "gate", "verdict", "max_model_len", "KV tokens", "concurrency", "why"):
        table.add_column(column, overflow="fold")
    for r in typed:
        kv = r.plan.kv_cache if r.plan else None
        table.add_row(r.name, r.status.upper(), r.plan.verdict.status if r.plan else "-",
                      f"{kv.max_model_len:,}" if kv else "-", f"{kv.tokens:,}" if kv else "-",
                      f"{kv.max_concurrency:.2f}x" if kv else "-", "; ".join(r.reasons) or (r.error or ""))
    Console(highlight=False).print(table)
