"""Defaults of old releases, read in their wheels: V0's chunked prefill for long contexts (and the token
budget that follows), and DeepSeek attention before vLLM had MLA.

Read in vllm/engine/arg_utils.py and vllm/config.py of 0.5.4, 0.6.0, 0.6.3, 0.6.6, 0.7.3, 0.8.5, 0.9.2 and
0.10.1: with ``enable_chunked_prefill`` unset, a CUDA deployment with max_model_len > 32768 gets chunked
prefill unless the config has a sliding window, a drafter is set, the model is multimodal (0.6.3+) or MLA
(0.8+), or (0.5.x-0.6.2) prefix caching or Mamba layers are in play. Its budget is 512 tokens up to 0.6.4 and
2048 from 0.6.5; without it V0 profiles max(max_model_len, 2048) tokens in one pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.hardware import GpuSpec
from kvplan.core.settings import DeploySettings
from tests.conftest import load_config

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=85_017_493_504, source="catalog",
               compute_capability=(9, 0))
LLAMA = "meta-llama__Llama-3.1-8B-Instruct"  # 131,072 tokens, no sliding window


def _budget(config: dict[str, Any], **settings: Any) -> int:
    model = model_spec_from_config(config)
    return resolve_engine(model, DeploySettings(**settings), H100).max_num_batched_tokens


@pytest.mark.parametrize(("version", "length", "budget"), [
    ("0.5.4", 131072, 512),  # chunked prefill, 0.5-0.6.4 budget
    ("0.6.3", 65536, 512),
    ("0.6.6", 131072, 2048),  # 0.6.5+ budget
    ("0.7.3", 131072, 2048),
    ("0.6.6", 32768, 32768),  # not over 32K: one pass of the whole context
    ("0.6.6", 8192, 8192),
    ("0.6.6", 1024, 2048),
])
def test_long_contexts_get_chunked_prefill(version: str, length: int, budget: int) -> None:
    assert _budget(load_config(LLAMA), vllm_version=version, max_model_len=length) == budget


def test_what_keeps_chunked_prefill_off() -> None:
    llama = load_config(LLAMA)
    assert _budget(llama, vllm_version="0.6.6", max_model_len=65536, enable_chunked_prefill=False) == 65536
    assert _budget(llama, vllm_version="0.6.6", max_model_len=65536, max_num_batched_tokens=4096) == 4096
    # 0.5.x-0.6.2 left it off when prefix caching was asked for; 0.6.3 dropped that condition
    assert _budget(llama, vllm_version="0.6.0", max_model_len=65536, enable_prefix_caching=True) == 65536
    assert _budget(llama, vllm_version="0.6.3", max_model_len=65536, enable_prefix_caching=True) == 512
    # a sliding window in the config (get_sliding_window() is not None)
    windowed = {**llama, "sliding_window": 4096}
    assert _budget(windowed, vllm_version="0.6.6", max_model_len=65536) == 65536
    # Qwen2.5's window is switched off by use_sliding_window: false, so chunked prefill comes on
    qwen = {**load_config("Qwen__Qwen2.5-7B-Instruct"), "max_position_embeddings": 131072}
    assert _budget(qwen, vllm_version="0.6.6", max_model_len=65536) == 2048


def test_mla_on_v0() -> None:
    """0.7.1-0.7.3 turn it on, then VllmConfig forces it off for MLA without recomputing the budget: 2048.
    0.8+ V0 never turns it on for MLA: the whole context in one pass."""
    lite = load_config("deepseek-ai__DeepSeek-V2-Lite")  # 163,840 tokens
    assert _budget(lite, vllm_version="0.7.3", max_model_len=65536) == 2048
    assert _budget(lite, vllm_version="0.8.5", use_v1=False, max_model_len=65536) == 65536


@pytest.mark.parametrize(("version", "quantization", "block_bytes"), [
    # 27 layers x 16 tokens x K and V x 16 heads x 256 (padded) x 2 B
    ("0.6.6", None, 27 * 16 * 2 * 16 * 256 * 2),
    ("0.7.0", None, 27 * 16 * 2 * 16 * 192 * 2),  # q/k head size 128 + 64, V padded to it
    ("0.7.2", "awq", 27 * 16 * 2 * 16 * 192 * 2),  # 0.7.1/0.7.2: no MLA with quantization but fp8 / c-t
    # the latent, 512 + 64 in one "head", its 1,152 B entry aligned to 256 B on 0.7.2-0.7.x V0
    ("0.7.2", None, 27 * 16 * 1280),
    ("0.7.2", "fp8", 27 * 16 * 1280),
    ("0.7.3", None, 27 * 16 * 1280),
])
def test_deepseek_attention_before_mla(version: str, quantization: str | None, block_bytes: int) -> None:
    """vLLM had no MLA before 0.7.1 (deepseek_v2.py of 0.6.6 / 0.7.0: Attention(num_local_heads, 256 or
    qk_head_dim, num_kv_heads=num_local_heads)): DeepSeek-V2-Lite cached 14x what MLA caches."""
    from kvplan.core.plan import plan

    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V2-Lite"))
    result = plan(model, DeploySettings(vllm_version=version, quantization=quantization, max_model_len=8192,
                                        kv_cache_memory_bytes=8 << 30), H100)
    assert result.layout.bytes_per_block == block_bytes
    assert any("without MLA" in note for note in result.notes) is (block_bytes > 27 * 16 * 1280)


def test_interleaved_windows_do_not_keep_chunked_prefill_off() -> None:
    """ModelConfig deletes an interleaved window (Gemma 3 on 0.8-0.9): the scheduler sees full attention."""
    gemma = load_config("OpenPipe__gemma-3-12b-it-text-only")  # 131,072 tokens, 5 sliding : 1 global
    assert _budget(gemma, vllm_version="0.8.5", use_v1=False, max_model_len=131072) == 2048
    # a window that is not interleaved keeps it off
    assert _budget({**gemma, "model_type": "llama"}, vllm_version="0.8.5", use_v1=False,
                   max_model_len=131072) == 131072


def test_from_0_10_1_the_window_stays_in_the_config() -> None:
    gemma = load_config("OpenPipe__gemma-3-12b-it-text-only")
    assert _budget(gemma, vllm_version="0.10.1", use_v1=False, max_model_len=40000) == 40000
