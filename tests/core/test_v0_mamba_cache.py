"""V0 and Mamba models: the engine vLLM picks, KV blocks for attention only, and the state cache it allocates.

Figures from the shapes in the configs and the rules read in the wheels (model_runner.engine_for_model,
overheads.v0_mamba_cache_slots): MambaCacheManager allocates [layers, slots, *shape] conv and SSM tensors.
"""

from __future__ import annotations

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import kv_cache_groups, resolve_engine
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import ModelSpec
from kvplan.core.model_runner import engine_for_model
from kvplan.core.overheads import estimate_overheads, v0_graph_batch_size, v0_mamba_cache_slots
from kvplan.core.plan import plan
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB
from kvplan.core.weights import WeightsInfo
from kvplan.sources import catalog

RTX_5090 = GpuSpec(name="RTX 5090 as the NIM report gives it", total_bytes=int(31.84 * GiB))
# Nemotron-Nano-9B-v2, one sequence slot of one Mamba2 layer: conv (3 x (10,240 + 2 x 8 x 128)) x 2 B +
# SSM 128 heads x 80 x 128 x 2 B (bf16, the model dtype: no NemotronH dtype hook before 0.13).
NANO_CONV_BYTES = 3 * 12_288 * 2
NANO_SSM_BF16_BYTES = 128 * 80 * 128 * 2
JAMBA_SLOT_LAYER_BYTES = 8192 * 3 * 2 + 8192 * 16 * 2  # expand 2 x hidden 4096; d_conv 4, d_state 16


def _spec(name: str) -> ModelSpec:
    entry = catalog.find(name)
    assert entry is not None
    return model_spec_from_config(entry.config)


def _nano() -> ModelSpec:
    return _spec("nvidia/NVIDIA-Nemotron-Nano-9B-v2")


@pytest.mark.parametrize(("version", "engine"), [("0.8.0", "v0"), ("0.9.2", "v0"), ("0.10.1", "v0"),
                                                 ("0.10.1.1", "v0"), ("0.10.2", "v1"), ("0.33.0", "v1")])
def test_mamba_models_fall_back_to_v0_up_to_0_10_1(version: str, engine: str) -> None:
    behaviour, note = engine_for_model(_nano(), DeploySettings(vllm_version=version))
    assert behaviour.engine == engine
    assert (note is not None) == (engine == "v0")
    assert behaviour.version == version


def test_attention_models_keep_v1_and_old_releases_stay_v0() -> None:
    llama = _spec("meta-llama/Llama-3.1-8B")
    assert engine_for_model(llama, DeploySettings(vllm_version="0.10.1"))[0].engine == "v1"
    behaviour, note = engine_for_model(_spec("ai21labs/Jamba-v0.1"), DeploySettings(vllm_version="0.6.6"))
    assert behaviour.engine == "v0" and note is None  # V0 is the release's only engine: nothing to explain


def test_v0_kv_blocks_hold_the_attention_layers_only() -> None:
    model = _nano()
    engine = resolve_engine(model, DeploySettings(vllm_version="0.10.1", max_model_len=4096, max_num_seqs=32),
                            RTX_5090)
    assert engine.behaviour.engine == "v0" and engine.block_size == 16  # no hybrid alignment in V0
    assert engine.gpu_memory_utilization == 0.9 and not engine.hybrid_manager and not engine.mamba_align_mode
    groups = kv_cache_groups(model, engine)
    assert [g.spec.kind for g in groups] == ["full"]
    assert sum(len(g.layer_indices) for g in groups) == 4
    result = plan(model, DeploySettings(vllm_version="0.10.1", max_model_len=4096, max_num_seqs=32,
                                        gpu_memory_utilization=0.9), RTX_5090,
                  WeightsInfo(total_bytes=int(16.58 * GiB), source="engine log"))
    assert result.kv_cache.bytes_per_block == 4 * 16 * 2 * 8 * 128 * 2 == 262_144  # get_cache_block_size
    assert any("V0 engine" in note for note in result.notes)


def test_v0_mamba_cache_is_exact_and_counted_before_kv() -> None:
    model = _nano()
    settings = DeploySettings(vllm_version="0.10.1", max_model_len=4096, max_num_seqs=32, gpu_memory_utilization=0.9)
    engine = resolve_engine(model, settings, RTX_5090)
    over = estimate_overheads(model, engine, Estimate.exact_value(16 * GiB, "t"), enforce_eager=False)
    assert over.mamba_cache.value_bytes == 27 * 32 * (NANO_CONV_BYTES + NANO_SSM_BF16_BYTES) == 2_328_625_152
    assert over.mamba_cache.exact and over.mamba_cache.error_bytes == 0
    assert over.total_bytes == sum(term.value_bytes for term in over.terms)
    fp32 = resolve_engine(model, DeploySettings(vllm_version="0.10.1", max_model_len=4096, max_num_seqs=32,
                                                mamba_ssm_cache_dtype="float32"), RTX_5090)
    over32 = estimate_overheads(model, fp32, Estimate.exact_value(16 * GiB, "t"), enforce_eager=False)
    assert over32.mamba_cache.value_bytes == 27 * 32 * (NANO_CONV_BYTES + 2 * NANO_SSM_BF16_BYTES)
    # V1 keeps the state in KV blocks: no separate cache
    v1 = resolve_engine(model, DeploySettings(vllm_version="0.10.2", max_model_len=4096, max_num_seqs=32), RTX_5090)
    assert estimate_overheads(model, v1, Estimate.exact_value(16 * GiB, "t"),
                              enforce_eager=False).mamba_cache.value_bytes == 0


