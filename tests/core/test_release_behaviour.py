"""Release-dependent arithmetic read in vLLM's source: NemotronH's SSM state dtype, the Mamba-blocks start-up
check of 0.19+, and V0 0.7.x's 256-byte MLA cache entries. Numbers by hand from the shapes."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import kv_cache_groups, mamba_state_dtypes, resolve_engine
from kvplan.core.errors import UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.kv_spec import MambaSpec
from kvplan.core.model import MambaLayer
from kvplan.core.plan import plan
from kvplan.core.settings import DeploySettings as _DeploySettings
from kvplan.core.units import GiB
from tests.conftest import load_config

# The figures here were read in vLLM 0.33's code: every plan pins 0.33.0 (0.34, the default since, has its own
# tests in test_kv_sizing.py); a test naming another release still wins.
DeploySettings = partial(_DeploySettings, vllm_version="0.33.0")

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=int(79.22 * GiB), source="catalog")
H200 = GpuSpec(name="NVIDIA H200", total_bytes=int(139.81 * GiB), source="catalog", compute_capability=(9, 0))
NANO_9B = "nvidia__NVIDIA-Nemotron-Nano-9B-v2"  # no mamba_ssm_cache_dtype in its config
NANO_30B = "nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"  # config says "mamba_ssm_cache_dtype": "float32"


def _mamba_state_bytes(name: str, **settings: object) -> int:
    model = model_spec_from_config(load_config(name))
    engine = resolve_engine(model, DeploySettings(**settings), H100)  # type: ignore[arg-type]
    specs = {g.spec for g in kv_cache_groups(model, engine) if isinstance(g.spec, MambaSpec)}
    assert len(specs) == 1
    return next(iter(specs)).state_bytes


# Nemotron-Nano-9B-v2, one Mamba2 layer: conv 3 x (10240 + 2 x 8 x 128) x 2 B = 73,728;
# SSM 128 heads x 80 x 128 state = 1,310,720 values.
NANO_9B_FP32_STATE = 73_728 + 1_310_720 * 4
NANO_9B_16BIT_STATE = 73_728 + 1_310_720 * 2


@pytest.mark.parametrize(("version", "state"), [
    ("0.33.0", NANO_9B_FP32_STATE),  # #39032: float32 when the config names none
    ("0.20.0", NANO_9B_FP32_STATE),
    ("0.15.0", NANO_9B_16BIT_STATE),  # #29978: float16
    ("0.11.0", NANO_9B_16BIT_STATE),  # no hook: the model dtype (bf16)
])
def test_nemotron_h_ssm_dtype_by_release(version: str, state: int) -> None:
    assert _mamba_state_bytes(NANO_9B, vllm_version=version, max_model_len=4096) == state


def test_flag_wins_over_release_default_and_block_follows_the_state() -> None:
    assert _mamba_state_bytes(NANO_9B, mamba_ssm_cache_dtype="bfloat16") == NANO_9B_16BIT_STATE
    model = model_spec_from_config(load_config(NANO_9B))
    # attention page of one token: 8 heads x 128 x 2 (K,V) x 2 B = 4096; block = 16 x cdiv(state, 16 x 4096)
    assert resolve_engine(model, DeploySettings(), H100).block_size == 1312
    assert resolve_engine(model, DeploySettings(mamba_ssm_cache_dtype="bfloat16"), H100).block_size == 672


def test_config_dtype_is_read_from_013_only() -> None:
    # Nemotron-3-Nano: conv 3 x (4096 + 2 x 8 x 128) x 2 B = 36,864; SSM 64 x 64 x 128 values
    assert _mamba_state_bytes(NANO_30B, vllm_version="0.15.0") == 36_864 + 524_288 * 4
    assert _mamba_state_bytes(NANO_30B, vllm_version="0.12.0") == 36_864 + 524_288 * 2


def test_other_families_keep_the_conv_dtype() -> None:
    layer = MambaLayer(kind="mamba2", conv_kernel=4, intermediate_size=64, state_size=16, num_heads=4, head_dim=16)
    assert mamba_state_dtypes(layer, DeploySettings(), "bfloat16") == ("bfloat16", "bfloat16")
    assert mamba_state_dtypes(layer, DeploySettings(mamba_ssm_cache_dtype="float32"), "bfloat16") == (
        "bfloat16", "float32")


def test_unknown_mamba_dtype_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--mamba-ssm-cache-dtype must be one of"):
        DeploySettings(mamba_ssm_cache_dtype="fp8")


# Nemotron-3-Nano with an FP8 KV cache: attention page of one token 2 x 128 x 2 x 1 B = 512, block
# 16 x cdiv(2,134,016, 8192) = 4176, page 2,138,112; 6 attention layers set the group size, so a block of the
# shared pool is 6 pages.
NANO_30B_BLOCK_BYTES = 6 * 4176 * 512


def _nano_30b(blocks: int, **settings: object) -> object:
    model = model_spec_from_config(load_config(NANO_30B))
    return plan(model, DeploySettings(kv_cache_dtype="fp8", max_model_len=4096,  # type: ignore[arg-type]
                                      kv_cache_memory_bytes=blocks * NANO_30B_BLOCK_BYTES, **settings), H100)


def test_mamba_blocks_check_fails_like_vllm_019() -> None:
    result = _nano_30b(200, max_num_seqs=256)
    assert result.kv_cache.bytes_per_block == NANO_30B_BLOCK_BYTES  # type: ignore[attr-defined]
    assert result.kv_cache.num_blocks == 200  # type: ignore[attr-defined]
    assert result.verdict.status == "fail"  # type: ignore[attr-defined]
    assert result.verdict.vllm_errors == (  # type: ignore[attr-defined]
        "max_num_seqs (256) exceeds available Mamba cache blocks (200). Each decode sequence requires one Mamba "
        "cache block, so CUDA graph capture cannot proceed. Please lower max_num_seqs to at most 200 or increase "
        "gpu_memory_utilization.",)
    remedy = result.verdict.remedies[0]  # type: ignore[attr-defined]
    assert remedy.kind == "max_num_seqs" and remedy.flags == {"--max-num-seqs": "200"} and remedy.fits


@pytest.mark.parametrize("settings", [
    {"max_num_seqs": 200},  # exactly one block per sequence
    {"max_num_seqs": 256, "vllm_version": "0.18.0"},  # before #38270 the sizes were capped silently
    {"max_num_seqs": 256, "enforce_eager": True},  # no CUDA graphs
])
def test_mamba_blocks_check_passes(settings: dict[str, object]) -> None:
    assert _nano_30b(200, **settings).verdict.status == "ok"  # type: ignore[attr-defined]


def test_v0_073_pads_mla_entries_to_256_bytes() -> None:
    """DeepSeek-R1 on 8 x H200 under 0.7.3 logged 21.43 GiB of KV and 2.3x at 128,000 tokens (fixture line 25):
    61 layers x 16 tokens x 640 (576 padded to 256 bytes of bf16) x 2 B = 1,249,280 B per block."""
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-R1"))
    settings = DeploySettings(vllm_version="0.7.3", tensor_parallel_size=8, max_model_len=128000,
                              kv_cache_memory_bytes=round(21.43 * GiB))
    result = plan(model, settings, H200)
    assert result.kv_cache.bytes_per_block == 61 * 16 * 640 * 2
    assert result.kv_cache.num_blocks == 18418
    assert round(result.kv_cache.max_concurrency, 2) == 2.30
    unpadded = plan(model, DeploySettings(vllm_version="0.8.0", tensor_parallel_size=8, max_model_len=128000,
                                          kv_cache_memory_bytes=round(21.43 * GiB)), H200)
    assert unpadded.kv_cache.bytes_per_block // unpadded.kv_cache.block_size == 61 * 576 * 2


def test_omni_models_are_sized_by_their_thinker() -> None:
    """Qwen3-Omni: vLLM serves the thinker (hf_text_config = thinker_config.text_config): 48 layers x 4 KV heads
    x 128. Fixture line 37 (V0 fork): 5.38 GiB -> 3,671 blocks of 16 logged; 5.38 GiB / 1,572,864 B = 3,672.8."""
    model = model_spec_from_config(load_config("Qwen__Qwen3-Omni-30B-A3B-Instruct"))
    assert (model.model_type, model.num_layers, model.max_position_tokens) == ("qwen3_omni_moe_text", 48, 65536)
    model = replace(model, architectures=())  # the log's V0 fork registers Qwen3-Omni; upstream 0.6.6 does not
    result = plan(model, DeploySettings(vllm_version="0.6.6", max_model_len=32768,
                                        kv_cache_memory_bytes=round(5.38 * GiB)), H100)
    assert result.kv_cache.bytes_per_block == 48 * 16 * 4 * 128 * 2 * 2
    assert result.kv_cache.num_blocks == 3672
