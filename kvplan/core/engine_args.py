"""vLLM engine-argument names -> kvplan's settings: the one table the log parser (and later other readers) share.

vLLM names a setting the same way in ``EngineArgs`` (``max_model_len``), in its ``non-default args: {...}`` line,
in ``args: Namespace(...)`` and as a flag (``--max-model-len``); its engine config line says ``max_seq_len``.
api-for-open-llm (``api/config.py``) and NIM read environment variables instead. Pure.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["int", "float", "str", "bool"]

# kvplan setting (a DeploySettings field, named as vLLM's EngineArgs names it) -> its value's kind
SETTINGS: dict[str, Kind] = {
    "max_model_len": "int",
    "gpu_memory_utilization": "float",
    "tensor_parallel_size": "int",
    "pipeline_parallel_size": "int",
    "dtype": "str",
    "kv_cache_dtype": "str",
    "block_size": "int",
    "max_num_seqs": "int",
    "max_num_batched_tokens": "int",
    "kv_cache_memory_bytes": "int",
    "enforce_eager": "bool",
    "quantization": "str",
    "enable_chunked_prefill": "bool",
    "enable_prefix_caching": "bool",
    "num_gpu_blocks_override": "int",
    "disable_hybrid_kv_cache_manager": "bool",
    "mamba_ssm_cache_dtype": "str",
}

# Other names for the same settings: the engine config line, older EngineArgs names, api-for-open-llm's fields.
ALIASES: dict[str, str] = {
    "max_seq_len": "max_model_len",  # "Initializing ... engine (v0.x) with config: ..., max_seq_len=8192"
    "kv_cache_memory": "kv_cache_memory_bytes",  # --kv-cache-memory (0.10.2+)
    "context_length": "max_model_len",  # api-for-open-llm Settings.context_length (CONTEXT_LEN)
    "quantization_method": "quantization",  # api-for-open-llm Settings.quantization_method
}
SHORT_FLAGS: dict[str, str] = {"tp": "tensor_parallel_size", "pp": "pipeline_parallel_size"}

# api-for-open-llm's environment variables (api/config.py Settings) for the settings a fix changes. It has no
# variable for the KV cache dtype or the block size: those fixes are given as vLLM flags only.
API_FOR_OPEN_LLM_ENV: dict[str, str] = {
    "max_model_len": "CONTEXT_LEN",
    "gpu_memory_utilization": "GPU_MEMORY_UTILIZATION",
    "tensor_parallel_size": "TENSOR_PARALLEL_SIZE",
    "max_num_seqs": "MAX_NUM_SEQS",
    "max_num_batched_tokens": "MAX_NUM_BATCHED_TOKENS",
    "quantization": "QUANTIZATION_METHOD",
    "dtype": "DTYPE",
    "enforce_eager": "ENFORCE_EAGER",
}
# NIM's environment variables for vLLM settings (NIM for LLMs, "Environment Variables").
NIM_ENV: dict[str, str] = {
    "NIM_MAX_MODEL_LEN": "max_model_len",
    "NIM_MAX_NUM_SEQS": "max_num_seqs",
    "NIM_TENSOR_PARALLEL_SIZE": "tensor_parallel_size",
    "NIM_PIPELINE_PARALLEL_SIZE": "pipeline_parallel_size",
}

Value = int | float | str | bool


def setting_for(name: str) -> str | None:
    """The kvplan setting an engine-arg, config-line or flag name stands for (``--max-model-len``, ``-tp``)."""
    key = name.strip().lstrip("-").replace("-", "_").lower()
    if name.strip().startswith("-") and not name.strip().startswith("--"):
        return SHORT_FLAGS.get(key)
    key = ALIASES.get(key, key)
    return key if key in SETTINGS else None


def coerce(setting: str, raw: object) -> Value | None:
    """A logged value as the setting takes it; None for "unset" (None, -1 in api-for-open-llm) or unreadable."""
    kind = SETTINGS[setting]
    if raw is None:
        return None
    text = str(raw).strip().strip("'\"")
    if kind == "bool":
        low = text.lower()
        return True if low in ("true", "1", "yes") else False if low in ("false", "0", "no") else None
    if kind == "str":
        if text.lower() in ("none", "null", ""):
            return None
        return text.removeprefix("torch.")  # dtype=torch.bfloat16 in the config line
    try:
        number = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if kind == "float":
        return number if number > 0 else None
    whole = int(number)
    return whole if whole > 0 and whole == number else None


def flag_for(setting: str) -> str:
    """The ``vllm serve`` flag of a setting (``--kv-cache-memory`` for kv_cache_memory_bytes)."""
    name = "kv_cache_memory" if setting == "kv_cache_memory_bytes" else setting
    return "--" + name.replace("_", "-")
