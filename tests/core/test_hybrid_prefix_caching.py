"""Prefix caching on Mamba hybrids, by vLLM release, and what it does to their KV arithmetic.

Read in the wheels: 0.10.2/0.11 turn it off for hybrids, 0.12-0.25 do not enable it by default
(``is_prefix_caching_supported`` says no for attn_type "hybrid"), 0.26/0.27 keep it opt-in, 0.28+ enable it
(Mamba cache mode "align": two state blocks a request), and 0.32+ add Mamba-2's prefill checkpoint block.
The 0.26 case was run on an H100 (benchmarks/gpu-runs/h100-vllm-0.26.0/nemotron9b-default.log).
"""

from __future__ import annotations

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import kv_cache_groups, resolve_engine
from kvplan.core.errors import UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.plan import plan
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB
from tests.conftest import load_config

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=85_017_493_504, source="catalog",
               compute_capability=(9, 0))
NANO_9B = "nvidia__NVIDIA-Nemotron-Nano-9B-v2"  # 27 Mamba-2, 4 attention, 25 MLP layers
QWEN3_NEXT = "Qwen__Qwen3-Next-80B-A3B-Thinking"  # gated delta net: no Mamba prefix caching of its own


def _engine(name: str, **settings: object):  # type: ignore[no-untyped-def]
    model = model_spec_from_config(load_config(name))
    return model, resolve_engine(model, DeploySettings(**settings), H100)  # type: ignore[arg-type]


def _mamba_blocks_per_request(name: str, **settings: object) -> set[int]:
    model, engine = _engine(name, **settings)
    shape = engine.request_shape(engine.max_model_len)
    return {g.spec.blocks_per_request(shape) for g in kv_cache_groups(model, engine) if g.spec.kind == "mamba"}


@pytest.mark.parametrize(("version", "prefix_caching", "mamba_blocks"), [
    ("0.11.0", False, 1),
    ("0.20.0", False, 1),
    ("0.26.0", False, 1),  # logged on the H100: enable_prefix_caching=False
    ("0.27.1", False, 1),
    ("0.28.0", True, 2),  # align mode: 2 + num_speculative_blocks
    ("0.31.0", True, 2),
    ("0.32.0", True, 3),  # + Mamba-2's prefill checkpoint block
    ("0.33.0", True, 3),
])
def test_default_by_release(version: str, prefix_caching: bool, mamba_blocks: int) -> None:
    _, engine = _engine(NANO_9B, vllm_version=version)
    assert engine.enable_prefix_caching is prefix_caching
    assert _mamba_blocks_per_request(NANO_9B, vllm_version=version) == {mamba_blocks}


def test_gated_delta_net_checkpoint_block_from_0_33_with_flashinfer() -> None:
    """Qwen's GDN keeps a prefill checkpoint block in align mode only where FlashInfer runs its prefill: 0.33+
    (0.33.0 layers/mamba/gdn/qwen_gdn_linear_attn.py get_kv_cache_spec, _resolve_gdn_prefill_backend: SM 9.0,
    or SM 10.x / 12.x with 128-wide keys on CUDA 13); 0.32 has no such block."""
    assert _mamba_blocks_per_request(QWEN3_NEXT, vllm_version="0.32.0") == {2}
    assert _mamba_blocks_per_request(QWEN3_NEXT, vllm_version="0.33.0") == {3}
    assert _mamba_blocks_per_request(QWEN3_NEXT, vllm_version="0.34.0") == {3}
    assert _mamba_blocks_per_request(QWEN3_NEXT, vllm_version="0.26.0") == {1}
    a100 = GpuSpec(name="NVIDIA A100-SXM4-80GB", total_bytes=85_899_345_920, source="catalog",
                   compute_capability=(8, 0))
    model = model_spec_from_config(load_config(QWEN3_NEXT))
    engine = resolve_engine(model, DeploySettings(vllm_version="0.34.0"), a100)
    shape = engine.request_shape(engine.max_model_len)
    assert {g.spec.blocks_per_request(shape) for g in kv_cache_groups(model, engine) if g.spec.kind == "mamba"} == {2}


def test_matches_the_h100_exactly() -> None:
    """vLLM 0.26.0, Nemotron-Nano-9B-v2, 55,225,205,658 B of KV (the probe's exact figure): 2,569 blocks of
    1,312 tokens, 100 attention + 7 Mamba blocks a request: 2,569 / 107 = 24.01x, 3,146,952 tokens."""
    model = model_spec_from_config(load_config(NANO_9B))
    result = plan(model, DeploySettings(vllm_version="0.26.0", entrypoint="llm", gpu_memory_utilization=0.9,
                                        kv_cache_memory_bytes=55_225_205_658), H100)
    kv = result.kv_cache
    assert (kv.block_size, kv.num_blocks, kv.blocks_per_request, kv.tokens) == (1312, 2569, 107, 3_146_952)
    # kvplan assumed prefix caching before: 121 blocks a request, 2,767,677 tokens (-12 %)


