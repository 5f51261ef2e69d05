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
`vllm_version`, `revision`) and the policies `min_concurrency`, `fail_on_warn`. Every value must have its key's
type (a whole number, a number, true/false or a string): nothing is coerced. A model written `./dir` or
`../dir` is a folder beside the manifest.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvplan.core.errors import UsageError

SETTING_KEYS = {
    "max_model_len", "gpu_memory_utilization", "tensor_parallel_size", "pipeline_parallel_size", "dtype",
    "kv_cache_dtype", "block_size", "max_num_seqs", "max_num_batched_tokens", "kv_cache_memory", "enforce_eager",
    "quantization", "platform", "entrypoint", "vllm_version", "disable_hybrid_kv_cache_manager",
    "mamba_ssm_cache_dtype", "speculative_config", "vllm_use_v1", "enable_prefix_caching",
    "mamba_cache_dtype", "enable_chunked_prefill", "num_gpu_blocks_override", "enable_extensible_kv_cache",
    "nccl_nvls_enable",  # NCCL_NVLS_ENABLE in the deployment's environment (engine_args.ENV_SETTINGS)
    "limit_mm_per_prompt", "mm_processor_kwargs", "mm_encoder_tp_mode", "language_model_only", "skip_mm_profiling",
    "enable_lora", "max_loras", "max_lora_rank", "max_cpu_loras", "cpu_offload_gb",
}
OTHER_KEYS = {"name", "model", "revision", "gpu", "gpu_memory", "min_concurrency", "fail_on_warn"}
TOP_LEVEL_KEYS = {"defaults", "deployment", "deployments"}

# The type each value must have. A value of another type is an error, never coerced: bool("false") is True,
# int(1.7) is 1, and a policy that silently reads as something else would let a deploy through.
_WHOLE_NUMBER_KEYS = {"tensor_parallel_size", "pipeline_parallel_size", "block_size", "max_num_seqs",
                      "max_num_batched_tokens", "num_gpu_blocks_override", "max_loras", "max_lora_rank",
                      "max_cpu_loras"}
_NUMBER_KEYS = {"gpu_memory_utilization", "min_concurrency", "cpu_offload_gb"}
_BOOL_KEYS = {"enforce_eager", "disable_hybrid_kv_cache_manager", "enable_prefix_caching", "fail_on_warn",
              "enable_chunked_prefill", "enable_extensible_kv_cache", "language_model_only", "skip_mm_profiling",
              "enable_lora"}
_TEXT_KEYS = {"name", "model", "revision", "gpu", "dtype", "kv_cache_dtype", "quantization", "platform",
              "entrypoint", "vllm_version", "mamba_ssm_cache_dtype", "mamba_cache_dtype", "mm_encoder_tp_mode"}
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\$\{[A-Za-z_][A-Za-z0-9_]*[^}]*\}|\{%.*?%\}")  # Helm/Jinja, ${VAR}
_TEXT_OR_WHOLE_KEYS = {"max_model_len", "kv_cache_memory", "gpu_memory"}  # "32K" / 32768, "24GiB" / bytes


