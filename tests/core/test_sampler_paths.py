"""The V1 runner's dummy sampler run, per release (kvplan.core.overheads.V1_SAMPLER_PATHS).

Read in each wheel: v1/worker/gpu_model_runner.py ``_dummy_sampler_run`` (top-k vocab - 1, top-p 0.9, no
logprobs; from 0.21 a second pass with a per-request generator), v1/sample/ops/topk_topp_sampler.py
``TopKTopPSampler.__init__`` / ``apply_top_k_top_p``, envs.py ``VLLM_USE_FLASHINFER_SAMPLER`` and METADATA
``Requires-Dist: flashinfer-python``.
"""

from __future__ import annotations

import pytest

from kvplan.core.engine import resolve_engine
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import ModelSpec
from kvplan.core.overheads import (
    CAL_SAMPLER_SORT_BYTES,
    estimate_activation,
    in_place_sampler_bytes,
    sampler_bytes_per_element,
    v1_sampler_path,
)
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB
from kvplan.sources import catalog

GPU = GpuSpec(name="H100", total_bytes=80 * GiB, source="catalog")


def _llama() -> ModelSpec:
    from kvplan.core.architectures import model_spec_from_config

    return model_spec_from_config(catalog.find("meta-llama/Llama-3.1-8B-Instruct").config)  # type: ignore[union-attr]


@pytest.mark.parametrize(("version", "path"), [
    # 0.9.2: ``is_flashinfer_available`` and ``VLLM_USE_FLASHINFER_SAMPLER is not False``; METADATA has no
    # flashinfer-python at all. 0.10.2 / 0.11.0: the same test, flashinfer-python only in extra "flashinfer".
    ("0.9.2", "sort_unless_flashinfer_installed"),
    ("0.10.2", "sort_unless_flashinfer_installed"),
    ("0.11.0", "sort_unless_flashinfer_installed"),
    # 0.11.1 / 0.11.2 / 0.12-0.16: flashinfer-python a hard dependency, but ``if envs.VLLM_USE_FLASHINFER_SAMPLER:``
    # with default None ("Users must opt in explicitly"): forward_native, sort + out-of-place ``scatter``.
    ("0.11.1", "sort"),
    ("0.13.0", "sort"),
    ("0.16.0", "sort"),
    # 0.17.0-0.20.0: still opt-in; apply_top_k_top_p: ``if HAS_TRITON and logits.shape[0] >= 8:`` Triton.
    ("0.17.0", "triton"),
    ("0.19.0", "triton"),
    ("0.20.0", "triton"),
    # 0.21.0: envs.py ``VLLM_USE_FLASHINFER_SAMPLER: bool = True``; _dummy_sampler_run's generator pass goes to
    # forward_native (forward_cuda: ``or generators``), Triton; 0.32: Triton at any row count.
    ("0.21.0", "flashinfer_then_triton"),
    ("0.26.0", "flashinfer_then_triton"),
    ("0.32.0", "flashinfer_then_triton"),
])
def test_v1_sampler_path_by_release(version: str, path: str) -> None:
    engine = resolve_engine(_llama(), DeploySettings(vllm_version=version, max_num_seqs=1024), GPU)
    assert v1_sampler_path(engine) == path


def test_v0_and_few_rows_sort() -> None:
    llama = _llama()
    assert v1_sampler_path(resolve_engine(llama, DeploySettings(vllm_version="0.6.6"), GPU)) == "sort"
    # apply_top_k_top_p (0.17-0.31) sorts below 8 rows; 0.32 takes Triton at any row count
    few = DeploySettings(vllm_version="0.19.0", max_num_seqs=4)
    assert v1_sampler_path(resolve_engine(llama, few, GPU)) == "sort"
    few32 = DeploySettings(vllm_version="0.32.0", max_num_seqs=4)
    assert v1_sampler_path(resolve_engine(llama, few32, GPU)) == "flashinfer_then_triton"


def test_in_place_bytes_per_element_by_dtype() -> None:
    """bf16 logits held by _dummy_sampler_run (2) + Sampler.forward's fp32 copy (4) + two fp32 buffers (FlashInfer:
    top_k_mask_logits' output and its softmax; Triton: random_sample's probs and q): 14 B. fp32 model: ``.to``
    returns the same tensor, 12 B."""
    llama = _llama()
    bf16 = resolve_engine(llama, DeploySettings(vllm_version="0.19.0"), GPU)
    fp32 = resolve_engine(llama, DeploySettings(vllm_version="0.19.0", dtype="float32"), GPU)
    assert (in_place_sampler_bytes(bf16), in_place_sampler_bytes(fp32)) == (14, 12)
    assert sampler_bytes_per_element(bf16) == 14
    old = resolve_engine(llama, DeploySettings(vllm_version="0.13.0"), GPU)
    assert sampler_bytes_per_element(old) == CAL_SAMPLER_SORT_BYTES


def test_0_19_llama_peak_is_the_triton_sampler() -> None:
    """llm-d-planner's vLLM 0.19.0 H100 sweep (public-issues.jsonl line 15, held out): 1.89 GiB logged. kvplan:
    1,024 x 128,256 x 14 B + 132 Triton rows (one per H100 SM) x 128,256 x 4 B + 8,192 x 4,096 x 2 B hidden
    states = 1.84 GiB."""
    llama = _llama()
    engine = resolve_engine(llama, DeploySettings(vllm_version="0.19.0", max_model_len=8192), GPU)
    activation = estimate_activation(llama, engine)
    expected = 1024 * 128256 * 14 + 132 * 128256 * 4 + 8192 * 4096 * 2
    assert activation.value_bytes == expected
    assert abs(activation.value_bytes - 1.89 * GiB) < activation.error_bytes


def test_moe_workspace_is_held_through_the_sampler() -> None:
    """WorkspaceManager (v1/worker/workspace.py, 0.13+) keeps the fused-MoE scratch TritonExperts asked for on the
    profile's forward (fused_moe.py workspace_shapes, 0.19: (M, top_k, max(I, K)) and (M, top_k, max(2I, K))).
    Qwen3-30B-A3B, 8,192 tokens, top-8, I 768, K 2,048: 2 x 8,192 x 8 x 2,048 x 2 B = 0.50 GiB on top of the
    sampler: 2.63 GiB vs 2.68 logged (public-issues.jsonl line 32, held out). Before 0.13: per-call buffers."""
    from kvplan.core.architectures import model_spec_from_config

    moe = model_spec_from_config(catalog.find("Qwen/Qwen3-30B-A3B").config)  # type: ignore[union-attr]
    new = resolve_engine(moe, DeploySettings(vllm_version="0.19.0", max_model_len=8192), GPU)
    old = resolve_engine(moe, DeploySettings(vllm_version="0.12.0", max_model_len=8192), GPU)
    workspace = 2 * 8192 * 8 * 2048 * 2
    assert estimate_activation(moe, new).value_bytes - 1024 * 151936 * 14 - 132 * 151936 * 4 \
        - 8192 * 2048 * 2 == workspace
    assert "fused-MoE workspace" in estimate_activation(moe, new).source
    assert "fused-MoE workspace" not in estimate_activation(moe, old).source
    assert abs(estimate_activation(moe, new).value_bytes / GiB - 2.68) < 0.06