def test_v0_mamba_cache_follows_tp_and_pp() -> None:
    model = _nano()
    one = resolve_engine(model, DeploySettings(vllm_version="0.10.1", max_num_seqs=32), RTX_5090)
    tp2 = resolve_engine(model, DeploySettings(vllm_version="0.10.1", max_num_seqs=32, tensor_parallel_size=2),
                         RTX_5090)
    pp2 = resolve_engine(model, DeploySettings(vllm_version="0.10.1", max_num_seqs=32, pipeline_parallel_size=2),
                         RTX_5090)
    weights = Estimate.exact_value(GiB, "t")
    full = estimate_overheads(model, one, weights, enforce_eager=False).mamba_cache.value_bytes
    assert estimate_overheads(model, tp2, weights, enforce_eager=False).mamba_cache.value_bytes == full // 2
    half = estimate_overheads(model, pp2, weights, enforce_eager=False).mamba_cache
    assert full // 2 <= half.value_bytes < full  # the stage with more Mamba layers binds


def test_jamba_on_0_6_6() -> None:
    model = _spec("ai21labs/Jamba-v0.1")
    engine = resolve_engine(model, DeploySettings(vllm_version="0.6.6", max_model_len=8192), RTX_5090)
    assert engine.block_size == 16 and engine.max_num_seqs == 256
    over = estimate_overheads(model, engine, Estimate.exact_value(GiB, "t"), enforce_eager=False)
    assert over.mamba_cache.value_bytes == 28 * 256 * JAMBA_SLOT_LAYER_BYTES == 2_231_369_728
    eager = estimate_overheads(model, engine, Estimate.exact_value(GiB, "t"), enforce_eager=True)
    assert eager.mamba_cache.value_bytes == 28 * 8194 * JAMBA_SLOT_LAYER_BYTES  # 0.6.5-0.7.2: 8192 + 2 slots


@pytest.mark.parametrize(("n", "padded"), [(1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (32, 32), (33, 40),
                                           (256, 256), (9000, 8192)])
def test_v0_graph_batch_size(n: int, padded: int) -> None:
    assert v0_graph_batch_size(n) == padded


@pytest.mark.parametrize(("version", "seqs", "eager", "slots"), [
    ("0.5.4", 256, False, 266), ("0.5.4", 256, True, 266),  # padded + 10, eager or not
    ("0.6.4", 30, True, 32), ("0.6.4", 30, False, 32),
    ("0.6.6", 30, True, 8194), ("0.7.2", 30, False, 32),
    ("0.7.3", 30, True, 30), ("0.10.1", 30, False, 32), ("0.10.1", 30, True, 30),
])
def test_v0_mamba_cache_slots_by_release(version: str, seqs: int, eager: bool, slots: int) -> None:
    model = _spec("ai21labs/Jamba-v0.1")
    engine = resolve_engine(model, DeploySettings(vllm_version=version, max_num_seqs=seqs, max_model_len=4096),
                            RTX_5090)
    assert v0_mamba_cache_slots(engine, eager) == slots


@pytest.mark.parametrize(("version", "capability", "engine"), [
    ("0.8.5", (7, 5), "v0"), ("0.10.1", (7, 0), "v0"), ("0.10.1", (8, 0), "v1"), ("0.10.2", (7, 5), "v1"),
    ("0.9.2", None, "v1"),  # capability unknown: the release default
])
def test_pre_ampere_gpus_fall_back_to_v0_up_to_0_10_1(version: str, capability: tuple[int, int] | None,
                                                        engine: str) -> None:
    llama = _spec("meta-llama/Llama-3.1-8B")
    behaviour, note = engine_for_model(llama, DeploySettings(vllm_version=version), compute_capability=capability)
    assert behaviour.engine == engine
    assert (note is not None) == (engine == "v0")
    assert engine_for_model(llama, DeploySettings(vllm_version=version, platform="cpu"),
                            compute_capability=capability)[0].engine == "v1"


def test_t4_on_0_9_2_is_planned_with_v0_arithmetic() -> None:
    t4 = GpuSpec(name="Tesla T4", total_bytes=int(14.74 * GiB), compute_capability=(7, 5))
    engine = resolve_engine(_spec("meta-llama/Llama-3.2-1B-Instruct"),
                            DeploySettings(vllm_version="0.9.2", max_model_len=4096), t4)
    assert engine.behaviour.engine == "v0" and engine.gpu_memory_utilization == 0.9
    assert engine.engine_note and "compute capability 7.5" in engine.engine_note


def test_v0_remedy_lowers_max_num_seqs_to_the_largest_that_starts() -> None:
    model = _nano()
    gpu = GpuSpec(name="24 GiB", total_bytes=24 * GiB)
    weights = WeightsInfo(total_bytes=int(16.55 * GiB), source="t")
    result = plan(model, DeploySettings(vllm_version="0.10.1", max_model_len=8192), gpu, weights)
    assert result.verdict.status == "fail"  # 256 slots x 27 layers x 2.7 MB = 18.6 GiB of Mamba state
    remedy = next(r for r in result.verdict.remedies if r.kind == "max_num_seqs")
    seqs = int(remedy.flags["--max-num-seqs"])
    assert remedy.fits and "Mamba state per sequence slot" in remedy.summary
    assert plan(model, DeploySettings(vllm_version="0.10.1", max_model_len=8192, max_num_seqs=seqs), gpu,
                weights).verdict.status != "fail"
    assert plan(model, DeploySettings(vllm_version="0.10.1", max_model_len=8192, max_num_seqs=seqs + 1), gpu,
                weights).verdict.status == "fail"
