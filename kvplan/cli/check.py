"""`kvplan check MODEL`: will it start, how many tokens fit, what to change."""

from __future__ import annotations

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
    MaxModelLenOpt,
    MaxSeqsOpt,
    MmEncoderTpOpt,
    MmProcessorOpt,
    ModelArg,
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

VllmArgv = Annotated[list[str] | None, typer.Argument(
    metavar="[-- vllm serve MODEL FLAGS...]", show_default=False,
    help="Or plan a vLLM command as written, after --: kvplan's own flags (--gpu ...) still apply.")]

EXAMPLES = """Examples:

  kvplan check Qwen/Qwen2.5-7B-Instruct --gpu a10g --max-model-len 32768

  kvplan check ./my-model-dir --gpu-memory 24GiB --gpu-memory-utilization 0.9 --json

  kvplan check meta-llama/Llama-3.3-70B-Instruct --gpu h100 -tp 2 --kv-cache-dtype fp8

  kvplan check --gpu a10g -- vllm serve Qwen/Qwen2.5-7B-Instruct --max-model-len 32768

Exit codes: 0 fits, 1 would not start, 2 unusable input or environment."""


def register(app: typer.Typer) -> None:
    @app.command("check", epilog=EXAMPLES)
    def check_command(
        model: ModelArg,
        vllm_argv: VllmArgv = None,
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
        """Check whether MODEL starts on the GPU with these settings, and how many KV tokens fit."""

        def run() -> int:
            from kvplan import api
            from kvplan.cli.settings_from_flags import build_settings, deploy_extras
            from kvplan.core.units import parse_size

            settings = build_settings(
                max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization,
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
            # the flags given to kvplan beside a `--` command; --kv-cache-memory-bytes as build_settings read it
            flags = locals_of_check(settings.kv_cache_memory_bytes)
            ref = model
            if vllm_argv:  # kvplan check -- vllm serve MODEL ...: MODEL is the command's first word
                from kvplan.inputs.argv_check import settings_for_argv

                ref, settings = settings_for_argv([model, *vllm_argv], flags)
            gpu_bytes = parse_size(gpu_memory, flag="--gpu-memory") if gpu_memory else None
            report = api.check(ref, settings, gpu=gpu, gpu_memory_bytes=gpu_bytes, revision=revision,
                               environ=os.environ)
            emit_report(report, json_output)
            return report.exit_code

        def locals_of_check(kv_bytes: int | None) -> dict[str, object]:
            return {"max_model_len": max_model_len, "gpu_memory_utilization": gpu_memory_utilization,
                    "tensor_parallel_size": tensor_parallel_size, "pipeline_parallel_size": pipeline_parallel_size,
                    "dtype": dtype, "kv_cache_dtype": kv_cache_dtype, "block_size": block_size,
                    "max_num_seqs": max_num_seqs, "max_num_batched_tokens": max_num_batched_tokens,
                    "kv_cache_memory": kv_cache_memory or (str(kv_bytes) if kv_cache_memory_bytes else None),
                    "enforce_eager": enforce_eager, "quantization": quantization,
                    "platform": platform, "entrypoint": entrypoint, "vllm_version": vllm_version,
                    "disable_hybrid_kv_cache_manager": disable_hybrid_kv_cache_manager,
                    "mamba_ssm_cache_dtype": mamba_ssm_cache_dtype, "speculative_config": speculative_config,
                    "vllm_use_v1": vllm_use_v1, "enable_prefix_caching": enable_prefix_caching,
                    "limit_mm_per_prompt": limit_mm_per_prompt, "mm_processor_kwargs": mm_processor_kwargs,
                    "mm_encoder_tp_mode": mm_encoder_tp_mode, "language_model_only": language_model_only,
                    "skip_mm_profiling": skip_mm_profiling, "enable_lora": enable_lora, "max_loras": max_loras,
                    "max_lora_rank": max_lora_rank, "max_cpu_loras": max_cpu_loras, "cpu_offload_gb": cpu_offload_gb}

        code = guarded(run)
        raise typer.Exit(code)


def emit_report(report: object, json_output: bool) -> None:
    from kvplan.render.check_output import emit_report as emit

    emit(report, json_output)
