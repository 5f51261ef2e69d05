"""vLLM's engine arguments as kvplan settings: which argument sets which setting, and how vLLM reads its value
(vllm/engine/arg_utils.py, 0.33). Shared by the argv parser (inputs/vllm_args.py), the deploy-file readers and
explain's "non-default args" line."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kvplan.core.errors import UsageError


class CommandError(UsageError):
    """A vLLM command kvplan cannot plan: no vLLM in it, a value it cannot read, a template it cannot resolve."""

    line: int | None = None  # the line that holds what cannot be read, where known


class UnresolvedError(CommandError):
    """A value written as a template (Helm's {{ .Values.x }}, ${VAR} not set in the file): the deployment as
    written cannot be checked, so it fails the gate (exit 1) naming the template; it is not malformed input."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """How one vLLM engine argument becomes one kvplan setting."""

    key: str  # kvplan's setting (a gate manifest key)
    kind: str  # int, float, text, bool, human_int (vLLM's human_readable_int), length, json


# vLLM engine-arg name -> kvplan setting. kv_cache_memory_bytes, max_num_batched_tokens take vLLM's
# human_readable_int (0.33 arg_utils.py human_readable_int_args), max_model_len its _or_auto form.
ENGINE_ARG_SETTINGS: dict[str, Rule] = {
    "max_model_len": Rule(key="max_model_len", kind="length"),
    "gpu_memory_utilization": Rule(key="gpu_memory_utilization", kind="float"),
    "tensor_parallel_size": Rule(key="tensor_parallel_size", kind="int"),
    "pipeline_parallel_size": Rule(key="pipeline_parallel_size", kind="int"),
    "dtype": Rule(key="dtype", kind="text"),
    "kv_cache_dtype": Rule(key="kv_cache_dtype", kind="text"),
    "block_size": Rule(key="block_size", kind="int"),
    "max_num_seqs": Rule(key="max_num_seqs", kind="int"),
    "max_num_batched_tokens": Rule(key="max_num_batched_tokens", kind="human_int"),
    "kv_cache_memory_bytes": Rule(key="kv_cache_memory", kind="human_int"),
    "enforce_eager": Rule(key="enforce_eager", kind="bool"),
    "quantization": Rule(key="quantization", kind="text"),
    "disable_hybrid_kv_cache_manager": Rule(key="disable_hybrid_kv_cache_manager", kind="bool"),
    "mamba_ssm_cache_dtype": Rule(key="mamba_ssm_cache_dtype", kind="text"),
    "mamba_cache_dtype": Rule(key="mamba_cache_dtype", kind="text"),
    "speculative_config": Rule(key="speculative_config", kind="json"),
    "enable_prefix_caching": Rule(key="enable_prefix_caching", kind="bool"),
    "enable_extensible_kv_cache": Rule(key="enable_extensible_kv_cache", kind="bool"),  # 0.34: the sizing path
    "enable_chunked_prefill": Rule(key="enable_chunked_prefill", kind="bool"),
    "num_gpu_blocks_override": Rule(key="num_gpu_blocks_override", kind="int"),
    # multimodal, LoRA and offload (check's flags of the same names, DeploySettings via deploy_extras)
    "limit_mm_per_prompt": Rule(key="limit_mm_per_prompt", kind="json"),
    "mm_processor_kwargs": Rule(key="mm_processor_kwargs", kind="json"),
    "mm_encoder_tp_mode": Rule(key="mm_encoder_tp_mode", kind="text"),
    "language_model_only": Rule(key="language_model_only", kind="bool"),
    "skip_mm_profiling": Rule(key="skip_mm_profiling", kind="bool"),
    "enable_lora": Rule(key="enable_lora", kind="bool"),
    "max_loras": Rule(key="max_loras", kind="int"),
    "max_lora_rank": Rule(key="max_lora_rank", kind="int"),
    "max_cpu_loras": Rule(key="max_cpu_loras", kind="int"),
    "cpu_offload_gb": Rule(key="cpu_offload_gb", kind="float"),
}
# Environment variables vLLM reads that change what kvplan plans.
ENV_SETTINGS: dict[str, Rule] = {"VLLM_USE_V1": Rule(key="vllm_use_v1", kind="text"),
                                 "NCCL_NVLS_ENABLE": Rule(key="nccl_nvls_enable", kind="text")}
SETTING_TO_ENGINE_ARG = {rule.key: name for name, rule in ENGINE_ARG_SETTINGS.items()}


def human_readable_int(text: str, flag: str) -> int:
    """vLLM's human_readable_int: lowercase k/m/g/t are powers of 1000, uppercase K/M/G/T powers of 1024
    (decimals only with the lowercase ones)."""
    value = text.strip().replace("_", "")
    units = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    multiplier = units.get(value[-1:], 1)
    number = value[:-1] if multiplier != 1 else value
    try:
        if multiplier != 1 and value[-1].islower():
            result = float(number) * multiplier
            if not math.isfinite(result) or result != int(result):
                raise ValueError
            return int(result)
        return int(number) * multiplier
    except ValueError:
        raise CommandError(f"{flag} {text}: not a whole number vLLM reads (e.g. 8192, 25G, 1.5g)") from None


def convert(rule: Rule, value: object, flag: str) -> Any:
    """A value as vLLM would read it (text from a command line, or YAML/JSON data) -> the setting's value."""
    if rule.kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise CommandError(f"{flag}: expected true or false, got {value!r}")
    if rule.kind == "json":
        if isinstance(value, Mapping):
            return dict(value)
        try:
            data = json.loads(str(value))
        except (ValueError, RecursionError):  # deep brackets recurse past Python's limit
            raise CommandError(f"{flag}: not JSON: {str(value)[:80]!r}") from None
        if not isinstance(data, dict):
            raise CommandError(f"{flag}: give a JSON object, got {value!r}")
        return data
    if isinstance(value, (bool, Mapping, list)):
        raise CommandError(f"{flag}: expected a {'number' if rule.kind != 'text' else 'value'}, got {value!r}")
    text = str(value).strip()
    if rule.kind == "text":
        return text
    if rule.kind == "length":
        return text  # "32k", "32K", "auto", "-1": read by kvplan's --max-model-len parser, as vLLM's
    if rule.kind == "human_int":
        return human_readable_int(text, flag)
    if rule.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise CommandError(f"{flag}: expected a whole number, got {text!r}") from None
    try:
        number = float(text)
    except ValueError:
        raise CommandError(f"{flag}: expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise CommandError(f"{flag}: expected a finite number, got {text!r}")
    return number


def setting_for_engine_arg(name: str, value: object) -> tuple[str, Any] | None:
    """(kvplan setting, value) for one of vLLM's engine arguments as its "non-default args" dict prints it,
    or None when the argument does not change what kvplan plans."""
    rule = ENGINE_ARG_SETTINGS.get(name.replace("-", "_"))
    if rule is None:
        return None
    return rule.key, convert(rule, value, f"--{name.replace('_', '-')}")
