"""A parsed vLLM start-up log -> the cause, a re-plan on the logged figures, and the fixes. Pure.

The re-plan puts what the log measured in place of kvplan's estimates: the KV memory vLLM found (``Available
KV cache memory``; V0: ``# GPU blocks`` x the block bytes, or the tokens in its max-seq-len error; V1: the
capacity line), and, where the GPU's total is known, the non-KV memory it implies (``total x utilization -
available``: weights, activation peak, non-torch memory and CUDA graphs together, as ``kvplan probe`` records
it). Where the log gives the KV memory the plan's blocks, tokens and verdict are vLLM's own (planning error 0);
the terms still estimated are named. The fixes are ``recommend``'s remedies, re-checked through ``plan`` with
those figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil, floor
from typing import Literal

from kvplan.core import capacity as cap
from kvplan.core import engine_args
from kvplan.core.errors import KvplanError, UsageError
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import ModelSpec
from kvplan.core.plan import PlanResult, Remedy, plan, utilization_for
from kvplan.core.settings import DEFAULT_VLLM_VERSION, DeploySettings, version_tuple
from kvplan.core.units import GiB, MiB, format_gib
from kvplan.core.vllm_logs import LogError, LogReading
from kvplan.core.weights import WeightsInfo

Cause = Literal["max_model_len", "no_memory", "free_memory", "mamba_blocks", "oom_loading", "oom_profiling",
                "oom_graphs", "oom", "unsupported_architecture", "healthy", "no_failure_seen"]
TermSource = Literal["log", "derived from the log", "estimate", "not known"]

# vLLM prints GiB to 2 places: a logged figure is within half a hundredth of a GiB of what vLLM used
LOG_ROUNDING_BYTES = GiB // 200
# vLLM's own CUDA context, NCCL and cuBLAS handles, made before its free-memory snapshot (VLLM-MEMORY.md §2.1, §9)
VLLM_CONTEXT_GIB = 0.4
_CAUSE_ORDER: tuple[str, ...] = ("unsupported_architecture", "free_memory", "oom_loading", "oom_profiling",
                                 "oom_graphs", "oom", "mamba_blocks", "no_memory", "max_model_len")

_HEADLINES: dict[str, str] = {
    "max_model_len": "the KV cache cannot hold one request of max_model_len tokens (vLLM's max-seq-len check)",
    "no_memory": "nothing is left for the KV cache after weights, activations and runtime memory",
    "free_memory": "the GPU had less free memory at start-up than total x gpu_memory_utilization",
    "mamba_blocks": "max_num_seqs is more than the Mamba cache blocks (full CUDA graphs need one per sequence)",
    "oom_loading": "CUDA ran out of memory while loading the weights",
    "oom_profiling": "CUDA ran out of memory while profiling (the activation peak did not fit)",
    "oom_graphs": "CUDA ran out of memory while capturing CUDA graphs",
    "oom": "CUDA ran out of memory",
    "unsupported_architecture": "this vLLM does not support the model's architecture",
    "healthy": "vLLM started",
    "no_failure_seen": "no start-up failure in the log (and no KV cache lines: start-up may not have finished)",
}


@dataclass(frozen=True, kw_only=True)
class Term:
    name: str
    gib: float | None
    source: TermSource
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Agreement:
    what: str
    logged: float | int
    kvplan: float | int

    @property
    def equal(self) -> bool:
        return self.logged == self.kvplan


@dataclass(frozen=True, kw_only=True)
class Fix:
    kind: str
    summary: str
    changes: dict[str, engine_args.Value] = field(default_factory=dict, hash=False)
    fits: bool | None = True  # None: not re-planned (a fix the log alone gives, or advice)
    serve_flags: str = ""
    env: str | None = None  # the same change as the launcher's environment (api-for-open-llm, NIM)
    env_for: str | None = None  # which launcher reads ``env``
    env_note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Explanation:
    reading: LogReading
    cause: Cause
    headline: str
    error: LogError | None
    details: tuple[str, ...]
    settings: DeploySettings | None
    plan: PlanResult | None
    kv_cache_bytes: int | None
    kv_cache_source: str | None
    terms: tuple[Term, ...]
    agreement: tuple[Agreement, ...]
    fixes: tuple[Fix, ...]
    missing: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def failed(self) -> bool:
        return self.cause not in ("healthy", "no_failure_seen")

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def classify(reading: LogReading) -> tuple[Cause, LogError | None]:
    """The failure the log shows (the most fundamental of those printed), or healthy / no failure seen."""
    for kind in _CAUSE_ORDER:
        found = [e for e in reading.errors if e.kind == kind]
        if found:
            return kind, found[-1]  # type: ignore[return-value]
    if reading.available_kv_cache_gib is not None and reading.available_kv_cache_gib <= 0:
        return "no_memory", None  # "Available KV cache memory: -2.14 GiB" precedes vLLM's no-memory error
    if any(v is not None for v in (reading.kv_cache_tokens, reading.gpu_blocks, reading.available_kv_cache_gib,
                                   reading.max_concurrency)):
        return "healthy", None
    return "no_failure_seen", None


def planning_version(reading: LogReading, override: str | None, cited: tuple[str, ...]) -> tuple[str, list[str]]:
    """The release to plan with, and notes saying where it came from."""
    notes: list[str] = []
    version = override or reading.vllm_version
    if version is None and cited:
        version = cited[-1]
        notes.append(f"vLLM version read from where the log's KV lines were printed: {' or '.join(cited)}")
    if version is None and (worded := reading.releases_worded):
        version = worded[-1]
        notes.append(f"vLLM version read from the log's wording, printed only by {' or '.join(worded)}")
    if version is None:
        version = "0.6.6" if reading.engine == "v0" else DEFAULT_VLLM_VERSION
        notes.append(f"vLLM version not in the log: assumed {version} (pass --vllm-version)")
    try:
        v = version_tuple(version)
    except UsageError:
        if override is not None:  # the user's own flag: bad input (exit 2), as `check --vllm-version` says
            raise UsageError(f"--vllm-version: cannot read {override!r}", hint="Write it like 0.33.0 or 0.6.6") \
                from None
        notes.append(f"vLLM version '{version}' not readable: planned with {DEFAULT_VLLM_VERSION}")
        return DEFAULT_VLLM_VERSION, notes
    if v < (0, 5, 0):
        notes.append(f"vLLM {version}: planned with 0.5.4's V0 arithmetic (blocks = (total x utilization - "
                     "profile peak) // block bytes, the same from 0.4)")
        return "0.5.4", notes
    return version, notes


def settings_from_log(reading: LogReading, version: str, model: ModelSpec | None,
                      overrides: dict[str, engine_args.Value] | None = None) -> DeploySettings:
    """The deployment as the log shows it (the engine's own config line wins over the flags given)."""
    values: dict[str, object] = {k: v for k, v in vars(reading.settings).items() if v is not None}
    if "max_model_len" not in values:
        # no config line: the length vLLM checked (its error) or printed the concurrency for is the one it ran
        said = [e.max_model_len for e in reading.errors if e.max_model_len] + [reading.max_concurrency_len]
        length = next((n for n in said if n), None)
        if length:
            values["max_model_len"] = length
    if model is not None and model.quantization:
        values.pop("quantization", None)  # the checkpoint's own method, which kvplan reads from its config
    if values.get("quantization") is not None and str(values["quantization"]).lower() not in _quant_names():
        values.pop("quantization")
    values.update(overrides or {})
    if reading.source == "LLM class":
        values["entrypoint"] = "llm"
    v = version_tuple(version)
    if reading.engine is not None and (0, 8, 0) <= v < (0, 11, 0):
        values["use_v1"] = reading.engine == "v1"  # VLLM_USE_V1 as the log shows it
    for key in list(values):  # a value kvplan would refuse (an unknown dtype name, say) is left to the default
        try:
            DeploySettings(vllm_version=version, **{key: values[key]})  # type: ignore[arg-type]
        except (UsageError, TypeError):
            values.pop(key)
    return DeploySettings(vllm_version=version, **values)  # type: ignore[arg-type]


def _quant_names() -> frozenset[str]:
    from kvplan.core.settings import QUANTIZATION_METHODS

    return QUANTIZATION_METHODS


def gpu_from_log(reading: LogReading, name: str | None = None) -> GpuSpec | None:
    """The GPU as vLLM's lines measured it (cudaMemGetInfo), or as torch's out-of-memory text states it."""
    if reading.total_gpu_memory_gib is None:
        return None
    total = round(reading.total_gpu_memory_gib * GiB)
    free = round(reading.free_at_init_gib * GiB) if reading.free_at_init_gib is not None else None
    return GpuSpec(name=name or reading.gpu_name or "GPU in the log", total_bytes=total,
                   total_error_bytes=LOG_ROUNDING_BYTES if reading.total_source == "vLLM" else GiB // 10,
                   free_bytes=free, source="log")


def _blocks_from_tokens(layout: cap.KvLayout, tokens: int, length: int) -> int | None:
    """The block count whose capacity line reads ``tokens`` at ``length`` (V1: tokens = int(blocks / bpr * L))."""
    bpr = layout.blocks_per_request(length)
    if bpr <= 0 or length <= 0:
        return None
    first = max(1, tokens * bpr // length - 1)
    for blocks in range(first, first + 4):
        if cap.capacity(layout, blocks, length).tokens == tokens:
            return blocks
    return None


def logged_kv_bytes(reading: LogReading, error: LogError | None, layout: cap.KvLayout,
                    length: int) -> tuple[int | None, str]:
    """The KV memory vLLM had, from the most exact figure the log gives: blocks x block bytes where the blocks are
    known, else the logged GiB. None when the log has none."""
    bpb = layout.bytes_per_block
    engine = layout.engine.behaviour.engine
    if not layout.groups or bpb <= 0:
        return None, "the model holds no KV cache"
    if engine == "v0" and reading.gpu_blocks is not None:
        return reading.gpu_blocks * bpb, f"log: # GPU blocks {reading.gpu_blocks:,} x {bpb:,} B a block"
    if engine == "v0" and error is not None and error.kv_tokens is not None:
        blocks = error.kv_tokens // layout.engine.block_size
        return blocks * bpb, (f"log: the error's {error.kv_tokens:,} tokens = {blocks:,} blocks of "
                              f"{layout.engine.block_size} x {bpb:,} B")
    if reading.extensible_kv_gib is not None and reading.gpu_blocks is not None:
        # 0.34's extensible KV cache: the blocks committed after warm-up are the cache; "Available KV cache
        # memory" was only the capacity reserved before it
        return reading.gpu_blocks * bpb, (f"log: Extended KV cache to {reading.gpu_blocks:,} blocks "
                                          f"({reading.extensible_kv_gib} GiB) x {bpb:,} B a block")
    available = reading.available_kv_cache_gib
    if available is not None and available > 0:
        exact = None
        if reading.kv_cache_tokens is not None:
            exact = _blocks_from_tokens(layout, reading.kv_cache_tokens, length)
        low, high = round(available * GiB - LOG_ROUNDING_BYTES), round(available * GiB + LOG_ROUNDING_BYTES)
        if exact is not None and low // bpb <= exact <= high // bpb:
            return exact * bpb, (f"log: Available KV cache memory {available} GiB and {reading.kv_cache_tokens:,} "
                                 f"tokens = {exact:,} blocks of {bpb:,} B")
        return round(available * GiB), f"log: Available KV cache memory {available} GiB (to 0.01 GiB)"
    if available is not None:
        return round(available * GiB), f"log: Available KV cache memory {available} GiB"
    if reading.kv_cache_tokens is not None:
        counted = _blocks_from_tokens(layout, reading.kv_cache_tokens, length)
        if counted is not None:
            return counted * bpb, f"log: KV cache size {reading.kv_cache_tokens:,} tokens = {counted:,} blocks"
    if error is not None and error.kind == "max_model_len" and error.available_gib is not None:
        # V1's error prints the memory it checks against: available less the null block from 0.31
        check = round(error.available_gib * GiB)
        held = bpb if layout.engine.behaviour.null_block_in_check else 0
        return check + held, f"log: the error's available KV cache memory {error.available_gib} GiB"
    return None, "the log gives no KV cache figure"


def _terms(reading: LogReading, result: PlanResult | None, kv_bytes: int | None, kv_source: str,
           gpu: GpuSpec | None) -> tuple[Term, ...]:
    over = result.memory.overheads if result is not None else None

    def term(name: str, logged: float | None, estimate: Estimate | None, how: str) -> Term:
        if logged is not None:
            return Term(name=name, gib=logged, source="log", detail=how)
        if estimate is not None and kv_bytes is None:  # planned from this estimate
            return Term(name=name, gib=format_gib(estimate.value_bytes), source="estimate", detail=estimate.source)
        if estimate is not None:
            return Term(name=name, gib=format_gib(estimate.value_bytes), source="estimate",
                        detail=f"{estimate.source} (not used: the logged KV memory already holds it)")
        return Term(name=name, gib=None, source="not known")

    total_detail = ("log" if reading.total_gpu_memory_gib is not None else gpu.source) if gpu else ""
    terms = [
        Term(name="GPU total", gib=format_gib(gpu.total_bytes) if gpu else None,
             source="log" if gpu and reading.total_gpu_memory_gib is not None else "estimate" if gpu
             else "not known", detail=f"{gpu.name} ({total_detail})" if gpu else "pass --gpu or --gpu-memory"),
        term("weights", reading.model_loading_gib, over.weights if over else None, "Model loading took"),
        term("activation peak", reading.activation_peak_gib, over.activation if over else None, "memory profile"),
        term("non-torch memory", reading.non_torch_gib, over.non_torch if over else None, "memory profile"),
        term("CUDA graphs", reading.cuda_graph_gib if reading.cuda_graph_gib is not None
             else reading.cuda_graph_estimate_gib, over.cudagraph if over else None, "graph capture"),
    ]
    if kv_bytes is not None:
        source: TermSource = "log" if kv_source.startswith("log: Available") else "derived from the log"
        terms.append(Term(name="KV cache", gib=format_gib(kv_bytes), source=source, detail=kv_source))
    elif result is not None:
        terms.append(Term(name="KV cache", gib=format_gib(result.memory.kv_cache_bytes), source="estimate",
                          detail=result.memory.kv_cache_source))
    else:
        terms.append(Term(name="KV cache", gib=None, source="not known", detail=kv_source))
    return tuple(terms)


def _agreement(reading: LogReading, error: LogError | None, result: PlanResult) -> tuple[Agreement, ...]:
    kv = result.kv_cache
    rows: list[Agreement] = []
    same_len = reading.settings.max_model_len in (None, kv.max_model_len)
    if reading.gpu_blocks is not None:
        rows.append(Agreement(what="GPU blocks", logged=reading.gpu_blocks, kvplan=kv.num_blocks))
    if reading.kv_cache_tokens is not None and same_len:
        rows.append(Agreement(what="KV cache tokens", logged=reading.kv_cache_tokens, kvplan=kv.tokens))
    if reading.max_concurrency is not None and reading.max_concurrency_len == kv.max_model_len:
        rows.append(Agreement(what=f"max concurrency at {kv.max_model_len:,} tokens", logged=reading.max_concurrency,
                              kvplan=round(kv.max_concurrency, 2)))
    if error is not None and error.kind == "max_model_len":
        if error.kv_tokens is not None:
            rows.append(Agreement(what="tokens the KV cache holds (V0 error)", logged=error.kv_tokens,
                                  kvplan=kv.num_blocks * kv.block_size))
        if error.estimated_max_model_len is not None:
            rows.append(Agreement(what="estimated maximum model length (error)", logged=error.estimated_max_model_len,
                                  kvplan=kv.max_model_len_fit))
    return tuple(rows)


def _env_for(changes: dict[str, engine_args.Value], source: str | None) -> tuple[str | None, str | None]:
    if source == "api-for-open-llm":
        table = engine_args.API_FOR_OPEN_LLM_ENV
    elif source == "NIM":
        table = {setting: env for env, setting in engine_args.NIM_ENV.items()}
    else:
        return None, None
    parts, lacking = [], []
    for name, value in changes.items():
        env = table.get(name)
        if env is None:
            lacking.append(name)
        else:
            parts.append(f"{env}={str(value).lower() if isinstance(value, bool) else value}")
    note = f"{source} has no variable for {', '.join(lacking)}: pass it to vLLM as a flag" if lacking else None
    return (" ".join(parts) or None), note


def _flags_text(changes: dict[str, engine_args.Value]) -> str:
    parts = []
    for name, value in changes.items():
        flag = engine_args.flag_for(name)
        if value is True:
            parts.append(flag)
        elif value is False:
            parts.append("--no-" + flag[2:])
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def make_fix(kind: str, summary: str, changes: dict[str, engine_args.Value], source: str | None,
             fits: bool | None = True) -> Fix:
    launcher = source if source in ("api-for-open-llm", "NIM") else None
    if launcher is None and set(changes) == {"max_model_len"}:
        launcher = "api-for-open-llm"  # CONTEXT_LEN, as `recommend` prints it, whatever wrote the log
    env, note = _env_for(changes, launcher)
    return Fix(kind=kind, summary=summary, changes=changes, fits=fits, serve_flags=_flags_text(changes), env=env,
               env_for=launcher if env else None, env_note=note)


def _from_remedy(remedy: Remedy, source: str | None) -> Fix | None:
    changes: dict[str, engine_args.Value] = {}
    for flag, value in remedy.flags.items():
        if not flag.startswith("-"):
            continue  # CONTEXT_LEN: the env form is made from the settings below
        if flag.startswith("--no-"):
            key = engine_args.setting_for(flag[5:])
            if key:
                changes[key] = False
            continue
        key = engine_args.setting_for(flag)
        if key is None:
            continue
        if key == "kv_cache_memory_bytes":
            continue  # handled by the caller (a KV size with no GPU total to turn into a utilisation)
        coerced = engine_args.coerce(key, value) if value else True
        if coerced is not None:
            changes[key] = coerced
    if not changes and remedy.fits:
        return None
    return make_fix(remedy.kind, remedy.summary, changes, source, fits=remedy.fits)


def _log_only_fixes(cause: str, error: LogError | None, reading: LogReading, gpu: GpuSpec | None,
                    source: str | None) -> list[Fix]:
    """What the log's own numbers give, with no model config (vLLM's arithmetic on its printed figures)."""
    fixes: list[Fix] = []
    if cause == "max_model_len" and error is not None:
        if error.kv_tokens is not None:  # V0: max_model_len <= num_gpu_blocks x block_size starts
            fixes.append(make_fix("max_model_len", f"lower max_model_len to {error.kv_tokens} (the tokens the KV "
                                  "cache holds: V0 starts when max_model_len <= GPU blocks x block size)",
                                  {"max_model_len": error.kv_tokens}, source, fits=True))
        elif error.estimated_max_model_len:  # V1: vLLM's own search over the same check
            fixes.append(make_fix("max_model_len", f"lower max_model_len to {error.estimated_max_model_len} "
                                  "(vLLM's estimated maximum model length)",
                                  {"max_model_len": error.estimated_max_model_len}, source, fits=True))
        if (error.needed_gib is not None and error.available_gib is not None and gpu is not None
                and reading.settings.gpu_memory_utilization is not None):
            extra = (error.needed_gib - error.available_gib) * GiB + LOG_ROUNDING_BYTES * 2
            util = ceil((reading.settings.gpu_memory_utilization + extra / gpu.total_bytes) * 100) / 100
            if util <= 1.0:
                fixes.append(make_fix("gpu_memory_utilization", f"raise gpu_memory_utilization to {util:.2f} "
                                      f"({format_gib(extra)} GiB more KV cache, from the error's figures)",
                                      {"gpu_memory_utilization": util}, source, fits=None))
    if cause == "mamba_blocks" and error is not None and error.mamba_blocks:
        fixes.append(make_fix("max_num_seqs", f"lower max_num_seqs to {error.mamba_blocks} (vLLM's count of Mamba "
                              "cache blocks)", {"max_num_seqs": error.mamba_blocks}, source, fits=True))
    if cause == "free_memory" and error is not None and error.available_gib is not None and error.total_gib:
        util = floor(error.available_gib / error.total_gib * 100) / 100
        fixes.append(make_fix("gpu_memory_utilization", f"lower gpu_memory_utilization to {util:.2f}: the most the "
                              f"{error.available_gib} GiB free at start-up allows (the KV cache shrinks with it)",
                              {"gpu_memory_utilization": util}, source, fits=None))
    if cause == "oom_graphs":
        fixes.append(make_fix("enforce_eager", "run without CUDA graphs (or lower gpu_memory_utilization to leave "
                              "them room)", {"enforce_eager": True}, source, fits=None))
    if cause == "oom_profiling":
        seqs = reading.settings.max_num_seqs
        tokens = reading.settings.max_num_batched_tokens
        changes: dict[str, engine_args.Value] = {}
        if tokens:
            changes["max_num_batched_tokens"] = max(tokens // 2, 512)
        if seqs:
            changes["max_num_seqs"] = max(seqs // 2, 1)
        summary = ("a smaller profile: fewer batched tokens or sequences shrink the activation peak" if changes else
                   "a smaller profile: lower --max-num-batched-tokens or --max-num-seqs (the activation peak grows "
                   "with them)")
        fixes.append(make_fix("profile", summary, changes, source, fits=None))
    if cause in ("oom_loading", "oom") and gpu is not None and reading.model_loading_gib is None:
        tp = (reading.settings.tensor_parallel_size or 1) * 2
        fixes.append(make_fix("tensor_parallel", f"spread the weights over {tp} GPUs (or serve a quantized "
                              "checkpoint)", {"tensor_parallel_size": tp}, source, fits=None))
    return fixes


def _details(cause: str, error: LogError | None, reading: LogReading, result: PlanResult | None,
             kv_bytes: int | None) -> list[str]:
    out: list[str] = []
    if error is not None:
        out.append(f"vLLM said: {error.text}")
    if cause == "free_memory" and error is not None and error.total_gib and error.available_gib is not None:
        used = error.total_gib - error.available_gib
        out.append(f"{format_gib(used * GiB)} GiB of the {error.total_gib} GiB was in use before vLLM sized its "
                   f"budget: another process (or a vLLM still running) holds about "
                   f"{format_gib(max(used - VLLM_CONTEXT_GIB, 0) * GiB)} GiB, the rest is vLLM's own CUDA "
                   f"context (~{VLLM_CONTEXT_GIB} GiB, estimated); the budget asked for {error.requested_gib} GiB")
    if cause == "mamba_blocks" and error is not None:
        out.append(f"each decoding sequence holds one Mamba state block under full CUDA graphs: max_num_seqs "
                   f"{error.max_num_seqs} > {error.mamba_blocks if error.mamba_blocks is not None else 'the'} blocks")
    if cause == "unsupported_architecture" and error is not None:
        out.append(f"architecture {', '.join(error.architectures) or '?'} is not in this vLLM's model registry: "
                   "a newer vLLM (or --trust-remote-code for a custom model) is the fix; no memory setting helps")
    if cause.startswith("oom") and error is not None and error.tried_gib is not None:
        out.append(f"the allocation that failed asked for {format_gib(error.tried_gib * GiB)} GiB")
    if result is not None and kv_bytes is not None:
        kv = result.kv_cache
        if cause == "max_model_len":
            out.append(f"max_model_len {kv.max_model_len:,} needs {kv.blocks_per_request:,} blocks of "
                       f"{kv.block_size} tokens a request; the KV cache has {kv.num_blocks:,} "
                       f"({format_gib(kv_bytes)} GiB)")
        if cause == "healthy":
            out.append(f"holds {kv.tokens:,} KV tokens in {kv.num_blocks:,} blocks ({format_gib(kv_bytes)} GiB): "
                       f"{kv.max_concurrency:.2f}x concurrency at max_model_len {kv.max_model_len:,}")
    return out


def explain(reading: LogReading, settings: DeploySettings | None, *, model: ModelSpec | None,
            weights: WeightsInfo | None, gpu: GpuSpec | None, missing: tuple[str, ...] = (),
            notes: tuple[str, ...] = ()) -> Explanation:
    """Classify the log, re-plan ``model`` with its figures (when the config is known), and list the fixes."""
    cause, error = classify(reading)
    source = reading.source
    missing_list = list(missing)
    notes_list = list(notes)
    gpu = gpu or gpu_from_log(reading)
    result: PlanResult | None = None
    kv_bytes: int | None = None
    kv_source: str | None = None
    fixes: list[Fix] = []
    if model is not None and settings is not None and cause != "unsupported_architecture":
        try:
            result, kv_bytes, kv_source = _replan(reading, error, settings, model, weights, gpu)
        except KvplanError as err:
            notes_list.append(f"re-plan not possible: {err.one_line()}")
            result = None
    elif model is None and not any("model's config" in m for m in missing_list):
        missing_list.append("the model's config (for the block bytes, the re-plan and its fixes)")
    if gpu is None:
        missing_list.append("the GPU's total memory (for gpu_memory_utilization figures): pass --gpu or --gpu-memory")
    if result is not None and result.engine.kv_sizing == "extensible" and reading.extensible_kv_gib is None \
            and reading.available_kv_cache_gib is not None:
        # 0.34 (v1/engine/core.py _initialize_kv_caches): the profile's figure reserves capacity; the cache is
        # measured after warm-up and CUDA-graph capture (extensible_kv_cache.py measure_kv_cache_blocks)
        notes_list.append("the log stops before vLLM's extensible KV cache was sized after warm-up (no 'Memory after "
                          "warmup' / 'Extended KV cache to N blocks' line): its 'Available KV cache memory' is only "
                          "the capacity reserved before, so the KV figures here are an upper bound")
    if result is not None and cause == "free_memory" and error is not None:
        fix = _free_memory_fix(result, error, source)
        if fix is not None:
            fixes.append(fix)
    elif result is not None:
        fixes.extend(_plan_fixes(result, cause, kv_bytes, gpu, source))
    if result is not None and cause == "no_memory" and not fixes:
        fix = _budget_fix(result, source)
        if fix is not None:
            fixes.append(fix)
    if settings is not None and reading.settings.gpu_memory_utilization is None and result is not None \
            and reading.extensible_kv_gib is None:  # 0.34's committed blocks are the cache, whatever the budget
        notes_list.append(f"gpu_memory_utilization is not in the log: planned with vLLM "
                          f"{settings.vllm_version}'s default {result.engine.gpu_memory_utilization}")
    if not any(f.fits for f in fixes) and not (cause == "free_memory" and fixes):
        fixes.extend(_log_only_fixes(cause, error, reading, gpu, source))
    terms = _terms(reading, result, kv_bytes, kv_source or "", gpu)
    agreement = _agreement(reading, error, result) if result is not None and kv_bytes is not None else ()
    differing = [a for a in agreement if not a.equal]
    if differing:
        # vLLM is the truth: where the re-plan does not reproduce the log, the log's own figures give the length
        notes_list.append("kvplan's re-plan differs from the log (" + "; ".join(
            f"{a.what}: log {a.logged:,}, kvplan {a.kvplan:,}" for a in differing) + "): the model config or settings "
            "kvplan read differ from what vLLM ran (pass --model, --config or --vllm-version); the max_model_len fix "
            "is the log's own figure")
        own = [f for f in _log_only_fixes(cause, error, reading, gpu, source) if f.kind == "max_model_len"]
        if own:
            fixes = own + [f for f in fixes if f.kind != "max_model_len"]
    details = _details(cause, error, reading, result, kv_bytes)
    if result is not None and cause == "healthy":
        details.extend(_healthy_reach(result, kv_bytes))
    elif result is None and cause == "healthy":
        details.extend(_healthy_from_log(reading))
    if result is not None and cause not in ("healthy", "no_failure_seen") and result.verdict.status != "fail" \
            and cause in ("max_model_len", "no_memory", "mamba_blocks"):
        notes_list.append("kvplan's re-plan with the logged figures starts where vLLM did not: the model config or "
                          "settings kvplan read differ from what vLLM ran")
    return Explanation(reading=reading, cause=cause, headline=_HEADLINES[cause], error=error, details=tuple(details),
                       settings=settings, plan=result, kv_cache_bytes=kv_bytes, kv_cache_source=kv_source,
                       terms=terms, agreement=agreement, fixes=tuple(fixes), missing=tuple(missing_list),
                       notes=tuple(notes_list))


def _replan(reading: LogReading, error: LogError | None, settings: DeploySettings, model: ModelSpec,
            weights: WeightsInfo | None, gpu: GpuSpec | None) -> tuple[PlanResult, int | None, str | None]:
    probe = plan(model, replace(settings, kv_cache_memory_bytes=GiB), None, weights, with_remedies=False)
    kv_bytes, kv_source = logged_kv_bytes(reading, error, probe.layout, probe.engine.max_model_len)
    measured_extensible = reading.extensible_kv_gib is not None and reading.gpu_blocks is not None
    if kv_bytes is not None and gpu is not None and settings.kv_cache_memory_bytes is None \
            and not measured_extensible:
        util = probe.engine.gpu_memory_utilization
        budget = ceil(gpu.total_bytes * util)
        measured = Estimate(value_bytes=budget - kv_bytes, error_bytes=LOG_ROUNDING_BYTES,
                            source=f"log: total x utilization - KV memory ({kv_source})")
        checked = replace(gpu, free_bytes=None) if reading.free_at_init_gib is None or \
            reading.free_at_init_gib * GiB >= budget else gpu
        return plan(model, settings, checked, weights, measured_overhead=measured), kv_bytes, kv_source
    if kv_bytes is not None:
        return plan(model, replace(settings, kv_cache_memory_bytes=kv_bytes), None, weights), kv_bytes, kv_source
    if gpu is None:
        raise UsageError("the log gives no KV cache figure and no GPU total: nothing to re-plan from")
    estimate = plan(model, settings, replace(gpu, free_bytes=None), weights, with_remedies=False)
    over = estimate.memory.overheads
    if over is None:
        return estimate, None, None
    logged = {"weights": reading.model_loading_gib, "activation": reading.activation_peak_gib,
              "non_torch": reading.non_torch_gib, "cudagraph": reading.cuda_graph_gib}
    total, squares, used = 0, 0, []
    for name in ("weights", "activation", "non_torch", "cudagraph", "mamba_cache"):
        term: Estimate = getattr(over, name)
        value = logged.get(name)
        if value is not None:
            total += round(value * GiB)
            used.append(name)
        else:
            total += term.value_bytes
            squares += term.error_bytes ** 2
    if not used:
        return plan(model, settings, replace(gpu, free_bytes=None), weights), None, None
    measured = Estimate(value_bytes=total, error_bytes=int(squares ** 0.5) + LOG_ROUNDING_BYTES,
                        source=f"log: {', '.join(used)}; kvplan's estimate for the rest")
    return plan(model, settings, replace(gpu, free_bytes=None), weights, measured_overhead=measured), None, None


def _plan_fixes(result: PlanResult, cause: str, kv_bytes: int | None, gpu: GpuSpec | None,
                source: str | None) -> list[Fix]:
    fixes: list[Fix] = []
    for remedy in result.verdict.remedies:
        if remedy.kind == "kv_cache_memory" and kv_bytes is not None and result.settings.kv_cache_memory_bytes:
            needed = cap.min_available_for(result.layout, result.kv_cache.max_model_len)
            more = needed - kv_bytes
            fixes.append(Fix(kind="gpu_memory_utilization", fits=None,
                             summary=f"give the KV cache {ceil(more / MiB)} MiB more ({format_gib(needed)} GiB in "
                                     f"all): raise gpu_memory_utilization by {ceil(more / MiB)} MiB / the GPU's "
                                     "total (pass --gpu or --gpu-memory for the figure)"))
            continue
        if remedy.kind == "tensor_parallel" and result.memory.kv_cache_source.startswith("budget - measured"):
            # the logged non-KV memory is one rank's at this TP: at another TP it is kvplan's estimate again
            fix = _tp_estimate(result, remedy, source)
            if fix is not None:
                fixes.append(fix)
            continue
        fix = _from_remedy(remedy, source)
        if fix is not None:
            fixes.append(fix)
    return fixes


def _healthy_reach(result: PlanResult, kv_bytes: int | None) -> list[str]:
    """How far a healthy start-up could go: the longest max_model_len with the same KV memory, the least
    utilisation that still starts at this length."""
    out: list[str] = []
    available = result.memory.kv_cache_bytes
    kv = result.kv_cache
    limit = result.model.max_position_tokens
    longest = cap.max_model_len_fit(result.layout, available, max(limit, kv.max_model_len,
                                                                  kv.num_blocks * kv.block_size))
    if longest > limit:
        out.append(f"the KV memory would hold one request of {longest:,} tokens; max_model_len stops at the "
                   f"model's {limit:,}")
    elif longest > kv.max_model_len:
        out.append(f"max_model_len could go to {longest:,} with the same KV memory")
    memory = result.memory
    if memory.total_bytes and memory.budget_bytes is not None:
        needed = cap.min_available_for(result.layout, result.kv_cache.max_model_len)
        util = utilization_for(memory.budget_bytes - available, needed, memory.total_bytes)
        if util < memory.gpu_memory_utilization:
            out.append(f"gpu_memory_utilization {util:.2f} would still start at max_model_len "
                       f"{result.kv_cache.max_model_len:,} (one request)")
    return out


def _tp_estimate(result: PlanResult, remedy: Remedy, source: str | None) -> Fix | None:
    from kvplan.core.plan import replan

    tp_flag = remedy.flags.get("--tensor-parallel-size")
    if tp_flag is None:
        return None
    try:
        other = replan(result, None, tensor_parallel_size=int(tp_flag))
    except KvplanError:
        return None
    fits = other.verdict.status != "fail"
    kv = other.kv_cache
    summary = (f"tensor parallel {tp_flag} (kvplan's estimate, not the log's figures): {kv.tokens:,} KV tokens, "
               f"{kv.max_concurrency:.2f}x" if fits else
               f"tensor parallel {tp_flag} (kvplan's estimate): still does not fit (largest max_model_len "
               f"{kv.max_model_len_fit})")
    return make_fix("tensor_parallel", summary, {"tensor_parallel_size": int(tp_flag)}, source, fits=fits)


def _free_memory_fix(result: PlanResult, error: LogError, source: str | None) -> Fix | None:
    """The largest utilisation the free memory allows, re-planned (kvplan's estimate: vLLM stopped before it
    measured anything), with the longest max_model_len that then starts when the current one does not."""
    from kvplan.core.plan import replan

    if error.available_gib is None or not error.total_gib:
        return None
    util = floor(error.available_gib / error.total_gib * 100) / 100
    if util <= 0:
        return None
    try:
        other = replan(result, None, gpu_memory_utilization=util)
    except KvplanError:
        return None
    kv = other.kv_cache
    head = f"lower gpu_memory_utilization to {util:.2f} (the most the {error.available_gib} GiB free allows)"
    if other.verdict.status != "fail":
        return make_fix("gpu_memory_utilization", f"{head}: kvplan's estimate {kv.tokens:,} KV tokens, "
                        f"{kv.max_concurrency:.2f}x at max_model_len {kv.max_model_len:,}",
                        {"gpu_memory_utilization": util}, source, fits=True)
    if kv.max_model_len_fit > 0:
        return make_fix("gpu_memory_utilization", f"{head} with max_model_len {kv.max_model_len_fit} (kvplan's "
                        f"estimate: {kv.max_model_len:,} does not fit there); or free the memory the other process "
                        "holds", {"gpu_memory_utilization": util, "max_model_len": kv.max_model_len_fit}, source,
                        fits=True)
    return make_fix("gpu_memory_utilization", f"{head}: kvplan's estimate leaves no KV cache there; free the memory "
                    "the other process holds", {}, source, fits=False)


def _healthy_from_log(reading: LogReading) -> list[str]:
    """What a healthy start-up holds, from the log's lines alone (no model config)."""
    out: list[str] = []
    if reading.kv_cache_tokens is not None:
        out.append(f"holds {reading.kv_cache_tokens:,} KV tokens (vLLM's capacity line)")
    elif reading.gpu_blocks is not None:
        block = reading.settings.block_size or 16
        told = "" if reading.settings.block_size else " (block size 16, V0's default)"
        out.append(f"holds {reading.gpu_blocks * block:,} KV tokens: {reading.gpu_blocks:,} GPU blocks x {block}"
                   f"{told}; max_model_len could go to {reading.gpu_blocks * block:,} (V0's check)")
    if reading.max_concurrency is not None and reading.max_concurrency_len is not None:
        out.append(f"{reading.max_concurrency:.2f}x concurrency at {reading.max_concurrency_len:,} tokens a request")
    if reading.available_kv_cache_gib is not None:
        out.append(f"{reading.available_kv_cache_gib} GiB of KV cache memory")
    return out


def _budget_fix(result: PlanResult, source: str | None) -> Fix | None:
    """The utilisation whose budget holds the non-KV memory (logged where the log has it) and one request."""
    memory = result.memory
    if memory.total_bytes is None or memory.budget_bytes is None:
        return None
    non_kv = memory.budget_bytes - memory.kv_cache_bytes
    util = utilization_for(non_kv, cap.min_available_for(result.layout, result.kv_cache.max_model_len),
                           memory.total_bytes)
    if util > 1.0:
        return make_fix("gpu_memory_utilization", f"no gpu_memory_utilization holds the {format_gib(non_kv)} GiB of "
                        f"weights and runtime memory and one request of {result.kv_cache.max_model_len:,} tokens",
                        {}, source, fits=False)
    return make_fix("gpu_memory_utilization", f"raise gpu_memory_utilization to at least {util:.2f} (kvplan's "
                    f"estimate: {format_gib(non_kv)} GiB of weights and runtime memory, then one request of "
                    f"{result.kv_cache.max_model_len:,} tokens)", {"gpu_memory_utilization": util}, source, fits=None)
