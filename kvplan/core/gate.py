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
    gpu_count: int | None = None  # GPUs the deployment gets (k8s nvidia.com/gpu, compose, Helm requestGPU)


@dataclass(frozen=True, kw_only=True)
class GateResult:
    name: str
    status: GateStatus
    reasons: tuple[str, ...]  # short, kvplan's words
    vllm_errors: tuple[str, ...] = ()  # what vLLM would print, in its words
    plan: PlanResult | None = None
    error: str | None = None  # unusable input for this deployment (exit 2 for the whole gate)
    manifest: str = ""  # the file the deployment came from
    line: int | None = None  # the line the deployment starts on
    value_line: int | None = None  # the line that sets the value to change (failures), else the deployment's
    notes: tuple[str, ...] = ()  # what the reader reported (unknown flags, defaults applied)


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
    gpus = result.settings.world_size
    if policy.gpu_count is not None and gpus > policy.gpu_count:
        reasons.append(f"tensor_parallel_size x pipeline_parallel_size = {gpus} GPUs, but the deployment gets "
                       f"{policy.gpu_count}")
    return GateResult(name=name, status="fail" if reasons else "pass", reasons=tuple(reasons),
                      vllm_errors=result.verdict.vllm_errors, plan=result)


# A remedy's flag -> the setting whose line a report points at.
_FLAG_SETTINGS = {"--max-model-len": "max_model_len", "--gpu-memory-utilization": "gpu_memory_utilization",
                  "--kv-cache-memory": "kv_cache_memory", "--kv-cache-memory-bytes": "kv_cache_memory",
                  "--tensor-parallel-size": "tensor_parallel_size",
                  "--kv-cache-dtype": "kv_cache_dtype", "--max-num-seqs": "max_num_seqs",
                  "--dtype": "dtype", "--quantization": "quantization", "--block-size": "block_size",
                  "--max-num-batched-tokens": "max_num_batched_tokens"}


def settings_to_blame(result: GateResult, policy: Policy) -> tuple[str, ...]:
    """The settings whose line a failure points at, most telling first: what the first remedy changes, then
    the policy that failed, then the length and the memory settings."""
    keys: list[str] = []
    if result.plan is not None and result.plan.verdict.status != "ok" and result.plan.verdict.remedies:
        first = result.plan.verdict.remedies[0]  # the most telling change; others are alternatives
        keys.extend(_FLAG_SETTINGS[flag] for flag in first.flags if flag in _FLAG_SETTINGS)
    if any("GPUs, but the deployment gets" in r for r in result.reasons):
        keys.extend(("tensor_parallel_size", "gpu_count"))
    if policy.min_concurrency is not None:
        keys.append("min_concurrency")
    keys.extend(("max_model_len", "model"))
    return tuple(dict.fromkeys(keys))


def exit_code(results: list[GateResult]) -> int:
    """2 if any input was unusable, else 1 if any deployment failed, else 0: never one code for both."""
    if any(r.status == "error" for r in results):
        return 2
    return 1 if any(r.status == "fail" for r in results) else 0
