"""How close kvplan's memory plan gets to what vLLM measured on real GPUs (offline, no GPU).

    python benchmarks/accuracy.py [FILE.jsonl ...] [--json] [--assume-version VER]

FILE defaults to ``../shared/fixtures/vllm-gpu-logs.jsonl`` (relative to the repository root). Each line is a
start-up reported in public (fields: see that folder's README). For every line with a model kvplan can
resolve (bundled catalog or fixture configs, names matched leniently), a GPU total (the line's, else the GPU
catalog by name) and an outcome, it plans the deployment with ``kvplan.core.plan.plan`` and compares
weights, available KV memory, KV tokens and the verdict with the log, in two modes:

* ``end_to_end``: kvplan's own weights (catalog / counted from config) and overheads;
* ``overhead_only``: the logged ``Model loading took`` as the weights, kvplan's other overheads;
* ``kv_given``: the exact part alone: the logged available KV memory given (as ``kv_cache_memory_bytes``),
  kvplan's blocks, tokens, concurrency and verdict compared with the log. The log rounds that memory to
  0.01 GiB, so agreement is within that rounding, not to the token; lines with no GPU stated can still
  be used here.

Nothing is fitted per line. The global constants of ``kvplan/core/overheads.py`` (``CAL_*``) were set on the
whole default file, some on named lines of it (``CALIBRATION_LINES``: those lines are no test of them, so a
"held out" summary leaves them out); the ``MEASURED_*`` ones on ``benchmarks/gpu-runs/h100-vllm-0.26.0.jsonl``,
start-ups run here on an H100 through ``kvplan probe`` (same format, plus ``entrypoint``: ``llm`` or ``serve``, the
default when absent). Lines that cannot be used are listed with the reason.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kvplan.api import weights_for
from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.errors import KvplanError
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.overheads import estimate_overheads
from kvplan.core.params import count_params
from kvplan.core.plan import PlanResult, plan, replan
from kvplan.core.settings import DeploySettings, SpeculativeSettings, version_tuple
from kvplan.core.speculative import with_drafter
from kvplan.core.units import GiB
from kvplan.core.vllm_logs import parse_log, releases_from_source_lines
from kvplan.core.weights import WeightsInfo
from kvplan.sources import catalog
from kvplan.sources.resolve import catalog_weights
from kvplan.sources.types import ResolvedModel

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FILE = REPO.parent / "shared" / "fixtures" / "vllm-gpu-logs.jsonl"
FIXTURE_CONFIGS = REPO.parent / "shared" / "fixtures" / "configs"
MODES = ("end_to_end", "overhead_only", "kv_given")
# The lines of the default file that set a constant of kvplan/core/overheads.py for themselves (besides the
# whole-file ERR_* spreads, and kvplan.core.plan's COUNTED_WEIGHTS_ERROR_FRACTION, the largest weights error of
# the unquantized lines of all four files): a term fitted on a line is no test of it, so the summary repeats the
# end-to-end figures over the other lines ("held out").
CALIBRATION_LINES: dict[str, dict[str, tuple[int, ...]]] = {
    "vllm-gpu-logs.jsonl": {
        "CAL_SAMPLER_SORT_BYTES": (27, 29, 33, 43),  # Qwen3-30B-A3B, Qwen2.5-Math-1.5B, Phi-4
        # V0's printed non-torch growth: at TP 1 (lines 37 and 38, printed too, are skipped), beyond TP 1
        "CAL_NON_TORCH_V0": (28, 29, 43),
        "CAL_NON_TORCH_V0_MULTI_GPU": (27, 33),
        # MEASURED_NON_TORCH_0_6_4 is set on six public logs of 0.6.4 outside these files: lines 39 and 40 test it
    },
    # kvplan.core.non_torch: the V1 non-torch terms from 0.11 that reading vLLM could not give, measured on the
    # H100 lines of 0.11.0 (llm-d-benchmark) and 0.19.0 (llm-d-planner sweep).
    "public-issues.jsonl": {
        "MEASURED_NON_TORCH_V1_TP1": (0, 1, 2, 3, 7, 8, 12, 13, 14, 15, 16, 17, 18, 19, 25, 28, 29, 32, 33),
        "MEASURED_PP_OFFSET": (20, 21),  # PP 2 and 4 on 0.19: 0.07 GiB
        "MEASURED_TP_GROUP_NCCL": (4, 22, 23, 24, 26, 27, 30, 31),  # TP 2 on 0.11; TP 2 / 4 on 0.19
        "MEASURED_MULTICAST_GRANULE_BYTES": (22, 23, 24, 26, 27, 30, 31),  # the fusion workspace on 0.19
        "CAL_NON_TORCH_V0": (9, 10),  # V0 at TP 1 (T4, V100)
        "CAL_NON_TORCH_V0_MULTI_GPU": (11,),  # V0 at TP 2 (L40S)
    },
    # Model Runner V2 from 0.27 off the GPUs its terms were measured / tested on: the largest residual
    "public-issues-recent.jsonl": {
        "ERR_NON_TORCH_V2_UNMEASURED_GPU": (0, 1, 2),
    },
    "h100-vllm-0.26.0.jsonl": {
        "ERR_CUDAGRAPH_HYBRID_MIN": (5,),  # Nemotron-Nano-9B-v2: vLLM's graph estimate 0.56 GiB vs 0.17
    },
}
# Quantized variants published beside a base model: same architecture, the quant config the publisher uses.
_QUANT_SUFFIX = {"awq": {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True,
                         "version": "gemm"},
                 # Qwen's block-FP8 releases (Qwen3-30B-A3B-FP8, Qwen3-235B-A22B-FP8 publish exactly this)
                 "fp8": {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3",
                         "weight_block_size": [128, 128]}}


class Skip(Exception):
    """A line that cannot be used, with the reason."""


@dataclass
class Case:
    index: int
    label: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    release_assumed: bool = False  # no vLLM release stated or readable from the log: one was assumed (_version)


def _clean_name(raw: str) -> str:
    text = re.sub(r"\(.*?\)", " ", raw)
    text = re.split(r",| with | \+ ", text)[0]
    return text.strip().strip("/")


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


# Folders of ``<org>__<name>/config.json`` searched after the catalog: --configs DIR first, then the fixture's.
CONFIG_DIRS: list[Path] = [FIXTURE_CONFIGS]


def _fixture_configs() -> dict[str, tuple[str, dict[str, Any]]]:
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for folder in reversed(CONFIG_DIRS):  # earlier folders win
        if folder.is_dir():
            for path in sorted(folder.glob("*/config.json")):
                ref = path.parent.name.replace("__", "/", 1)
                out[_norm(ref.split("/")[-1])] = (ref, json.loads(path.read_text()))
    return out


def _local_or_cached(name: str) -> tuple[str, dict[str, Any], WeightsInfo | None, list[str]] | None:
    """The model as `kvplan check` finds it before the catalog: a local directory, then the huggingface_hub
    cache (HF_HOME / HF_HUB_CACHE honoured). The Hub itself is not asked: the benchmark runs offline."""
    from kvplan.sources.hf_cache import read_hf_cache
    from kvplan.sources.local import read_local_model

    found = None
    if Path(name).expanduser().exists():
        found = read_local_model(Path(name).expanduser(), ref=name)
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", name):
        found = read_hf_cache(name)
    if found is None:
        return None
    weights = found.weights
    config = dict(found.config)
    extra = (found.extra_configs or {}).get("hf_quant_config.json")
    if extra is not None:
        config["_hf_quant_config"] = extra
    return found.ref, config, weights, [f"{found.ref} from {found.location}"]


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9.]+", name.lower()) if t}


def _unique_token_match(name: str, quant_hint: str) -> str | None:
    """The one catalog name whose words include every word of ``name`` (plus the quantization named beside
    it, e.g. "Nemotron 3 Nano" + nvfp4), or None when none or several do."""
    words = _tokens(name) | ({quant_hint} if quant_hint else set())
    if len(words) < 2:
        return None
    hits = [n for n in catalog.names() if words <= _tokens(n.split("/")[-1])]
    return hits[0] if len(hits) == 1 else None


def _parenthesised_names(raw: str) -> list[str]:
    """Model names a log puts in parentheses: each comma/semicolon-separated item that reads like a name."""
    items = [part.strip() for group in re.findall(r"\(([^)]*)\)", raw) for part in re.split(r"[;,]", group)]
    return [item for item in items if re.search(r"\d", item) and re.fullmatch(r"[\w./-]+", item)]


def resolve_model(raw: str, quant_hint: str = "") -> tuple[str, dict[str, Any], WeightsInfo | None, list[str]]:
    """(Hub id, config, the weights `check` would take or None, notes) for a model as a log names it: a catalog
    size counted from the config stays an estimate (kvplan.sources.resolve.catalog_weights), as in `check`."""
    notes: list[str] = []
    name = _clean_name(raw)
    base = name.split("/")[-1]
    try:
        local = _local_or_cached(name)
    except KvplanError as exc:
        raise Skip(f"model '{name}' found locally but unreadable: {exc}") from None
    if local is not None:
        return local
    quant: dict[str, Any] | None = None
    for suffix, qconfig in _QUANT_SUFFIX.items():
        if _norm(base).endswith("-" + suffix):
            base, quant = base[: -len(suffix) - 1], qconfig
    entries = {_norm(n.split("/")[-1]): n for n in catalog.names()}
    ref: str | None = None
    config: dict[str, Any] | None = None
    weights: WeightsInfo | None = None
    entry = catalog.find(name)
    if entry is not None:
        quant = None  # published as such: its own config and weights
    elif _norm(base) in entries:
        entry = catalog.find(entries[_norm(base)])
    if entry is None and quant is None:
        # the name as written, then any name the log gives in parentheses ("local-dir (local; Org-Model, ...)")
        for candidate in [name, *_parenthesised_names(raw)]:
            match = _unique_token_match(candidate, quant_hint) or _unique_token_match(candidate, "")
            if match is not None:
                entry = catalog.find(match)
                notes.append(f"'{candidate}' matched to {match} (the only catalog name holding all its words)")
                break
    if entry is not None:
        ref, config, weights = entry.name, entry.config, catalog_weights(entry)
        extra = (entry.extra_configs or {}).get("hf_quant_config.json")
        if extra is not None:
            # ModelOpt keeps its quantization (and any FP8 KV cache) beside config.json; `kvplan check`
            # reads it the same way. Carried here under a private key, split off again before planning.
            config = dict(config, _hf_quant_config=extra)
    else:
        fixture = _fixture_configs().get(_norm(base))
        if fixture is None:
            raise Skip(f"model '{name}' is in neither a local folder, the HF cache, the catalog nor the config "
                       "folders (--configs)")
        ref, config = fixture
    if quant is not None:
        config = dict(config, quantization_config=quant)
        weights = None
        kind = "4-bit g128" if quant["quant_method"] == "awq" else "block 128x128"
        notes.append(f"{ref} config + {quant['quant_method']} {kind} (assumed publisher quant config)")
    yarn = re.search(r"yarn factor (\d+(?:\.\d+)?)", raw, re.IGNORECASE)
    if yarn:
        factor = float(yarn.group(1))
        original = int(config.get("max_position_embeddings", 0))
        config = dict(config, rope_scaling={"rope_type": "yarn", "factor": factor,
                                            "original_max_position_embeddings": original})
        notes.append(f"rope_scaling yarn x{factor:g}")
    return ref, config, weights, notes


def _gpu(line: dict[str, Any]) -> GpuSpec:
    total = line.get("total_gpu_memory_gib")
    name = str(line.get("gpu") or "")
    if total:
        known = _catalog_gpu(name) if name else None
        return GpuSpec(name=name or "from log", total_bytes=round(float(total) * GiB), total_error_bytes=GiB // 200,
                       source="flag", nvswitch=known.nvswitch if known else None,
                       compute_capability=known.compute_capability if known else None)
    if not name:
        raise Skip("GPU not stated and no total_gpu_memory_gib")
    from kvplan.gpu.catalog import catalog_gpu_spec

    for candidate in (name, _clean_name(name), re.sub(r"\b(dual|per title|.*?x )\b", "", _clean_name(name))):
        try:
            return catalog_gpu_spec(candidate.strip(), 1)
        except KvplanError:
            continue
    raise Skip(f"GPU '{name}' not in kvplan's GPU catalog and no total_gpu_memory_gib")


def _catalog_gpu(name: str) -> Any:
    """The catalog entry the log's GPU text names (its NVSwitch flag and compute capability), or None."""
    from kvplan.gpu.catalog import get_gpu

    for candidate in (name, _clean_name(name)):
        try:
            return get_gpu(candidate.strip())
        except KvplanError:
            continue
    return None


