"""The fleet planner: monotone in memory and TP, the longest sure length as a boundary, the busy-device wording."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvplan import api
from kvplan.core.fleet import TP_SIZES, Deployment, busy_device_error, plan_deployment
from kvplan.core.hardware import GpuSpec
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB, MiB

# Full attention, GQA, sliding windows, MLA, MoE, hybrid Mamba, a quantized checkpoint.
MODELS = (
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen3-32B",
    "google/gemma-3-27b-it",
    "mistralai/Mistral-7B-v0.1",
    "deepseek-ai/DeepSeek-V2-Lite",
    "Qwen/Qwen3-30B-A3B",
    "nvidia/NVIDIA-Nemotron-Nano-9B-v2",
    "nvidia/Nemotron-H-56B-Base-8K",
    "Qwen/Qwen3.5-27B",
    "openai/gpt-oss-20b",
)
LENGTHS = (4096, 32768)
# vLLM's default max_num_batched_tokens and max_num_seqs grow with the GPU's memory (EngineArgs: 70 GiB and 160 GiB
# tiers), and a larger token budget makes sliding-window requests hold more blocks: with the defaults, a larger
# GPU can report less concurrency at 32K (gemma-3-27b: 6.58x on 80 GiB, 6.56x on 192 GiB). The property is for
# one set of settings, so they are pinned.
PINNED = DeploySettings(gpu_memory_utilization=0.9, max_num_seqs=256, max_num_batched_tokens=8192)


@cache
def _inputs(ref: str) -> api.PlanInputs:
    return api.plan_inputs(ref, PINNED, revision=None, environ={"HF_HUB_OFFLINE": "1"})


def _gpu(total_mib: int) -> GpuSpec:
    return GpuSpec(name="test", total_bytes=total_mib * MiB, source="flag", compute_capability=(9, 0))


def _deploy(ref: str, total_mib: int, tp: int = 1) -> Deployment:
    inputs = _inputs(ref)
    return plan_deployment(inputs.model, replace(PINNED, tensor_parallel_size=tp), _gpu(total_mib), inputs.weights,
                           lengths=LENGTHS)


def _at_least(big: Deployment, small: Deployment) -> None:
    assert big.max_model_len >= small.max_model_len
    for (length, more), (_same, less) in zip(big.concurrency, small.concurrency, strict=True):
        assert (more or 0.0) >= (less or 0.0), length


@settings(max_examples=60)
@given(ref=st.sampled_from(MODELS), total_mib=st.integers(8 * 1024, 300 * 1024),
       extra_mib=st.integers(1, 120 * 1024))
def test_more_memory_never_shortens_the_context_nor_lowers_concurrency(ref: str, total_mib: int,
                                                                      extra_mib: int) -> None:
    _at_least(_deploy(ref, total_mib + extra_mib), _deploy(ref, total_mib))


@settings(max_examples=40)
@given(ref=st.sampled_from(MODELS), total_mib=st.integers(16 * 1024, 200 * 1024), pair=st.sampled_from(
    [(a, b) for a in TP_SIZES for b in TP_SIZES if a < b]))
def test_more_tensor_parallelism_never_shortens_the_context_nor_lowers_concurrency(
        ref: str, total_mib: int, pair: tuple[int, int]) -> None:
    small, big = (_deploy(ref, total_mib, tp) for tp in pair)
    if small.refused is None and big.refused is None:  # a size vLLM refuses for these heads is no row
        _at_least(big, small)


@pytest.mark.parametrize("ref", MODELS)
def test_the_longest_sure_length_is_a_boundary(ref: str) -> None:
    from kvplan.core.plan import plan

    inputs = _inputs(ref)
    d = _deploy(ref, 24 * 1024)
    if not d.starts:
        return
    at = plan(inputs.model, replace(PINNED, max_model_len=d.max_model_len, max_num_seqs=d.max_num_seqs or 256),
              _gpu(24 * 1024), inputs.weights, with_remedies=False)
    assert at.verdict.status == "ok"
    if d.max_model_len < d.model_limit:
        more = plan(inputs.model, replace(PINNED, max_model_len=d.max_model_len + 1,
                                          max_num_seqs=d.max_num_seqs or 256),
                    _gpu(24 * 1024), inputs.weights, with_remedies=False)
        assert more.verdict.status != "ok"


def test_a_model_that_does_not_start_reports_its_shortfall() -> None:
    d = _deploy("Qwen/Qwen3-32B", 24 * 1024)
    assert d.max_model_len == 0 and d.shortfall_bytes is not None and d.shortfall_bytes > 40 * GiB
    assert d.concurrency == ((4096, None), (32768, None))


def test_busy_device_in_vllms_words() -> None:
    l4 = GpuSpec(name="NVIDIA L4", total_bytes=22569 * MiB, free_bytes=3 * GiB, source="flag")
    assert busy_device_error(1, l4, 0.9) == (
        "Free memory on device cuda:1 (3.0/22.04 GiB) on startup is less than desired GPU memory utilization "
        "(0.9, 19.84 GiB). Decrease GPU memory utilization or reduce GPU memory used by other processes.")
    idle = replace(l4, free_bytes=22 * GiB)
    assert busy_device_error(0, idle, 0.9) is None
    assert busy_device_error(0, replace(l4, free_bytes=None), 0.9) is None
