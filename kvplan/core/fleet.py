"""Many plans at once: every model on one GPU box, or one model across GPU kinds, TP and PP sizes.

The numbers of a row are those of ``plan`` with that row's settings (what ``kvplan check`` prints): the
longest context is the longest whose plan says "ok" (starts even at the low end of the estimates), and the
concurrency at a length is that length's own plan. What makes it fast is the order of the work, not a
shortcut in the arithmetic:

* every plan is made without remedies (they replan dozens of times) and each length is planned once;
* the longest context starts from the KV arithmetic (the length the low end of the KV memory holds) and is
  kept when its own plan is ok and one token more is not; only when that check fails (V0, where the profile
  shrinks with the context) is the length searched plan by plan, as ``sweep`` does;
* a deployment that does not start at the shortest length is not searched at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from math import ceil

from kvplan.core import capacity as cap
from kvplan.core.engine import V0_LONG_CONTEXT_TOKENS
from kvplan.core.errors import KvplanError
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import ModelSpec
from kvplan.core.plan import CUDA_CONTEXT_BYTES, PlanResult, mamba_seqs_limit, plan, replan, shortest_searched_length
from kvplan.core.settings import DeploySettings
from kvplan.core.units import format_gib, largest_where_by_segment
from kvplan.core.weights import WeightsInfo

TP_SIZES = (1, 2, 4, 8)
NODE_GPUS = 8  # pipeline stages across nodes of 8 GPUs, each stage tensor-parallel 8 within its node
MAX_NODES = 16


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One model to plan, as the adapters resolved it; ``refused`` says why kvplan cannot plan it."""

    ref: str
    model: ModelSpec | None
    weights: WeightsInfo | None
    param_count: int | None = None
    family: str = ""  # the config's model_type, for --family
    refused: str | None = None


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """One model at one parallel layout on one GPU kind."""

    tensor_parallel_size: int
    pipeline_parallel_size: int
    max_model_len: int  # the longest that surely starts (plan "ok"); 0: none
    model_limit: int
    weights_per_gpu_bytes: int | None
    max_num_seqs: int | None  # the hybrid-Mamba cap applied to every length (None: vLLM's default)
    concurrency: tuple[tuple[int, float | None], ...]  # (length, max concurrency) where that length surely starts
    shortfall_bytes: int | None = None  # KV memory per GPU missing at the shortest length asked (None: it starts)
    reason: str | None = None  # why the shortest length does not start (the plan's first reason)
    refused: str | None = None  # vLLM refuses these settings outright (e.g. TP that does not divide the heads)
    kv_cache_bytes: int = 0  # available KV memory per GPU at the model's limit (central estimate)
    budget_bytes: int | None = None  # total x gpu_memory_utilization per GPU

    @property
    def gpus(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size

    @property
    def starts(self) -> bool:
        return self.refused is None and self.max_model_len > 0

    def concurrency_at(self, length: int) -> float | None:
        return dict(self.concurrency).get(length)


class _Planner:
    """Plans of one model and settings on one GPU, each length planned once."""

    def __init__(self, base: PlanResult, measured_overhead: Estimate | None) -> None:
        self.base = base
        self.measured = measured_overhead
        self.limit = base.model.max_position_tokens
        self._plans: dict[int, PlanResult | KvplanError] = {base.engine.max_model_len: base}

    def at(self, length: int) -> PlanResult | KvplanError:
        if length not in self._plans:
            try:
                self._plans[length] = replan(self.base, self.measured, max_model_len=length)
            except KvplanError as err:  # refused at this length only (a token budget below it, say)
                self._plans[length] = err
        return self._plans[length]

    def ok(self, length: int) -> bool:
        result = self.at(length)
        return not isinstance(result, KvplanError) and result.verdict.status == "ok"

    def longest_sure(self) -> int:
        if self.ok(self.limit):
            return self.limit
        base = self.base
        low = base.memory.kv_cache_bytes - base.memory.kv_cache_error_bytes
        guess = cap.max_model_len_fit(base.layout, low, self.limit) if low > 0 else 0
        guess = min(guess, self.limit - 1)
        shortest = shortest_searched_length(base)  # below it vLLM shrinks the token budget: no deployment
        if guess >= shortest and self.ok(guess) and not self.ok(guess + 1):
            return guess
        if guess == 0 and not self.ok(shortest):
            return 0
        # The arithmetic's guess did not hold (the profile moves with the length): search plan by plan. On V1
        # "ok" holds up to one length and not beyond, so the guess's own plan says on which side to look; V0
        # is searched on each side of its 32K chunked-prefill line, as the sweep behind `recommend MODEL` does.
        if base.engine.behaviour.engine == "v1" and guess > 0:
            lo, hi = (guess + 1, self.limit - 1) if self.ok(guess) else (shortest, guess - 1)
            found = largest_where_by_segment(self.ok, lo, hi, ()) if lo <= hi else lo - 1
        else:
            found = largest_where_by_segment(self.ok, shortest, self.limit, (V0_LONG_CONTEXT_TOKENS,))
        return found if found >= shortest else 0


def _capped(model: ModelSpec, settings: DeploySettings, gpu: GpuSpec | None, weights: WeightsInfo | None,
            measured: Estimate | None) -> tuple[PlanResult, int | None]:
    """The plan at the model's limit, with max_num_seqs capped where vLLM 0.19+ needs a Mamba block a sequence
    (the cap ``kvplan recommend MODEL`` applies)."""
    base = plan(model, settings, gpu, weights, measured_overhead=measured, with_remedies=False)
    seqs = mamba_seqs_limit(base, lambda n: replan(base, measured, max_num_seqs=n),
                            lambda result: result.memory.kv_cache_error_bytes)
    if seqs is None:
        return base, None
    return plan(model, replace(settings, max_num_seqs=seqs), gpu, weights, measured_overhead=measured,
                with_remedies=False), seqs


def plan_deployment(model: ModelSpec, settings: DeploySettings, gpu: GpuSpec | None, weights: WeightsInfo | None,
                    *, lengths: Sequence[int] = (), shortest: int = 1, measured_overhead: Estimate | None = None,
                    with_shortfall: bool = True) -> Deployment:
    """The longest sure context of ``settings`` (its TP and PP), and the concurrency at ``lengths`` (those at or
    below the model's limit); ``shortest``: the length a shortfall is measured at when nothing starts (one more
    plan: ``with_shortfall=False`` skips it for layouts that are only tried)."""
    tp, pp = settings.tensor_parallel_size, settings.pipeline_parallel_size
    limit = model.max_position_tokens
    try:
        base, seqs = _capped(model, settings, gpu, weights, measured_overhead)
    except KvplanError as err:
        return Deployment(tensor_parallel_size=tp, pipeline_parallel_size=pp, max_model_len=0, model_limit=limit,
                          weights_per_gpu_bytes=None, max_num_seqs=None, concurrency=(), refused=err.one_line())
    planner = _Planner(base, measured_overhead)
    longest = planner.longest_sure()
    overheads = base.memory.overheads
    concurrency: list[tuple[int, float | None]] = []
    for length in sorted(set(lengths)):
        if length > limit:
            continue
        at = planner.at(length) if length <= longest else None
        ok = at is not None and not isinstance(at, KvplanError) and at.verdict.status == "ok"
        concurrency.append((length, at.kv_cache.max_concurrency if ok and isinstance(at, PlanResult) else None))
    shortfall: int | None = None
    reason: str | None = None
    if with_shortfall and longest < min(shortest, limit):
        shortfall, reason = _shortfall(planner.at(min(shortest, limit)))
    return Deployment(tensor_parallel_size=tp, pipeline_parallel_size=pp, max_model_len=longest, model_limit=limit,
                      weights_per_gpu_bytes=overheads.weights.value_bytes if overheads else None,
                      max_num_seqs=seqs, concurrency=tuple(concurrency), shortfall_bytes=shortfall, reason=reason,
                      kv_cache_bytes=base.memory.kv_cache_bytes, budget_bytes=base.memory.budget_bytes)


def _shortfall(result: PlanResult | KvplanError) -> tuple[int | None, str | None]:
    """KV memory per GPU missing for this length to start surely (at the low end of the estimates)."""
    if isinstance(result, KvplanError):
        return None, result.one_line()
    needed = cap.min_available_for(result.layout, result.kv_cache.max_model_len)
    memory = result.memory
    available = memory.kv_cache_bytes
    if available <= 0 and memory.overheads is not None and memory.budget_bytes is not None:
        # vLLM 0.34's measured sizing clamps the KV cache at 0 (measure_kv_cache_bytes); the shortfall is what the
        # budget lacks beside the weights and overheads, as on the profiled path
        available = min(available, memory.budget_bytes - memory.overheads.total_bytes)
    missing = needed + memory.kv_cache_error_bytes - available
    reason = result.verdict.reasons[0] if result.verdict.reasons else None
    return (missing if missing > 0 else None), reason


# --- every model on one box ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BoxQuery:
    settings: DeploySettings  # the user's flags; TP is chosen per model unless ``fixed_tp``
    gpu_count: int  # GPUs in the box (vLLM takes the first TP of them)
    lengths: tuple[int, ...] = (4096, 32768)  # concurrency columns; the model's limit is added per model
    min_context: int | None = None
    concurrency: float | None = None
    fixed_tp: int | None = None
    fp8: bool = True  # also plan each model with an fp8 KV cache


@dataclass(frozen=True, kw_only=True)
class ModelRow:
    ref: str
    fits: bool
    deployment: Deployment | None  # at the TP chosen (the smallest that meets the query), or the largest tried
    needs_tp: int | None  # the TP that would meet the query when the box has fewer GPUs (None: none up to 8)
    fp8: Deployment | None  # the same TP with --kv-cache-dtype fp8 (None: not asked, or already fp8)
    param_count: int | None
    family: str
    why: str | None = None  # why it does not fit (or why kvplan refuses it)
    plannable: bool = True
    target_max_model_len: int | None = None  # with --concurrency: the longest length that keeps it

    @property
    def max_model_len(self) -> int:
        if self.target_max_model_len is not None:
            return self.target_max_model_len
        return self.deployment.max_model_len if self.deployment else 0


def _meets(d: Deployment, query: BoxQuery) -> bool:
    if not d.starts:
        return False
    return query.min_context is None or d.max_model_len >= min(query.min_context, d.model_limit)


def _allowed_tps(query: BoxQuery) -> tuple[int, ...]:
    return (query.fixed_tp,) if query.fixed_tp else TP_SIZES


def plan_box_model(candidate: Candidate, query: BoxQuery, gpu_for: Callable[[int], GpuSpec],
                   measured_for: Callable[[Candidate, GpuSpec, DeploySettings], Estimate | None] | None = None
                   ) -> ModelRow:
    """One model on the box: the smallest TP whose deployment meets the query (``gpu_for(tp)``: the device
    the plan is made on for that many GPUs)."""
    if candidate.refused is not None or candidate.model is None:
        return ModelRow(ref=candidate.ref, fits=False, deployment=None, needs_tp=None, fp8=None,
                        param_count=candidate.param_count, family=candidate.family,
                        why=candidate.refused or "not plannable", plannable=False)
    model = candidate.model
    limit = model.max_position_tokens
    shortest = min(query.min_context or 1, limit)
    lengths = (*query.lengths, limit)
    tried: Deployment | None = None
    chosen: Deployment | None = None
    refusals: list[str] = []
    served: Deployment | None = None  # the first layout planned: its weights bound every larger TP's
    for tp in _allowed_tps(query):
        settings = replace(query.settings, tensor_parallel_size=tp)
        gpu = gpu_for(tp)
        if (served is not None and tp > query.gpu_count and served.weights_per_gpu_bytes is not None
                and served.budget_bytes is not None and tried is not None
                and served.weights_per_gpu_bytes * served.tensor_parallel_size > tp * served.budget_bytes):
            continue  # a GPU holds at least 1/TP of the weights: more than the budget leaves no KV memory
        measured = measured_for(candidate, gpu, settings) if measured_for else None
        d = plan_deployment(model, settings, gpu, candidate.weights, lengths=lengths, shortest=shortest,
                            measured_overhead=measured, with_shortfall=tp <= query.gpu_count or tried is None)
        served = served or (d if d.refused is None else None)
        if d.refused is not None:
            refusals.append(d.refused)
            if tp == _allowed_tps(query)[0]:  # refused before any TP could split it: these settings, not the size
                return ModelRow(ref=candidate.ref, fits=False, deployment=None, needs_tp=None, fp8=None,
                                param_count=candidate.param_count, family=candidate.family, why=d.refused,
                                plannable=False)
            continue
        if tp <= query.gpu_count or tried is None:
            tried = d
        if _meets(d, query) and _target_length(d, query, model, gpu, candidate.weights, measured) != 0:
            chosen = d
            break
    if tried is None:
        return ModelRow(ref=candidate.ref, fits=False, deployment=None, needs_tp=None, fp8=None,
                        param_count=candidate.param_count, family=candidate.family,
                        why=refusals[0] if refusals else "no tensor parallel size vLLM accepts", plannable=False)
    fits = chosen is not None and chosen.gpus <= query.gpu_count
    shown = chosen if fits else tried
    assert shown is not None
    target: int | None = None
    gpu = gpu_for(shown.tensor_parallel_size)
    settings = replace(query.settings, tensor_parallel_size=shown.tensor_parallel_size)
    measured = measured_for(candidate, gpu, settings) if measured_for else None
    if query.concurrency is not None and fits:
        target = _target_length(shown, query, model, gpu, candidate.weights, measured)
    fp8: Deployment | None = None
    # fp8 changes the KV cache's bytes only: where the weights and runtime leave no KV memory, it adds nothing
    if query.fp8 and not query.settings.kv_cache_dtype.lower().startswith("fp8") and shown.kv_cache_bytes > 0:
        fp8 = plan_deployment(model, replace(settings, kv_cache_dtype="fp8"), gpu, candidate.weights,
                              lengths=lengths, shortest=shortest, measured_overhead=measured)
    why: str | None = None
    if not fits:
        why = _why_not(shown, chosen, query, max(_allowed_tps(query)))
    return ModelRow(ref=candidate.ref, fits=fits, deployment=shown,
                    needs_tp=chosen.tensor_parallel_size if chosen is not None and not fits else None, fp8=fp8,
                    param_count=candidate.param_count, family=candidate.family, why=why,
                    target_max_model_len=target)


def _target_length(d: Deployment, query: BoxQuery, model: ModelSpec, gpu: GpuSpec, weights: WeightsInfo | None,
                   measured: Estimate | None) -> int | None:
    """With --concurrency: the longest length (up to the sure one) whose plan keeps that many requests in flight;
    0 when none (or shorter than --min-context); None without --concurrency."""
    if query.concurrency is None:
        return None
    settings = replace(query.settings, tensor_parallel_size=d.tensor_parallel_size,
                       pipeline_parallel_size=d.pipeline_parallel_size, max_num_seqs=d.max_num_seqs
                       or query.settings.max_num_seqs)
    try:
        base = plan(model, settings, gpu, weights, measured_overhead=measured, with_remedies=False)
    except KvplanError:
        return 0
    planner = _Planner(base, measured)
    target = query.concurrency

    def holds(length: int) -> bool:
        result = planner.at(length)
        return (isinstance(result, PlanResult) and result.verdict.status == "ok"
                and result.kv_cache.max_concurrency >= target)

    found = max(0, largest_where_by_segment(holds, 1, d.max_model_len, (V0_LONG_CONTEXT_TOKENS,)))
    if query.min_context is not None and found < min(query.min_context, d.model_limit):
        return 0
    return found


def _why_not(shown: Deployment, chosen: Deployment | None, query: BoxQuery, largest_tp: int) -> str:
    if chosen is not None:
        return f"needs tensor parallel {chosen.tensor_parallel_size} (the box has {query.gpu_count})"
    beyond = "" if largest_tp <= shown.tensor_parallel_size else f"; TP {largest_tp} is not enough either"
    if shown.starts and query.min_context is not None and shown.max_model_len < query.min_context:
        return f"longest context {shown.max_model_len:,} < {query.min_context:,} at TP {shown.tensor_parallel_size}" \
            + beyond
    if shown.starts and query.concurrency is not None:
        return f"no length keeps {query.concurrency:g} requests in flight at TP {shown.tensor_parallel_size}" + beyond
    if shown.shortfall_bytes:
        return f"{format_gib(shown.shortfall_bytes)} GiB short per GPU at TP {shown.tensor_parallel_size}" + beyond
    return (shown.reason or "does not start") + beyond


# --- one model across GPU kinds -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FleetRow:
    gpu_key: str
    deployment: Deployment
    target_length: int
    max_concurrency: float  # at the target length (0.0: it does not surely start there)
    meets: bool  # starts surely at the target length, with --concurrency requests in flight when given


def plan_fleet(model: ModelSpec, weights: WeightsInfo | None, settings: DeploySettings,
               gpus: Sequence[tuple[str, GpuSpec]], *, target_length: int, concurrency: float | None,
               measured_for: Callable[[str, GpuSpec, DeploySettings], Estimate | None] | None = None
               ) -> list[FleetRow]:
    """Rows for each GPU kind at TP 1/2/4/8; where TP 8 alone does not meet the target, nodes of TP 8 in pipeline
    stages (vLLM's Ray or multiprocessing executor runs one stage a node, up to 16): the fewest nodes that start
    and the fewest that meet the target (or 16 nodes, when none does)."""
    rows: list[FleetRow] = []
    target_length = min(target_length, model.max_position_tokens)
    for key, gpu in gpus:
        met = False
        node_rows: list[FleetRow] = []
        for tp in TP_SIZES:
            row = _fleet_row(model, weights, replace(settings, tensor_parallel_size=tp, pipeline_parallel_size=1),
                             key, gpu, target_length, concurrency, measured_for)
            if row is None:
                continue
            node_rows.append(row)
            met = met or row.meets
        rows += node_rows
        full_node = any(r.deployment.tensor_parallel_size == NODE_GPUS and r.deployment.refused is None
                        for r in node_rows)
        if met or not full_node:
            continue
        # More nodes never hold less (the layers split further), so the fewest stages that start, and the fewest
        # that meet the target, are each found by bisection: two rows, not one per node count.
        staged: dict[int, FleetRow | None] = {}

        def at_pp(pp: int, key: str = key, gpu: GpuSpec = gpu, staged: dict[int, FleetRow | None] = staged
                  ) -> FleetRow | None:
            if pp not in staged:
                staged[pp] = _fleet_row(model, weights, replace(settings, tensor_parallel_size=NODE_GPUS,
                                                                pipeline_parallel_size=pp),
                                        key, gpu, target_length, concurrency, measured_for)
            return staged[pp]

        def first(holds: Callable[[FleetRow], bool]) -> int | None:
            lo, hi = 2, MAX_NODES
            top = at_pp(hi)
            if top is None or not holds(top):
                return None
            while lo < hi:
                mid = (lo + hi) // 2
                row = at_pp(mid)
                if row is not None and holds(row):
                    hi = mid
                else:
                    lo = mid + 1
            return lo

        starts = first(lambda r: r.deployment.starts)
        meets = first(lambda r: r.meets)
        for pp in sorted({p for p in (starts, meets) if p is not None} or {MAX_NODES}):
            row = at_pp(pp)
            if row is not None:
                rows.append(row)
    return rows


def _fleet_row(model: ModelSpec, weights: WeightsInfo | None, settings: DeploySettings, key: str, gpu: GpuSpec,
               target_length: int, concurrency: float | None,
               measured_for: Callable[[str, GpuSpec, DeploySettings], Estimate | None] | None) -> FleetRow | None:
    measured = measured_for(key, gpu, settings) if measured_for else None
    d = plan_deployment(model, settings, gpu, weights, lengths=(target_length,), shortest=target_length,
                        measured_overhead=measured, with_shortfall=False)
    if d.refused is not None and settings.tensor_parallel_size > 1:
        return None  # a size vLLM refuses for this model (heads it cannot split) is no row
    conc = d.concurrency_at(target_length)
    meets = conc is not None and (concurrency is None or conc >= concurrency)
    return FleetRow(gpu_key=key, deployment=d, target_length=target_length, max_concurrency=conc or 0.0,
                    meets=meets)


def smallest_per_gpu(rows: Sequence[FleetRow]) -> dict[str, FleetRow]:
    """Per GPU kind, the configuration with the fewest GPUs that meets the target (fewer stages first)."""
    best: dict[str, FleetRow] = {}
    for row in rows:
        if not row.meets:
            continue
        key = (row.deployment.gpus, row.deployment.pipeline_parallel_size)
        current = best.get(row.gpu_key)
        if current is None or key < (current.deployment.gpus, current.deployment.pipeline_parallel_size):
            best[row.gpu_key] = row
    return best


# --- the box's devices --------------------------------------------------------------------------------------


def busy_device_error(index: int, gpu: GpuSpec, utilization: float) -> str | None:
    """vLLM's start-up check on this device, in its words, when its free memory is below the budget."""
    if gpu.free_bytes is None:
        return None
    free = gpu.free_bytes - CUDA_CONTEXT_BYTES if gpu.source == "nvml" else gpu.free_bytes
    requested = ceil(gpu.total_bytes * utilization)
    if free >= requested:
        return None
    # vllm/v1/worker/utils.py request_memory (0.33/0.34), with the device's own ordinal
    return (f"Free memory on device cuda:{index} ({format_gib(max(free, 0))}/{format_gib(gpu.total_bytes)} GiB) "
            f"on startup is less than desired GPU memory utilization ({utilization}, {format_gib(requested)} GiB). "
            "Decrease GPU memory utilization or reduce GPU memory used by other processes.")
