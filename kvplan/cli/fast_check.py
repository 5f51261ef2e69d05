"""`kvplan check MODEL --flags` without importing Typer (a cold start's largest import, ~30 ms of ~125 ms CPU).

Only an argv made of check's own options, written the plain way, takes this path; anything else (--help, --,
a value that looks like an option, a value Click would refuse, KVPLAN_DEBUG) returns None and the Typer app
runs it, so messages and exit codes stay Typer's. tests/cli/test_fast_check.py holds both paths to the same
output over many argvs.
"""

from __future__ import annotations

import os
import re
import sys

# check's options (kvplan/cli/options.py) -> (parameter, kind); kind: str, float, int, flag, on, off
OPTIONS: dict[str, tuple[str, str]] = {
    "--max-model-len": ("max_model_len", "str"),
    "--gpu-memory-utilization": ("gpu_memory_utilization", "float"), "--gpu-util": ("gpu_memory_utilization", "float"),
    "--tensor-parallel-size": ("tensor_parallel_size", "int"), "-tp": ("tensor_parallel_size", "int"),
    "--pipeline-parallel-size": ("pipeline_parallel_size", "int"), "-pp": ("pipeline_parallel_size", "int"),
    "--dtype": ("dtype", "str"), "--kv-cache-dtype": ("kv_cache_dtype", "str"), "--block-size": ("block_size", "int"),
    "--max-num-seqs": ("max_num_seqs", "int"), "--max-num-batched-tokens": ("max_num_batched_tokens", "int"),
    "--kv-cache-memory": ("kv_cache_memory", "str"), "--kv-cache-memory-bytes": ("kv_cache_memory_bytes", "str"),
    "--enforce-eager": ("enforce_eager", "flag"),
    "--quantization": ("quantization", "str"), "--gpu": ("gpu", "str"), "--gpu-memory": ("gpu_memory", "str"),
    "--revision": ("revision", "str"), "--platform": ("platform", "str"), "--entrypoint": ("entrypoint", "str"),
    "--vllm-version": ("vllm_version", "str"),
    "--disable-hybrid-kv-cache-manager": ("disable_hybrid_kv_cache_manager", "flag"),
    "--mamba-ssm-cache-dtype": ("mamba_ssm_cache_dtype", "str"),
    "--speculative-config": ("speculative_config", "str"), "--vllm-use-v1": ("vllm_use_v1", "str"),
    "--enable-prefix-caching": ("enable_prefix_caching", "on"),
    "--no-enable-prefix-caching": ("enable_prefix_caching", "off"), "--json": ("json_output", "flag"),
}
DEFAULTS: dict[str, object] = {
    "max_model_len": None, "gpu_memory_utilization": None, "tensor_parallel_size": 1, "pipeline_parallel_size": 1,
    "dtype": "auto", "kv_cache_dtype": "auto", "block_size": None, "max_num_seqs": None,
    "max_num_batched_tokens": None, "kv_cache_memory": None, "kv_cache_memory_bytes": None, "enforce_eager": False,
    "quantization": None,
    "gpu": None, "gpu_memory": None, "revision": None, "platform": "cuda", "entrypoint": "serve",
    "vllm_version": None, "disable_hybrid_kv_cache_manager": False, "mamba_ssm_cache_dtype": "auto",
    "speculative_config": None, "vllm_use_v1": None, "enable_prefix_caching": None, "json_output": False,
}
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse(argv: list[str]) -> dict[str, object] | None:
    """check's parameters from argv, or None when the Typer app should read it."""
    if not argv or argv[0] != "check":
        return None
    values = dict(DEFAULTS)
    model: str | None = None
    words = argv[1:]
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-"):
            if model is not None:
                return None  # a second positional: `check -- vllm serve ...` and errors are Typer's
            model = word
            continue
        name, eq, inline = word.partition("=")
        if name not in OPTIONS:
            return None
        param, kind = OPTIONS[name]
        if kind in ("flag", "on", "off"):
            if eq:
                return None
            values[param] = {"flag": True, "on": True, "off": False}[kind]
            continue
        if eq:
            value = inline
        else:
            if i >= len(words) or words[i].startswith("-"):
                return None  # Click would take an option-like word as the value, or say one is missing
            value = words[i]
            i += 1
        if kind == "int":
            if not _INT.match(value):
                return None
            values[param] = int(value)
        elif kind == "float":
            if not _FLOAT.match(value):
                return None
            values[param] = float(value)
        else:
            values[param] = value
    if model is None:
        return None
    values["model"] = model
    return values


def run(values: dict[str, object]) -> int:
    from kvplan import api
    from kvplan.cli.settings_from_flags import build_settings
    from kvplan.core.errors import KvplanError
    from kvplan.core.units import parse_size
    from kvplan.render.check_output import emit_report

    v = values
    try:
        settings = build_settings(**{k: v[k] for k in DEFAULTS if k not in (  # type: ignore[arg-type]
            "gpu", "gpu_memory", "revision", "json_output")})
        gpu_memory = v["gpu_memory"]
        gpu_bytes = parse_size(str(gpu_memory), flag="--gpu-memory") if gpu_memory else None
        report = api.check(str(v["model"]), settings, gpu=v["gpu"], gpu_memory_bytes=gpu_bytes,  # type: ignore[arg-type]
                           revision=v["revision"], environ=os.environ)  # type: ignore[arg-type]
        emit_report(report, bool(v["json_output"]))
        return report.exit_code
    except KvplanError as err:
        from kvplan.cli.app import redact_tokens

        sys.stderr.write(f"kvplan: error: {redact_tokens(err.one_line())}\n")
        return err.exit_code


def main() -> None:
    """The `kvplan` console entry: check's fast path, else the Typer app."""
    values = None if os.environ.get("KVPLAN_DEBUG") else parse(sys.argv[1:])
    if values is None:
        from kvplan.cli.app import main as typer_main

        typer_main()
        return
    sys.exit(run(values))
