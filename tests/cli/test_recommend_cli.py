"""`kvplan recommend`: the longest context, concurrency by length, the length for a target concurrency."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()


def _json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["recommend", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def test_llama_with_a_fixed_kv_cache_matches_vllms_arithmetic() -> None:
    # 4 GiB of KV for Llama-3.1-8B: 2,048 blocks of 2 MiB, one held back -> 32,752 tokens is the longest context
    code, data = _json("meta-llama/Llama-3.1-8B-Instruct", "--kv-cache-memory", "4GiB", "--concurrency", "4",
                       "--lengths", "8K,32K,128K")
    assert code == 0
    assert data["longest_max_model_len"] == 32752
    rows = {r["max_model_len"]: r for r in data["lengths"]}
    assert rows[8192]["fits"] and rows[32768]["fits"] is False and rows[131072]["fits"] is False
    assert rows[8192]["max_concurrency"] == 2048 / 512
    # 4 requests in flight: 2,048 blocks / 4 = 512 blocks of 16 tokens each
    assert data["max_model_len_for_concurrency"] == 8192
    assert data["recommended"]["env"] == "CONTEXT_LEN=8192"
    assert "--max-model-len 8192" in data["recommended"]["vllm_serve"]


def test_nothing_fits_exits_1_with_remedies() -> None:
    code, data = _json("meta-llama/Llama-3.3-70B-Instruct", "--gpu", "l4")
    assert code == 1
    assert data["longest_max_model_len"] == 0 and data["recommended"] is None
    assert any(r["kind"] == "tensor_parallel" for r in data["remedies"])


def test_bad_concurrency_is_a_usage_error() -> None:
    result = runner.invoke(app, ["recommend", "Qwen/Qwen-7B-Chat", "--gpu", "l4", "--concurrency", "0"])
    assert result.exit_code == 2 and "--concurrency" in result.stderr


def test_hybrid_mamba_recommendation_caps_max_num_seqs() -> None:
    # Nemotron-3-Nano (FP8 KV): 150 blocks of 6 x 4176 x 512 B. vLLM 0.19+ would refuse 256 sequences, so the
    # table is sized at 150 and the serve line says so.
    code, data = _json("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", "--kv-cache-memory", str(150 * 6 * 4176 * 512),
                       "--max-num-seqs", "256", "--lengths", "4K,32K")
    assert code == 0
    assert data["max_num_seqs_cap"] == 150
    assert all(r["fits"] and r["status"] == "ok" for r in data["lengths"])
    assert data["recommended"]["vllm_serve"].endswith("--max-num-seqs 150")
    code, data = _json("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", "--kv-cache-memory", str(150 * 6 * 4176 * 512),
                       "--max-num-seqs", "128", "--lengths", "4K")
    # no cap needed; the serve line keeps the user's own value, as every setting the plan was made with
    assert data["max_num_seqs_cap"] is None and data["recommended"]["vllm_serve"].endswith("--max-num-seqs 128")


def test_recommend_takes_a_speculative_config() -> None:
    """MTP on DeepSeek-R1 adds one latent layer: 61 -> 62 layers per block, so the longest context shrinks."""
    args = ("deepseek-ai/DeepSeek-R1", "--kv-cache-memory", "10GiB")
    _, plain = _json(*args)
    code, mtp = _json(*args, "--speculative-config", '{"method": "mtp", "num_speculative_tokens": 1}')
    assert code == 0
    assert mtp["settings"]["speculative"] == {"method": "mtp", "num_speculative_tokens": 1, "draft_model": None}
    assert plain["settings"]["speculative"] is None
    assert mtp["longest_max_model_len"] < plain["longest_max_model_len"]


def test_recommend_says_when_the_release_falls_back_to_v0() -> None:
    """fp8 KV on an L40S with vLLM 0.10.1 runs V0 (no FlashAttention 3 fp8 off Hopper): the table is V0's."""
    code, data = _json("meta-llama/Llama-3.1-8B", "--gpu", "L40S", "--vllm-version", "0.10.1",
                       "--kv-cache-dtype", "fp8", "--lengths", "8K")
    assert code == 0
    assert data["settings"]["engine"] == "v0" and "--kv-cache-dtype fp8" in data["engine_note"]
    assert data["lengths"][0]["tokens"] == 386_592  # as `check` gives for the same deployment
    code, data = _json("meta-llama/Llama-3.1-8B", "--gpu", "H100", "--vllm-version", "0.10.1",
                       "--kv-cache-dtype", "fp8", "--lengths", "8K")
    assert code == 0 and data["settings"]["engine"] == "v1" and data["engine_note"] is None


