"""vLLM 0.34's KV sizing (kvplan.core.kv_sizing): figures worked from 0.34.0's code, named by function.

measure_kv_cache_bytes, _resolve_extensible_kv_cache, resolved_gpu_memory_utilization and the warning of
measure_kv_cache_blocks are read in vllm/v1/worker/extensible_kv_cache.py, vllm/config/vllm.py and
vllm/config/cache.py of the 0.34.0 wheel. No 0.34 start-up could be run: these pin the source's arithmetic.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.errors import UsageError
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.kv_sizing import (
    default_utilization,
    estimate_extensible,
    margin_bytes,
    measure_kv_cache_bytes,
    sizing_path,
    utilization_warning,
)
from kvplan.core.plan import CUDA_CONTEXT_BYTES, plan, release_comparison
from kvplan.core.settings import DeploySettings, vllm_behaviour
from kvplan.core.units import GiB
from kvplan.core.weights import WeightsInfo
from tests.conftest import load_config

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=int(79.18 * GiB), total_error_bytes=int(0.2 * GiB),
               source="catalog", compute_capability=(9, 0))


# --- measure_kv_cache_bytes (extensible_kv_cache.py) -------------------------------------------------------------

def test_measure_kv_cache_bytes_headroom_binds_at_the_default_utilisation() -> None:
    # 80 GiB device, 79.5 GiB free at the snapshot, 20 GiB resident after warm-up, nothing committed, 2 GiB
    # transient: margin = max(1 GiB, 1.5 GiB) = 1.5 GiB; min(80 - 20, 59.5 - 1.5) - 2 = 56 GiB.
    assert measure_kv_cache_bytes(init_free_memory=int(79.5 * GiB), free_memory=int(59.5 * GiB), committed_bytes=0,
                                  requested_memory=80 * GiB, transient_peak_bytes=2 * GiB) == 56 * GiB


def test_measure_kv_cache_bytes_budget_binds_below_one() -> None:
    # utilisation 0.9 of 80 GiB = 72 GiB requested: min(72 - 20, 58) - 2 = 50 GiB
    assert measure_kv_cache_bytes(init_free_memory=int(79.5 * GiB), free_memory=int(59.5 * GiB), committed_bytes=0,
                                  requested_memory=72 * GiB, transient_peak_bytes=2 * GiB) == 50 * GiB


def test_measure_kv_cache_bytes_counts_the_committed_prefix_as_headroom() -> None:
    # 1 GiB of KV committed: non-KV used = 79.5 - 58.5 - 1 = 20 GiB, headroom 59.5 GiB -> same 56 GiB as above
    assert measure_kv_cache_bytes(init_free_memory=int(79.5 * GiB), free_memory=int(58.5 * GiB),
                                  committed_bytes=GiB, requested_memory=80 * GiB,
                                  transient_peak_bytes=2 * GiB) == 56 * GiB


def test_measure_kv_cache_bytes_floor_margin_and_reserve_growth() -> None:
    # 0.4 GiB transient: the 1 GiB floor is the margin; torch's reservation grew 0.8 GiB, which is kept instead
    got = measure_kv_cache_bytes(init_free_memory=40 * GiB, free_memory=30 * GiB, committed_bytes=0,
                                 requested_memory=40 * GiB, transient_peak_bytes=int(0.4 * GiB),
                                 torch_reserve_growth_bytes=int(0.8 * GiB))
    assert got == 30 * GiB - GiB - int(0.8 * GiB)
    assert margin_bytes(int(0.4 * GiB)) == GiB and margin_bytes(4 * GiB) == 3 * GiB
    assert margin_bytes(int(0.4 * GiB), rocm=True) == 3 * GiB  # ROCm's floor


def test_measure_kv_cache_bytes_never_negative() -> None:
    assert measure_kv_cache_bytes(init_free_memory=10 * GiB, free_memory=GiB, committed_bytes=0,
                                  requested_memory=10 * GiB, transient_peak_bytes=GiB) == 0


def test_estimate_extensible_from_given_terms() -> None:
    """The extensible path's available bytes from given measured terms, capped by the profiled capacity."""
    exact = dict(error_bytes=0, source="given")
    sizing = estimate_extensible(
        total_bytes=80 * GiB, utilization=1.0, init_free=Estimate(value_bytes=int(79.5 * GiB), **exact),
        resident=Estimate(value_bytes=20 * GiB, **exact), activation=Estimate(value_bytes=GiB, **exact),
        cudagraph=Estimate(value_bytes=GiB, **exact), profiled_capacity_bytes=57 * GiB,
        empty_init_free_bytes=int(79.5 * GiB), other_processes_bytes=None)
    # transient = activation + graph estimate = 2 GiB, margin 1.5 GiB -> 56 GiB, under the 57 GiB capacity
    assert (sizing.transient_peak_bytes, sizing.margin_bytes, sizing.kv_cache_bytes) == (2 * GiB, int(1.5 * GiB),
                                                                                         56 * GiB)
    capped = estimate_extensible(
        total_bytes=80 * GiB, utilization=1.0, init_free=Estimate(value_bytes=int(79.5 * GiB), **exact),
        resident=Estimate(value_bytes=20 * GiB, **exact), activation=Estimate(value_bytes=GiB, **exact),
        cudagraph=Estimate(value_bytes=GiB, **exact), profiled_capacity_bytes=55 * GiB,
        empty_init_free_bytes=int(79.5 * GiB), other_processes_bytes=None, mm_ipc_reserve_bytes=GiB)
    assert capped.kv_cache_bytes == 54 * GiB  # min(56, 55) less 1 GiB of multimodal IPC reserve