@dataclass(frozen=True, kw_only=True)
class Deployment:
    name: str
    model: str
    settings: dict[str, Any]  # SETTING_KEYS only, each of the type _value_problem allows
    revision: str | None = None
    gpu: str | None = None
    gpu_memory: str | None = None
    min_concurrency: float | None = None
    fail_on_warn: bool = False
    source: str = ""  # file it came from
    problem: str | None = None  # a value of the wrong type: the deployment is reported as an error
    line: int | None = None  # the line the deployment starts on (None: not known, e.g. JSON)
    lines: dict[str, int] = field(default_factory=dict)  # setting (and model, gpu) -> the line that sets it
    notes: tuple[str, ...] = ()  # what the reader wants said (unknown flags, defaults it applied)
    gpu_count: int | None = None  # GPUs the deployment gets (k8s nvidia.com/gpu, compose, Helm requestGPU)
    unresolved: bool = False  # the problem is a template kvplan cannot resolve: the gate fails (1), not 2


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _value_problem(key: str, value: object) -> str | None:
    """Why ``value`` cannot be ``key``'s value, or None when it can."""
    if key in _WHOLE_NUMBER_KEYS and not _is_whole(value):
        return f"{key} must be a whole number, got {value!r}"
    if key in _NUMBER_KEYS and (isinstance(value, bool) or not isinstance(value, (int, float))
                                or not math.isfinite(value)):
        return f"{key} must be a finite number, got {value!r}"
    if key == "min_concurrency" and isinstance(value, (int, float)) and value <= 0:
        return f"min_concurrency must be a positive number, got {value!r}"
    if key in _BOOL_KEYS and not isinstance(value, bool):
        return f"{key} must be true or false, got {value!r}"
    if key in _TEXT_KEYS and not isinstance(value, str):
        return f"{key} must be a string, got {value!r}" + (
            ' (write the release as text, e.g. "0.33.0")' if key == "vllm_version" else "")
    if key in _TEXT_OR_WHOLE_KEYS and not (isinstance(value, str) or _is_whole(value)):
        return f"{key} must be a string or a whole number, got {value!r}"
    if key == "speculative_config" and not isinstance(value, (str, Mapping)):
        return f"speculative_config must be a table/object or vLLM's JSON string, got {value!r}"
    if key in ("limit_mm_per_prompt", "mm_processor_kwargs") and not isinstance(value, (str, Mapping)):
        return f"{key} must be a table/object or vLLM's JSON string, got {value!r}"
    if key == "vllm_use_v1" and not (isinstance(value, (bool, str)) or _is_whole(value)):
        return f"vllm_use_v1 must be 0 or 1, got {value!r}"
    if key == "nccl_nvls_enable" and not (isinstance(value, (bool, str)) or _is_whole(value)):
        return f"nccl_nvls_enable must be 0 or 1, got {value!r}"
    return None


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON allows a key twice and keeps the last; in a manifest that silently drops a setting."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _parse(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file (not UTF-8): a manifest is TOML or JSON") from None
    except OSError as err:
        raise UsageError(f"cannot read manifest {path}: {err.strerror or err}") from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml", ".env", ".ini"):
        raise UsageError(f"{path}: {suffix} manifests are not read; write the deployments as TOML or JSON")
    formats = ["TOML"] if suffix == ".toml" else ["JSON"] if suffix == ".json" else ["JSON", "TOML"]
    data: Any = None
    errors: list[str] = []
    for kind in formats:
        try:
            if kind == "TOML":
                import tomllib

                data = tomllib.loads(text)
            else:
                data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
            break
        except ValueError as err:
            errors.append(f"not valid {kind}: {err}")
        except RecursionError:  # both parsers recurse per bracket: 100,000 of them raise this, not ValueError
            errors.append(f"not read as {kind}: nested too deeply")
    else:
        raise UsageError(f"{path}: {'; '.join(errors)}")
    if not isinstance(data, Mapping):
        raise UsageError(f"{path}: a manifest is an object with a 'deployment' list")
    return data


def _model_ref(model: str, manifest: Path) -> str:
    """A model written as ./dir or ../dir is a folder beside the manifest, wherever kvplan runs from."""
    if model.startswith(("./", "../")):
        return str((manifest.parent / model).resolve())
    return model


