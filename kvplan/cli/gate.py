"""`kvplan gate FILE...`: check every deployment of one or more manifests, for CI.

Exit codes: 0 every deployment passes, 1 at least one fails (does not start, or misses a policy such as
`min_concurrency`), 2 a manifest or deployment is unusable. Reports are written only after all were checked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from kvplan.cli.app import guarded
from kvplan.cli.options import JsonOpt

if TYPE_CHECKING:
    from kvplan.api import CheckReport
    from kvplan.core.gate import GateResult
    from kvplan.core.settings import DeploySettings
    from kvplan.inputs.manifest import Deployment

T = TypeVar("T")

FilesArg = Annotated[list[Path], typer.Argument(
    help="Deploy files: kvplan manifests (.toml, .json, .yaml), vLLM --config YAML, .env, shell scripts, "
         "Dockerfiles, docker-compose, Kubernetes manifests, production-stack Helm values.", show_default=False)]
JunitOpt = Annotated[Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")]
MarkdownOpt = Annotated[Path | None, typer.Option("--markdown", help="Also write a Markdown table here.")]
GateGpuOpt = Annotated[str | None, typer.Option(
    "--gpu", help="GPU for deployments whose file names none (see `kvplan gpus`).")]
GateGpuMemoryOpt = Annotated[str | None, typer.Option(
    "--gpu-memory", help="Total GPU memory for deployments whose file names no GPU, e.g. 24GiB.")]
GateVersionOpt = Annotated[str | None, typer.Option(
    "--vllm-version", help="vLLM release for deployments whose file names none (an image tag, vllm_version). "
                           "Default: the release `kvplan check` plans for.")]
GithubOpt = Annotated[bool, typer.Option(
    "--github", help="GitHub Actions: ::error annotations on the line to change, and the Markdown table "
                     "appended to $GITHUB_STEP_SUMMARY.")]

EXAMPLES = """Manifest (TOML):

  [defaults]
  gpu = "h100"

  [[deployment]]
  name = "chat"
  model = "Qwen/Qwen2.5-7B-Instruct"
  max_model_len = 32768
  min_concurrency = 4

Or the files you deploy with, each deployment traced to its line:

  kvplan gate k8s/vllm.yaml values.yaml docker-compose.yml .env --gpu a10g --github