def test_estimate_extensible_other_processes_cost_the_kv_cache() -> None:
    exact = dict(error_bytes=0, source="given")
    busy = estimate_extensible(
        total_bytes=80 * GiB, utilization=1.0, init_free=Estimate(value_bytes=int(71.5 * GiB), **exact),
        resident=Estimate(value_bytes=20 * GiB, **exact), activation=Estimate(value_bytes=GiB, **exact),
        cudagraph=Estimate(value_bytes=GiB, **exact), profiled_capacity_bytes=60 * GiB,
        empty_init_free_bytes=int(79.5 * GiB), other_processes_bytes=8 * GiB)
    assert busy.kv_cache_bytes == 48 * GiB and busy.other_processes_cost_bytes == 8 * GiB
    # an explicit 0.6 keeps the budget below the headroom: others cost nothing, and no warning (not in 0.7-1.0)
    capped = estimate_extensible(
        total_bytes=80 * GiB, utilization=0.6, init_free=Estimate(value_bytes=int(71.5 * GiB), **exact),
        resident=Estimate(value_bytes=20 * GiB, **exact), activation=Estimate(value_bytes=GiB, **exact),
        cudagraph=Estimate(value_bytes=GiB, **exact), profiled_capacity_bytes=60 * GiB,
        empty_init_free_bytes=int(79.5 * GiB), other_processes_bytes=8 * GiB)
    assert capped.kv_cache_bytes == 26 * GiB and capped.other_processes_cost_bytes == 0 and capped.warning is None


