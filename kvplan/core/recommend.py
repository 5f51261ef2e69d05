"""Remedies for a deployment that does not start: each a minimal change, re-checked through ``plan``."""

from __future__ import annotations

import json
from math import ceil
from typing import TYPE_CHECKING

from kvplan.core import capacity as cap
from kvplan.core.engine import V0_LONG_CONTEXT_TOKENS
from kvplan.core.errors import KvplanError
from kvplan.core.estimate import Estimate
from kvplan.core.settings import version_tuple
from kvplan.core.units import format_gib, largest_where, largest_where_by_segment

if TYPE_CHECKING:
    from kvplan.core.plan import PlanResult, Remedy


def kv_memory_flag(result: PlanResult, mib: int) -> dict[str, str]:
    """The flag that gives vLLM this much KV memory: ``--kv-cache-memory-bytes 4104M`` from 0.10.2 (vLLM's
    human_readable_int: M is 2**20; kvplan check takes it too), else kvplan's own ``--kv-cache-memory`` (older
    releases have no such flag: the launch line pins blocks with --num-gpu-blocks-override instead)."""
    if version_tuple(result.settings.vllm_version) >= (0, 10, 2):
        return {"--kv-cache-memory-bytes": f"{mib}M"}
    return {"--kv-cache-memory": f"{mib}MiB"}


def _margin_bytes(result: PlanResult) -> int:
    """A warn verdict's remedies leave room for the estimate's error; a fail's aim at vLLM's own check."""
    return result.memory.kv_cache_error_bytes if result.verdict.status == "warn" else 0


def _starts(result: PlanResult, measured_overhead: Estimate | None, **changes: object) -> bool:
    """Whether the changed deployment starts: nominally for a failing plan, surely (ok) for a warning one."""
    from kvplan.core.plan import replan

    try:
        other = replan(result, measured_overhead, **changes)
    except KvplanError:
        return False
    return other.verdict.status == "ok" if result.verdict.status == "warn" else other.verdict.status != "fail"


def _max_model_len_remedy(result: PlanResult, measured_overhead: Estimate | None) -> Remedy | None:
    from kvplan.core.plan import Remedy, shortest_searched_length

    margin = _margin_bytes(result)
    length = result.kv_cache.max_model_len
    if margin:
        low = result.memory.kv_cache_bytes - margin
        candidate = cap.max_model_len_fit(result.layout, low, length) if low > 0 else 0
    else:
        candidate = result.kv_cache.max_model_len_fit
    kv_holds_length = candidate >= length
    if kv_holds_length and result.engine.behaviour.engine == "v1":
        return None  # the KV cache holds this length: what fails is something a shorter context does not change
    candidate = min(candidate, length - 1)

    def starts(n: int) -> bool:
        return _starts(result, measured_overhead, max_model_len=n)

    # The KV arithmetic's fit is exact where nothing else depends on the length; on V0 the profile shrinks
    # with it too (a longer fit), and a start-up check other than the KV cache's may fail at any length.
    shortest = shortest_searched_length(result)  # shorter: vLLM shrinks the token budget, no deployment
    if candidate >= shortest and starts(candidate) and (candidate + 1 >= length or not starts(candidate + 1)):
        fit = candidate
    else:
        found = largest_where_by_segment(starts, shortest, length - 1, (V0_LONG_CONTEXT_TOKENS,))
        fit = found if found >= shortest else 0
    if fit <= 0:
        if candidate >= shortest and not kv_holds_length:  # the KV cache would fit, another start-up check does not
            return _alternative(result, "max_model_len", f"lower max_model_len to {candidate}", measured_overhead,
                                flags={"--max-model-len": str(candidate), "CONTEXT_LEN": str(candidate)},
                                max_model_len=candidate)
        return None
    summary = (f"lower max_model_len to {fit} (fits even at the low end of the estimate)" if margin
               else f"lower max_model_len to {fit} (the largest that starts)")
    return Remedy(kind="max_model_len", summary=summary, flags={"--max-model-len": str(fit), "CONTEXT_LEN": str(fit)})


