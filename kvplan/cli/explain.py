"""`kvplan explain FILE|-`: a vLLM start-up log in, the cause and the fix out, from the logged numbers."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any

import typer

from kvplan.cli.app import guarded
from kvplan.cli.options import GpuMemoryOpt, JsonOpt, RevisionOpt

LogArg = Annotated[str, typer.Argument(
    metavar="FILE", help="The log: a file, or - for standard input (kubectl logs POD | kvplan explain -).",
    show_default=False)]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="The model to re-plan with (Hub id or directory), when the log's name does not resolve.")]
ConfigOpt = Annotated[str | None, typer.Option(
    "--config", help="A config.json (or its directory) for the model, instead of resolving the log's name.")]
GpuOpt = Annotated[str | None, typer.Option(
    "--gpu", help="The GPU the log came from (see `kvplan gpus`): names the log's total, or gives one it lacks.")]
VersionOpt = Annotated[str | None, typer.Option(
    "--vllm-version", help="The vLLM release that wrote the log. Default: the log's own (v0.x.y), else its "
                           "[file:line] prefixes.")]
RecordOpt = Annotated[bool, typer.Option(
    "--record", help="Write the log's measurements to the calibration store, for `check` to plan from.")]

EXAMPLES = """Examples:

  kvplan explain vllm.log

  kubectl logs my-vllm-pod | kvplan explain - --gpu a10g

  kvplan explain engine.log --model Qwen/Qwen2.5-7B-Instruct --json