def test_estimate_extensible_short_of_memory_keeps_the_shortfall_and_its_error() -> None:
    """vLLM clamps the measured bytes at 0; the estimate keeps by how much the engine is short, with its error,
    so a plan 0.1 GiB short (it may well start) and one 10 GiB short no longer read the same (0, exact)."""
    given = dict(source="given")
    just_short = estimate_extensible(
        total_bytes=24 * GiB, utilization=0.9, init_free=Estimate(value_bytes=int(23.5 * GiB), error_bytes=0, **given),
        resident=Estimate(value_bytes=int(18.6 * GiB), error_bytes=GiB, **given),
        activation=Estimate(value_bytes=GiB, error_bytes=0, **given),
        cudagraph=Estimate(value_bytes=GiB, error_bytes=0, **given), profiled_capacity_bytes=GiB,
        empty_init_free_bytes=int(23.5 * GiB), other_processes_bytes=None)
    # budget 21.6 GiB - 18.6 resident = 3.0, headroom 4.9 - 1.5 margin = 3.4: min 3.0 - 2 GiB transient = +1.0;
    # at 0.8 the budget is 19.2 GiB: 0.6 - 2 = -1.4 GiB short, error sqrt(1 + 0.5^2) GiB kept
    assert just_short.kv_cache_bytes == GiB
    below = estimate_extensible(
        total_bytes=24 * GiB, utilization=0.8, init_free=Estimate(value_bytes=int(23.5 * GiB), error_bytes=0, **given),
        resident=Estimate(value_bytes=int(18.6 * GiB), error_bytes=GiB, **given),
        activation=Estimate(value_bytes=GiB, error_bytes=0, **given),
        cudagraph=Estimate(value_bytes=GiB, error_bytes=0, **given), profiled_capacity_bytes=GiB,
        empty_init_free_bytes=int(23.5 * GiB), other_processes_bytes=None)
    assert below.kv_cache_bytes == pytest.approx(-1.4 * GiB, abs=1) and below.measured_bytes == 0
    assert below.error_bytes == pytest.approx((1 + 0.5**2) ** 0.5 * GiB, abs=2)


# --- utilisation: resolved_gpu_memory_utilization (config/cache.py) and the warning ----------------------------

def test_resolved_gpu_memory_utilization_by_path() -> None:
    v034 = vllm_behaviour("0.34.0")
    assert default_utilization(sizing_path(DeploySettings()), v034) == 1.0
    assert default_utilization(sizing_path(DeploySettings(num_gpu_blocks_override=100)), v034) == 0.92
    assert default_utilization(sizing_path(DeploySettings(enable_extensible_kv_cache=False)), v034) == 0.92
    assert default_utilization(sizing_path(DeploySettings(vllm_version="0.33.0")), vllm_behaviour("0.33.0")) == 0.92
    model = model_spec_from_config(load_config("meta-llama__Llama-3.1-8B"))
    assert resolve_engine(model, DeploySettings(), H100).gpu_memory_utilization == 1.0
    assert resolve_engine(model, DeploySettings(gpu_memory_utilization=0.9), H100).gpu_memory_utilization == 0.9
    fallback = DeploySettings(extensible_unavailable="the driver lacks VMM support")
    assert resolve_engine(model, fallback, H100).gpu_memory_utilization == 0.92


def test_measure_kv_cache_blocks_warns_for_an_explicit_utilisation_that_withholds() -> None:
    text = utilization_warning(0.9, 72 * GiB, 6 * GiB)
    assert text is not None and text.startswith("gpu_memory_utilization=0.9 caps this instance at 72.0 GiB, keeping "
                                                 "6.0 GiB of free device memory out of the KV cache.")
    assert utilization_warning(0.9, 72 * GiB, GiB - 1) is None  # under 1 GiB withheld
    assert utilization_warning(0.7, 56 * GiB, 20 * GiB) is None  # 0.7 itself is not in (0.7, 1.0)
    assert utilization_warning(1.0, 80 * GiB, 0) is None


# --- the fallback conditions: _resolve_extensible_kv_cache (config/vllm.py) -----------------------------------

@pytest.mark.parametrize(("settings", "kind"), [
    (DeploySettings(), "extensible"),
    (DeploySettings(kv_cache_memory_bytes=GiB), "fixed"),
    (DeploySettings(num_gpu_blocks_override=1000), "profiled"),
    (DeploySettings(enable_extensible_kv_cache=False), "profiled"),
    (DeploySettings(extensible_unavailable="the driver lacks VMM support"), "profiled"),
    (DeploySettings(extensible_unavailable="NIXL without an IMEX channel"), "profiled"),
    (DeploySettings(platform="cpu", kv_cache_memory_bytes=GiB), "fixed"),
    (DeploySettings(vllm_version="0.33.0"), "profiled"),
    (DeploySettings(vllm_version="0.33.0", kv_cache_memory_bytes=GiB), "fixed"),
])
def test_resolve_extensible_kv_cache_fallbacks(settings: DeploySettings, kind: str) -> None:
    assert sizing_path(settings).kind == kind


