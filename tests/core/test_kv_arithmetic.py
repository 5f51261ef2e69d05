"""vLLM's KV arithmetic on real configs, with numbers derived by hand from vLLM's formulas (VLLM-MEMORY.md)."""

from __future__ import annotations

from functools import partial

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import kv_cache_groups, pp_stage_ranges, resolve_engine
from kvplan.core.errors import ConfigError
from kvplan.core.hardware import GpuSpec
from kvplan.core.plan import plan
from kvplan.core.settings import DeploySettings as _DeploySettings
from kvplan.core.units import GiB, MiB
from tests.conftest import load_config

# The figures here were read in vLLM 0.33's code: every plan pins 0.33.0 (0.34, the default since, has its own
# tests in test_kv_sizing.py); a test naming another release still wins.
DeploySettings = partial(_DeploySettings, vllm_version="0.33.0")

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=int(79.22 * GiB), source="catalog")


def _plan(name: str, gpu: GpuSpec | None = H100, **settings: object) -> object:
    return plan(model_spec_from_config(load_config(name)), DeploySettings(**settings), gpu)  # type: ignore[arg-type]


def test_llama_31_8b_pages_blocks_and_float_truncation() -> None:
    model = model_spec_from_config(load_config("meta-llama__Llama-3.1-8B"))
    for length, blocks_per_req, tokens in ((131072, 8192, 458752), (12345, 772, 458492), (1136, 71, 458751)):
        result = plan(model, DeploySettings(max_model_len=length, kv_cache_memory_bytes=56 * GiB), H100)
        kv = result.kv_cache
        assert kv.bytes_per_block == 2 * MiB  # 32 layers x 8 heads x 128 x 2 (K,V) x 2 B x 16 tokens
        assert kv.num_blocks == 28672
        assert kv.blocks_per_request == blocks_per_req
        assert kv.tokens == tokens  # int((28672 / bpr) * L): 458,751 at L 1136, not 458,752


def test_llama_tp2_halves_the_page() -> None:
    result = _plan("meta-llama__Llama-3.1-8B", max_model_len=8192, kv_cache_memory_bytes=10 * GiB,
                   tensor_parallel_size=2)
    assert result.kv_cache.bytes_per_block == 1 * MiB  # type: ignore[attr-defined]


def test_mistral_window_depends_on_entrypoint_inflight_tokens() -> None:
    serve = _plan("mistralai__Mistral-7B-v0.1", max_model_len=32768, kv_cache_memory_bytes=56 * GiB)
    llm = _plan("mistralai__Mistral-7B-v0.1", max_model_len=32768, kv_cache_memory_bytes=56 * GiB,
                entrypoint="llm")
    assert serve.engine.inflight_tokens == 16384  # type: ignore[attr-defined]
    assert serve.kv_cache.blocks_per_request == 1281  # type: ignore[attr-defined]  # cdiv(20479, 16) + 1
    assert serve.kv_cache.tokens == 733430  # type: ignore[attr-defined]
    assert round(serve.kv_cache.max_concurrency, 2) == 22.38  # type: ignore[attr-defined]
    assert llm.kv_cache.blocks_per_request == 2049  # type: ignore[attr-defined]
    assert llm.kv_cache.tokens == 458528  # type: ignore[attr-defined]


def test_gemma3_27b_groups_and_capacity() -> None:
    result = _plan("google__gemma-3-27b-it", max_model_len=131072, kv_cache_memory_bytes=20 * GiB)
    groups = result.layout.groups  # type: ignore[attr-defined]
    assert [g.num_layers for g in groups] == [9, 9, 9, 9, 8, 8, 10] or sorted(g.num_layers for g in groups) == [
        8, 8, 9, 9, 9, 9, 10]
    assert result.kv_cache.bytes_per_block == 10 * 128 * 1024  # type: ignore[attr-defined]
    assert result.kv_cache.blocks_per_request == 8192 + 6 * 1089  # type: ignore[attr-defined]
    assert result.kv_cache.num_blocks == 16384  # type: ignore[attr-defined]
    assert result.kv_cache.tokens == 145829  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "group_kinds"), [
    ("openai__gpt-oss-20b", {"full": 1, "sliding_window": 1}),
    ("Qwen__Qwen3-Next-80B-A3B-Thinking", {"full": 1, "mamba": 3}),
    ("ai21labs__Jamba-v0.1", {"full": 1, "mamba": 7}),
    ("google__gemma-2-9b-it", {"full": 1, "sliding_window": 1}),
])
def test_hybrid_grouping(name: str, group_kinds: dict[str, int]) -> None:
    model = model_spec_from_config(load_config(name))
    engine = resolve_engine(model, DeploySettings(max_model_len=8192), H100)
    kinds: dict[str, int] = {}
    for group in kv_cache_groups(model, engine):
        kinds[group.spec.kind] = kinds.get(group.spec.kind, 0) + 1
    assert kinds == group_kinds


def test_jamba_block_alignment_and_padded_mamba_page() -> None:
    model = model_spec_from_config(load_config("ai21labs__Jamba-v0.1"))
    engine = resolve_engine(model, DeploySettings(max_model_len=8192), H100)
    # Mamba page 311,296 B (conv 8192x3 + ssm 8192x16, bf16); attention 4,096 B per token -> 16 * cdiv(..) = 80
    assert engine.block_size == 80
    pages = {g.spec.page_size_bytes for g in kv_cache_groups(model, engine)}
    assert pages == {327680}