def _utilization_remedy(result: PlanResult, measured_overhead: Estimate | None) -> Remedy | None:
    """Raise the utilisation (or the KV memory given) to what the KV cache needs, re-checked by a plan."""
    remedy, changes = _kv_budget_remedy(result)
    if remedy is None or not remedy.fits:
        return remedy
    if _starts(result, measured_overhead, **changes):
        return remedy
    checked = _alternative(result, remedy.kind, remedy.summary, measured_overhead, flags=remedy.flags, **changes)
    return checked if checked is not None and not checked.fits else remedy


def _kv_budget_remedy(result: PlanResult) -> tuple[Remedy | None, dict[str, object]]:
    """The remedy, and the settings it changes (none for one that cannot fit)."""
    from kvplan.core.plan import Remedy, utilization_for

    memory, layout = result.memory, result.layout
    needed_kv = cap.min_available_for(layout, result.kv_cache.max_model_len)
    given = result.settings.kv_cache_memory_bytes
    overheads, gpu = memory.overheads, result.gpu
    most = (gpu.total_bytes - overheads.resident_bytes - overheads.error_bytes
            if given is not None and gpu is not None and overheads is not None else None)
    if given is not None and most is not None and overheads is not None and given > most:
        # Asked for more than the GPU holds beside the weights (or within the error of it): a ceiling, not a floor.
        if most < needed_kv:
            return Remedy(kind="kv_cache_memory", fits=False,
                          summary=f"no --kv-cache-memory fits max_model_len {result.kv_cache.max_model_len} beside "
                                  f"{format_gib(overheads.resident_bytes)} GiB of weights and runtime memory"), {}
        mib = most // 2**20
        return Remedy(kind="kv_cache_memory",
                      summary=f"give the KV cache at most {mib} MiB ({format_gib(mib * 2**20)} GiB: what the GPU "
                              "holds beside the weights and runtime memory, less the estimates' error)",
                      flags=kv_memory_flag(result, mib)), {"kv_cache_memory_bytes": mib * 2**20}
    if given is not None:
        if given >= needed_kv + _margin_bytes(result):
            return None, {}  # the KV cache given is not what is short
        mib = ceil(needed_kv / 2**20)
        return Remedy(kind="kv_cache_memory",
                      summary=f"give the KV cache at least {mib} MiB ({format_gib(needed_kv)} GiB)",
                      flags=kv_memory_flag(result, mib)), {"kv_cache_memory_bytes": mib * 2**20}
    if memory.total_bytes is None or memory.budget_bytes is None:
        return None, {}
    non_kv = memory.budget_bytes - memory.kv_cache_bytes
    util = utilization_for(non_kv, needed_kv + _margin_bytes(result), memory.total_bytes)
    if util <= memory.gpu_memory_utilization:
        return None, {}
    if util > 1.0 and memory.extensible is not None:
        # vLLM 0.34's hint (kv_cache_planning.py _more_kv_cache_memory_hint, after warm-up)
        return Remedy(kind="gpu_memory_utilization", fits=False,
                      summary="no gpu_memory_utilization helps: the extensible KV cache already takes all device "
                              "memory left after the model, its activations, CUDA graphs and warmup"), {}
    if util > 1.0:
        return Remedy(kind="gpu_memory_utilization", fits=False,
                      summary=f"no gpu_memory_utilization fits max_model_len {result.kv_cache.max_model_len} "
                              f"on this GPU (it would take {util:.2f})"), {}
    if memory.free_bytes is not None and ceil(memory.total_bytes * util) > memory.free_bytes:
        return Remedy(kind="gpu_memory_utilization", fits=False,
                      summary=f"gpu_memory_utilization {util:.2f} would fit the KV cache, but only "
                              f"{format_gib(memory.free_bytes)} GiB is free on the GPU"), {}
    return Remedy(kind="gpu_memory_utilization", summary=f"raise gpu_memory_utilization to {util:.2f}",
                  flags={"--gpu-memory-utilization": f"{util:.2f}"}), {"gpu_memory_utilization": util}


