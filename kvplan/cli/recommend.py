"""`kvplan recommend MODEL`: what to set — the longest context that starts, concurrency across lengths,
the length that keeps a target concurrency — as `vllm serve` flags and an api-for-open-llm `.env` line."""

from __future__ import annotations

import math
import os
from typing import Annotated

import typer

from kvplan.cli.app import guarded
from kvplan.cli.options import (
    BlockSizeOpt,
    CpuOffloadOpt,
    DtypeOpt,
    EagerOpt,
    EnableLoraOpt,
    EntrypointOpt,
    GpuMemoryOpt,
    GpuOpt,
    GpuUtilOpt,
    JsonOpt,
    KvDtypeOpt,
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
    ModelArg,
    NoHybridOpt,
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

ConcurrencyOpt = Annotated[float | None, typer.Option(
    "--concurrency", help="Target number of full-length requests in flight: find the longest context that keeps it.")]
LengthsOpt = Annotated[str | None, typer.Option(
    "--lengths", help="Context lengths for the table, e.g. 4k,8K,32768. Default: 2K, 4K, ... up to the model's.")]

EXAMPLES = """Examples:

  kvplan recommend Qwen/Qwen2.5-7B-Instruct --gpu a10g --gpu-util 0.9

  kvplan recommend meta-llama/Llama-3.1-8B-Instruct --gpu l4 --concurrency 8 --json

Exit codes: 0 a length is recommended, 1 nothing fits on this GPU with these settings (or nothing keeps
--concurrency requests in flight), 2 unusable input."""


def register(app: typer.Typer) -> None:
    @app.command("recommend", epilog=EXAMPLES)
    def recommend_command(
        model: ModelArg,
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
        enforce_eager: EagerOpt = False,
        quantization: QuantOpt = None,
        gpu: GpuOpt = None,
        gpu_memory: GpuMemoryOpt = None,
        revision: RevisionOpt = None,
        platform: PlatformOpt = "cuda",
        entrypoint: EntrypointOpt = "serve",
        vllm_version: VersionOpt = None,
        disable_hybrid_kv_cache_manager: NoHybridOpt = False,
        mamba_ssm_cache_dtype: MambaSsmOpt = "auto",
        speculative_config: SpeculativeOpt = None,
        vllm_use_v1: UseV1Opt = None,
        enable_prefix_caching: PrefixCachingOpt = None,
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
        """Recommend settings for MODEL on this GPU: longest context, concurrency by length, flags to use."""

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
                entrypoint=entrypoint, vllm_version=vllm_version,
                disable_hybrid_kv_cache_manager=disable_hybrid_kv_cache_manager,
                mamba_ssm_cache_dtype=mamba_ssm_cache_dtype, speculative_config=speculative_config,
                vllm_use_v1=vllm_use_v1,
                enable_prefix_caching=enable_prefix_caching,
                extras=deploy_extras(limit_mm_per_prompt=limit_mm_per_prompt, mm_processor_kwargs=mm_processor_kwargs,
                                     mm_encoder_tp_mode=mm_encoder_tp_mode, language_model_only=language_model_only,
                                     skip_mm_profiling=skip_mm_profiling,
                                     enable_lora=enable_lora, max_loras=max_loras, max_lora_rank=max_lora_rank,
                                     max_cpu_loras=max_cpu_loras, cpu_offload_gb=cpu_offload_gb),
            )
            inputs = api.plan_inputs(model, settings, revision=revision, environ=os.environ)
            source = inputs.source
            gpu_bytes = parse_size(gpu_memory, flag="--gpu-memory") if gpu_memory else None
            gpu_spec = api.resolve_gpu_for(settings, gpu=gpu, gpu_memory_bytes=gpu_bytes, environ=os.environ)
            result = sweep(inputs.model, settings, gpu_spec, inputs.weights,
                           lengths=[x for x in wanted if x] if wanted else None, target_concurrency=concurrency)
            data = recommend_object(source, result)
            for note in source.notes:
                typer.echo(f"kvplan: note: {note}", err=True)
            if json_output:
                typer.echo(json.dumps(data, indent=2))
            else:
                from rich.console import Console

                print_recommend(data, Console(highlight=False))
            return 0 if result.recommended > 0 else 1

        raise typer.Exit(guarded(run))
