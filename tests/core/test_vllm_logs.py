"""The log parser on lines quoted from real vLLM start-ups (shared/fixtures/vllm-gpu-logs.jsonl)."""

from __future__ import annotations

import pytest

from kvplan.core.vllm_logs import parse_log

V1_LINES = (
    "INFO 06-23 14:21:48 [gpu_worker.py:232] Available KV cache memory: 51.63 GiB | "
    "[kv_cache_utils.py:716] GPU KV cache size: 410,128 tokens | [kv_cache_utils.py:720] Maximum concurrency "
    "for 131,072 tokens per request: 3.13x"
)
V0_LINES = (
    "Loading model weights took 14.9888 GB | total_gpu_memory (22.07GiB) x gpu_memory_utilization (0.90) = "
    "19.86GiB | model weights take 14.99GiB; non_torch_memory takes 0.05GiB; PyTorch activation peak memory "
    "takes 0.22GiB; the rest of the memory reserved for KV Cache is 4.60GiB. | # CUDA blocks: 2356, # CPU "
    "blocks: 2048 | Maximum concurrency for 131072 tokens per request: 0.29x"
)


def test_v1_capacity_lines() -> None:
    r = parse_log(V1_LINES)
    assert r.engine == "v1"
    assert r.available_kv_cache_gib == 51.63
    assert r.kv_cache_tokens == 410128
    assert (r.max_concurrency_len, r.max_concurrency) == (131072, 3.13)
    assert not r.failed


def test_v0_profile_lines() -> None:
    r = parse_log(V0_LINES)
    assert r.engine == "v0"
    assert r.model_loading_gib == 14.9888
    assert r.total_gpu_memory_gib == 22.07
    assert r.settings.gpu_memory_utilization == 0.90
    assert (r.non_torch_gib, r.activation_peak_gib, r.available_kv_cache_gib) == (0.05, 0.22, 4.60)
    assert (r.gpu_blocks, r.cpu_blocks) == (2356, 2048)


def test_v0_6_4_profiling_format_and_lowercase_cuda_blocks() -> None:
    r = parse_log("Memory profiling results: total_gpu_memory=23.58GiB initial_memory_usage=15.34GiB "
                  "non_torch_memory=0.35GiB kv_cache_size=3.81GiB gpu_memory_utilization=0.90 | "
                  "# cuda blocks: 3671, # CPU blocks: 2730 | Graph capturing finished in 2 secs, took 0.11 GiB")
    assert (r.total_gpu_memory_gib, r.non_torch_gib, r.available_kv_cache_gib) == (23.58, 0.35, 3.81)
    assert r.gpu_blocks == 3671 and r.cuda_graph_gib == 0.11
    assert r.releases_worded == ("0.6.4", "0.6.4.post1")  # only they print initial_memory_usage (worker.py)


def test_v0_6_4_activation_is_the_torch_peak_above_the_torch_memory_before_it() -> None:
    """0.6.4's worker.py: peak_torch_memory = torch's allocated peak (weights included); initial_memory_usage =
    total - free before the profile, the non-torch memory (CUDA context) included. Fixture line 39: 17.06 -
    (15.34 - 0.35) = 2.07 GiB, the weights being 14.99 ('Loading model weights took 14.9888 GB')."""
    r = parse_log("Memory profiling results: total_gpu_memory=23.58GiB initial_memory_usage=15.34GiB "
                  "peak_torch_memory=17.06GiB memory_usage_post_profile=15.35GiB non_torch_memory=0.35GiB "
                  "kv_cache_size=3.81GiB gpu_memory_utilization=0.90")
    assert r.activation_peak_gib == 2.07 and r.releases_worded == ("0.6.4", "0.6.4.post1")
    assert parse_log("Memory profiling takes 2.1 seconds").releases_worded == ()


def test_v1_error_with_old_models_spelling() -> None:
    text = ("ValueError: To serve at least one request with the models's max seq len (262144), (24.00 GiB KV "
            "cache is needed, which is larger than the available KV cache memory (8.04 GiB). Based on the "
            "available memory, the estimated maximum model length is 87840. Try increasing "
            "`gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.")
    (error,) = parse_log(text).errors
    assert error.kind == "max_model_len"
    assert (error.max_model_len, error.needed_gib, error.available_gib) == (262144, 24.0, 8.04)
    assert error.estimated_max_model_len == 87840


