"""`kvplan check -- vllm serve MODEL ...`: the command's settings, with check's own flags where it sets none."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kvplan.core.errors import UsageError
from kvplan.core.settings import DeploySettings

# check's flags at their defaults say nothing; one given beside the command fills what the command leaves out.
_CHECK_DEFAULTS: dict[str, object] = {
    "tensor_parallel_size": 1, "pipeline_parallel_size": 1, "dtype": "auto", "kv_cache_dtype": "auto",
    "enforce_eager": False, "platform": "cuda", "entrypoint": "serve", "disable_hybrid_kv_cache_manager": False,
    "mamba_ssm_cache_dtype": "auto", "mm_encoder_tp_mode": "weights", "language_model_only": False,
    "skip_mm_profiling": False, "enable_lora": False, "max_loras": 1, "max_lora_rank": 16, "cpu_offload_gb": 0.0,
}


def settings_for_argv(argv: list[str], check_flags: Mapping[str, object]) -> tuple[str, DeploySettings]:
    from kvplan.inputs.settings_values import settings_from_values
    from kvplan.inputs.vllm_args import EnvValue, Origin, parse_vllm_command

    env = {name: EnvValue(value, Origin(file="the environment", line=None, text=f"{name}={value}"))
           for name, value in os.environ.items() if name == "VLLM_USE_V1"}
    command = parse_vllm_command(argv, file="the vLLM command", env=env, base_dir=Path.cwd())
    if not command.model:
        raise UsageError("the vLLM command names no model", hint="vllm serve MODEL ... or --model MODEL")
    import sys

    for flag in command.unknown_flags:
        sys.stderr.write(f"kvplan: warning: {flag} is not a flag vLLM 0.32-0.34 takes: not planned\n")
    for note in command.notes:
        sys.stderr.write(f"kvplan: warning: {note}\n")
    values: dict[str, object] = dict(command.values)
    for key, value in check_flags.items():
        if value is None or _CHECK_DEFAULTS.get(key) == value:
            continue
        if key in values and values[key] != value:
            raise UsageError(f"--{key.replace('_', '-')} is given to kvplan ({value}) and in the vLLM command "
                             f"({values[key]})", hint="Give it once, in the vLLM command")
        values[key] = value
    return command.model, settings_from_values(values)
