"""`kvplan inspect MODEL`: the KV spec per layer group, without any memory figures (no GPU needed)."""

from __future__ import annotations

import os

import typer

from kvplan.cli.app import guarded
from kvplan.cli.options import (
    BlockSizeOpt,
    DtypeOpt,
    EntrypointOpt,
    JsonOpt,
    KvDtypeOpt,
    MaxModelLenOpt,
    ModelArg,
    PlanVllmPythonOpt,
    PlatformOpt,
    PpOpt,
    RevisionOpt,
    TpOpt,
    VersionOpt,
)


def register(app: typer.Typer) -> None:
    @app.command("inspect")
    def inspect_command(
        model: ModelArg,
        max_model_len: MaxModelLenOpt = None,
        tensor_parallel_size: TpOpt = 1,
        pipeline_parallel_size: PpOpt = 1,
        dtype: DtypeOpt = "auto",
        kv_cache_dtype: KvDtypeOpt = "auto",
        block_size: BlockSizeOpt = None,
        revision: RevisionOpt = None,
        platform: PlatformOpt = "cuda",
        entrypoint: EntrypointOpt = "serve",
        vllm_version: VersionOpt = None,
        vllm_python: PlanVllmPythonOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        """Show how vLLM lays out MODEL's KV cache: layer groups, pages, blocks per request (no GPU needed)."""

        def run() -> None:
            import json

            from kvplan.cli.settings_from_flags import build_settings
            from kvplan.core.architectures import model_spec_from_config
            from kvplan.core.capacity import build_layout
            from kvplan.core.engine import as_served, kv_cache_groups, resolve_engine
            from kvplan.core.plan import validate_settings
            from kvplan.core.settings import AUTO_MAX_MODEL_LEN
            from kvplan.sources.resolve import resolve_model

            settings = build_settings(
                max_model_len=max_model_len, gpu_memory_utilization=None, tensor_parallel_size=tensor_parallel_size,
                pipeline_parallel_size=pipeline_parallel_size, dtype=dtype, kv_cache_dtype=kv_cache_dtype,
                block_size=block_size, max_num_seqs=None, max_num_batched_tokens=None, kv_cache_memory=None,
                enforce_eager=False, quantization=None, platform=platform, entrypoint=entrypoint,
                vllm_version=vllm_version, vllm_python=vllm_python)
            if settings.max_model_len == AUTO_MAX_MODEL_LEN:
                from kvplan.core.errors import UsageError

                raise UsageError("inspect has no memory to fit against: give a number for --max-model-len")
            source = resolve_model(model, revision=revision, environ=os.environ)
            spec = as_served(model_spec_from_config(source.config, source.extra_configs), settings)
            validate_settings(spec, settings)  # vLLM refuses these before any layout exists
            engine = resolve_engine(spec, settings, None)
            layout = build_layout(kv_cache_groups(spec, engine), spec.num_layers, engine, len(spec.draft_layers))
            from kvplan.render.inspect_view import inspect_object, print_inspect

            data = inspect_object(source, spec, layout)
            for note in source.notes:
                typer.echo(f"kvplan: note: {note}", err=True)
            from kvplan.core.kv_spec import ChunkedLocalAttentionSpec, SlidingWindowSpec

            windowed = any(isinstance(g.spec, (SlidingWindowSpec, ChunkedLocalAttentionSpec)) for g in layout.groups)
            if windowed and settings.platform == "cuda":
                # no GPU here: the token budget is the small-GPU default, and a window's blocks grow with it
                # (gemma-3-4b at 32K: 81 blocks a sliding-window request here, 273 on an H100)
                typer.echo(f"kvplan: note: window blocks per request assume {engine.max_num_batched_tokens:,} "
                           "batched tokens, vLLM's default on GPUs under 70 GiB and the A100; an H100 or larger "
                           "defaults to 8,192 or 16,384 and needs more (`kvplan check MODEL --gpu NAME` sizes them)",
                           err=True)
            if json_output:
                typer.echo(json.dumps(data, indent=2))
            else:
                from rich.console import Console

                print_inspect(data, Console(highlight=False))

        guarded(run)
