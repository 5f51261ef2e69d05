"""MXFP4 MoE backends per release x GPU family, pinned to the vLLM function that picks them, and the bytes each
leaves allocated after load, checked by hand on gpt-oss-120b (36 MoE layers, 128 experts, H = I = 2880)."""

from __future__ import annotations

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.mxfp4_backend import (
    BACKEND_TABLE,
    GPU_FAMILIES,
    MARLIN,
    TRITON_BLACKWELL,
    TRITON_HOPPER,
    TRITON_HOPPER_K4,
    TRITON_HOPPER_K4_SHARED,
    TRITON_HOPPER_PAD64,
    TRITON_STRIDED,
    TRTLLM,
    TRTLLM_I128,
    checkpoint_expert_bytes,
    mxfp4_moe_buffers,
)
from kvplan.core.overheads import estimate_overheads, runtime_buffers_bytes, weights_per_gpu
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB
from kvplan.sources import catalog

RELEASES = [(0, 10, 1), (0, 10, 2), (0, 11, 0), (0, 11, 1), (0, 11, 2)] + [(0, m, 0) for m in range(12, 23)] + \
    [(0, m, 0) for m in (26, 27, 28, 29, 32, 33, 34)]
EXPERTS_120B = 128 * 36


def _pick(version: tuple[int, int, int], capability: tuple[int, int]) -> tuple[str, ...]:
    return mxfp4_moe_buffers(version=version, compute_capability=capability, num_experts=128, moe_layers=36,
                             hidden_size=2880, intermediate_size=2880).backends


def test_table_has_one_row_per_release_and_family() -> None:
    for version in RELEASES:
        for family in GPU_FAMILIES:
            rows = [r for r in BACKEND_TABLE if r.first <= version < r.until and r.family == family]
            assert len(rows) == 1, (version, family)


@pytest.mark.parametrize(("version", "capability", "backends"), [
    # 0.10.1.1 Mxfp4MoEMethod._should_use_marlin (quantization/mxfp4.py): torch==2.7.1 is pinned, below the
    # Triton path's is_torch_equal_or_newer("2.8.0"): Marlin on Hopper, as fixture line 32's log says.
    ((0, 10, 1), (9, 0), (MARLIN.backend,)),
    # 0.10.2/0.11.0 get_mxfp4_backend: Triton only with the optional triton_kernels; _swizzle_mxfp4 keeps
    # StridedLayout on SM90 with torch < 2.8.1 (the wheels pin 2.8.0).
    ((0, 11, 0), (9, 0), (MARLIN.backend, TRITON_STRIDED.backend)),
    # ... SM100 takes FlashInfer with the flashinfer extra, else Triton / Marlin as on Hopper.
    ((0, 11, 0), (10, 0), (MARLIN.backend, TRTLLM.backend, TRITON_BLACKWELL.backend)),
    # 0.11.1: flashinfer-python a dependency (METADATA Requires-Dist), triton_kernels still optional, torch 2.9.
    ((0, 11, 1), (9, 0), (MARLIN.backend, TRITON_HOPPER.backend)),
    ((0, 11, 1), (10, 0), (TRTLLM.backend,)),
    # 0.12 get_mxfp4_backend: vllm/third_party/triton_kernels vendored; is_device_capability(100) exact, so a
    # B300 (10.3) falls to Triton ((9, 0) <= cap < (11, 0)); 0.13 is_device_capability_family(100).
    ((0, 12, 0), (9, 0), (TRITON_HOPPER.backend,)),
    ((0, 12, 0), (10, 3), (TRITON_BLACKWELL.backend,)),
    ((0, 13, 0), (10, 3), (TRTLLM.backend,)),
    # SM12x (RTX 5090) outside the Triton window: Marlin, 0.12 on (0.32+ puts Triton behind Marlin there).
    ((0, 12, 0), (12, 0), (MARLIN.backend,)),
    ((0, 34, 0), (12, 0), (MARLIN.backend,)),
    # 0.19 select_mxfp4_moe_backend (fused_moe/oracle/mxfp4.py): TRT-LLM BF16 first, then Triton on SM90.
    ((0, 19, 0), (9, 0), (TRITON_HOPPER_PAD64.backend,)),
    ((0, 22, 0), (9, 0), (TRITON_HOPPER.backend,)),
    ((0, 26, 0), (9, 0), (TRITON_HOPPER_K4.backend,)),
    ((0, 34, 0), (9, 0), (TRITON_HOPPER_K4_SHARED.backend,)),
    ((0, 27, 0), (10, 0), (TRTLLM_I128.backend,)),
    ((0, 34, 0), (8, 0), (MARLIN.backend,)),
])
def test_backend_by_release_and_gpu(version: tuple[int, int, int], capability: tuple[int, int],
                                    backends: tuple[str, ...]) -> None:
    assert _pick(version, capability) == backends