Exit codes: 0 the log shows a healthy start-up (or no failure), 1 a failure explained, 2 nothing usable in
the input (or unusable flags)."""

# What the parser looks for, for the exit-2 message
LOOKED_FOR = ("the engine config line ('Initializing ... LLM engine (v0.x.y) with config: ...')",
              "'non-default args: {...}' or command-line flags", "'Model loading took' / 'Loading model weights took'",
              "the memory-profiling lines", "'Available KV cache memory'", "'# GPU blocks' / 'GPU KV cache size: N "
              "tokens'", "'Maximum concurrency'", "vLLM's start-up errors (max seq len, no available memory, free "
              "memory, CUDA out of memory, Mamba cache blocks, unsupported architecture)")
MAX_INPUT_BYTES = 2 * 1024**3


@dataclass(frozen=True, kw_only=True)
class _Model:
    ref: str | None
    source: str | None
    spec: Any
    weights: Any
    notes: tuple[str, ...]
    missing: str | None
    source_model: Any = None  # the ResolvedModel


def register(app: typer.Typer) -> None:
    @app.command("explain", epilog=EXAMPLES)
    def explain_command(
        log: LogArg,
        model: ModelOpt = None,
        config: ConfigOpt = None,
        gpu: GpuOpt = None,
        gpu_memory: GpuMemoryOpt = None,
        vllm_version: VersionOpt = None,
        revision: RevisionOpt = None,
        record: RecordOpt = False,
        json_output: JsonOpt = False,
    ) -> None:
        """Explain a vLLM start-up log: the cause, a re-plan on its own figures, and the fixes."""

        def run() -> int:
            data = _read(log)
            label = "standard input" if log == "-" else log
            return explain_bytes(data, label=label, model=model, config=config, gpu=gpu, gpu_memory=gpu_memory,
                                 vllm_version=vllm_version, revision=revision, record=record, json_output=json_output,
                                 environ=os.environ)

        raise typer.Exit(guarded(run))


def _read(path: str) -> bytes:
    from kvplan.core.errors import UsageError

    if path == "-":
        return sys.stdin.buffer.read(MAX_INPUT_BYTES)
    try:
        with open(path, "rb") as stream:
            return stream.read(MAX_INPUT_BYTES)
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None


def explain_bytes(data: bytes, *, label: str, model: str | None, config: str | None, gpu: str | None,
                  gpu_memory: str | None, vllm_version: str | None, revision: str | None, record: bool,
                  json_output: bool, environ: Mapping[str, str]) -> int:
    from kvplan.core.errors import UsageError
    from kvplan.core.explain import explain, planning_version, settings_from_log
    from kvplan.core.vllm_logs import parse_log

    reading = parse_log(data)
    if not reading.usable:
        raise UsageError(f"nothing usable in {label}: kvplan looked for " + "; ".join(LOOKED_FOR),
                         hint="Pass a vLLM start-up log (vllm serve, the LLM class, api-for-open-llm or NIM)")
    version, version_notes = planning_version(reading, vllm_version, reading.releases_cited)
    resolved = _resolve_model(reading, model, config, revision, version, environ)
    settings = None
    missing: list[str] = []
    notes = list(version_notes) + list(resolved.notes)
    if resolved.spec is not None:
        settings = settings_from_log(reading, version, resolved.spec)
        if settings.quantization and resolved.source_model is not None:
            from kvplan.api import weights_for

            resolved = replace(resolved, weights=weights_for(resolved.source_model, resolved.spec,
                                                             settings.quantization))
    elif resolved.missing:
        missing.append(resolved.missing)
    gpu_spec = _gpu(reading, gpu, gpu_memory)
    if gpu is not None and gpu_memory is None and reading.total_gpu_memory_gib is not None:
        from kvplan.gpu.catalog import get_gpu

        listed = get_gpu(gpu).cuda_total_bytes / 2**30
        if abs(listed - reading.total_gpu_memory_gib) > 0.5:
            notes.append(f"the log's GPU total ({reading.total_gpu_memory_gib} GiB) is not --gpu {gpu}'s "
                         f"({listed:.2f} GiB): the log's is used")
    result = explain(reading, settings, model=resolved.spec, weights=resolved.weights if resolved.spec else None,
                     gpu=gpu_spec, missing=tuple(missing), notes=tuple(notes))
    from kvplan.render.explain_view import explain_object, render_text

    if record:
        notes_out = _record(result, resolved.ref, revision, environ)
        result = replace(result, notes=(*result.notes, notes_out))
    if json_output:
        import json

        typer.echo(json.dumps(explain_object(result, label=label, model_ref=resolved.ref,
                                             model_source=resolved.source), indent=2))
    else:
        typer.echo(render_text(result, label=label, model_ref=resolved.ref, model_source=resolved.source), nl=False)
    return result.exit_code


def _gpu(reading: Any, gpu: str | None, gpu_memory: str | None) -> Any:
    """--gpu-memory > the log's total (named by --gpu or the log's device name) > --gpu from the catalog > the
    log's device name from the catalog. Never this machine's GPUs: the log came from another one."""
    from dataclasses import replace as _replace

    from kvplan.core.errors import UsageError
    from kvplan.core.explain import gpu_from_log
    from kvplan.core.units import parse_size
    from kvplan.gpu.catalog import catalog_gpu_spec, get_gpu
    from kvplan.gpu.resolve import resolve_gpu

    if gpu_memory is not None:
        size = parse_size(gpu_memory, flag="--gpu-memory")
        return resolve_gpu(gpu=gpu, gpu_memory_bytes=size, count=1, kv_cache_memory_set=True, environ={})
    name: str | None = None
    capability = None
    exact = 0
    for candidate in (gpu, reading.gpu_name):
        if candidate is None:
            continue
        try:
            known = get_gpu(candidate)
        except UsageError:
            if candidate == gpu:
                raise
            continue
        name, capability, exact = known.name, known.compute_capability, known.cuda_total_bytes
        break
    logged = gpu_from_log(reading, name)
    if logged is not None:
        logged = _replace(logged, compute_capability=capability)
        if name is not None and abs(exact - logged.total_bytes) <= logged.total_error_bytes:
            # the catalog's byte-exact total rounds to the logged one: plan (and record) with the exact figure
            logged = _replace(logged, total_bytes=exact, total_error_bytes=0)
        return logged
    if name is not None:
        return catalog_gpu_spec(gpu or reading.gpu_name, 1)
    return None


def _candidates(ref: str) -> list[str]:
    """The logged model name, then what a path in a container usually stands for: an HF cache folder
    (``models--Org--Name``), ``.../Org/Name``, and the bare name looked up in the catalog."""
    out = [ref]
    text = ref.strip().rstrip("/")
    cache = re.search(r"models--([\w.\-]+)--([\w.\-]+)", text)
    if cache:
        out.append(f"{cache.group(1)}/{cache.group(2)}")
    parts = [p for p in text.split("/") if p and p not in (".", "..", "...")]
    if parts:  # a unique catalog name first: "/workspace/models/Qwen-7B-Chat" is Qwen/Qwen-7B-Chat
        from kvplan.sources import catalog

        name = parts[-1].lower()
        hits = [n for n in catalog.names() if n.split("/")[-1].lower() == name]
        if len(hits) == 1:
            out.append(hits[0])
    if len(parts) >= 2:
        out.append("/".join(parts[-2:]))
    return list(dict.fromkeys(out))


def _resolve_model(reading: Any, model: str | None, config: str | None, revision: str | None, version: str,
                   environ: Mapping[str, str]) -> _Model:
    from kvplan.api import weights_for
    from kvplan.core.architectures import model_spec_from_config
    from kvplan.core.errors import KvplanError
    from kvplan.sources.resolve import resolve_model

    if config is not None:
        refs = [config]
    elif model is not None:
        refs = [model]
    elif reading.model:
        refs = _candidates(reading.model)
    else:
        return _Model(ref=None, source=None, spec=None, weights=None, notes=(),
                      missing="the model's config: the log names no model (pass --model or --config)")
    errors: list[str] = []
    for ref in refs:
        if ref != refs[0] and not re.fullmatch(r"[\w.\-]+/[\w.\-]+", ref):
            continue
        try:
            source = resolve_model(ref, revision=revision, environ=environ)
            spec = model_spec_from_config(source.config, source.extra_configs)
        except KvplanError as err:
            errors.append(f"{ref}: {err.one_line()}")
            if config is not None or model is not None:
                raise
            continue
        notes = tuple(source.notes)
        if ref != refs[0]:
            notes += (f"the log's model '{refs[0]}' was read as {ref} ({source.config_source})",)
        return _Model(ref=ref, source=source.config_source, spec=spec, weights=weights_for(source, spec),
                      notes=notes, missing=None, source_model=source)
    return _Model(ref=refs[0], source=None, spec=None, weights=None, notes=(),
                  missing=f"the model's config: '{refs[0]}' did not resolve ({errors[-1] if errors else '?'}); "
                          "pass --model or --config")


def _record(result: Any, model_ref: str | None, revision: str | None, environ: Mapping[str, str]) -> str:
    """Write the log's KV memory as a calibration record (the probe's format), for `check` to reuse."""
    from kvplan.probe.calibration import append_record, make_record

    plan = result.plan
    if plan is None or model_ref is None or result.kv_cache_bytes is None:
        return "--record: nothing recorded (the log gives no KV cache figure for a model kvplan resolved)"
    if result.reading.extensible_kv_gib is not None:
        # the store holds total x utilization - KV memory, the profiled path's overhead; 0.34's extensible cache is
        # sized from the memory free after warm-up instead, which that figure does not carry over to
        return ("--record: nothing recorded (vLLM 0.34's extensible KV cache was sized from the memory free after "
                "warm-up; the calibration store holds profiled-path overheads only)")
    memory = plan.memory
    if memory.total_bytes is None or memory.budget_bytes is None:
        return "--record: nothing recorded (the GPU's total is not known: pass --gpu or --gpu-memory)"
    if plan.gpu is None or plan.gpu.name == "GPU in the log" or plan.gpu.name.startswith("custom ("):
        return "--record: nothing recorded (the log does not name the GPU: pass --gpu NAME, as check will be given)"
    reading = result.reading
    measured: dict[str, Any] = {"available_kv_cache_bytes": result.kv_cache_bytes,
                                "kv_cache_tokens": reading.kv_cache_tokens, "gpu_blocks": reading.gpu_blocks,
                                "model_loading_gib": reading.model_loading_gib,
                                "activation_peak_gib": reading.activation_peak_gib,
                                "non_torch_gib": reading.non_torch_gib, "cuda_graph_gib": reading.cuda_graph_gib}
    record = make_record(model_ref=model_ref, revision=revision, device=plan.gpu.name if plan.gpu else "?",
                         gpu_total_bytes=memory.total_bytes, vllm_version=plan.settings.vllm_version,
                         settings=_as_typed(plan), measured=measured, budget_bytes=memory.budget_bytes,
                         available_error_bytes=memory.kv_cache_error_bytes,
                         status="started" if not result.failed else f"failed: {result.cause}",
                         predicted_tokens=plan.kv_cache.tokens, elapsed_s=0.0)
    record["source"] = "kvplan explain"
    path = append_record(record, environ)
    return f"--record: the log's non-KV memory ({record['non_kv_bytes'] / 2**30:.2f} GiB) written to {path}"


def _as_typed(plan: Any) -> Any:
    """The settings as a `check` of the same deployment would have them: a value the engine config line reports
    that is vLLM's own default (the dtype it picked, chunked prefill, prefix caching) goes back to kvplan's default,
    so `check` without those flags finds the record."""
    from kvplan.core.engine import resolve_engine

    settings = plan.settings
    engine = plan.engine
    for name, default, attr in (("dtype", "auto", "model_dtype"), ("max_model_len", None, "max_model_len"),
                                ("max_num_batched_tokens", None, "max_num_batched_tokens"),
                                ("max_num_seqs", None, "max_num_seqs"),
                                ("enable_chunked_prefill", None, "chunked_prefill"),
                                ("enable_prefix_caching", None, "enable_prefix_caching"),
                                ("kv_cache_dtype", "auto", "kv_cache_dtype")):
        if getattr(settings, name) == default:
            continue
        trial = replace(settings, **{name: default})
        try:
            same = getattr(resolve_engine(plan.model, trial, plan.gpu), attr) == getattr(engine, attr)
        except Exception:  # a refusal means "not the same": keep the logged value
            same = False
        if same:
            settings = trial
    return settings