def test_recommend_says_when_vllm_turns_prefix_caching_off() -> None:
    """0.12-0.14 keep --enable-prefix-caching only for models with Mamba prefix caching; Qwen3-Next has none."""
    code, data = _json("Qwen/Qwen3-Next-80B-A3B-Thinking", "--gpu", "H100", "--tensor-parallel-size", "4",
                       "--vllm-version", "0.13.0", "--enable-prefix-caching", "--lengths", "8K")
    assert code == 0 and data["settings"]["enable_prefix_caching"] is False
    assert "turns prefix caching off" in data["prefix_caching_note"]
    code, data = _json("Qwen/Qwen3-Next-80B-A3B-Thinking", "--gpu", "H100", "--tensor-parallel-size", "4",
                       "--vllm-version", "0.15.0", "--enable-prefix-caching", "--lengths", "8K")
    assert code == 0 and data["settings"]["enable_prefix_caching"] is True and data["prefix_caching_note"] is None


def test_hybrid_cap_holds_where_the_error_bar_reaches_zero() -> None:
    """Nemotron-Nano-9B-v2 on an L4 at 0.9: KV 0.62 +/- 1.10 GiB at 1,024 sequences, so the low end has no
    blocks. The sequences are capped (the centre's 30 blocks, then the largest count whose own, smaller profile
    peak keeps as many blocks: 30) rather than left at a value vLLM 0.19+ refuses; every row then starts, and the
    serve line carries the cap."""
    code, data = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.9", "--lengths", "2K,8K")
    assert code == 0
    assert data["max_num_seqs_cap"] == 30
    assert all(r["status"] != "fail" for r in data["lengths"])
    assert data["recommended"]["vllm_serve"].endswith("--max-num-seqs 30")


def test_hybrid_cap_is_the_largest_sequence_count_that_keeps_its_blocks() -> None:
    """vLLM 0.33, 0.92 of an L4: at the default 256 sequences KV is 1.06 +/- 1.10 GiB, so the low end has no blocks
    and the cap is the central estimate's 52 blocks (as where the error bar reaches zero above). Fewer sequences
    shrink the sampler's profile peak: 44 sequences keep 44 blocks at their own low end; 45 do not."""
    from dataclasses import replace

    from kvplan import api
    from kvplan.core.plan import mamba_seqs_cap, plan
    from kvplan.core.settings import DeploySettings

    code, data = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--vllm-version", "0.33.0",
                       "--lengths", "4K")
    assert code == 0 and data["max_num_seqs_cap"] == 52
    base = api.check("nvidia/NVIDIA-Nemotron-Nano-9B-v2", DeploySettings(), gpu="l4",
                     environ={"HF_HUB_OFFLINE": "1"}).result
    for seqs, passes in ((44, True), (45, False)):
        other = plan(base.model, replace(base.settings, max_num_seqs=seqs), base.gpu, base.weights)
        assert (mamba_seqs_cap(other, other.memory.kv_cache_error_bytes) is None) is passes