@pytest.mark.parametrize(("name", "version", "expected"), [
    (NANO_9B, "0.11.0", False),  # HybridAttentionMambaModelConfig turns it off
    (QWEN3_NEXT, "0.13.0", False),  # 0.12-0.14: kept only for SupportsMambaPrefixCaching models
    (QWEN3_NEXT, "0.14.0", False),
    (QWEN3_NEXT, "0.15.0", True),
    (QWEN3_NEXT, "0.20.0", True),  # 0.15-0.27: "align" for the others
    (QWEN3_NEXT, "0.26.0", True),
    (NANO_9B, "0.28.0", True),
])
def test_asked_for(name: str, version: str, expected: bool) -> None:
    _, engine = _engine(name, vllm_version=version, enable_prefix_caching=True)
    assert engine.enable_prefix_caching is expected
    assert engine.mamba_align_mode is expected
    # What vLLM turns off is said, in vLLM's own words (it logs them at INFO).
    assert (engine.prefix_caching_note is None) is expected


def test_turning_off_is_a_plan_note() -> None:
    kv = 20 * GiB
    model = model_spec_from_config(load_config(QWEN3_NEXT))
    notes = plan(model, DeploySettings(vllm_version="0.13.0", enable_prefix_caching=True, kv_cache_memory_bytes=kv,
                                       tensor_parallel_size=4), H100).notes
    assert any("turns prefix caching off" in n and "without support for prefix caching" in n for n in notes)
    model = model_spec_from_config(load_config(NANO_9B))
    notes = plan(model, DeploySettings(vllm_version="0.11.0", enable_prefix_caching=True, kv_cache_memory_bytes=kv),
                 H100).notes
    assert any("vLLM 0.11.0 turns prefix caching off for models with Mamba layers" in n for n in notes)
    default = plan(model, DeploySettings(vllm_version="0.11.0", kv_cache_memory_bytes=kv), H100).notes
    assert not any("prefix caching off" in n for n in default)


@pytest.mark.parametrize("version", ["0.13.0", "0.20.0", "0.27.1"])
def test_mode_all_is_refused(version: str) -> None:
    with pytest.raises(UsageError, match="Mamba cache mode 'all'"):
        _engine(NANO_9B, vllm_version=version, enable_prefix_caching=True)


def test_turned_off_on_a_release_that_defaults_on() -> None:
    _, engine = _engine(NANO_9B, vllm_version="0.33.0", enable_prefix_caching=False)
    assert not engine.enable_prefix_caching and not engine.mamba_align_mode
    assert _mamba_blocks_per_request(NANO_9B, vllm_version="0.33.0", enable_prefix_caching=False) == {1}


def test_dense_models_keep_the_default() -> None:
    _, engine = _engine("meta-llama__Llama-3.1-8B-Instruct", vllm_version="0.26.0")
    assert engine.enable_prefix_caching is True


def test_more_memory_still_means_more_tokens_without_prefix_caching() -> None:
    model = model_spec_from_config(load_config(NANO_9B))
    tokens = [plan(model, DeploySettings(vllm_version="0.26.0", kv_cache_memory_bytes=gib * GiB), H100)
              .kv_cache.tokens for gib in (10, 20, 40)]
    assert tokens == sorted(tokens) and len(set(tokens)) == 3


def test_turning_prefix_caching_off_is_offered_as_a_remedy() -> None:
    """0.33, 0.5 GiB of KV, 8,192 tokens: 7 attention + 7 x 3 Mamba blocks of 21,495,808 B = 0.56 GiB do not fit;
    with 1 Mamba block a request (14 blocks) the length fits and 24 blocks hold 1.71 requests."""
    model = model_spec_from_config(load_config(NANO_9B))
    result = plan(model, DeploySettings(kv_cache_memory_bytes=GiB // 2, max_model_len=8192, max_num_seqs=8), H100)
    assert result.verdict.status == "fail"
    remedy = next(r for r in result.verdict.remedies if r.kind == "enable_prefix_caching")
    assert remedy.fits and remedy.flags == {"--no-enable-prefix-caching": ""}
    assert remedy.tokens == 14_043  # 24 blocks / 14 a request x 8,192
    fp8 = next(r for r in result.verdict.remedies if r.kind == "kv_cache_dtype")
    assert not fp8.fits  # the Mamba state stays in its dtype: fp8 KV alone does not get there
