"""kvplan setting values (a gate manifest's keys and types, or what the vLLM argv parser read) -> DeploySettings.

One conversion for `check -- vllm serve ...` and every deployment `gate` reads, through the same
``build_settings`` that check's flags go through, so a value means the same wherever it is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kvplan.core.settings import DeploySettings

_EXTRA_KEYS = ("limit_mm_per_prompt", "mm_processor_kwargs", "mm_encoder_tp_mode", "language_model_only",
               "skip_mm_profiling", "enable_lora", "max_loras", "max_lora_rank", "max_cpu_loras", "cpu_offload_gb")


def settings_from_values(values: Mapping[str, Any]) -> DeploySettings:
    from kvplan.cli.settings_from_flags import build_settings, deploy_extras

    v = values
    settings = build_settings(
        max_model_len=None if v.get("max_model_len") is None else str(v["max_model_len"]),
        gpu_memory_utilization=v.get("gpu_memory_utilization"),
        tensor_parallel_size=v.get("tensor_parallel_size", 1),
        pipeline_parallel_size=v.get("pipeline_parallel_size", 1), dtype=v.get("dtype", "auto"),
        kv_cache_dtype=v.get("kv_cache_dtype", "auto"), block_size=v.get("block_size"),
        max_num_seqs=v.get("max_num_seqs"), max_num_batched_tokens=v.get("max_num_batched_tokens"),
        kv_cache_memory=None if v.get("kv_cache_memory") is None else str(v["kv_cache_memory"]),
        enforce_eager=v.get("enforce_eager", False), quantization=v.get("quantization"),
        platform=v.get("platform", "cuda"), entrypoint=v.get("entrypoint", "serve"),
        vllm_version=v.get("vllm_version"),
        disable_hybrid_kv_cache_manager=v.get("disable_hybrid_kv_cache_manager", False),
        mamba_ssm_cache_dtype=v.get("mamba_ssm_cache_dtype", "auto"),
        speculative_config=v.get("speculative_config"),  # a table/object, or vLLM's JSON string
        vllm_use_v1=v.get("vllm_use_v1"),
        enable_prefix_caching=v.get("enable_prefix_caching"),
        enable_extensible_kv_cache=v.get("enable_extensible_kv_cache"),
        # the multimodal, LoRA and offload flags, read as check's flags of the same names
        extras=deploy_extras(**{k: v[k] for k in _EXTRA_KEYS if v.get(k) is not None}),
    )
    # Settings vLLM takes that check has no flag for: carried as given.
    extra: dict[str, Any] = {k: v[k] for k in ("num_gpu_blocks_override", "enable_chunked_prefill") if k in v}
    if v.get("nccl_nvls_enable") is not None:
        # NCCL reads it as an integer (ncclParamNvlsEnable): 0 turns NVLS off; 1, 2 (auto) leave it to the fabric
        extra["nccl_nvls_enable"] = False if str(v["nccl_nvls_enable"]).strip() in ("0", "False", "false") else None
    if "mamba_cache_dtype" in v:
        extra["mamba_cache_dtype"] = str(v["mamba_cache_dtype"]).lower()
    return replace(settings, **extra) if extra else settings