def _alternative(result: PlanResult, kind: str, summary: str, measured_overhead: Estimate | None,
                 flags: dict[str, str] | None = None, **changes: object) -> Remedy | None:
    from kvplan.core.plan import Remedy, replan

    try:
        other = replan(result, measured_overhead, **changes)
    except KvplanError:
        return None
    flags = flags or {f"--{k.replace('_', '-')}": str(v) for k, v in changes.items()}
    # A warning plan's remedies must make it ok; a failing plan's must make it start.
    ok = other.verdict.status == "ok" if result.verdict.status == "warn" else other.verdict.status != "fail"
    if ok:
        detail = f"{other.kv_cache.tokens:,} KV tokens, {other.kv_cache.max_concurrency:.2f}x"
    elif other.verdict.status == "warn":
        detail = f"still inside the estimates' error ({other.verdict.reasons[0]})" if other.verdict.reasons \
            else "still inside the estimates' error"
    elif other.kv_cache.max_model_len_fit < other.engine.max_model_len or not other.verdict.reasons:
        longest = other.kv_cache.max_model_len_fit
        v0 = other.engine.behaviour.engine == "v0"
        if (v0 or result.model.is_multimodal) and "max_model_len" not in changes:
            # V0's profile shrinks with the context, and so does a multimodal encoder's dummy item (Qwen-VL's
            # video grows with max_model_len): the fit at this length's overhead understates it. V1 searches
            # from where vLLM keeps the token budget (shortest_searched_length), as recommend's sweep does.
            from kvplan.core.plan import shortest_searched_length

            low = 1 if v0 else shortest_searched_length(other)
            found = largest_where_by_segment(
                lambda n: _starts(result, measured_overhead, **changes, max_model_len=n),
                low, other.engine.max_model_len - 1, (V0_LONG_CONTEXT_TOKENS,) if v0 else ())
            longest = max(longest, found if found >= low else 0)
        detail = f"still does not fit (largest max_model_len {longest})"
    else:  # the length fits; another start-up check fails
        detail = f"still does not start ({other.verdict.reasons[0]})"
    return Remedy(kind=kind, summary=f"{summary}: {detail}", flags=flags, fits=ok, tokens=other.kv_cache.tokens)


def _max_num_seqs_remedy(result: PlanResult, measured_overhead: Estimate | None) -> Remedy | None:
    """A hybrid Mamba model under full CUDA graphs needs a block per sequence: cap max_num_seqs at the blocks."""
    from kvplan.core.plan import mamba_seqs_limit, replan

    # the margin is the failing (or warning) plan's aim, not each trial's: a trial that only warns must not
    # raise the bar for a remedy that aims at vLLM's own check
    warn = result.verdict.status == "warn"
    blocks = mamba_seqs_limit(result, lambda seqs: replan(result, measured_overhead, max_num_seqs=seqs),
                              lambda trial: trial.memory.kv_cache_error_bytes if warn else 0)
    if blocks is None:
        return _v0_mamba_seqs_remedy(result, measured_overhead)
    return _alternative(result, "max_num_seqs", f"lower max_num_seqs to {blocks}", measured_overhead,
                        max_num_seqs=blocks)


def _v0_mamba_seqs_remedy(result: PlanResult, measured_overhead: Estimate | None) -> Remedy | None:
    """V0 allocates a Mamba state per sequence slot before sizing KV: the largest max_num_seqs that starts."""
    overheads = result.memory.overheads
    if result.verdict.status != "fail" or overheads is None or not overheads.mamba_cache.value_bytes:
        return None
    best = largest_where(lambda seqs: _starts(result, measured_overhead, max_num_seqs=seqs),
                         1, result.engine.max_num_seqs - 1)  # fewer sequences never take more memory
    if best == 0:
        return None
    return _alternative(result, "max_num_seqs", f"lower max_num_seqs to {best} (V0 keeps a Mamba state per "
                        "sequence slot)", measured_overhead, max_num_seqs=best)


