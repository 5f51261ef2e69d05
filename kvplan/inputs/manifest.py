"""Deployment manifests for `kvplan gate`: TOML or JSON, with defaults shared by every deployment.

```toml
[defaults]
gpu = "h100"
gpu_memory_utilization = 0.9

[[deployment]]
name = "chat"
model = "Qwen/Qwen2.5-7B-Instruct"
max_model_len = 32768
min_concurrency = 4        # policy: fail unless this many full-length requests fit
```

Keys are vLLM's flag names with underscores (plus kvplan's `gpu`, `gpu_memory`, `platform`, `entrypoint`,
`vllm_version`, `revision`) and the policies `min_concurrency`, `fail_on_warn`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvplan.core.errors import UsageError

SETTING_KEYS = {
    "max_model_len", "gpu_memory_utilization", "tensor_parallel_size", "pipeline_parallel_size", "dtype",
    "kv_cache_dtype", "block_size", "max_num_seqs", "max_num_batched_tokens", "kv_cache_memory", "enforce_eager",
    "quantization", "platform", "entrypoint", "vllm_version", "disable_hybrid_kv_cache_manager",
    "mamba_ssm_cache_dtype", "speculative_config", "vllm_use_v1", "enable_prefix_caching",
}
OTHER_KEYS = {"name", "model", "revision", "gpu", "gpu_memory", "min_concurrency", "fail_on_warn"}


@dataclass(frozen=True, kw_only=True)
class Deployment:
    name: str
    model: str
    settings: dict[str, Any]  # SETTING_KEYS only, values as written
    revision: str | None = None
    gpu: str | None = None
    gpu_memory: str | None = None
    min_concurrency: float | None = None
    fail_on_warn: bool = False
    source: str = ""  # file it came from


def _parse(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"cannot read manifest {path}: {err.strerror or err}") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        data = json.loads(text)
    except (ValueError, ImportError) as err:
        raise UsageError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {err}") from None
    if not isinstance(data, Mapping):
        raise UsageError(f"{path}: a manifest is an object with a 'deployment' list")
    return data


def load_manifest(path: Path) -> list[Deployment]:
    data = _parse(path)
    defaults = data.get("defaults") or {}
    entries = data.get("deployment") or data.get("deployments")
    if not isinstance(defaults, Mapping) or not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: needs a non-empty 'deployment' list (and optionally 'defaults')")
    out: list[Deployment] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise UsageError(f"{path}: deployment {index + 1} is not a table/object")
        merged = {**defaults, **entry}
        unknown = set(merged) - SETTING_KEYS - OTHER_KEYS
        if unknown:
            raise UsageError(f"{path}: deployment {index + 1}: unknown key(s) {', '.join(sorted(unknown))}")
        if not isinstance(merged.get("model"), str):
            raise UsageError(f"{path}: deployment {index + 1} has no 'model'")
        name = str(merged.get("name") or f"{merged['model']}#{index + 1}")
        concurrency = merged.get("min_concurrency")
        if concurrency is not None and (not isinstance(concurrency, (int, float)) or concurrency <= 0):
            raise UsageError(f"{path}: {name}: min_concurrency must be a positive number")
        out.append(Deployment(
            name=name, model=merged["model"], revision=merged.get("revision"), gpu=merged.get("gpu"),
            gpu_memory=None if merged.get("gpu_memory") is None else str(merged["gpu_memory"]),
            min_concurrency=None if concurrency is None else float(concurrency),
            fail_on_warn=bool(merged.get("fail_on_warn", False)),
            settings={k: v for k, v in merged.items() if k in SETTING_KEYS}, source=str(path),
        ))
    return out