def _version(line: dict[str, Any], engine: str, assumed: str | None = None) -> tuple[str, str | None]:
    text = str(line.get("vllm_version") or "")
    match = re.search(r"\b(0\.\d+\.\d+|0\.\d+)\b", text)
    if engine == "v0":
        if match and tuple(int(x) for x in match.group(1).split(".")[:2]) < (0, 11):
            return match.group(1), None  # 0.8-0.10.x: V0 as the log shows (VLLM_USE_V1=0 or vLLM's fallback)
        worded = parse_log(str(line.get("quote") or "")).releases_worded
        if worded:
            return worded[-1], f"vLLM version read from the log's wording, printed only by {' or '.join(worded)}"
        return "0.6.6", "V0 engine: planned with 0.6.6 arithmetic"
    if match and not re.search(r"NIM", text):
        return match.group(1), None
    cited = releases_from_source_lines(f"{line.get('quote') or ''} {line.get('notes') or ''}")
    if cited:
        return cited[-1], f"vLLM version read from where the log's KV lines were printed: {' or '.join(cited)}"
    if assumed:
        return assumed, f"vLLM version not stated: assumed {assumed} (--assume-version)"
    date = str((line.get("source") or {}).get("date") or "")
    guess = "0.10.0" if date[:4] in ("2024", "2025") else "0.33.0"
    return guess, f"vLLM version not stated: assumed {guess}"