def _toml_lines(text: str) -> tuple[dict[str, int], list[tuple[int, dict[str, int]]]]:
    """Lines of a TOML manifest's keys (tomllib keeps none): the [defaults] keys, and per [[deployment]] its
    header line and keys' lines. Inline tables and arrays of tables written another way get the header line."""
    defaults: dict[str, int] = {}
    blocks: list[tuple[int, dict[str, int]]] = []
    current: dict[str, int] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[[") and line.strip("[] ").strip() in ("deployment", "deployments"):
            current = {}
            blocks.append((number, current))
        elif line.startswith("["):
            current = defaults if line.strip("[] ") == "defaults" else None
        elif current is not None and "=" in line and not line.startswith("#"):
            current.setdefault(line.split("=", 1)[0].strip().strip('"'), number)
    return defaults, blocks


def load_manifest(path: Path) -> list[Deployment]:
    data = _parse(path)
    toml_lines = None
    if path.suffix.lower() == ".toml":
        toml_lines = _toml_lines(path.read_text(encoding="utf-8-sig"))
    return deployments_from_data(data, path, toml_lines=toml_lines)


def _key_lines(container: object) -> dict[str, int]:
    return dict(getattr(container, "key_lines", {}))


def _unknown_key_message(path: Path, index: int, unknown: set[str], lines: dict[str, int]) -> str:
    import difflib

    parts = []
    for key in sorted(unknown, key=lambda k: lines.get(k, 0)):
        close = difflib.get_close_matches(key, sorted(SETTING_KEYS | OTHER_KEYS), n=1, cutoff=0.75)
        where = f" (line {lines[key]})" if key in lines else ""
        parts.append(f"{key!r}{where}" + (f" (did you mean {close[0]!r})" if close else ""))
    at = f":{lines[sorted(unknown, key=lambda k: lines.get(k, 0))[0]]}" if any(k in lines for k in unknown) else ""
    return f"{path}{at}: deployment {index + 1}: unknown key {'; '.join(parts)}"


def deployments_from_data(data: Mapping[str, Any], path: Path,
                          toml_lines: tuple[dict[str, int], list[tuple[int, dict[str, int]]]] | None = None,
                          ) -> list[Deployment]:
    """The deployments of a parsed manifest (TOML, JSON or YAML), with the lines YAML or TOML give."""
    unknown_top = set(data) - TOP_LEVEL_KEYS
    if unknown_top:
        raise UsageError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown_top))} "
                         "(a manifest has 'defaults' and a 'deployment' list)")
    if "deployment" in data and "deployments" in data:
        raise UsageError(f"{path}: has both 'deployment' and 'deployments': give one list")
    defaults = data.get("defaults") or {}
    entries = data.get("deployment") or data.get("deployments")
    if not isinstance(defaults, Mapping) or not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: needs a non-empty 'deployment' list (and optionally 'defaults')")
    default_lines = toml_lines[0] if toml_lines else _key_lines(defaults)
    out: list[Deployment] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise UsageError(f"{path}: deployment {index + 1} is not a table/object")
        start: int | None
        if toml_lines and index < len(toml_lines[1]):
            start, entry_lines = toml_lines[1][index]
        else:
            start = getattr(entry, "line", None) or None
            entry_lines = _key_lines(entry)
        lines = {**default_lines, **entry_lines}
        # JSON null means "not set", as a key left out does.
        merged = {k: v for k, v in {**defaults, **entry}.items() if v is not None}
        unknown = set(merged) - SETTING_KEYS - OTHER_KEYS
        if unknown:
            raise UsageError(_unknown_key_message(path, index, unknown, lines))
        if not isinstance(merged.get("model"), str) or not merged["model"].strip():
            raise UsageError(f"{path}{f':{start}' if start else ''}: deployment {index + 1} has no 'model'")
        name = merged.get("name") if isinstance(merged.get("name"), str) and merged["name"] else None
        name = name or f"{merged['model']}#{index + 1}"
        if name in names:
            raise UsageError(f"{path}: two deployments are named {name!r}: give each its own name")
        names.add(name)
        problem = next((p for k, v in merged.items() if (p := _value_problem(k, v))), None)
        problem_at: int | None = None
        if problem is not None:
            bad = next(k for k, v in merged.items() if _value_problem(k, v))
            problem_at = lines.get(bad)
            problem = f"{path}:{lines[bad]}: {problem}" if bad in lines else problem
        unresolved = False
        if problem is None:
            template = next(((k, v) for k, v in merged.items() if isinstance(v, str) and _TEMPLATE.search(v)), None)
            if template is not None:
                key, value = template
                where = f"{path}:{lines[key]}" if key in lines else str(path)
                problem = f"{where}: {key} is the template {value!r}, which kvplan cannot resolve"
                problem_at = lines.get(key)
                unresolved = True
        concurrency = merged.get("min_concurrency") if problem is None else None
        out.append(Deployment(
            name=name, model=_model_ref(merged["model"], path), revision=merged.get("revision"),
            gpu=merged.get("gpu"), gpu_memory=None if merged.get("gpu_memory") is None else str(merged["gpu_memory"]),
            min_concurrency=None if concurrency is None else float(concurrency),
            fail_on_warn=merged.get("fail_on_warn") is True,
            settings={k: v for k, v in merged.items() if k in SETTING_KEYS}, source=str(path), problem=problem,
            line=start, unresolved=unresolved,
            lines={**{k: v for k, v in lines.items() if k in merged},
                   **({"problem": problem_at} if problem_at else {})},
        ))
    return out