def test_expert_bytes_by_backend_gpt_oss_120b() -> None:
    """Per expert of gpt-oss-120b at TP 1 (checkpoint: 3 x 2880 x 2880 x 17/32 + (5760 + 2880) x 2 bytes)."""
    ckpt = checkpoint_expert_bytes(2880, 2880)
    assert ckpt == 13_219_200 + 17_280
    # Marlin: H 3072, I 2944 (create_weights: round_up(I, 128), round_up(H, 256)), bf16 biases.
    assert MARLIN.expert_bytes(2880, 2880) - ckpt == 5_507_776_512 // EXPERTS_120B
    # Triton, strided: I = 2880 is a multiple of 64; only the biases double (float32).
    assert TRITON_STRIDED.expert_bytes(2880, 2880) - ckpt == 17_280
    # Triton, Hopper layouts: values need no padding (5760 and 2880 rows are multiples of 16, 1440 bytes of
    # 32); the swizzled scales ([5760 -> 5888, 90] + [2880 -> 3072, 90]) sit beside the loaded ones.
    assert TRITON_HOPPER.expert_bytes(2880, 2880) - ckpt == 5888 * 90 + 3072 * 90 + 17_280
    # The triton_kernels vendored in 0.17-0.21 pads the values' 1440 bytes a row to 1472 first.
    assert TRITON_HOPPER_PAD64.expert_bytes(2880, 2880) - ckpt == (5760 + 2880) * 32 + 806_400 + 17_280
    # 0.26+: scale columns 90 -> 92 before the swizzle; 0.34 keeps only the swizzled copy.
    assert TRITON_HOPPER_K4.expert_bytes(2880, 2880) - ckpt == (5888 + 3072) * 92 + 17_280
    assert TRITON_HOPPER_K4_SHARED.expert_bytes(2880, 2880) - ckpt == (5888 + 3072) * 92 - 777_600 + 17_280
    # FlashInfer TRT-LLM: H and I to 3072 (I to 2944 from 0.27), float32 biases.
    assert TRTLLM.expert_bytes(2880, 2880) == 3 * 3072 * 3072 * 17 // 32 + (6144 + 3072) * 4
    assert TRTLLM_I128.expert_bytes(2880, 2880) == 3 * 2944 * 3072 * 17 // 32 + (5888 + 3072) * 4


def test_optional_package_is_an_estimate_covering_both_backends() -> None:
    """0.11.0 on an H100: a plain `pip install` has no triton_kernels (Marlin, the value); with it, Triton
    (bias only): the error reaches it. Unknown GPU: midpoint of every family's candidates."""
    b = mxfp4_moe_buffers(version=(0, 11, 0), compute_capability=(9, 0), num_experts=128, moe_layers=36,
                          hidden_size=2880, intermediate_size=2880)
    assert b.value_bytes == 5_507_776_512 and b.value_bytes - b.error_bytes == 17_280 * EXPERTS_120B
    exact = mxfp4_moe_buffers(version=(0, 33, 0), compute_capability=(9, 0), num_experts=128, moe_layers=36,
                              hidden_size=2880, intermediate_size=2880)
    assert exact.error_bytes == 0
    unknown = mxfp4_moe_buffers(version=(0, 33, 0), compute_capability=None, num_experts=128, moe_layers=36,
                                hidden_size=2880, intermediate_size=2880)
    low, high = unknown.value_bytes - unknown.error_bytes, unknown.value_bytes + unknown.error_bytes
    assert low <= 3_878_092_800 < 5_507_776_512 < 5_590_351_872 <= high + 1  # Triton, Marlin, TRT-LLM (I to 128)


def test_lora_takes_marlin_from_0_14() -> None:
    """get_mxfp4_backend_with_lora (0.14+): Marlin unless VLLM_MXFP4_USE_MARLIN=0; 0.12-0.13: Triton on SM90."""
    kw = dict(num_experts=128, moe_layers=36, hidden_size=2880, intermediate_size=2880, lora=True)
    assert mxfp4_moe_buffers(version=(0, 33, 0), compute_capability=(9, 0), **kw).backends == (MARLIN.backend,)
    assert mxfp4_moe_buffers(version=(0, 12, 0), compute_capability=(9, 0), **kw).backends == \
        (TRITON_HOPPER.backend,)


H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=85_017_493_504, compute_capability=(9, 0))


def _loading(name: str, version: str, tp: int) -> Estimate:
    entry = catalog.find(name)
    assert entry is not None and entry.weights_bytes
    model = model_spec_from_config(entry.config)
    engine = resolve_engine(model, DeploySettings(vllm_version=version, tensor_parallel_size=tp,
                                                  max_model_len=16000), H100)
    shard = weights_per_gpu(entry.weights_bytes, engine, model)
    weights = Estimate(value_bytes=shard, error_bytes=shard // 50, source="test")
    assert runtime_buffers_bytes(model, engine) > 0
    return estimate_overheads(model, engine, weights, enforce_eager=True).weights


@pytest.mark.parametrize(("name", "version", "tp", "logged_gib"), [
    ("openai/gpt-oss-120b", "0.10.1.1", 1, 65.9651),  # fixture vllm-gpu-logs.jsonl line 32, Marlin logged
    ("openai/gpt-oss-20b", "0.11.0", 1, 13.47),  # public-issues.jsonl line 0 (llm-d report)
    ("openai/gpt-oss-120b", "0.11.0", 1, 64.38),  # public-issues.jsonl line 1 (llm-d report)
    ("openai/gpt-oss-20b", "0.19.0", 2, 7.01),  # public-issues.jsonl line 27 (llm-d planner sweep)
])
def test_model_loading_within_the_stated_error(name: str, version: str, tp: int, logged_gib: float) -> None:
    """The logged ``Model loading took`` lies inside kvplan's weights estimate +- its error (nothing fitted)."""
    w = _loading(name, version, tp)
    assert abs(w.value_bytes - logged_gib * GiB) <= w.error_bytes


def test_fixture_line_32_is_exact_marlin() -> None:
    """0.10.1.1 on an H100 has one backend: the weights error is the checkpoint count's 2% alone."""
    w = _loading("openai/gpt-oss-120b", "0.10.1.1", 1)
    assert round(w.value_bytes / GiB, 2) == 65.91 and "MARLIN" in w.source and "±" not in w.source