def test_v0_error_and_no_memory_and_free_memory() -> None:
    r = parse_log("ValueError: The model's max seq len (32768) is larger than the maximum number of tokens that "
                  "can be stored in KV cache (29568). Try increasing `gpu_memory_utilization`")
    assert r.errors[0].kv_tokens == 29568 and r.engine == "v0"
    assert parse_log("No available memory for the cache blocks. Try increasing").errors[0].kind == "no_memory"
    free = parse_log("ValueError: Free memory on device cuda:0 (15.32/22.04 GiB) on startup is less than desired "
                     "GPU memory utilization (0.88, 19.39 GiB).").errors[0]
    assert free.kind == "free_memory" and free.available_gib == 15.32


def test_flags_and_non_default_args() -> None:
    r = parse_log("--tensor-parallel-size 4 --dtype half --max-model-len 32768 --max-num-batched-tokens 4096 "
                  "--gpu-memory-utilization 0.93 --block-size 32 --enable-chunked-prefill")
    s = r.settings
    assert (s.tensor_parallel_size, s.max_model_len, s.max_num_batched_tokens, s.block_size) == (4, 32768, 4096, 32)
    assert s.gpu_memory_utilization == 0.93 and s.dtype == "half" and s.enable_chunked_prefill
    d = parse_log("non-default args: {'max_model_len': 131072, 'kv_cache_dtype': 'fp8', 'max_num_seqs': 1}")
    assert (d.settings.max_model_len, d.settings.kv_cache_dtype, d.settings.max_num_seqs) == (131072, "fp8", 1)


def test_model_loading_v1_wording() -> None:
    r = parse_log("Model loading took 65.9651 GiB and 12.799889 seconds | [gpu_worker.py:276] Available KV cache "
                  "memory: -2.14 GiB | EngineCore failed to start.")
    assert r.model_loading_gib == 65.9651 and r.available_kv_cache_gib == -2.14


def test_release_named_by_where_the_kv_lines_were_printed() -> None:
    """The [file:line] prefixes of vLLM's KV-cache lines, as read in the 0.8.0-0.33.0 wheels, name the release."""
    from pathlib import Path

    from kvplan.core.vllm_logs import releases_from_source_lines

    h100 = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu-runs" / "h100-vllm-0.26.0" / "llama-default.log"
    assert releases_from_source_lines(h100.read_text()) == ("0.26.0",)  # a log written by a known release
    cited = ("INFO 06-23 14:21:48 [gpu_worker.py:232] Available KV cache memory: 51.63 GiB | "
             "[kv_cache_utils.py:716] GPU KV cache size: 410,128 tokens")
    assert releases_from_source_lines(cited) == ("0.9.2",)
    # gpu_worker.py:298 is both 0.10.2 and 0.11.0; the concurrency line settles it
    assert releases_from_source_lines("[gpu_worker.py:298] Available KV cache memory: 57.18 GiB") == (
        "0.10.2", "0.11.0")
    assert releases_from_source_lines("[gpu_worker.py:298] Available KV cache memory: 57.18 GiB | "
                                      "[kv_cache_utils.py:1091] Maximum concurrency for 6,144 tokens") == ("0.11.0",)
    assert releases_from_source_lines("[gpu_worker.py:276] Available KV cache memory: -2.14 GiB") == (
        "0.10.1", "0.10.1.1")
    assert releases_from_source_lines("[gpu_worker.py:1] Available KV cache memory: 1 GiB") == ()  # a dev build
    assert releases_from_source_lines("Available KV cache memory: 1 GiB") == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("vllm serve m --enable-prefix-caching --max-num-seqs 8", True),
    ("vllm serve m --no-enable-prefix-caching", False),
    ("non-default args: {'max_model_len': 131072, 'enable_prefix_caching': True}", True),
    ("Initializing a V1 LLM engine (v0.26.0) with config: ..., enable_prefix_caching=False, enable_chunked", False),
    ("vllm serve m --max-num-seqs 8", None),
    # the flag first, then the engine's config line with the value it settled on: the last one read wins
    ("vllm serve m --enable-prefix-caching ... Initializing a V1 LLM engine ... enable_prefix_caching=False,", False),
])
def test_prefix_caching_setting(text: str, expected: bool | None) -> None:
    assert parse_log(text).settings.enable_prefix_caching is expected