def test_the_serve_line_keeps_a_prefix_caching_flag_that_was_given() -> None:
    """Nemotron-Nano-9B-v2 on an L4, vLLM 0.33: the recommended length holds only without prefix caching, so the
    serve line must carry the flag (vLLM's default would not start at that length)."""
    code, data = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--vllm-version", "0.33.0",
                       "--no-enable-prefix-caching", "--lengths", "4K")
    assert code == 0
    assert data["settings"]["enable_prefix_caching"] is False
    assert "--no-enable-prefix-caching" in data["recommended"]["vllm_serve"]
    code, default = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--vllm-version", "0.33.0",
                          "--lengths", "4K")
    assert "prefix-caching" not in default["recommended"]["vllm_serve"]
    assert default["longest_max_model_len"] < data["longest_max_model_len"]


def test_the_serve_line_carries_every_setting_it_was_planned_with() -> None:
    """Dropping --quantization fp8 from the line would recommend a length that fails without it."""
    code, data = _json("Qwen/Qwen3-8B", "--gpu", "l4", "--quantization", "fp8", "--enforce-eager", "--dtype",
                       "float16", "--block-size", "32", "--max-num-batched-tokens", "4096", "--max-num-seqs", "64",
                       "--speculative-config", '{"method": "ngram", "num_speculative_tokens": 2, '
                       '"prompt_lookup_max": 4}', "--lengths", "8K")
    assert code == 0
    line = data["recommended"]["vllm_serve"]
    for flag in ("--quantization fp8", "--enforce-eager", "--dtype float16", "--block-size 32",
                 "--max-num-batched-tokens 4096", "--max-num-seqs 64",
                 """--speculative-config '{"method":"ngram","num_speculative_tokens":2,"prompt_lookup_max":4}'"""):
        assert flag in line, flag
    code, data = _json("meta-llama/Llama-3.1-8B-Instruct", "--kv-cache-memory", "4GiB", "--entrypoint", "llm",
                       "--lengths", "8K")
    assert data["recommended"]["vllm_serve"] == (
        "LLM(model='meta-llama/Llama-3.1-8B-Instruct', max_model_len=32752, kv_cache_memory_bytes=4294967296)")


def test_recommend_searches_the_length_where_the_profile_grows_with_it() -> None:
    """V0 profiles max(max_model_len, 2048) tokens without chunked prefill: a shorter context also frees
    activation memory, so the fit at the model's limit (0 here) is not the longest that starts."""
    code, data = _json("meta-llama/Llama-3.1-8B-Instruct", "--gpu", "l4", "--vllm-version", "0.5.4")
    assert code == 0
    rows = {r["max_model_len"]: r for r in data["lengths"]}
    assert rows[16384]["status"] != "fail" and data["longest_max_model_len"] >= 16384
    assert data["recommended"]["max_model_len"] == data["longest_max_model_len_sure"] > 0
    check = runner.invoke(app, ["check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "l4", "--vllm-version",
                                "0.5.4", "--max-model-len", str(data["recommended"]["max_model_len"]), "--json"])
    assert json.loads(check.stdout)["verdict"]["status"] == "ok"


def test_the_recommended_length_starts_even_at_the_low_end() -> None:
    """The longest length that starts sits at vLLM's nominal limit (warn in check); the line takes the longest
    that check calls ok."""
    code, data = _json("openai/gpt-oss-120b", "--gpu", "h100")
    assert code == 0 and 0 < data["longest_max_model_len_sure"] < data["longest_max_model_len"]
    length = data["recommended"]["max_model_len"]
    check = runner.invoke(app, ["check", "openai/gpt-oss-120b", "--gpu", "h100", "--max-model-len", str(length),
                                "--json"])
    assert json.loads(check.stdout)["verdict"]["status"] == "ok"


