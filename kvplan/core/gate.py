"""Gate policies over planned deployments: a verdict per deployment and one for the whole manifest."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from kvplan.core.plan import PlanResult

GateStatus = Literal["pass", "fail", "error"]


@dataclass(frozen=True, kw_only=True)
class Policy:
    min_concurrency: float | None = None  # full-length requests that must fit at once
    fail_on_warn: bool = False  # a headroom inside the estimates' error fails the gate


@dataclass(frozen=True, kw_only=True)
class GateResult:
    name: str
    status: GateStatus
    reasons: tuple[str, ...]  # short, kvplan's words
    vllm_errors: tuple[str, ...] = ()  # what vLLM would print, in its words
    plan: PlanResult | None = None
    error: str | None = None  # unusable input for this deployment (exit 2 for the whole gate)
    manifest: str = ""  # the file the deployment came from


def judge(name: str, result: PlanResult, policy: Policy) -> GateResult:
    reasons: list[str] = []
    verdict = result.verdict.status
    if verdict == "fail":
        reasons.extend(result.verdict.reasons or ("vLLM would not start",))
    elif verdict == "warn" and policy.fail_on_warn:
        reasons.extend(f"warn (fail_on_warn): {reason}" for reason in result.verdict.reasons)
    concurrency = result.kv_cache.max_concurrency
    if policy.min_concurrency is not None and concurrency < policy.min_concurrency:
        # Rounded down, so 1.997x never reads "2.00x ... below the required 2".
        reasons.append(f"max concurrency {math.floor(concurrency * 100) / 100:.2f}x at "
                       f"{result.kv_cache.max_model_len} tokens is below the required {policy.min_concurrency:g}")
    return GateResult(name=name, status="fail" if reasons else "pass", reasons=tuple(reasons),
                      vllm_errors=result.verdict.vllm_errors, plan=result)


def exit_code(results: list[GateResult]) -> int:
    """2 if any input was unusable, else 1 if any deployment failed, else 0: never one code for both."""
    if any(r.status == "error" for r in results):
        return 2
    return 1 if any(r.status == "fail" for r in results) else 0