def _tp_allowed(result: PlanResult, tp: int) -> bool:
    """Whether vLLM accepts this tensor parallel size for the model (attention, KV and Mamba heads)."""
    from dataclasses import replace

    from kvplan.core.plan import validate_settings

    try:
        validate_settings(result.model, replace(result.settings, tensor_parallel_size=tp))
    except KvplanError:
        return False
    return True


def _multimodal_remedies(result: PlanResult, measured_overhead: Estimate | None) -> list[Remedy | None]:
    """A multimodal model whose encoder profile takes memory: serve without the modality vLLM profiles with (its
    largest dummy item, often a video that grows with max_model_len), and text only. vLLM runs no encoder
    profile for modalities limited to 0 (kvplan.core.mm_profile)."""
    from kvplan.core.mm_profile import encoder_profile, largest_item, modalities

    model, engine = result.model, result.engine
    profile = encoder_profile(model, engine)
    if not model.is_multimodal or not (profile.peak_bytes or profile.cached_bytes or profile.error_bytes):
        return []
    tower = model.vision
    names = (modalities(tower) if tower else None) or ("image", "video", "audio")
    given = dict(engine.settings.limit_mm_per_prompt or ())
    found: list[Remedy | None] = []
    item = largest_item(tower, engine) if tower else None
    if item is not None and len([n for n in names if given.get(n, 1) != 0]) > 1:
        limits = {**given, item.modality: 0}
        found.append(_alternative(result, "limit_mm_per_prompt", f"no {item.modality} (vLLM profiles the encoder "
                                  f"with a {item.tokens:,}-token {item.modality})", measured_overhead,
                                  flags={"--limit-mm-per-prompt": json.dumps(limits, separators=(",", ":"))},
                                  limit_mm_per_prompt=tuple(sorted(limits.items()))))
    text = {**given, **dict.fromkeys(names, 0)}
    found.append(_alternative(result, "limit_mm_per_prompt", "serve text only (no encoder profile)",
                              measured_overhead,
                              flags={"--limit-mm-per-prompt": json.dumps(text, separators=(",", ":"))},
                              limit_mm_per_prompt=tuple(sorted(text.items()))))
    return found


def remedies(result: PlanResult, *, measured_overhead: Estimate | None = None) -> tuple[Remedy, ...]:
    found: list[Remedy | None] = [_max_num_seqs_remedy(result, measured_overhead),
                                  _max_model_len_remedy(result, measured_overhead),
                                  _utilization_remedy(result, measured_overhead)]
    found.extend(_multimodal_remedies(result, measured_overhead))
    if result.engine.mamba_align_mode:  # set only for models with Mamba layers
        # Mamba "align" mode keeps 2 (+1 prefill checkpoint from 0.32) state blocks a request; without prefix
        # caching, 1: the cheapest lever for a hybrid whose max_model_len narrowly misses.
        found.append(_alternative(result, "enable_prefix_caching", "turn prefix caching off (one Mamba state block "
                                  "a request)", measured_overhead, flags={"--no-enable-prefix-caching": ""},
                                  enable_prefix_caching=False))
    if not result.engine.kv_cache_dtype.startswith("fp8"):
        found.append(_alternative(result, "kv_cache_dtype", "fp8 KV cache", measured_overhead,
                                  kv_cache_dtype="fp8"))
    tp = result.settings.tensor_parallel_size
    next_tp = next((t for t in range(tp + 1, 4 * tp + 1) if _tp_allowed(result, t)), None)
    if next_tp is not None and result.gpu is not None:
        found.append(_alternative(result, "tensor_parallel", f"tensor parallel {next_tp}", measured_overhead,
                                  tensor_parallel_size=next_tp))
    return tuple(r for r in found if r is not None)
