"""What a deployment can serve across context lengths: the numbers behind `kvplan recommend`.

Every row is a full ``plan`` for that length, so sliding-window and hybrid models (whose per-request block
counts depend on the length and the in-flight tokens) come out as vLLM computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kvplan.core.engine import V0_LONG_CONTEXT_TOKENS
from kvplan.core.errors import KvplanError
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import ModelSpec
from kvplan.core.plan import PlanResult, mamba_seqs_limit, plan, replan, shortest_searched_length
from kvplan.core.settings import DeploySettings
from kvplan.core.units import largest_where_by_segment
from kvplan.core.weights import WeightsInfo


@dataclass(frozen=True, kw_only=True)
class LengthRow:
    max_model_len: int
    fits: bool
    status: str
    tokens: int
    max_concurrency: float
    refused: str | None = None  # vLLM refuses this length outright (a scheduler check): the reason
    may_start: bool = False  # fails at the centre of the estimate, starts at its high end (inside the error)


@dataclass(frozen=True, kw_only=True)
class Sweep:
    base: PlanResult  # the plan at the model's own length (or the one asked for)
    rows: tuple[LengthRow, ...]
    longest_fit: int  # largest max_model_len that starts (0: none), inside the estimates' error or not
    length_for_concurrency: int | None  # largest length with max_concurrency >= the target, when one was given
    target_concurrency: float | None
    max_num_seqs_cap: int | None = None  # hybrid Mamba under full CUDA graphs: the sequences the blocks allow
    longest_sure: int = 0  # largest max_model_len that starts even at the low end of the estimates (verdict ok)
    dropped_lengths: tuple[int, ...] = ()  # asked-for lengths above the model's limit

    @property
    def recommended(self) -> int:
        """The length to deploy with: the longest that surely starts (check says ok), no longer than what keeps
        the target concurrency; 0 when nothing surely starts (what starts inside the error is only reported:
        a launch line kvplan does not expect to start is no recommendation)."""
        if self.target_concurrency is None:
            return self.longest_sure
        return min(self.longest_sure, self.length_for_concurrency or 0)


def default_lengths(model_max: int) -> list[int]:
    """Powers of two from 2K up to the model's limit, and the limit itself."""
    lengths, length = [], 2048
    while length < model_max:
        lengths.append(length)
        length *= 2
    return [*lengths, model_max]


def sweep(model: ModelSpec, settings: DeploySettings, gpu: GpuSpec | None, weights: WeightsInfo | None, *,
          lengths: list[int] | None = None, target_concurrency: float | None = None,
          measured_overhead: Estimate | None = None) -> Sweep:
    base = plan(model, settings, gpu, weights, measured_overhead=measured_overhead)
    # the most sequences whose own plan keeps that many blocks at the low end of the estimate
    cap = mamba_seqs_limit(base, lambda seqs: replan(base, measured_overhead, max_num_seqs=seqs),
                           lambda result: result.memory.kv_cache_error_bytes)
    if cap is not None:
        # vLLM 0.19+ refuses more sequences than blocks for these models: size every row at the cap.
        base = plan(model, replace(settings, max_num_seqs=cap), gpu, weights, measured_overhead=measured_overhead)

    def at(length: int) -> PlanResult:
        return replan(base, measured_overhead, max_model_len=length)

    planned: dict[int, PlanResult | KvplanError] = {}

    def planned_at(length: int) -> PlanResult | KvplanError:
        if length not in planned:
            try:
                planned[length] = at(length)
            except KvplanError as err:  # refused at this length only (e.g. a token budget below it)
                planned[length] = err
        return planned[length]

    def status_at(length: int) -> str:
        result = planned_at(length)
        return "fail" if isinstance(result, KvplanError) else result.verdict.status

    rows = []
    asked = sorted(set(lengths or default_lengths(model.max_position_tokens)))
    for length in asked:
        if length > model.max_position_tokens:
            continue
        result = planned_at(length)
        if isinstance(result, KvplanError):
            rows.append(LengthRow(max_model_len=length, fits=False, status="fail", tokens=0, max_concurrency=0.0,
                                  refused=result.one_line()))
            continue
        rows.append(LengthRow(max_model_len=length, fits=result.kv_cache.fits, status=result.verdict.status,
                              tokens=result.kv_cache.tokens, max_concurrency=result.kv_cache.max_concurrency,
                              may_start=result.verdict.status == "fail" and result.verdict.may_start))
    # A full plan per length, searched: on V0 (and wherever the profile grows with max_model_len) a shorter
    # context also lowers what vLLM keeps beside the KV cache, so the fit at the limit is only a lower bound;
    # and V0's chunked prefill above 32K makes the search one per side of that line.
    limit = model.max_position_tokens
    breaks = (V0_LONG_CONTEXT_TOKENS,)
    shortest = shortest_searched_length(base)
    found = largest_where_by_segment(lambda length: status_at(length) != "fail", shortest, limit, breaks)
    longest = found if found >= shortest else 0
    found = largest_where_by_segment(lambda length: status_at(length) == "ok", shortest, longest, breaks)
    sure = found if longest and found >= shortest else 0

    def concurrency_at(length: int) -> float:
        result = planned_at(length)
        return 0.0 if isinstance(result, KvplanError) else result.kv_cache.max_concurrency

    for_concurrency: int | None = None
    if target_concurrency is not None and longest > 0:
        # Concurrency falls as the length grows: binary search the largest length that still reaches the target.
        found = largest_where_by_segment(
            lambda length: status_at(length) != "fail" and concurrency_at(length) >= target_concurrency,
            shortest, longest, breaks)
        for_concurrency = found if found >= shortest else 0
    return Sweep(base=base, rows=tuple(rows), longest_fit=longest, length_for_concurrency=for_concurrency,
                 target_concurrency=target_concurrency, max_num_seqs_cap=cap, longest_sure=sure,
                 dropped_lengths=tuple(length for length in asked if length > limit))