Exit codes: 0 all pass, 1 a deployment fails, 2 unusable input."""


def register(app: typer.Typer) -> None:
    @app.command("gate", epilog=EXAMPLES)
    def gate_command(files: FilesArg, junit: JunitOpt = None, markdown_file: MarkdownOpt = None,
                     json_output: JsonOpt = False, gpu: GateGpuOpt = None, gpu_memory: GateGpuMemoryOpt = None,
                     github: GithubOpt = False, vllm_version: GateVersionOpt = None) -> None:
        """Gate a deploy: check every deployment in the files; exit 1 if any would not start."""

        def run() -> int:
            from kvplan.core.errors import UsageError
            from kvplan.core.gate import exit_code
            from kvplan.inputs.deploy_files import load_deploy_file, with_defaults

            if github and json_output:
                raise UsageError("--github and --json both write to stdout: give one")
            if vllm_version is not None:
                from kvplan.core.settings import version_tuple

                version_tuple(vllm_version)  # one line, exit 2, for a release that cannot be read
            deployments = with_defaults([d for path in files for d in load_deploy_file(path)], gpu=gpu,
                                        gpu_memory=gpu_memory, vllm_version=vllm_version)
            # Refuse a report path before minutes of checks, not after them.
            _check_report_paths({"--junit": junit, "--markdown": markdown_file}, files)
            summary = os.environ.get("GITHUB_STEP_SUMMARY") if github else None
            if summary and Path(summary).resolve() in {f.resolve() for f in files}:
                raise UsageError(f"$GITHUB_STEP_SUMMARY {summary} is a file being gated: not appended to")
            results = check_all(deployments)
            code = exit_code(results)
            _report(results, code, junit, markdown_file, json_output, github)
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


def check_all(deployments: list[Deployment]) -> list[GateResult]:
    """Each deployment's result; each distinct (model, revision, GPU, settings) is planned once, and the model
    and GPU behind many deployments are resolved once."""
    planner = _Planner()
    return [_check_one(d, planner) for d in deployments]


class _Planner:
    """``api.check`` with its steps cached for a gate run: the model inputs by (model, revision, drafter,
    quantization), the GPU by what resolves it, the calibration lookup and the plan by everything."""

    def __init__(self) -> None:
        self.inputs: dict[tuple[object, ...], object] = {}
        self.gpus: dict[tuple[object, ...], object] = {}
        self.reports: dict[tuple[object, ...], object] = {}

    def _cached(self, table: dict[tuple[object, ...], object], key: tuple[object, ...], make: Callable[[], T]) -> T:
        from kvplan.core.errors import KvplanError

        if key not in table:
            try:
                table[key] = make()
            except KvplanError as err:
                table[key] = err
        value = table[key]
        if isinstance(value, KvplanError):
            raise value
        return value  # type: ignore[return-value]

    def check(self, deployment: Deployment, settings: DeploySettings, gpu_bytes: int | None) -> CheckReport:
        from kvplan import api
        from kvplan.core.plan import plan

        env = os.environ
        key = (deployment.model, deployment.revision, deployment.gpu, gpu_bytes, settings)

        def report() -> CheckReport:
            inputs = self._cached(
                self.inputs, (deployment.model, deployment.revision, settings.speculative, settings.quantization),
                lambda: api.plan_inputs(deployment.model, settings, revision=deployment.revision, environ=env))
            gpu = self._cached(
                self.gpus, (deployment.gpu, gpu_bytes, settings.world_size, settings.platform,
                            settings.kv_cache_memory_bytes is not None),
                lambda: api.resolve_gpu_for(settings, gpu=deployment.gpu, gpu_memory_bytes=gpu_bytes, environ=env))
            measured, note = None, None
            if gpu is not None and settings.kv_cache_memory_bytes is None:  # as api.check does
                from kvplan.probe.calibration import lookup_overhead

                measured, note = lookup_overhead(deployment.model, deployment.revision, gpu, settings, env)
            result = plan(inputs.model, settings, gpu, inputs.weights, measured_overhead=measured)
            return api.CheckReport(source=inputs.source, result=result, calibration_note=note)

        return self._cached(self.reports, key, report)


def _check_one(deployment: Deployment, planner: _Planner) -> GateResult:
    from kvplan.cli.app import redact_tokens
    from kvplan.core.errors import KvplanError
    from kvplan.core.gate import GateResult, Policy, judge, settings_to_blame
    from kvplan.core.units import parse_size
    from kvplan.inputs.settings_values import settings_from_values

    if deployment.problem:  # a problem quotes what the file says, which may hold a token
        deployment = replace(deployment, problem=redact_tokens(deployment.problem))
    if deployment.problem and deployment.unresolved:  # as written it cannot be checked: it fails, naming why
        return GateResult(name=deployment.name, status="fail", reasons=(deployment.problem,),
                          manifest=deployment.source, line=deployment.line,
                          value_line=deployment.lines.get("problem", deployment.line),
                          notes=deployment.notes)
    if deployment.problem:
        return GateResult(name=deployment.name, status="error", reasons=(), error=deployment.problem,
                          manifest=deployment.source, line=deployment.line,
                          value_line=deployment.lines.get("problem", deployment.line),
                          notes=deployment.notes)
    try:
        settings = settings_from_values(deployment.settings)
        gpu_bytes = parse_size(deployment.gpu_memory, flag="gpu_memory") if deployment.gpu_memory else None
        report = planner.check(deployment, settings, gpu_bytes)
    except KvplanError as err:
        # A model kvplan cannot find or read is the model's line; anything else the deployment's.
        about_model = bool(deployment.model) and deployment.model in err.message
        line = deployment.lines.get("model", deployment.line) if about_model else deployment.line
        message = redact_tokens(err.one_line())
        if deployment.source and deployment.source not in message:
            message = f"{deployment.source}{f':{line}' if line else ''}: {message}"
        return GateResult(name=deployment.name, status="error", reasons=(), error=message, value_line=line,
                          manifest=deployment.source, line=deployment.line, notes=deployment.notes)
    policy = Policy(min_concurrency=deployment.min_concurrency, fail_on_warn=deployment.fail_on_warn,
                    gpu_count=deployment.gpu_count)
    judged = replace(judge(deployment.name, report.result, policy), manifest=deployment.source,
                     line=deployment.line, notes=deployment.notes)
    blamed = deployment.line if judged.status == "pass" else next(
        (deployment.lines[k] for k in settings_to_blame(judged, policy) if k in deployment.lines), deployment.line)
    return replace(judged, value_line=blamed)


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
            json_output: bool, github: bool = False) -> None:
    import json

    from kvplan.render.gate_reports import gate_object, github_annotations, junit_xml, markdown

    for path, text in ((junit, junit_xml(results)), (markdown_file, markdown(results))):
        if path is not None:
            _write_report(path, text)
    for r in results:
        for note in r.notes:
            typer.echo(f"kvplan: note: {r.name}: {note}", err=True)
    if json_output:
        typer.echo(json.dumps(gate_object(results, code), indent=2))
        return
    if github:
        for line in github_annotations(results):
            typer.echo(line)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            try:
                with open(summary, "a", encoding="utf-8") as handle:
                    handle.write("### kvplan gate\n\n" + markdown(results) + "\n")
            except OSError as err:
                from kvplan.core.errors import UsageError

                raise UsageError(f"cannot append to $GITHUB_STEP_SUMMARY {summary}: {err.strerror or err}") from None
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("deployment", "gate", "verdict", "max_model_len", "KV tokens", "concurrency", "where", "why"):
        table.add_column(column, overflow="fold")
    for r in results:
        kv = r.plan.kv_cache if r.plan else None
        where = f"{r.manifest}:{r.value_line}" if r.value_line else r.manifest
        table.add_row(r.name, r.status.upper(), r.plan.verdict.status if r.plan else "-",
                      f"{kv.max_model_len:,}" if kv else "-", f"{kv.tokens:,}" if kv else "-",
                      f"{kv.max_concurrency:.2f}x" if kv else "-", where,
                      "; ".join(r.reasons) or (r.error or ""))
    Console(highlight=False).print(table)