def _engine_kind(line: dict[str, Any]) -> str:
    text = f"{line.get('engine') or ''}"
    if text.upper().startswith("V0"):
        return "v0"
    if text.upper().startswith("V1"):
        return "v1"
    guess = parse_log(str(line.get("quote") or "")).engine
    if guess is None:
        raise Skip("engine (V0/V1) neither stated nor recognisable from the wording")
    return guess


_KV_DTYPES = {"fp8_e4m3": "fp8_e4m3", "fp8": "fp8", "fp8_e5m2": "fp8_e5m2", "auto": "auto"}


def _settings(line: dict[str, Any], version: str) -> DeploySettings:
    flags = parse_log(f"{line.get('quote') or ''} {line.get('notes') or ''}").settings
    dtype = str(line.get("dtype") or "auto").lower()
    seqs = line.get("max_num_seqs") or flags.max_num_seqs
    if seqs is None:
        match = re.search(r"max_num_seqs (\d+)", str(line.get("notes") or ""))
        seqs = int(match.group(1)) if match else None
    entrypoint = "llm" if str(line.get("entrypoint") or "").lower() == "llm" else "serve"  # logs rarely say; serve
    return DeploySettings(
        vllm_version=version,
        entrypoint=entrypoint,
        tensor_parallel_size=int(line.get("tensor_parallel_size") or flags.tensor_parallel_size or 1),
        pipeline_parallel_size=int(line.get("pipeline_parallel_size") or flags.pipeline_parallel_size or 1),
        gpu_memory_utilization=line.get("gpu_memory_utilization") or flags.gpu_memory_utilization,
        max_model_len=line.get("max_model_len") or flags.max_model_len,
        max_num_seqs=seqs,
        max_num_batched_tokens=line.get("max_num_batched_tokens") or flags.max_num_batched_tokens,
        kv_cache_dtype=_KV_DTYPES.get(str(line.get("kv_cache_dtype") or "auto").lower(), "auto"),
        dtype=dtype if dtype in ("float16", "bfloat16", "float32", "half") else "auto",
        block_size=flags.block_size,
        enforce_eager=bool(line.get("enforce_eager") or flags.enforce_eager),
        enable_chunked_prefill=flags.enable_chunked_prefill,
        enable_prefix_caching=flags.enable_prefix_caching,
        quantization=_quantization_flag(line),
    )


