"""Flag strings -> DeploySettings. Every conversion error is a UsageError (one line, exit 2)."""

from __future__ import annotations

import json
from typing import Any

from kvplan.core.errors import UsageError
from kvplan.core.settings import AUTO_MAX_MODEL_LEN, DeploySettings, SpeculativeSettings
from kvplan.core.units import parse_size


def parse_max_model_len(text: str | None) -> int | None:
    if text is None:
        return None
    if text.strip().lower() in ("auto", "-1"):
        return AUTO_MAX_MODEL_LEN
    # vLLM's human_readable_int: lowercase k/m/g are powers of ten, uppercase K/M/G powers of two.
    value = text.strip().replace("_", "").replace(",", "")
    units = {"k": 1000, "m": 1000**2, "g": 1000**3, "K": 1024, "M": 1024**2, "G": 1024**3}
    multiplier = units.get(value[-1:], 1)
    if multiplier != 1:
        if value[-1].isupper() and "." in value:
            raise UsageError(f"--max-model-len {text}: decimals are not allowed with binary suffixes like "
                             f"{value[-1]} (vLLM refuses them too)",
                             hint=f"Did you mean {value[:-1]}{value[-1].lower()}?")
        value = value[:-1]
    try:
        number = int(float(value) * multiplier) if multiplier != 1 else int(value)
    except (ValueError, OverflowError):  # OverflowError: "infk" is float("inf") * 1000
        raise UsageError(f"--max-model-len: cannot read '{text}'",
                         hint="Give a token count like 8192, 32k, 32K or auto") from None
    if number <= 0:
        raise UsageError(f"--max-model-len must be positive or 'auto', got {text}")
    return number


_SPEC_HINT = 'Write it as vLLM takes it: \'{"method": "mtp", "num_speculative_tokens": 3}\''


def _inferred_method(model: str) -> str:
    """SpeculativeConfig's guess when no method is given: ngram by name, EAGLE by the draft's name, else a
    draft model."""
    name = model.lower()
    if name in ("ngram", "[ngram]"):
        return "ngram"
    if "eagle3" in name:
        return "eagle3"
    if "eagle-" in name:
        return "eagle"
    return "draft_model" if name else ""


