"""Per-layer page sizes, block sizes and bytes per block for the real fixture configs (H100, vllm serve).

Numbers worked out by hand from vLLM's formulas (kv_cache_interface.py, platforms/interface.py
_align_hybrid_block_size, kv_cache_utils.py grouping) — see the comment on each row.
"""

from __future__ import annotations

from functools import partial

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.capacity import build_layout
from kvplan.core.engine import kv_cache_groups, resolve_engine
from kvplan.core.hardware import GpuSpec
from kvplan.core.settings import DeploySettings as _DeploySettings
from tests.conftest import load_config

# The figures here were read in vLLM 0.33's code: every plan pins 0.33.0 (0.34, the default since, has its own
# tests in test_kv_sizing.py); a test naming another release still wins.
DeploySettings = partial(_DeploySettings, vllm_version="0.33.0")

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=int(79.08 * 2**30), source="catalog")

CASES = [
    # name, block size, {page bytes}, bytes per block, number of groups
    # Llama-3.1-8B: 16 x 8 heads x (128 + 128) x 2 B = 65,536 per layer; 32 layers
    ("meta-llama__Llama-3.1-8B", 16, {65536}, 32 * 65536, 1),
    # Mixtral-8x7B: same attention as Llama-8B (MoE changes weights only)
    ("mistralai__Mixtral-8x7B-v0.1", 16, {65536}, 32 * 65536, 1),
    # gpt-oss-20b: 8 heads x 64 -> 16 x 8 x 128 x 2 = 32,768; 12 sliding + 12 full -> two groups of 12
    ("openai__gpt-oss-20b", 16, {32768}, 12 * 32768, 2),
    # Phi-3-mini: 32 heads x 96 -> 16 x 32 x 192 x 2 = 196,608; window 2047 on all 32 layers -> one group
    ("microsoft__Phi-3-mini-4k-instruct", 16, {196608}, 32 * 196608, 1),
    # Falcon-7B (multi_query): 1 head x 64 -> 4,096 per layer
    ("tiiuae__falcon-7b", 16, {4096}, 32 * 4096, 1),
    # GLM-4-9B: multi_query_group_num 2 x kv_channels 128 -> 16,384 per layer; 40 layers
    ("THUDM__glm-4-9b-chat", 16, {16384}, 40 * 16384, 1),
    # Kimi-K2 (MLA): one latent of 512 + 64 = 576 x 2 B x 16 = 18,432; 61 layers
    ("moonshotai__Kimi-K2-Instruct", 16, {18432}, 61 * 18432, 1),
    # Llama-4-Scout: 36 chunked + 12 global -> 3 chunked groups + 1 full group of 12
    ("meta-llama__Llama-4-Scout-17B-16E-Instruct", 16, {65536}, 12 * 65536, 4),
    # Gemma-3-27B: 16 heads x 128 -> 131,072; 52 window + 10 full -> 6 window groups + 1 full (10 layers)
    ("google__gemma-3-27b-it", 16, {131072}, 10 * 131072, 7),
    # Qwen3-Next: attention 2 x 512 x 2 B = 2,048 B per token; GDN state conv (8192 x 3) + ssm (32 x 128 x 128)
    # = 548,864 x 2 B = 1,097,728 B -> block 16 x cdiv(1,097,728, 32,768) = 544; page 544 x 2,048 = 1,114,112
    ("Qwen__Qwen3-Next-80B-A3B-Thinking", 544, {1114112}, 12 * 1114112, 4),
    # Nemotron-H-56B: a1 = 8 x 256 x 2 = 4,096; mamba2 conv (16384 + 2x8x256) x 3 x 2 B = 122,880 + ssm
    # 256 x 64 x 256 in float32 (NemotronH's default from 0.20; the config names none) = 16,777,216 -> 16,900,096
    # -> block 16 x cdiv(16,900,096, 65,536) = 4,128; page 16,908,288; 10 + 6 groups
    ("nvidia__Nemotron-H-56B-Base-8K", 4128, {16908288}, 10 * 16908288, 7),
    # Jamba-v0.1: mamba1 (8192 x 3 + 8192 x 16) x 2 B = 311,296; a1 4,096 -> block 80; page 327,680; 1 + 7 groups
    ("ai21labs__Jamba-v0.1", 80, {327680}, 4 * 327680, 8),
]


@pytest.mark.parametrize(("name", "block", "pages", "bpb", "num_groups"), CASES, ids=[c[0] for c in CASES])
def test_pages(name: str, block: int, pages: set[int], bpb: int, num_groups: int) -> None:
    model = model_spec_from_config(load_config(name))
    engine = resolve_engine(model, DeploySettings(max_model_len=8192), H100)
    groups = kv_cache_groups(model, engine)
    assert engine.block_size == block
    assert {g.spec.page_size_bytes for g in groups} == pages
    assert build_layout(groups, model.num_layers, engine).bytes_per_block == bpb
    assert len(groups) == num_groups


def test_pipeline_parallel_splits_layers_per_stage() -> None:
    # DeepSeek-V3, 61 layers, PP 4 -> [15, 15, 16, 15]: the 16-layer stage binds (16 x 18,432 per block)
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V3"))
    engine = resolve_engine(model, DeploySettings(max_model_len=8192, pipeline_parallel_size=4), H100)
    layout = build_layout(kv_cache_groups(model, engine), model.num_layers, engine)
    assert layout.stage_bytes_per_block == (15 * 18432, 15 * 18432, 16 * 18432, 15 * 18432)


def test_tp_beyond_kv_heads_replicates() -> None:
    # Llama-3.1-8B has 8 KV heads: at TP 16 each rank holds one (replicated), not half of one
    model = model_spec_from_config(load_config("meta-llama__Llama-3.1-8B"))
    engine = resolve_engine(model, DeploySettings(max_model_len=8192, tensor_parallel_size=16), H100)
    assert {g.spec.page_size_bytes for g in kv_cache_groups(model, engine)} == {16 * 1 * 256 * 2}


def test_blackwell_mla_uses_flashinfer_mla_blocks() -> None:
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V3"))
    b200 = GpuSpec(name="NVIDIA B200", total_bytes=int(178.35 * 2**30), compute_capability=(10, 0))
    engine = resolve_engine(model, DeploySettings(max_model_len=8192), b200)
    assert engine.block_size == 32
    assert engine.block_size_note and "FLASHINFER_MLA" in engine.block_size_note