def _quantization_flag(line: dict[str, Any]) -> str | None:
    """``--quantization X`` as a launch flag (online quantization). The ``quantization`` field and a logged
    ``quantization=...`` name the checkpoint's own method, which kvplan reads from its config instead."""
    match = re.search(r"--quantization[ =]([A-Za-z0-9_]+)", f"{line.get('quote') or ''} {line.get('notes') or ''}")
    return match.group(1) if match else None


def _outcome(line: dict[str, Any]) -> bool:
    """True: started (KV sized); False: a KV-sizing failure. Other failures are skipped."""
    error = line.get("error_text")
    if not error:
        return True
    kinds = {e.kind for e in parse_log(str(error)).errors}
    text = str(error).lower()
    if "mamba cache blocks" in text:
        return False  # vLLM 0.19+: max_num_seqs > KV blocks under full CUDA graphs (kvplan checks it)
    if "free memory on device" in text and not kinds & {"max_model_len", "no_memory"}:
        raise Skip("failure is the free-memory start check (other processes), not KV sizing")
    if kinds & {"max_model_len", "no_memory"} or "no available memory" in text or "max seq len" in text:
        return False
    if "available kv cache memory" in str(line.get("quote") or "").lower():
        return False
    raise Skip(f"failure not about KV sizing: {error[:60]}")


def _measured_tokens(line: dict[str, Any], block_size: int) -> tuple[int | None, str]:
    if line.get("kv_cache_tokens"):
        return int(line["kv_cache_tokens"]), "logged"
    if line.get("gpu_blocks"):
        return int(line["gpu_blocks"]) * block_size, "gpu_blocks x block_size"
    if line.get("max_concurrency") and line.get("max_concurrency_len"):
        return round(float(line["max_concurrency"]) * int(line["max_concurrency_len"])), "concurrency x len"
    return None, "none"


_METRICS_TOKENS = re.compile(r"cache_config_info|blocks x block size", re.IGNORECASE)


def _predicted_tokens(result: PlanResult, line: dict[str, Any]) -> int:
    """kvplan's figure in the unit the line measured. The log's "KV cache size: N tokens" is what kvplan
    predicts; a figure read from /metrics (``cache_config_info``: num_gpu_blocks x block_size) is blocks x the
    attention block size instead, which for a hybrid is not the logged count (that one divides by the groups)."""
    if _METRICS_TOKENS.search(str(line.get("notes") or "")):
        return result.kv_cache.num_blocks * result.kv_cache.block_size
    if not line.get("kv_cache_tokens") and not line.get("gpu_blocks") and line.get("max_concurrency"):
        # the line's figure is Maximum concurrency x its length (_measured_tokens), which up to vLLM 0.20 is not
        # the "KV cache size" it logs (num_blocks // groups x the smallest block): compare like with like
        return round(result.kv_cache.max_concurrency * int(line.get("max_concurrency_len") or 0))
    return result.kv_cache.tokens


def _token_bounds(result: PlanResult, line: dict[str, Any], slack_bytes: int) -> tuple[int, int]:
    """kvplan's token figure at the low and high end of its stated KV-memory error (plus ``slack_bytes``: the
    log's 0.01 GiB rounding when the logged memory was given): the same plan with the KV memory fixed at each
    end (the exact part then turns bytes into tokens)."""
    memory = result.memory
    error = memory.kv_cache_error_bytes + slack_bytes
    if error == 0:
        tokens = _predicted_tokens(result, line)
        return tokens, tokens
    bounds = []
    for sign in (-1, 1):
        kv = max(memory.kv_cache_bytes + sign * error, 0)
        try:
            bound = replan(result, kv_cache_memory_bytes=kv) if kv > 0 else None
        except KvplanError:
            bound = None
        bounds.append(_predicted_tokens(bound, line) if bound is not None else 0)
    return bounds[0], bounds[1]


