"""kvplan's settings -> keyword arguments for ``vllm.LLM``, so the probe asks vLLM exactly what kvplan planned.

A setting left at ``None`` (vLLM's default) is left out rather than filled with kvplan's idea of that
default: the probe must measure what vLLM itself does, not what kvplan thinks it does.
"""

from __future__ import annotations

from typing import Any

from kvplan.core.settings import DeploySettings

LOAD_FORMATS = ("auto", "dummy", "safetensors", "pt", "npcache", "gguf", "bitsandbytes", "sharded_state")
EXECUTOR_BACKENDS = ("mp", "ray", "uni", "external_launcher")


def engine_args(
    model: str,
    settings: DeploySettings,
    *,
    revision: str | None = None,
    load_format: str = "auto",
    skip_tokenizer_init: bool | None = None,
    distributed_executor_backend: str | None = None,
) -> dict[str, Any]:
    """The ``vllm.LLM(**args)`` for ``settings``; ``skip_tokenizer_init=None`` means "when weights are dummy".

    Dummy weights are mostly used with a bare config.json directory, which has no tokenizer; the probe
    sends token ids only, so the tokenizer is never needed.
    """
    args: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "pipeline_parallel_size": settings.pipeline_parallel_size,
        "dtype": settings.dtype,
        "kv_cache_dtype": settings.kv_cache_dtype,
        "enforce_eager": settings.enforce_eager,
        "load_format": load_format,
    }
    optional: dict[str, Any] = {
        "revision": revision,
        "max_model_len": settings.max_model_len,  # AUTO_MAX_MODEL_LEN (-1) is vLLM's own "auto"
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "block_size": settings.block_size,
        "max_num_seqs": settings.max_num_seqs,
        "max_num_batched_tokens": settings.max_num_batched_tokens,
        "kv_cache_memory_bytes": settings.kv_cache_memory_bytes,
        "quantization": settings.quantization,
        "enable_chunked_prefill": settings.enable_chunked_prefill,
        "enable_prefix_caching": settings.enable_prefix_caching,
        "num_gpu_blocks_override": settings.num_gpu_blocks_override,
        "distributed_executor_backend": distributed_executor_backend,
    }
    args.update({key: value for key, value in optional.items() if value is not None})
    if settings.disable_hybrid_kv_cache_manager:
        args["disable_hybrid_kv_cache_manager"] = True
    if settings.mamba_ssm_cache_dtype != "auto":
        args["mamba_ssm_cache_dtype"] = settings.mamba_ssm_cache_dtype
    if settings.speculative:
        args["speculative_config"] = settings.speculative.vllm_config()
    if skip_tokenizer_init is None:
        skip_tokenizer_init = load_format == "dummy"
    if skip_tokenizer_init:
        args["skip_tokenizer_init"] = True
    return args