def test_resolve_extensible_kv_cache_refuses_an_explicit_request_it_cannot_serve() -> None:
    with pytest.raises(UsageError, match="kv_cache_memory_bytes overrides"):
        sizing_path(DeploySettings(enable_extensible_kv_cache=True, kv_cache_memory_bytes=GiB))
    with pytest.raises(UsageError, match="num_gpu_blocks_override overrides"):
        sizing_path(DeploySettings(enable_extensible_kv_cache=True, num_gpu_blocks_override=10))
    with pytest.raises(UsageError, match=r"came in 0\.34\.0"):
        sizing_path(DeploySettings(vllm_version="0.33.0", enable_extensible_kv_cache=True))


# --- block size: CacheConfig.DEFAULT_BLOCK_SIZE 64 (config/cache.py) ------------------------------------------

def test_default_block_size_is_64_from_034() -> None:
    llama = model_spec_from_config(load_config("meta-llama__Llama-3.1-8B"))
    assert resolve_engine(llama, DeploySettings(), H100).block_size == 64
    assert resolve_engine(llama, DeploySettings(vllm_version="0.33.0"), H100).block_size == 16
    assert resolve_engine(llama, DeploySettings(block_size=16), H100).block_size == 16
    kimi = model_spec_from_config(load_config("moonshotai__Kimi-K2-Instruct"))
    b200 = GpuSpec(name="NVIDIA B200", total_bytes=178 * GiB, source="catalog", compute_capability=(10, 0))
    # FLASHINFER_MLA takes 32 or 64: 0.33 picks 32 (16 is not taken), 0.34 keeps the default 64
    assert resolve_engine(kimi, DeploySettings(vllm_version="0.33.0"), b200).block_size == 32
    assert resolve_engine(kimi, DeploySettings(), b200).block_size == 64


# --- the plan ---------------------------------------------------------------------------------------------------

def _llama_plan(version: str, gpu: GpuSpec = H100) -> object:
    model = model_spec_from_config(load_config("meta-llama__Llama-3.1-8B"))
    weights = WeightsInfo(total_bytes=16_060_522_496, exact=True, source="safetensors headers")
    return plan(model, DeploySettings(vllm_version=version), gpu, weights)


def test_llama_8b_h100_034_against_033() -> None:
    """Llama-3.1-8B, H100, defaults: 0.34 gives the KV cache ~3 GiB more (utilisation 1.0, less the margin, the
    CUDA context and the CUDA graphs kept free a second time)."""
    old, new = _llama_plan("0.33.0"), _llama_plan("0.34.0")
    assert old.memory.kv_sizing == "profiled" and new.memory.kv_sizing == "extensible"  # type: ignore[attr-defined]
    sizing = new.memory.extensible  # type: ignore[attr-defined]
    overheads = new.memory.overheads  # type: ignore[attr-defined]
    assert sizing.init_free_bytes == H100.total_bytes - CUDA_CONTEXT_BYTES
    transient = overheads.activation.value_bytes + overheads.cudagraph.value_bytes
    expected = H100.total_bytes - CUDA_CONTEXT_BYTES - overheads.resident_bytes - margin_bytes(transient) - transient
    assert new.memory.kv_cache_bytes == expected  # type: ignore[attr-defined]
    delta = new.memory.kv_cache_bytes - old.memory.kv_cache_bytes  # type: ignore[attr-defined]
    assert 2.5 * GiB < delta < 3.5 * GiB
    comparison = release_comparison(old)  # type: ignore[arg-type]
    assert comparison is not None and comparison.other.memory.kv_cache_bytes == new.memory.kv_cache_bytes  # type: ignore[attr-defined]
    assert "blocks hold 64 tokens instead of 16" in comparison.note
    assert release_comparison(new) is None  # type: ignore[arg-type]