def test_deepseek_v3_mla_latent_not_split_by_tp() -> None:
    for tp in (1, 8):
        result = _plan("deepseek-ai__DeepSeek-V3", max_model_len=163840, kv_cache_memory_bytes=20 * GiB,
                       tensor_parallel_size=tp)
        assert result.kv_cache.bytes_per_block == 61 * 1152 * 16  # type: ignore[attr-defined]  # 1,124,352
        assert result.kv_cache.blocks_per_request == 10240  # type: ignore[attr-defined]


def test_deepseek_v3_fp8_uses_64_token_blocks() -> None:
    result = _plan("deepseek-ai__DeepSeek-V3", max_model_len=163840, kv_cache_memory_bytes=20 * GiB,
                   kv_cache_dtype="fp8")
    assert result.kv_cache.block_size == 64  # type: ignore[attr-defined]
    assert result.kv_cache.bytes_per_block == 2248704  # type: ignore[attr-defined]
    assert result.kv_cache.blocks_per_request == 2560  # type: ignore[attr-defined]


def test_classic_qwen_7b_chat_failure() -> None:
    # QWenLMHeadModel is registered in vLLM 0.5.4 to 0.23.0: 0.31's null block (4512) never applies to it
    result = _plan("Qwen__Qwen-7B-Chat", gpu=None, max_model_len=8192, kv_cache_memory_bytes=2264 * MiB,
                   block_size=16, vllm_version="0.23.0")
    assert result.verdict.status == "fail"  # type: ignore[attr-defined]
    assert result.kv_cache.max_model_len_fit == 4528  # type: ignore[attr-defined]  # 283 x 16
    assert "the estimated maximum model length is 4528" in result.verdict.vllm_errors[0]  # type: ignore[attr-defined]


def test_v0_and_023_wording_and_arithmetic_say_4528() -> None:
    for version in ("0.6.6", "0.23.0"):
        result = _plan("Qwen__Qwen-7B-Chat", gpu=None, max_model_len=8192, kv_cache_memory_bytes=2264 * MiB,
                       block_size=16, vllm_version=version)
        assert result.kv_cache.max_model_len_fit == 4528  # type: ignore[attr-defined]
    v0 = _plan("Qwen__Qwen-7B-Chat", gpu=None, max_model_len=8192, kv_cache_memory_bytes=2264 * MiB,
               block_size=16, vllm_version="0.6.6")
    assert "is larger than the maximum number of tokens that can be stored in KV cache (4528)" in \
        v0.verdict.vllm_errors[0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("layers", "kv", "head", "length", "tokens", "blocks"), [
    (4, 2, 64, 2048, 262144, 2048),
    (3, 2, 128, 4096, 174720, 1365),
])
def test_cpu_reference_cases(layers: int, kv: int, head: int, length: int, tokens: int, blocks: int) -> None:
    config = {"model_type": "llama", "num_hidden_layers": layers, "hidden_size": 256, "num_attention_heads": 4,
              "num_key_value_heads": kv, "head_dim": head, "max_position_embeddings": 8192,
              "torch_dtype": "float32"}
    result = plan(model_spec_from_config(config),
                  DeploySettings(platform="cpu", entrypoint="llm", max_model_len=length, kv_cache_memory_bytes=GiB,
                                 block_size=128, dtype="float32"))
    assert (result.kv_cache.tokens, result.kv_cache.num_blocks) == (tokens, blocks)


def test_pp_indices_match_vllm() -> None:
    assert [len(r) for r in pp_stage_ranges(61, 4)] == [15, 15, 16, 15]
    assert [len(r) for r in pp_stage_ranges(32, 2)] == [16, 16]
    assert [len(r) for r in pp_stage_ranges(10, 4)] == [2, 3, 3, 2]


def test_auto_fit_picks_the_largest_length() -> None:
    result = _plan("meta-llama__Llama-3.1-8B", gpu=None, max_model_len=-1, kv_cache_memory_bytes=4 * GiB)
    # 2,048 blocks of 2 MiB, one held back as the null block: (2048 - 1) x 16
    assert result.kv_cache.max_model_len == 32752  # type: ignore[attr-defined]
    assert result.verdict.status == "ok"  # type: ignore[attr-defined]


def test_largest_where_is_a_binary_search_for_the_last_true() -> None:
    from kvplan.core.units import largest_where

    calls: list[int] = []

    def holds(n: int) -> bool:
        calls.append(n)
        return n <= 37

    assert largest_where(holds, 1, 1000) == 37 and len(calls) <= 10
    assert largest_where(lambda n: False, 1, 50) == 0  # lo - 1: holds nowhere
    assert largest_where(lambda n: True, 1, 50) == 50
    assert largest_where(lambda n: True, 5, 4) == 4  # empty range


@pytest.mark.parametrize("value", ["4096", True, float("nan"), float("inf")])
def test_a_length_key_of_the_wrong_type_is_refused(value: object) -> None:
    # QA: max_position_embeddings "4096", true or NaN was skipped and the model planned at the 2,048 default
    # with no word (vLLM compares it as a number: a string fails there, true reads as 1)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
              "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000,
              "intermediate_size": 11008, "max_position_embeddings": value}
    with pytest.raises(ConfigError, match="max_position_embeddings must be a whole number of tokens"):
        model_spec_from_config(config)
