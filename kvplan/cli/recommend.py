"""`kvplan recommend`: what to set for MODEL on a GPU (the longest context that starts, concurrency across
lengths, the length that keeps a target concurrency, as `vllm serve` flags and an `.env` line); without MODEL,
what fits on this box; without a GPU, which GPUs (and how many) MODEL needs."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kvplan.cli.app import guarded
from kvplan.cli.options import (
    BlockSizeOpt,
    CpuOffloadOpt,
    DtypeOpt,
    EagerOpt,
    EnableLoraOpt,
    EntrypointOpt,
    ExtensibleOpt,
    GpuMemoryOpt,
    GpuOpt,
    GpuUtilOpt,
    JsonOpt,
    KvDtypeOpt,
    KvMemoryBytesOpt,
    KvMemoryOpt,
    LanguageOnlyOpt,
    LimitMmOpt,
    MambaSsmOpt,
    MaxBatchedOpt,
    MaxCpuLorasOpt,
    MaxLoraRankOpt,
    MaxLorasOpt,
    MaxSeqsOpt,
    MmEncoderTpOpt,
    MmProcessorOpt,
    NoHybridOpt,
    PlanVllmPythonOpt,
    PlatformOpt,
    PpOpt,
    PrefixCachingOpt,
    QuantOpt,
    RevisionOpt,
    SkipMmProfilingOpt,
    SpeculativeOpt,
    TpOpt,
    UseV1Opt,
    VersionOpt,
)

if TYPE_CHECKING:
    from rich.console import Console

    from kvplan.core.model import ModelSpec
    from kvplan.core.settings import DeploySettings
    from kvplan.core.weights import WeightsInfo

ConcurrencyOpt = Annotated[float | None, typer.Option(
    "--concurrency", help="Target number of full-length requests in flight: find the longest context that keeps it.")]
LengthsOpt = Annotated[str | None, typer.Option(
    "--lengths", help="Context lengths for the table, e.g. 4k,8K,32768. Default: 2K, 4K, ... up to the model's. "
                      "Without a GPU: the target length (the largest given).")]
OptionalModelArg = Annotated[str | None, typer.Argument(
    metavar="[MODEL]", show_default=False,
    help="Hub id (org/name), local model directory or config.json path. Leave out to plan every catalog model "
         "on this GPU.")]
GpuCountOpt = Annotated[int | None, typer.Option(
    "--gpu-count", help="Without MODEL: GPUs in the box with --gpu/--gpu-memory (NVML counts them otherwise).")]
GpusOpt = Annotated[str | None, typer.Option(
    "--gpus", metavar="LIST", help="With MODEL: plan the fleet table on these catalog GPUs, e.g. h100,l40s,mi300x.")]
IncludeCacheOpt = Annotated[bool, typer.Option(
    "--include-cache", help="Without MODEL: also plan the models in the huggingface_hub cache.")]
MinContextOpt = Annotated[str | None, typer.Option(
    "--min-context", metavar="TOKENS", help="Without MODEL: a model fits only with at least this context, e.g. 32K. "
                                    "Default: 4K (or the model's limit when shorter).")]
MaxParamsOpt = Annotated[str | None, typer.Option(
    "--max-params", metavar="COUNT", help="Without MODEL: leave out models above this size, e.g. 70B.")]
FamilyOpt = Annotated[str | None, typer.Option(
    "--family", help="Without MODEL: only models whose type or id contains this, e.g. qwen3, llama.")]
FormatOpt = Annotated[str, typer.Option(
    "--format", metavar="FORMAT",
    help="human, json, markdown or csv (the tables); yaml (vLLM --config), env (api-for-open-llm .env) or helm "
         "(production-stack values): one model's recommended deployment on a GPU, ready to paste in and gate.")]
FORMATS = ("human", "json", "markdown", "csv", "yaml", "env", "helm")
SERVE_FORMATS = ("yaml", "env", "helm")  # the single-model recommendation as deploy files
DEFAULT_MIN_CONTEXT = 4096  # a model that starts only with a few hundred tokens of context does not "fit"

EXAMPLES = """Examples:

  kvplan recommend Qwen/Qwen2.5-7B-Instruct --gpu a10g --gpu-util 0.9

  kvplan recommend meta-llama/Llama-3.1-8B-Instruct --gpu l4 --concurrency 8 --json

  kvplan recommend --gpu-util 0.9                  (every catalog model on this machine's GPUs)

  kvplan recommend --gpu l40s --gpu-count 2 --min-context 32K --format markdown

  kvplan recommend Qwen/Qwen3-32B --lengths 32K --concurrency 16 --gpus h100,l40s,mi300x

Exit codes: 0 a length is recommended (a model fits; a configuration meets the target), 1 nothing fits on
this GPU with these settings (or nothing keeps --concurrency requests in flight), 2 unusable input."""


def register(app: typer.Typer) -> None:
    @app.command("recommend", epilog=EXAMPLES)
    def recommend_command(
        model: OptionalModelArg = None,
        gpu_memory_utilization: GpuUtilOpt = None,
        concurrency: ConcurrencyOpt = None,
        lengths: LengthsOpt = None,
        tensor_parallel_size: TpOpt = 1,
        pipeline_parallel_size: PpOpt = 1,
        dtype: DtypeOpt = "auto",
        kv_cache_dtype: KvDtypeOpt = "auto",
        block_size: BlockSizeOpt = None,
        max_num_seqs: MaxSeqsOpt = None,
        max_num_batched_tokens: MaxBatchedOpt = None,
        kv_cache_memory: KvMemoryOpt = None,
        kv_cache_memory_bytes: KvMemoryBytesOpt = None,
        enforce_eager: EagerOpt = False,
        quantization: QuantOpt = None,
        gpu: GpuOpt = None,
        gpu_memory: GpuMemoryOpt = None,
        revision: RevisionOpt = None,
        platform: PlatformOpt = "cuda",
        entrypoint: EntrypointOpt = "serve",
        vllm_version: VersionOpt = None,
        vllm_python: PlanVllmPythonOpt = None,
        disable_hybrid_kv_cache_manager: NoHybridOpt = False,
        mamba_ssm_cache_dtype: MambaSsmOpt = "auto",
        speculative_config: SpeculativeOpt = None,
        vllm_use_v1: UseV1Opt = None,
        enable_prefix_caching: PrefixCachingOpt = None,
        enable_extensible_kv_cache: ExtensibleOpt = None,
        gpu_count: GpuCountOpt = None,
        gpus: GpusOpt = None,
        include_cache: IncludeCacheOpt = False,
        min_context: MinContextOpt = None,
        max_params: MaxParamsOpt = None,
        family: FamilyOpt = None,
        output_format: FormatOpt = "human",
        limit_mm_per_prompt: LimitMmOpt = None,
        mm_processor_kwargs: MmProcessorOpt = None,
        mm_encoder_tp_mode: MmEncoderTpOpt = "weights",
        language_model_only: LanguageOnlyOpt = False,
        skip_mm_profiling: SkipMmProfilingOpt = False,
        enable_lora: EnableLoraOpt = False,
        max_loras: MaxLorasOpt = 1,
        max_lora_rank: MaxLoraRankOpt = 16,
        max_cpu_loras: MaxCpuLorasOpt = None,
        cpu_offload_gb: CpuOffloadOpt = 0.0,
        json_output: JsonOpt = False,
    ) -> None:
        """Recommend settings for MODEL on this GPU: longest context, concurrency by length, flags to use.

        Without MODEL: every catalog model on this machine's GPUs (or --gpu NAME [--gpu-count N]), ranked, with
        what does not fit and why. With MODEL and no GPU (none found, or --gpus): the fleet table of catalog
        GPUs x TP 1/2/4/8 (and PP across nodes of 8), and the smallest configuration per GPU that meets
        --lengths / --concurrency.
        """

        def run() -> int:
            import json

            from kvplan import api
            from kvplan.cli.settings_from_flags import build_settings, deploy_extras, parse_max_model_len
            from kvplan.core.errors import UsageError
            from kvplan.core.sweep import sweep
            from kvplan.core.units import parse_size
            from kvplan.render.recommend_view import print_recommend, recommend_object

            if concurrency is not None and not (math.isfinite(concurrency) and concurrency > 0):
                raise UsageError(f"--concurrency must be a positive number, got {concurrency:g}")
            fmt = "json" if json_output else output_format.strip().lower()
            if fmt not in FORMATS:
                raise UsageError(f"--format {output_format}: choose one of {', '.join(FORMATS)}")
            if json_output and output_format.strip().lower() not in ("human", "json"):
                raise UsageError(f"--json and --format {output_format} ask for two formats: give one")
            wanted = None
            if lengths:
                try:
                    wanted = [parse_max_model_len(part) for part in lengths.split(",") if part.strip()]
                except UsageError:
                    wanted = None
                if not wanted or any(length is None or length <= 0 for length in wanted):
                    raise UsageError(f"--lengths: give token counts, got '{lengths}'",
                                     hint="e.g. --lengths 4k,8K,32768")
            settings = build_settings(
                max_model_len=None, gpu_memory_utilization=gpu_memory_utilization,
                tensor_parallel_size=tensor_parallel_size, pipeline_parallel_size=pipeline_parallel_size,
                dtype=dtype, kv_cache_dtype=kv_cache_dtype, block_size=block_size, max_num_seqs=max_num_seqs,
                max_num_batched_tokens=max_num_batched_tokens, kv_cache_memory=kv_cache_memory,
                enforce_eager=enforce_eager, quantization=quantization, platform=platform,
                entrypoint=entrypoint, vllm_version=vllm_version, vllm_python=vllm_python,
                disable_hybrid_kv_cache_manager=disable_hybrid_kv_cache_manager,
                mamba_ssm_cache_dtype=mamba_ssm_cache_dtype, speculative_config=speculative_config,
                vllm_use_v1=vllm_use_v1,
                enable_prefix_caching=enable_prefix_caching,
                enable_extensible_kv_cache=enable_extensible_kv_cache, kv_cache_memory_bytes=kv_cache_memory_bytes,
                extras=deploy_extras(limit_mm_per_prompt=limit_mm_per_prompt, mm_processor_kwargs=mm_processor_kwargs,
                                     mm_encoder_tp_mode=mm_encoder_tp_mode, language_model_only=language_model_only,
                                     skip_mm_profiling=skip_mm_profiling,
                                     enable_lora=enable_lora, max_loras=max_loras, max_lora_rank=max_lora_rank,
                                     max_cpu_loras=max_cpu_loras, cpu_offload_gb=cpu_offload_gb),
            )
            gpu_bytes = parse_size(gpu_memory, flag="--gpu-memory") if gpu_memory else None
            tables = _Tables(settings=settings, fmt=fmt, concurrency=concurrency,
                             lengths=[x for x in wanted if x] if wanted else None)
            if model is None:
                if pipeline_parallel_size != 1:
                    raise UsageError("-pp: without MODEL each model gets the tensor parallel size it needs on this "
                                     "box; pipeline stages are for the fleet table (`recommend MODEL` without a GPU)")
                return tables.models_on_gpu(gpu=gpu, gpu_bytes=gpu_bytes, gpu_count=gpu_count,
                                            include_cache=include_cache, min_context=min_context,
                                            max_params=max_params, family=family,
                                            fixed_tp=tensor_parallel_size if tensor_parallel_size != 1 else None,
                                            speculative=speculative_config)
            box_only = [name for name, value in (("--gpu-count", gpu_count), ("--include-cache", include_cache),
                                                 ("--min-context", min_context), ("--max-params", max_params),
                                                 ("--family", family)) if value]
            if box_only:
                raise UsageError(f"{', '.join(box_only)}: for `kvplan recommend` without MODEL",
                                 hint="Leave MODEL out to plan every catalog model on this GPU")
            inputs = api.plan_inputs(model, settings, revision=revision, environ=os.environ)
            source = inputs.source
            if gpus is not None or not _gpu_known(settings, gpu, gpu_bytes, kv_cache_memory or kv_cache_memory_bytes):
                if gpu is not None or gpu_bytes is not None:
                    raise UsageError("--gpus plans the fleet table; --gpu / --gpu-memory plan one GPU: give one")
                for note in source.notes:
                    typer.echo(f"kvplan: note: {note}", err=True)
                return tables.fleet(source.ref, inputs.model, inputs.weights, gpus)
            if fmt in ("markdown", "csv"):
                raise UsageError(f"--format {fmt}: the tables of `recommend` without MODEL or without a GPU",
                                 hint="For one model on a GPU use --format human or json")
            gpu_spec = api.resolve_gpu_for(settings, gpu=gpu, gpu_memory_bytes=gpu_bytes, environ=os.environ)
            result = sweep(inputs.model, settings, gpu_spec, inputs.weights,
                           lengths=[x for x in wanted if x] if wanted else None, target_concurrency=concurrency)
            if fmt in SERVE_FORMATS:  # the deployment as a file to paste in (render/serve_formats.py)
                from kvplan.render.serve_formats import render

                typer.echo(render(fmt, source.ref, result, result.recommended), nl=False)
                return 0 if result.recommended > 0 else 1
            data = recommend_object(source, result)
            for note in source.notes:
                typer.echo(f"kvplan: note: {note}", err=True)
            gpu_note = _catalog_note(gpu)
            if gpu_note:
                typer.echo(f"kvplan: note: {gpu_note}", err=True)
            if fmt == "json":
                typer.echo(json.dumps(data, indent=2))
            else:
                from rich.console import Console

                print_recommend(data, Console(highlight=False))
            return 0 if result.recommended > 0 else 1

        raise typer.Exit(guarded(run))


def _gpu_known(settings: DeploySettings, gpu: str | None, gpu_bytes: int | None, kv_cache_memory: str | None
               ) -> bool:
    """Whether one GPU is given or found: else `recommend MODEL` answers with the fleet table."""
    import os

    from kvplan.gpu.nvml import read_visible_gpus

    if gpu is not None or gpu_bytes is not None or kv_cache_memory is not None:
        return True
    if settings.platform == "cpu":
        return True
    return bool(read_visible_gpus(os.environ))


def _catalog_note(gpu: str | None) -> str | None:
    """What kvplan does not mirror on a catalog GPU (ROCm, unified memory), said wherever it is planned."""
    if gpu is None:
        return None
    from kvplan.core.errors import UsageError
    from kvplan.gpu.catalog import get_gpu

    try:
        return get_gpu(gpu).note
    except UsageError:
        return None


class _Tables:
    """The two tables: every model on this box, and MODEL across the GPU catalog."""

    def __init__(self, *, settings: DeploySettings, fmt: str, concurrency: float | None,
                 lengths: list[int] | None) -> None:
        self.settings = settings
        self.fmt = fmt
        self.concurrency = concurrency
        self.lengths = lengths

    def _emit(self, data: dict[str, Any], human: Callable[[dict[str, Any], Console], None] | None) -> None:
        import json

        from kvplan.core.errors import UsageError
        from kvplan.render.fleet_view import to_csv, to_markdown

        if self.fmt == "json":
            typer.echo(json.dumps(data, indent=2))
        elif self.fmt == "markdown":
            typer.echo(to_markdown(data), nl=False)
        elif self.fmt == "csv":
            typer.echo(to_csv(data), nl=False)
        elif self.fmt in SERVE_FORMATS:
            raise UsageError(f"--format {self.fmt}: a deploy file for one model on one GPU",
                             hint="Name MODEL and a GPU (--gpu), or use human, json, markdown or csv")
        else:
            from rich.console import Console

            assert human is not None
            human(data, Console(highlight=False))

    def models_on_gpu(self, *, gpu: str | None, gpu_bytes: int | None, gpu_count: int | None, include_cache: bool,
                      min_context: str | None, max_params: str | None, family: str | None, fixed_tp: int | None,
                      speculative: str | None) -> int:
        import os

        from kvplan.cli.fleet_run import cached_model_ids, parse_params, resolve_box, run_box
        from kvplan.cli.settings_from_flags import parse_max_model_len
        from kvplan.core.errors import UsageError
        from kvplan.render.fleet_view import box_object, print_box
        from kvplan.sources.catalog import names

        if self.fmt in SERVE_FORMATS:
            self._emit({}, None)
        if speculative is not None:
            raise UsageError("--speculative-config names one model's drafter: give MODEL with it")
        if self.settings.kv_cache_memory_bytes is not None:
            raise UsageError("--kv-cache-memory sizes one model's KV cache: give MODEL with it")
        if self.lengths:
            raise UsageError("--lengths: without MODEL the table shows 4K, 32K and each model's limit",
                             hint="Use --min-context to ask for a length")
        context = parse_max_model_len(min_context) if min_context else DEFAULT_MIN_CONTEXT
        if context is not None and context <= 0:
            raise UsageError(f"--min-context: give a token count, got '{min_context}'")
        from kvplan.core.kv_sizing import default_utilization, sizing_path

        # the utilisation every row is planned at: the release's default for its sizing path (1.0 with 0.34's
        # extensible KV cache, which also drops the start-up free-memory check)
        sizing = sizing_path(self.settings)
        util = self.settings.gpu_memory_utilization or default_utilization(sizing, self.settings.behaviour)
        box = resolve_box(gpu=gpu, gpu_memory_bytes=gpu_bytes, gpu_count=gpu_count, utilization=util,
                          environ=os.environ, free_check=sizing.kind == "profiled")
        refs = names() + (cached_model_ids(os.environ) if include_cache else [])
        result = run_box(box, self.settings, refs, os.environ, min_context=context, concurrency=self.concurrency,
                         max_params=parse_params(max_params) if max_params else None, family=family,
                         fixed_tp=fixed_tp, utilization=util)
        self._emit(box_object(result), print_box)
        return 0 if any(row.fits for row in result.rows) else 1

    def fleet(self, ref: str, model: ModelSpec, weights: WeightsInfo | None, gpus: str | None) -> int:
        import os

        from kvplan.cli.fleet_run import run_fleet
        from kvplan.render.fleet_view import fleet_object, print_fleet

        if self.fmt in SERVE_FORMATS:
            self._emit({}, None)
        target = max(self.lengths) if self.lengths else None
        result = run_fleet(ref, model, weights, self.settings, gpus, target_length=target,
                           concurrency=self.concurrency, environ=os.environ)
        self._emit(fleet_object(result), print_fleet)
        return 0 if any(row.meets for row in result.rows) else 1