def test_free_memory_check_is_skipped_on_the_extensible_path() -> None:
    busy = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=int(79.18 * GiB), free_bytes=40 * GiB, source="nvml",
                   compute_capability=(9, 0))
    new, old = _llama_plan("0.34.0", busy), _llama_plan("0.33.0", busy)
    assert old.memory.free_check == "fail" and old.verdict.status == "fail"  # type: ignore[attr-defined]
    assert new.memory.free_check == "not checked" and new.verdict.vllm_errors == ()  # type: ignore[attr-defined]
    sizing = new.memory.extensible  # type: ignore[attr-defined]
    assert sizing.other_processes_bytes == int(79.18 * GiB) - 40 * GiB
    # less CUDA_CONTEXT_BYTES before the snapshot in both cases, so the cost is exactly what others hold
    assert sizing.other_processes_cost_bytes == sizing.other_processes_bytes
    assert any(note.startswith("other processes hold 39.18 GiB") for note in new.notes)  # type: ignore[attr-defined]


def test_auto_fit_and_kv_errors_in_034s_words() -> None:
    """_more_kv_cache_memory_hint (kv_cache_planning.py, 0.34): the hint follows the sizing path."""
    from kvplan.core.settings import AUTO_MAX_MODEL_LEN

    model = model_spec_from_config(load_config("meta-llama__Llama-3.1-8B"))
    weights = WeightsInfo(total_bytes=16_060_522_496, exact=True, source="safetensors headers")
    small = GpuSpec(name="small", total_bytes=17 * GiB, source="flag")
    auto = plan(model, DeploySettings(max_model_len=AUTO_MAX_MODEL_LEN), small, weights)
    assert auto.verdict.vllm_errors[0].endswith("CUDA graph capture and warmup left no memory for the KV cache. "
                                                "Increase `gpu_memory_utilization`, reduce the memory CUDA graphs "
                                                "take (fewer or smaller capture sizes in the compilation config), "
                                                "or use more GPUs.")
    long = plan(model, DeploySettings(max_model_len=131072), GpuSpec(name="mid", total_bytes=30 * GiB,
                                                                     source="flag"), weights)
    assert "The extensible KV cache already takes all device memory left after the model, its activations, CUDA " \
           "graphs and warmup; decrease `max_model_len` or `max_num_seqs`" in long.verdict.vllm_errors[0]
    assert "Decreasing `max_model_len` also reduces what is needed." in long.verdict.vllm_errors[0]
    profiled = plan(model, DeploySettings(max_model_len=131072, enable_extensible_kv_cache=False),
                    GpuSpec(name="mid", total_bytes=30 * GiB, source="flag"), weights)
    assert "Try increasing `gpu_memory_utilization` when initializing the engine (this flag also controls CPU " \
           "memory reservation on the CPU backend, despite its name)." in profiled.verdict.vllm_errors[0]


def test_rocm_keeps_the_3_gib_margin_floor_in_the_plan() -> None:
    """QA: estimate_extensible took ``rocm`` but plan never passed it, so an MI300X kept 1 GiB of margin floor
    where vLLM 0.34 keeps 3 GiB (KV_CACHE_MARGIN_FLOOR_BYTES, v1/worker/extensible_kv_cache.py): Llama-3.1-8B
    at defaults had a 1.98 GiB margin (0.75 x its 2.64 GiB transient) and ~1 GiB too much KV cache."""
    mi300x = GpuSpec(name="AMD Instinct MI300X", total_bytes=int(191.45 * GiB), total_error_bytes=int(0.2 * GiB),
                     source="catalog", compute_capability=(9, 4), rocm=True)
    rocm, cuda = _llama_plan("0.34.0", mi300x), _llama_plan("0.34.0", replace(mi300x, rocm=False))
    assert rocm.memory.extensible.margin_bytes == 3 * GiB  # type: ignore[attr-defined]
    assert cuda.memory.extensible.margin_bytes < 2 * GiB  # type: ignore[attr-defined]
    assert "max(3 GiB, 0.75 x transient peak)" in rocm.memory.kv_cache_source  # type: ignore[attr-defined]
    shortfall = cuda.memory.kv_cache_bytes - rocm.memory.kv_cache_bytes  # type: ignore[attr-defined]
    assert shortfall == 3 * GiB - cuda.memory.extensible.margin_bytes  # type: ignore[attr-defined]