def parse_speculative_config(text: str | dict[str, Any] | None) -> SpeculativeSettings | None:
    """vLLM's ``--speculative-config`` JSON (or the same object from a deploy file)."""
    data = _json_object(text, "--speculative-config", hint=_SPEC_HINT)
    if data is None:
        return None
    model = data.get("model")
    method = str(data.get("method") or _inferred_method(str(model or "")))
    if method.endswith("_mtp"):  # deepseek_mtp, qwen3_next_mtp ...: vLLM maps these to "mtp"
        method = "mtp"
    if method == "ngram" and str(model) in ("ngram", "[ngram]"):
        model = None
    tokens = data.get("num_speculative_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool):
        raise UsageError("--speculative-config: num_speculative_tokens (a whole number) is required",
                         hint="vLLM can default it to the drafter's layer count; kvplan needs it said")
    return SpeculativeSettings(method=method, num_speculative_tokens=tokens,
                               draft_model=str(model) if model else None,
                               given_json=json.dumps(data, sort_keys=True, default=str))


def build_settings(*, max_model_len: str | None, gpu_memory_utilization: float | None, tensor_parallel_size: int,
                   pipeline_parallel_size: int, dtype: str, kv_cache_dtype: str, block_size: int | None,
                   max_num_seqs: int | None, max_num_batched_tokens: int | None, kv_cache_memory: str | None,
                   enforce_eager: bool, quantization: str | None, platform: str, entrypoint: str,
                   vllm_version: str | None, disable_hybrid_kv_cache_manager: bool = False,
                   mamba_ssm_cache_dtype: str = "auto",
                   speculative_config: str | dict[str, Any] | None = None,
                   vllm_use_v1: str | int | bool | None = None,
                   enable_prefix_caching: bool | None = None, vllm_python: str | None = None,
                   enable_extensible_kv_cache: bool | None = None,
                   kv_cache_memory_bytes: str | None = None,
                   extras: dict[str, Any] | None = None) -> DeploySettings:
    from kvplan.sources.installed_vllm import choose_vllm_version

    kv_bytes = parse_size(kv_cache_memory, flag="--kv-cache-memory") if kv_cache_memory else None
    if kv_cache_memory_bytes:
        from kvplan.inputs.engine_args import human_readable_int

        if kv_bytes is not None:
            raise UsageError("--kv-cache-memory and --kv-cache-memory-bytes set the same thing: give one")
        kv_bytes = human_readable_int(kv_cache_memory_bytes, "--kv-cache-memory-bytes")
        if kv_bytes <= 0:
            raise UsageError(f"--kv-cache-memory-bytes: must be more than zero bytes (got '{kv_cache_memory_bytes}')")

    chosen = choose_vllm_version(vllm_version, vllm_python)
    return DeploySettings(
        vllm_version=chosen.version,
        version_note=chosen.note,
        platform=platform.lower(),  # type: ignore[arg-type]  # validated in DeploySettings
        entrypoint=entrypoint.lower(),  # type: ignore[arg-type]
        max_model_len=parse_max_model_len(max_model_len),
        gpu_memory_utilization=gpu_memory_utilization,
        tensor_parallel_size=tensor_parallel_size,
        pipeline_parallel_size=pipeline_parallel_size,
        dtype=dtype,
        kv_cache_dtype=kv_cache_dtype,
        block_size=block_size,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        kv_cache_memory_bytes=kv_bytes,
        enforce_eager=enforce_eager,
        quantization=quantization,
        disable_hybrid_kv_cache_manager=disable_hybrid_kv_cache_manager,
        mamba_ssm_cache_dtype=mamba_ssm_cache_dtype.lower(),
        speculative=parse_speculative_config(speculative_config),
        use_v1=parse_use_v1(vllm_use_v1),
        enable_prefix_caching=enable_prefix_caching,
        enable_extensible_kv_cache=enable_extensible_kv_cache,
        **(extras or {}),
    )


def parse_use_v1(value: str | int | bool | None) -> bool | None:
    """``VLLM_USE_V1``: 0/1 as the environment variable takes it (true/false too); None when unset."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise UsageError(f"--vllm-use-v1 must be 0 or 1, got '{value}'")


def _json_object(text: str | dict[str, Any] | None, flag: str, *, hint: str | None = None) -> dict[str, Any] | None:
    """A flag's JSON object (or the same object from a deploy file); None when not given. ``hint`` goes with a
    text that is not JSON."""
    if text is None or text == "":
        return None
    data: Any = text
    if isinstance(text, str):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{flag}: not JSON ({exc})", hint=hint) from None
        except RecursionError:
            raise UsageError(f"{flag}: not JSON (nested too deeply)", hint=hint) from None
    if not isinstance(data, dict):
        raise UsageError(f"{flag}: give a JSON object")
    return data


def parse_limit_mm(text: str | dict[str, Any] | None) -> tuple[tuple[str, int], ...] | None:
    """``--limit-mm-per-prompt``: {"image": 0, "video": 2}; a modality's value may also be vLLM's dict form
    with a "count" (the dummy options beside it are not modelled)."""
    data = _json_object(text, "--limit-mm-per-prompt")
    if data is None:
        return None
    limits = []
    for modality, value in sorted(data.items()):
        count = value.get("count") if isinstance(value, dict) else value
        if not isinstance(count, int) or isinstance(count, bool):
            raise UsageError(f"--limit-mm-per-prompt: {modality} needs a whole number, got {value!r}")
        limits.append((str(modality), count))
    return tuple(limits)


MM_PROCESSOR_KEYS = frozenset({"max_pixels", "min_pixels", "size", "images_kwargs", "videos_kwargs"})


def parse_mm_max_pixels(text: str | dict[str, Any] | None, scope: str = "images_kwargs") -> int | None:
    """``--mm-processor-kwargs``: the largest image (max_pixels or size.longest_edge) for one scope:
    ``images_kwargs`` or ``videos_kwargs``, the flat keys applying to both (config/multimodal.py
    ``_merge_mm_processor_scope``, 0.33). Keys kvplan does not plan with are refused by name rather than ignored."""
    data = _json_object(text, "--mm-processor-kwargs")
    if data is None:
        return None
    unknown = sorted(set(data) - MM_PROCESSOR_KEYS)
    if unknown:
        raise UsageError(f"--mm-processor-kwargs: kvplan does not model {', '.join(unknown)}",
                         hint="It plans with max_pixels / min_pixels / size.longest_edge only")
    nested = data.get(scope)
    scoped: dict[str, Any] = nested if isinstance(nested, dict) else {}
    for source in (scoped, data):
        size = source.get("size")
        value = source.get("max_pixels", size.get("longest_edge") if isinstance(size, dict) else None)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise UsageError(f"--mm-processor-kwargs: max_pixels must be a whole number, got {value!r}")
            return value
    return None


def deploy_extras(*, limit_mm_per_prompt: str | dict[str, Any] | None = None,
                  mm_processor_kwargs: str | dict[str, Any] | None = None, mm_encoder_tp_mode: str = "weights",
                  language_model_only: bool = False, skip_mm_profiling: bool = False, enable_lora: bool = False,
                  max_loras: int = 1, max_lora_rank: int = 16, max_cpu_loras: int | None = None,
                  cpu_offload_gb: float = 0.0) -> dict[str, Any]:
    """The multimodal, LoRA and offload flags as DeploySettings fields (``build_settings(extras=...)``)."""
    return {"limit_mm_per_prompt": parse_limit_mm(limit_mm_per_prompt),
            "mm_max_pixels": parse_mm_max_pixels(mm_processor_kwargs),
            "mm_video_max_pixels": parse_mm_max_pixels(mm_processor_kwargs, "videos_kwargs"),
            "mm_encoder_tp_mode": mm_encoder_tp_mode.lower(), "language_model_only": language_model_only,
            "skip_mm_profiling": skip_mm_profiling,
            "enable_lora": enable_lora, "max_loras": max_loras, "max_lora_rank": max_lora_rank,
            "max_cpu_loras": max_cpu_loras, "cpu_offload_gb": cpu_offload_gb}