def _pipeline_tokens_logged(line: dict[str, Any]) -> bool:
    tokens_logged = bool(line.get("kv_cache_tokens") or line.get("gpu_blocks"))
    return int(line.get("pipeline_parallel_size") or 1) > 1 and tokens_logged


def _binding_worker_kv_gib(result: PlanResult, line: dict[str, Any]) -> float | None:
    """With pipeline parallelism each worker profiles and logs its own "Available KV cache memory"; the log
    quotes one of them (the first stage's in the 0.19 sweep: no sampler, 1.10 GiB peak), while the KV tokens are
    the minimum over workers (v1/core/kv_cache_utils.py) and kvplan's KV memory is that binding worker's (its
    largest stage weights, the last stage's sampler). Like with like: the binding worker's memory, the logged
    blocks x kvplan's bytes per block (exact; within one block of it)."""
    if not _pipeline_tokens_logged(line) or result.engine.pipeline_parallel_size < 2:
        return None
    blocks = int(line["gpu_blocks"]) if line.get("gpu_blocks") else int(line["kv_cache_tokens"]) // \
        result.kv_cache.block_size
    return round(blocks * result.kv_cache.bytes_per_block / GiB, 3)


def _row(result: PlanResult, line: dict[str, Any], started: bool, *, given: bool = False) -> dict[str, Any]:
    memory = result.memory
    tokens, how = _measured_tokens(line, result.engine.block_size)
    if _METRICS_TOKENS.search(str(line.get("notes") or "")):
        how = "metrics: num_gpu_blocks x block_size"
    pred_tokens = _predicted_tokens(result, line)
    pred_kv = memory.kv_cache_bytes / GiB
    meas_kv = line.get("available_kv_cache_gib")
    binding = _binding_worker_kv_gib(result, line) if not given else None
    if binding is not None:
        meas_kv = binding
    overheads = memory.overheads
    row: dict[str, Any] = {
        "pred_weights_gib": round(overheads.weights.value_bytes / GiB, 4) if overheads else None,
        "meas_weights_gib": line.get("model_loading_gib"),
        "pred_kv_gib": round(pred_kv, 3),
        "kv_error_gib": round(memory.kv_cache_error_bytes / GiB, 3),
        "meas_kv_gib": meas_kv,
        "pred_tokens": pred_tokens,
        "meas_tokens": tokens,
        "tokens_from": how,
        "pred_status": result.verdict.status,
        "meas_started": started,
        "verdict_ok": (result.verdict.status != "fail") == started,
    }
    if binding is not None:
        row["meas_kv_gib"] = binding
        row["meas_kv_logged_gib"] = line.get("available_kv_cache_gib")
    if meas_kv:
        row["kv_err_pct"] = round(100 * (pred_kv - float(meas_kv)) / abs(float(meas_kv)), 2)
        # Is the logged figure inside kvplan's stated +- error? The log rounds to 0.01 GiB: half of that counts.
        row["kv_covered"] = abs(pred_kv - float(meas_kv)) <= memory.kv_cache_error_bytes / GiB + 0.005
        row["kv_stated_err_pct"] = round(100 * memory.kv_cache_error_bytes / GiB / abs(float(meas_kv)), 2)
    if tokens and started:
        row["tokens_err_pct"] = round(100 * (pred_tokens - tokens) / tokens, 2)
        low, high = _token_bounds(result, line, GiB // 200 if given else 0)
        row["tokens_covered"] = low <= tokens <= high
    estimate = re.search(r"estimated maximum model length is (\d+)", str(line.get("error_text") or ""))
    if estimate and not started:
        logged_fit = int(estimate.group(1))
        row["pred_max_len_estimate"] = result.kv_cache.max_model_len_fit
        row["meas_max_len_estimate"] = logged_fit
        row["max_len_estimate_err_pct"] = round(100 * (result.kv_cache.max_model_len_fit - logged_fit) / logged_fit,
                                                2)
    if overheads and line.get("model_loading_gib"):
        meas_w = float(line["model_loading_gib"])
        row["weights_err_pct"] = round(100 * (overheads.weights.value_bytes / GiB - meas_w) / meas_w, 3)
    return row


def run_line(index: int, line: dict[str, Any], assumed_version: str | None = None) -> Case:
    raw_model = line.get("model")
    if not raw_model:
        raise Skip("model not named")
    eagle = False
    if re.search(r"eagle|draft|speculative", f"{raw_model} {line.get('notes') or ''}", re.IGNORECASE):
        if not re.search(r"\beagle\b", str(raw_model), re.IGNORECASE):
            raise Skip("speculative decoding whose drafter the log does not describe (method, draft, tokens)")
        eagle = True
    started = _outcome(line)
    if not any(line.get(k) for k in ("available_kv_cache_gib", "kv_cache_tokens", "gpu_blocks",
                                      "max_concurrency")) and started:
        raise Skip("no measured KV figure")
    engine_kind = _engine_kind(line)
    hint = re.match(r"[a-z0-9]+", str(line.get("quantization") or "").lower())
    ref, config, checkpoint, notes = resolve_model(str(raw_model), hint.group(0) if hint else "")
    available = line.get("available_kv_cache_gib")
    given_bytes = round(float(available) * GiB) if available and float(available) > 0 else None
    try:
        gpu: GpuSpec | None = _gpu(line)
    except Skip:
        if given_bytes is None:
            raise
        gpu = None
    version, note = _version(line, engine_kind, assumed_version)
    if note:
        notes.append(note)
    settings = _settings(line, version)
    if engine_kind == "v0" and version_tuple(version) >= (0, 8, 0):
        settings = replace(settings, use_v1=False)  # the log ran V0 on a release whose default is V1
    if settings.max_model_len and re.search(r"yarn", str(raw_model), re.IGNORECASE):
        config = dict(config, max_position_embeddings=max(settings.max_model_len,
                                                          int(config.get("max_position_embeddings", 0))))
    extra = config.pop("_hf_quant_config", None) if "_hf_quant_config" in config else None
    try:
        model = model_spec_from_config(config, {"hf_quant_config.json": extra} if extra else None)
    except KvplanError as exc:
        raise Skip(f"kvplan cannot read the config of {ref}: {exc}") from None
    if eagle:
        # EAGLE-1 drafts for Llama are one decoder layer with the target's attention; the draft is not named.
        spec = SpeculativeSettings(method="eagle", num_speculative_tokens=1, draft_model="(one target layer)")
        model = with_drafter(model, spec, config=config, draft=model_spec_from_config({**config,
                                                                                       "num_hidden_layers": 1}))
        settings = replace(settings, speculative=spec)
        notes.append("EAGLE draft taken as one decoder layer of the target's attention (EAGLE-1 for Llama): "
                     "only kv_given is compared, the draft's weights being unknown")
    case = Case(index=index, label=f"{ref} | {gpu.name[:28] if gpu else 'GPU total unknown'} | {version}",
                notes=notes, release_assumed=bool(note and note.startswith("vLLM version not stated")))
    if given_bytes is not None and _pipeline_tokens_logged(line):
        given_bytes = None
        notes.append("pipeline parallel: the logged KV memory is one worker's, the tokens the minimum over workers, "
                     "so kv_given is not compared; the other modes compare with the binding worker's memory "
                     "(logged blocks x bytes per block)")
    try:
        if given_bytes is not None:
            given = replace(settings, kv_cache_memory_bytes=given_bytes)
            row = _row(plan(model, given, gpu, None, with_remedies=False), line, started, given=True)
            row.pop("kv_err_pct", None)  # given, not predicted
            row["pred_weights_gib"] = None
            case.rows["kv_given"] = row
        if eagle:
            return case
        if gpu is None:
            notes.append("GPU total unknown (not stated, or not in kvplan's GPU catalog): only the exact part "
                         "(kv_given) can be compared")
            return case
        extra_flags = line.get("extra") or {}
        if int(extra_flags.get("data_parallel_size") or 1) > 1 or extra_flags.get("enable_expert_parallel"):
            notes.append("data / expert parallel: kvplan does not shard weights that way, so only the exact "
                         "part (kv_given; each DP rank holds its own KV cache) is compared")
            if not case.rows:
                raise Skip("data / expert parallel with no logged KV memory")
            return case
        # The weights `kvplan check` takes (api.weights_for): the catalog's checkpoint bytes, else counted from
        # the config; less the layers vLLM skips; then what --quantization makes of them.
        source = ResolvedModel(ref=ref, config=config, config_source="catalog", location="catalog",
                               weights=checkpoint, extra_configs={"hf_quant_config.json": extra} if extra else None)
        info = weights_for(source, model, settings.quantization)
        if info is None:
            try:
                count_params(config, hf_quant_config=extra)  # say why weights_for found no figure
            except KvplanError as exc:
                notes.append(f"end_to_end not run: no weights figure ({exc})")
        quant = str(line.get("quantization") or "").lower()
        if "bitsandbytes" in quant:
            notes.append("end_to_end not run: bitsandbytes checkpoint, the catalog's weights are another one")
        elif info is not None:
            case.rows["end_to_end"] = _row(plan(model, settings, gpu, info, with_remedies=False), line, started)
        if line.get("model_loading_gib"):
            engine = resolve_engine(model, settings, gpu)
            logged = Estimate(value_bytes=round(float(line["model_loading_gib"]) * GiB), error_bytes=GiB // 200,
                              source="logged: Model loading took")
            over = estimate_overheads(model, engine, logged, enforce_eager=settings.enforce_eager,
                                      weights_include_buffers=True)
            measured = Estimate(value_bytes=over.total_bytes, error_bytes=over.error_bytes + gpu.total_error_bytes,
                                source="logged weights + kvplan overheads")
            # the logged load stands in for the weights (plan needs a figure even where none can be counted)
            loaded = info or WeightsInfo(total_bytes=logged.value_bytes, source="logged", exact=True)
            result = plan(model, settings, gpu, loaded, measured_overhead=measured, with_remedies=False)
            row = _row(result, line, started)
            row["pred_weights_gib"] = line["model_loading_gib"]
            case.rows["overhead_only"] = row
    except KvplanError as exc:
        raise Skip(f"kvplan refused the settings: {exc}") from None
    if not case.rows:
        raise Skip("; ".join(notes) or "nothing to compare")
    return case


def _summary(cases: list[Case], mode: str, skipped: int) -> dict[str, Any]:
    rows = [c.rows[mode] for c in cases if mode in c.rows]
    kv = [abs(r["kv_err_pct"]) for r in rows if "kv_err_pct" in r]
    tok = [abs(r["tokens_err_pct"]) for r in rows if "tokens_err_pct" in r]
    wt = [abs(r["weights_err_pct"]) for r in rows if "weights_err_pct" in r]
    verdicts = [r["verdict_ok"] for r in rows]
    fit = [abs(r["max_len_estimate_err_pct"]) for r in rows if "max_len_estimate_err_pct" in r]
    kv_cov = [r["kv_covered"] for r in rows if "kv_covered" in r]
    tok_cov = [r["tokens_covered"] for r in rows if "tokens_covered" in r]
    stated = [r["kv_stated_err_pct"] for r in rows if "kv_stated_err_pct" in r]
    return {
        "cases_used": len(rows),
        "cases_skipped": skipped,
        "kv_tokens_median_abs_err_pct": round(statistics.median(tok), 2) if tok else None,
        "kv_tokens_max_abs_err_pct": round(max(tok), 2) if tok else None,
        "kv_memory_median_abs_err_pct": round(statistics.median(kv), 2) if kv else None,
        "kv_memory_max_abs_err_pct": round(max(kv), 2) if kv else None,
        "weights_median_abs_err_pct": round(statistics.median(wt), 3) if wt else None,
        "verdict_agreement": round(sum(verdicts) / len(verdicts), 3) if verdicts else None,
        # coverage: the share of lines whose logged figure lies inside kvplan's stated +- error (calibration of
        # the error bars); the stated error's median shows how sharp they are
        "kv_memory_coverage": round(sum(kv_cov) / len(kv_cov), 3) if kv_cov else None,
        "kv_tokens_coverage": round(sum(tok_cov) / len(tok_cov), 3) if tok_cov else None,
        "kv_memory_stated_error_median_pct": round(statistics.median(stated), 2) if stated else None,
        # failed start-ups: vLLM's "estimated maximum model length is N" against kvplan's
        "max_len_estimate_cases": len(fit),
        "max_len_estimate_max_abs_err_pct": round(max(fit), 2) if fit else None,
    }


def _reports_outcome(line: dict[str, Any]) -> bool:
    """The issue's denominator: available KV memory, KV tokens (or blocks / concurrency) or a start-up error."""
    return any(line.get(k) for k in ("available_kv_cache_gib", "kv_cache_tokens", "gpu_blocks", "max_concurrency",
                                     "error_text"))


def evaluate(path: Path, assumed_version: str | None = None) -> dict[str, Any]:
    cases: list[Case] = []
    skipped: list[dict[str, Any]] = []
    outcome_lines = 0
    for index, text in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not text.strip():
            continue
        line: dict[str, Any] = {}
        try:
            line = json.loads(text)
            if not isinstance(line, dict):
                raise ValueError("not a JSON object")
            outcome_lines += _reports_outcome(line)
            cases.append(run_line(index, line, assumed_version))
        except Skip as why:
            skipped.append({"line": index, "model": line.get("model"), "reason": str(why)})
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            skipped.append({"line": index, "model": line.get("model"), "reason": f"unreadable line: {exc}"})
    modes = {mode: _summary(cases, mode, len(skipped)) for mode in MODES}
    # The same figures over the lines whose release is known (stated, or read from where the log printed its
    # KV lines): the others were planned with an assumed release, whose defaults and profile may not be theirs.
    known = [c for c in cases if not c.release_assumed]
    modes_known = {mode: _summary(known, mode, len(skipped)) for mode in MODES}
    fitted = sorted({i for lines in CALIBRATION_LINES.get(path.name, {}).values() for i in lines})
    held_out = _summary([c for c in cases if c.index not in fitted], "end_to_end", len(skipped))
    return {
        "file": str(path),
        "lines": len(cases) + len(skipped),
        # The headline keys are end to end (kvplan's own weights and overheads); every mode is under "modes".
        **modes["end_to_end"],
        "lines_with_outcome": outcome_lines,
        "lines_used_any_mode": len(cases),
        "modes": modes,
        "release_assumed_lines": [c.index for c in cases if c.release_assumed],
        "modes_release_known": modes_known,
        "calibration_lines": CALIBRATION_LINES.get(path.name, {}),
        "end_to_end_held_out": held_out if fitted else None,
        "cases": [{"line": c.index, "label": c.label, "notes": c.notes, **c.rows} for c in cases],
        "skipped": skipped,
    }


def _print(report: dict[str, Any]) -> None:
    print(f"kvplan accuracy vs real vLLM start-ups: {report['file']} ({report['lines']} lines)\n")
    head = f"{'line':>4} {'mode':13} {'weights p/m GiB':>17} {'KV p/m GiB':>15} {'err%':>7} " \
           f"{'tokens p/m':>21} {'err%':>7} {'verdict':>9}  model | gpu | version"
    print(head)
    for case in report["cases"]:
        for mode in MODES:
            r = case.get(mode)
            if not r:
                continue
            pred_w = "-" if r["pred_weights_gib"] is None else f"{r['pred_weights_gib']:.2f}"
            w = f"{pred_w}/{r['meas_weights_gib']:.2f}" if r["meas_weights_gib"] else "-"
            kv = f"{r['pred_kv_gib']:.2f}/{r['meas_kv_gib']}" if r["meas_kv_gib"] is not None \
                else f"{r['pred_kv_gib']:.2f}/-"
            tok = f"{r['pred_tokens']}/{r['meas_tokens']}" if r["meas_tokens"] else f"{r['pred_tokens']}/-"
            if "meas_max_len_estimate" in r:
                tok = f"fit {r['pred_max_len_estimate']}/{r['meas_max_len_estimate']}"
            ok = ("ok " if r["verdict_ok"] else "BAD ") + r["pred_status"]
            print(f"{case['line']:>4} {mode:13} {w:>17} {kv:>15} {r.get('kv_err_pct', '-'):>7} {tok:>21} "
                  f"{r.get('tokens_err_pct', r.get('max_len_estimate_err_pct', '-')):>7} {ok:>9}  {case['label']}")
        for note in case["notes"]:
            print(f"{'':>19}note: {note}")
    print("\nOverall:")
    _print_modes(report["modes"])
    if report["release_assumed_lines"]:
        print(f"\nLines whose vLLM release is known (all but {report['release_assumed_lines']}, planned with an "
              "assumed release):")
        _print_modes(report["modes_release_known"])
    if report.get("end_to_end_held_out"):
        fitted = sorted({i for lines in report["calibration_lines"].values() for i in lines})
        print(f"\nHeld out (all but the lines that set a constant for themselves: {fitted}):")
        _print_modes({"end_to_end": report["end_to_end_held_out"]})
    print(f"\nLines used in some mode: {report['lines_used_any_mode']} of the {report['lines_with_outcome']} "
          "that report an outcome")
    print("\nSkipped:")
    for s in report["skipped"]:
        print(f"  line {s['line']:>3}: {str(s['model'] or '-')[:50]:50}  {s['reason']}")


def _print_modes(modes: dict[str, dict[str, Any]]) -> None:
    for mode, s in modes.items():
        print(f"  {mode:13} used {s['cases_used']}, skipped {s['cases_skipped']}; KV memory |err| median "
              f"{s['kv_memory_median_abs_err_pct']}% max {s['kv_memory_max_abs_err_pct']}%; KV tokens |err| "
              f"median {s['kv_tokens_median_abs_err_pct']}% max {s['kv_tokens_max_abs_err_pct']}%; coverage KV "
              f"memory {s['kv_memory_coverage']} tokens {s['kv_tokens_coverage']} (stated error median "
              f"{s['kv_memory_stated_error_median_pct']}%); weights "
              f"median {s['weights_median_abs_err_pct']}%; verdict agreement {s['verdict_agreement']}; "
              f"vLLM's max-length estimate on {s['max_len_estimate_cases']} failures: max |err| "
              f"{s['max_len_estimate_max_abs_err_pct']}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="JSONL files of start-ups (default: the shared fixture); with several, a summary of "
                             "all of them together follows")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--configs", type=Path, action="append", default=[], metavar="DIR",
                        help="a folder of <org>__<name>/config.json to resolve models from (repeatable; searched "
                             "after local folders, the HF cache and the catalog, before the fixture's configs)")
    parser.add_argument("--assume-version", metavar="VER",
                        help="vLLM release for lines that state none (default: 0.10.0 for logs of 2024-2025, else "
                             "the newest modelled); the summary of lines whose release is known is unaffected")
    args = parser.parse_args(argv)
    files = args.files or [DEFAULT_FILE]
    for file in files:
        if not file.is_file():
            print(f"no such file: {file}", file=sys.stderr)
            return 2
    if args.assume_version:
        try:
            version_tuple(args.assume_version)
        except KvplanError:
            print(f"--assume-version: cannot read {args.assume_version!r}; write it like 0.30.0", file=sys.stderr)
            return 2
    for folder in args.configs:
        if not folder.is_dir():
            print(f"--configs: no such folder: {folder}", file=sys.stderr)
            return 2
    CONFIG_DIRS[:0] = args.configs
    reports = [evaluate(file, args.assume_version) for file in files]
    combined = combined_summary(reports) if len(reports) > 1 else None
    if args.json:
        out = reports[0] if combined is None else {"files": reports, "all_files_end_to_end": combined}
        print(json.dumps(out, indent=1, default=str))
        return 0
    for report in reports:
        _print(report)
        print()
    if combined is not None:
        print(f"All {len(reports)} files together:")
        _print_modes({"end_to_end": combined})
    return 0


def combined_summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The end-to-end figures over the lines of every file at once."""
    cases = [Case(index=c["line"], label=c["label"], notes=c["notes"], rows={m: c[m] for m in MODES if m in c})
             for report in reports for c in report["cases"]]
    return _summary(cases, "end_to_end", sum(len(report["skipped"]) for report in reports))


if __name__ == "__main__":
    sys.exit(main())