def test_an_unreachable_concurrency_recommends_nothing() -> None:
    code, data = _json("meta-llama/Llama-3.1-8B-Instruct", "--kv-cache-memory", "4GiB", "--concurrency", "100000")
    assert code == 1 and data["recommended"] is None and data["longest_max_model_len"] > 0
    for bad in ("nan", "inf", "0"):
        result = runner.invoke(app, ["recommend", "meta-llama/Llama-3.1-8B-Instruct", "--kv-cache-memory", "4GiB",
                                     "--concurrency", bad])
        assert result.exit_code == 2 and "--concurrency must be a positive number" in result.stderr
    result = runner.invoke(app, ["recommend", "meta-llama/Llama-3.1-8B-Instruct", "--kv-cache-memory", "4GiB",
                                 "--lengths", "1e5"])
    assert result.exit_code == 2 and result.stderr.startswith("kvplan: error: --lengths:")
    code, data = _json("meta-llama/Llama-3.1-8B-Instruct", "--kv-cache-memory", "4GiB", "--lengths", "8K,999999")
    assert data["lengths_above_model_limit"] == [999999] and [r["max_model_len"] for r in data["lengths"]] == [8192]


def test_v0_lengths_on_both_sides_of_32k_are_searched() -> None:
    """V0 turns chunked prefill on above 32K: 32,769 tokens can start where 30,000 does not (one pass of the
    whole context in the profile), so the search runs on each side of that line."""
    code, data = _json("meta-llama/Llama-3.1-8B", "--gpu", "rtx3090", "--vllm-version", "0.6.6",
                       "--lengths", "30k,32768,32769,33k,40k")
    rows = {r["max_model_len"]: r["status"] for r in data["lengths"]}
    assert rows[30000] == "fail" and rows[33000] == "ok"
    assert code == 0 and data["longest_max_model_len"] >= 40000 and data["recommended"]["max_model_len"] > 32768


def test_lengths_vllm_refuses_are_rows_not_an_error() -> None:
    """A 4,096-token budget without chunked prefill refuses 8K-32K on V0; above 32K chunked prefill takes it."""
    code, data = _json("meta-llama/Llama-3.1-8B", "--gpu", "h100", "--vllm-version", "0.6.6",
                       "--max-num-batched-tokens", "4096")
    rows = {r["max_model_len"]: r for r in data["lengths"]}
    assert code == 0 and rows[8192]["refused"].startswith("max_num_batched_tokens (4096) is smaller than")
    assert rows[4096]["refused"] is None and rows[65536]["status"] == "ok"
    assert data["longest_max_model_len"] == 131072


def test_launch_lines_for_old_releases_and_the_llm_class() -> None:
    code, data = _json("meta-llama/Llama-3.1-8B", "--kv-cache-memory", "4GiB", "--vllm-version", "0.6.6",
                       "--lengths", "8K")
    assert code == 0 and "--num-gpu-blocks-override 2048" in data["recommended"]["vllm_serve"]  # no bytes flag yet
    code, data = _json("meta-llama/Llama-3.1-8B", "--kv-cache-memory", "4GiB", "--vllm-version", "0.9.2",
                       "--vllm-use-v1", "0", "--entrypoint", "llm", "--lengths", "8K")
    line = data["recommended"]["vllm_serve"]
    assert code == 0 and line.startswith('import os; os.environ["VLLM_USE_V1"] = "0"; LLM(model=')
    # V1 before 0.10.2 checks the profiled KV memory before the override: the utilisation must leave room (0.96:
    # 0.9.2's sampler is FlashInfer or PyTorch's sort, flashinfer being an optional extra before 0.11.1)
    code, data = _json("Qwen/Qwen3-8B", "--gpu", "l4", "--vllm-version", "0.9.2", "--kv-cache-memory", "4GiB")
    line = data["recommended"]["vllm_serve"]
    assert "--num-gpu-blocks-override" in line and "--gpu-memory-utilization 0.96" in line


def test_nothing_is_recommended_when_only_the_error_lets_it_start() -> None:
    """Gemma-2-9B on an L4 at 0.33: -0.31 GiB of KV ± 1.05 at 8K; a 1-token context starts only inside the
    error. That is reported, not recommended."""
    code, data = _json("google/gemma-2-9b-it", "--gpu", "l4")
    assert code == 1 and data["recommended"] is None
    assert data["longest_max_model_len"] > 0 and data["longest_max_model_len_sure"] == 0
