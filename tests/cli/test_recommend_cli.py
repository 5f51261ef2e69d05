"""`kvplan recommend`: the longest context, concurrency by length, the length for a target concurrency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()


def _json(*args: str) -> tuple[int, dict]:
    # The figures here were read in vLLM 0.33's code: pinned there (0.34, the default, has tests of its own).
    pin = () if "--vllm-version" in args else ("--vllm-version", "0.33.0")
    result = runner.invoke(app, ["recommend", *args, *pin, "--json"])
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
    # as `check` gives for the same deployment (386,592 before V0's TP 1 non-torch growth took what 0.7-0.9 print)
    assert data["lengths"][0]["tokens"] == 388_240
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
    """Nemotron-Nano-9B-v2 on an L4 at 0.862 (vLLM 0.33): at 1,024 sequences the low end of the KV estimate has no
    blocks. The sequences are capped (the centre's blocks, then the largest count whose own, smaller profile peak
    keeps as many blocks: 20) rather than left at a value vLLM 0.19+ refuses. No row fails; every one starts only
    inside the estimates' error, so nothing is recommended (exit 1). At 0.95 lengths surely start and the serve
    line carries its cap (96). The scenario sat at 0.9 until 0.27+'s non-torch memory came from 0.26's measured
    terms instead of a calibrated 1.15 GiB total (kvplan.core.overheads), and weights counted from a config
    unquantized took +- 1 % instead of 2 % (kvplan.core.plan.counted_weights_error)."""
    code, data = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.862", "--lengths",
                       "2K,8K")
    assert code == 1 and data["recommended"] is None
    assert data["max_num_seqs_cap"] == 20
    assert all(r["status"] != "fail" and not r["may_start"] for r in data["lengths"])
    code, data = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.95", "--lengths", "2K,8K")
    assert code == 0 and data["max_num_seqs_cap"] == 96
    assert data["recommended"]["vllm_serve"].endswith("--max-num-seqs 96")


def test_a_length_short_at_the_centre_may_start_inside_the_error() -> None:
    """vLLM 0.34 (extensible) at 0.9 of an L4: the centre of the estimate is short (-0.02 +- 0.92 GiB: 0.34 keeps
    the CUDA-graph estimate free on top of the graphs it holds), so every length fails at the centre, but its high
    end starts: "no (may, inside error)", no cap, nothing recommended (exit 1)."""
    code, data = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.9", "--lengths", "2K,8K",
                       "--vllm-version", "0.34.0")
    assert code == 1 and data["recommended"] is None and data["max_num_seqs_cap"] is None
    assert data["kv_cache_bytes"] < 0 < data["kv_cache_bytes"] + data["kv_cache_error_bytes"]
    assert all(r["status"] == "fail" and r["may_start"] for r in data["lengths"])
    human = runner.invoke(app, ["recommend", "nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.9",
                                "--lengths", "2K", "--vllm-version", "0.34.0"])
    assert "no (may, inside error)" in human.stdout


def test_hybrid_cap_is_the_largest_sequence_count_that_keeps_its_blocks() -> None:
    """vLLM 0.33, 0.862 of an L4: at the default 256 sequences KV is 0.04 +/- 0.66 GiB, so the low end has no
    blocks and the cap is the largest count that keeps its blocks (as where the error bar reaches zero above).
    Fewer sequences shrink the sampler's profile peak and the penalty state: 20 sequences keep 20 blocks at their
    own low end; 21 do not."""
    from dataclasses import replace

    from kvplan import api
    from kvplan.core.plan import mamba_seqs_cap, plan
    from kvplan.core.settings import DeploySettings

    code, data = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.862", "--vllm-version",
                       "0.33.0", "--lengths", "4K")
    assert code == 1 and data["max_num_seqs_cap"] == 20  # capped; nothing surely starts at 0.862 of an L4
    base = api.check("nvidia/NVIDIA-Nemotron-Nano-9B-v2",
                     DeploySettings(vllm_version="0.33.0", gpu_memory_utilization=0.862), gpu="l4",
                     environ={"HF_HUB_OFFLINE": "1"}).result
    for seqs, passes in ((20, True), (21, False)):
        other = plan(base.model, replace(base.settings, max_num_seqs=seqs), base.gpu, base.weights)
        assert (mamba_seqs_cap(other, other.memory.kv_cache_error_bytes) is None) is passes


def test_the_serve_line_keeps_a_prefix_caching_flag_that_was_given() -> None:
    """Nemotron-Nano-9B-v2 on 0.95 of an L4, vLLM 0.33: the recommended length holds only without prefix caching
    (82,656 against 64,288 with it), so the serve line must carry the flag (vLLM's default would not start there)."""
    code, data = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.95", "--vllm-version",
                       "0.33.0", "--no-enable-prefix-caching", "--lengths", "4K")
    assert code == 0
    assert data["settings"]["enable_prefix_caching"] is False
    assert "--no-enable-prefix-caching" in data["recommended"]["vllm_serve"]
    code, default = _json("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.95", "--vllm-version",
                          "0.33.0", "--lengths", "4K")
    assert "prefix-caching" not in default["recommended"]["vllm_serve"]
    assert default["recommended"]["max_model_len"] < data["recommended"]["max_model_len"]


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
    # V1 before 0.10.2 checks the profiled KV memory before the override: the utilisation must leave room (0.97:
    # 0.9.2's sampler is PyTorch's sort, flashinfer-python being no dependency of the wheel before 0.11.1)
    code, data = _json("Qwen/Qwen3-8B", "--gpu", "l4", "--vllm-version", "0.9.2", "--kv-cache-memory", "4GiB")
    line = data["recommended"]["vllm_serve"]
    assert "--num-gpu-blocks-override" in line and "--gpu-memory-utilization 0.97" in line


def test_nothing_is_recommended_when_only_the_error_lets_it_start() -> None:
    """Gemma-2-9B on an L4 at 0.33: -0.31 GiB of KV ± 1.05 at 8K; only a 1-token context started, inside the
    error, because vLLM shrinks its token budget to max_num_seqs x max_model_len below 8 tokens: no length is
    reported ("Longest ... starts: 1" before), none recommended."""
    code, data = _json("google/gemma-2-9b-it", "--gpu", "l4")
    assert code == 1 and data["recommended"] is None
    assert data["longest_max_model_len"] == 0 and data["longest_max_model_len_sure"] == 0


# --- without MODEL: every catalog model on one GPU ----------------------------------------------------------------


def _box(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["recommend", *args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _check(model: str, *args: str) -> dict:
    result = runner.invoke(app, ["check", model, *args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _row_flags(row: dict, gpu: str, util: str) -> list[str]:
    flags = ["--gpu", gpu, "--gpu-util", util, "-tp", str(row["tensor_parallel_size"])]
    if row["max_num_seqs"] is not None:  # the hybrid cap every length was planned with
        flags += ["--max-num-seqs", str(row["max_num_seqs"])]
    return flags


def test_every_model_on_one_l4_agrees_with_check_row_by_row() -> None:
    # The whole catalog on an L4 at 0.9: each "fits" row's length surely starts (check: ok) and one token more does
    # not (or it is the model's limit); each "does not fit" row does not surely start at the 4K it was asked for.
    code, data = _box("--gpu", "l4", "--gpu-util", "0.9")
    assert code == 0
    rows = data["rows"]
    fits = [r for r in rows if r["fits"]]
    misses = [r for r in rows if not r["fits"] and r["plannable"]]
    # 0.34 (the default), explicit 0.9: 22 fit (InternVL3-8B, Qwen2.5-VL-3B and gpt-oss-20b among them; 17 while
    # 0.27+'s non-torch memory was a calibrated 1.15 +- 0.92 GiB), 114 do not, the rest are not plannable (no vLLM
    # release registers the architecture, or a model vLLM dropped)
    assert len(fits) == 22 and len(misses) == 114 and len(rows) == 141
    for row in fits:
        flags = _row_flags(row, "l4", "0.9")
        at = _check(row["model"], *flags, "--max-model-len", str(row["max_model_len"]))
        assert at["verdict"]["status"] == "ok", (row["model"], at["verdict"])
        for length, concurrency in row["concurrency"].items():
            if concurrency is not None:  # the table's concurrency is check's at that length
                other = _check(row["model"], *flags, "--max-model-len", length)
                assert other["kv_cache"]["max_concurrency"] == pytest.approx(concurrency, abs=0.0051), row["model"]
        if row["max_model_len"] < row["model_limit"]:
            more = _check(row["model"], *flags, "--max-model-len", str(row["max_model_len"] + 1))
            assert more["verdict"]["status"] != "ok", row["model"]
        fp8 = row["fp8_kv"]
        if fp8 and fp8["max_model_len"]:  # what fp8 KV would give is check's with --kv-cache-dtype fp8
            fp8_flags = _row_flags({**row, "max_num_seqs": fp8["max_num_seqs"]}, "l4", "0.9")
            with_fp8 = _check(row["model"], *fp8_flags, "--kv-cache-dtype", "fp8", "--max-model-len",
                              str(fp8["max_model_len"]))
            assert with_fp8["verdict"]["status"] == "ok", row["model"]
            assert fp8["max_model_len"] >= row["max_model_len"]
    for row in misses:
        length = min(4096, row["model_limit"])
        at = _check(row["model"], *_row_flags(row, "l4", "0.9"), "--max-model-len", str(length))
        # "does not fit" is "does not surely start": check fails, or starts only inside the estimates' error (warn,
        # where the shortfall is at most that error)
        assert at["verdict"]["status"] != "ok", row["model"]
        if at["verdict"]["status"] == "warn" and row["shortfall_bytes"]:
            assert row["shortfall_bytes"] <= at["memory"]["kv_cache_error_bytes"], row["model"]


def test_rows_say_model_fits_max_model_len_and_tp_and_rank_the_largest_first() -> None:
    _, data = _box("--gpu", "h100", "--gpu-count", "4", "--family", "llama")
    rows = data["rows"]
    assert all({"model", "fits", "max_model_len", "tensor_parallel_size"} <= set(r) for r in rows)
    fits = [r for r in rows if r["fits"]]
    params = [r["param_count"] for r in fits]
    assert params == sorted(params, reverse=True)
    by_name = {r["model"]: r for r in rows}
    # Llama-3.1-70B on H100s: at TP 2 its 1.76 GiB of KV is inside the estimates' 2.05 GiB error (check says
    # warn at any length), so the smallest TP that surely starts is 4, with room for its full 131,072 tokens
    big = by_name["meta-llama/Llama-3.1-70B-Instruct"]
    assert big["fits"] and big["tensor_parallel_size"] == 4 and big["max_model_len"] == 131072
    small = by_name["meta-llama/Llama-3.1-8B-Instruct"]
    assert small["tensor_parallel_size"] == 1 and small["concurrency"]["131072"] > 1
    # 405B needs more than the box: listed below with what it lacks
    huge = by_name["meta-llama/Llama-3.1-405B"]
    assert not huge["fits"] and "short per GPU" in huge["why"]
    assert data["gpus"]["count"] == 4 and data["gpus"]["source"] == "catalog"


def test_a_model_that_needs_more_gpus_says_which_tp() -> None:
    _, data = _box("--gpu", "h100", "--family", "llama")
    row = next(r for r in data["rows"] if r["model"] == "meta-llama/Llama-3.1-70B-Instruct")
    assert not row["fits"] and row["needs_tensor_parallel_size"] == 4
    assert row["why"] == "needs tensor parallel 4 (the box has 1)"


def test_models_kvplan_refuses_are_rows_with_the_reason() -> None:
    _, data = _box("--gpu", "h200", "--family", "deepseek")
    refused = {r["model"]: r for r in data["rows"] if not r["plannable"]}
    # laid out (DeepSeek-V4's compressed sparse attention too) and weighed (counted from the config): plannable
    assert "deepseek-ai/DeepSeek-V3.2" not in refused and "deepseek-ai/DeepSeek-V4-Flash" not in refused
    _, data = _box("--gpu", "h200", "--family", "minimax")
    refused = {r["model"]: r for r in data["rows"] if not r["plannable"]}
    # no vLLM release registers MiniMaxM3ForCausalLM: a row with vLLM's reason, not a crash or a guess
    assert "MiniMaxM3ForCausalLM" in refused["MiniMaxAI/MiniMax-M3"]["why"]
    assert refused["MiniMaxAI/MiniMax-M3"]["fits"] is False


def test_filters_min_context_concurrency_max_params_family() -> None:
    _, data = _box("--gpu", "l4", "--max-params", "9B", "--family", "qwen3")
    assert data["filtered_out"] > 0
    assert all(r["param_count"] is None or r["param_count"] <= 9e9 for r in data["rows"])
    assert all("qwen3" in (r["family"] + r["model"]).lower().replace("-", "") for r in data["rows"])
    _, long = _box("--gpu", "l4", "--max-params", "9B", "--family", "qwen3", "--min-context", "32K")
    for row in long["rows"]:
        if row["fits"]:
            assert row["max_model_len"] >= min(32768, row["model_limit"])
    _, busy = _box("--gpu", "l4", "--max-params", "9B", "--family", "qwen3", "--concurrency", "8")
    util = str(busy["settings"]["gpu_memory_utilization"])  # the release's default (1.0 on 0.34's extensible path)
    for row in busy["rows"]:
        if row["fits"]:
            flags = _row_flags(row, "l4", util)
            at = _check(row["model"], *flags, "--max-model-len", str(row["max_model_len"]))
            assert at["verdict"]["status"] == "ok" and at["kv_cache"]["max_concurrency"] >= 8, row["model"]


def test_box_tables_as_markdown_and_csv() -> None:
    md = runner.invoke(app, ["recommend", "--gpu", "l4", "--family", "llama-3.2", "--format", "markdown"])
    assert md.exit_code == 0
    lines = md.stdout.splitlines()
    assert lines[0].startswith("| model | fits | tensor_parallel_size | max_model_len |")
    assert any(line.startswith("| meta-llama/Llama-3.2-1B-Instruct | yes | 1 | 131072 |") for line in lines)
    csv_out = runner.invoke(app, ["recommend", "--gpu", "l4", "--family", "llama-3.2", "--format", "csv"])
    assert csv_out.exit_code == 0
    header, *body = csv_out.stdout.splitlines()
    assert header.split(",")[:4] == ["model", "fits", "tensor_parallel_size", "max_model_len"]
    assert len(body) == 2


def test_box_human_table() -> None:
    result = runner.invoke(app, ["recommend", "--gpu", "l4", "--gpu-util", "0.9", "--family", "llama"])
    assert result.exit_code == 0
    out = result.stdout
    assert "1 x NVIDIA L4: 22.04 GiB" in out and "Fits (" in out and "Does not fit (" in out
    assert "meta-llama/Llama-3.2-1B-Instruct" in out


def test_box_without_a_gpu_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["recommend", "--gpu-util", "0.9"])
    assert result.exit_code == 2
    assert "No GPU found" in result.stderr and "--gpu NAME [--gpu-count N]" in result.stderr
    other = runner.invoke(app, ["recommend", "--gpu-count", "2"])
    assert other.exit_code == 2 and "--gpu-count needs --gpu" in other.stderr
    # QA: a count past any machine was a traceback (OverflowError) at 10**23, a memory blow-up at 10**9
    huge = runner.invoke(app, ["recommend", "--gpu", "l4", "--gpu-count", "99999999999999999999999"])
    assert huge.exit_code == 2 and "--gpu-count must be at most 1,024" in huge.stderr
    yaml = runner.invoke(app, ["recommend", "--gpu", "l4", "--format", "yaml"])
    assert yaml.exit_code == 2 and "one model on one GPU" in yaml.stderr
    bad = runner.invoke(app, ["recommend", "--gpu", "l4", "--max-params", "lots"])
    assert bad.exit_code == 2 and "--max-params" in bad.stderr
    both = runner.invoke(app, ["recommend", "Qwen/Qwen3-8B", "--min-context", "8K", "--gpu", "l4"])
    assert both.exit_code == 2 and "without MODEL" in both.stderr


def test_gpu_memory_without_a_name_plans_the_catalog_too() -> None:
    _, data = _box("--gpu-memory", "48GiB", "--family", "qwen3-8b")
    assert data["gpus"]["source"] == "flag" and data["gpus"]["devices"][0]["total_bytes"] == 48 * 2**30
    assert data["rows"][0]["model"] == "Qwen/Qwen3-8B" and data["rows"][0]["fits"]


# --- MODEL without a GPU: the fleet table -------------------------------------------------------------------------


def test_fleet_rows_are_what_check_prints() -> None:
    result = runner.invoke(app, ["recommend", "Qwen/Qwen3-32B", "--lengths", "32K", "--concurrency", "16",
                                 "--gpus", "h100,l40s,mi300x", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = data["rows"]
    assert {r["gpu"] for r in rows} == {"h100", "l40s", "mi300x"}
    assert all({"gpu", "tensor_parallel_size", "pipeline_parallel_size", "max_model_len", "max_concurrency"}
               <= set(r) for r in rows)
    assert [(r["gpu"], r["tensor_parallel_size"]) for r in rows][:4] == [("h100", 1), ("h100", 2), ("h100", 4),
                                                                        ("h100", 8)]
    for row in rows:
        flags = ["--gpu", row["gpu"], "-tp", str(row["tensor_parallel_size"]), "-pp",
                 str(row["pipeline_parallel_size"])]
        if row["max_model_len"]:
            at = _check("Qwen/Qwen3-32B", *flags, "--max-model-len", str(row["max_model_len"]))
            assert at["verdict"]["status"] == "ok"
        target = _check("Qwen/Qwen3-32B", *flags, "--max-model-len", "32768")
        if row["max_concurrency"]:
            assert target["verdict"]["status"] == "ok"
            assert target["kv_cache"]["max_concurrency"] == pytest.approx(row["max_concurrency"], abs=0.005)
        assert row["meets_target"] == (target["verdict"]["status"] == "ok"
                                       and target["kv_cache"]["max_concurrency"] >= 16)
    # the smallest configuration per GPU kind that meets 16 requests of 32K
    assert data["smallest"] == {
        # 0.34 (the default). Figures moved with the NCCL NVLS buffers at the snapshot, the FlashInfer mnnvl
        # fusion workspace (kvplan.core.non_torch), the ROCm margin floor of 3 GiB, Model Runner V2's penalty
        # state (1,024 sequences x 151,936 tokens x int32) and, last, 0.27+'s non-torch memory taken from 0.26's
        # measured terms with the compiled-embedding floor instead of a calibrated 1.15 GiB (25.85, 28.98, 37.51)
        "h100": {"tensor_parallel_size": 4, "pipeline_parallel_size": 1, "gpus": 4, "max_concurrency": 26.31},
        "l40s": {"tensor_parallel_size": 8, "pipeline_parallel_size": 1, "gpus": 8, "max_concurrency": 29.91},
        "mi300x": {"tensor_parallel_size": 2, "pipeline_parallel_size": 1, "gpus": 2, "max_concurrency": 37.74},
    }
    assert "mi300x" in data["gpu_notes"] and "e4m3fnuz" in data["gpu_notes"]["mi300x"]


def test_fleet_runs_pipeline_stages_across_nodes_when_one_node_is_not_enough() -> None:
    result = runner.invoke(app, ["recommend", "deepseek-ai/DeepSeek-V3", "--gpus", "h100,l4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    h100 = [r for r in data["rows"] if r["gpu"] == "h100"]
    assert max(r["pipeline_parallel_size"] for r in h100) == data["smallest"]["h100"]["pipeline_parallel_size"] >= 2
    assert all(r["tensor_parallel_size"] == 8 for r in h100 if r["pipeline_parallel_size"] > 1)
    best = data["smallest"]["h100"]
    at = _check("deepseek-ai/DeepSeek-V3", "--gpu", "h100", "-tp", "8", "-pp", str(best["pipeline_parallel_size"]))
    assert at["verdict"]["status"] == "ok"


def test_model_without_a_gpu_prints_the_fleet_table() -> None:
    result = runner.invoke(app, ["recommend", "meta-llama/Llama-3.1-8B-Instruct", "--lengths", "32K",
                                 "--concurrency", "16"])
    assert result.exit_code == 0, result.output
    assert "across the GPU catalog" in result.stdout and "Smallest per GPU:" in result.stdout
    assert "No GPU found" not in result.output
    md = runner.invoke(app, ["recommend", "meta-llama/Llama-3.1-8B-Instruct", "--gpus", "l4,h100", "--format",
                             "markdown"])
    assert md.stdout.splitlines()[0].startswith("| gpu | tensor_parallel_size | pipeline_parallel_size |")
    csv_out = runner.invoke(app, ["recommend", "meta-llama/Llama-3.1-8B-Instruct", "--gpus", "l4", "--format", "csv"])
    assert csv_out.stdout.splitlines()[1].startswith("l4,1,1,1,")
    unknown = runner.invoke(app, ["recommend", "meta-llama/Llama-3.1-8B-Instruct", "--gpus", "h300"])
    assert unknown.exit_code == 2 and "Unknown GPU 'h300'" in unknown.stderr


def test_include_cache_adds_the_models_in_the_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import load_config

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--acme--small-llama"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(load_config("meta-llama__Llama-3.2-1B-Instruct")))
    _, without = _box("--gpu", "l4", "--family", "small-llama")
    assert without["rows"] == []
    _, data = _box("--gpu", "l4", "--family", "small-llama", "--include-cache")
    (row,) = data["rows"]
    assert row["model"] == "acme/small-llama" and row["fits"] and row["max_model_len"] == 131072


def test_a_context_of_a_few_tokens_is_no_recommendation() -> None:
    # QA: Qwen3-8B on an L4 (0.34) starts only inside the estimates' error at 7,680 tokens; below 8 tokens
    # vLLM caps the token budget at max_num_seqs x max_model_len (256 x 1), which shrinks the profile and the
    # CUDA graphs, and the searches landed there: `--max-model-len 1` was recommended (exit 0), the fleet row
    # said "longest context 1" and check's remedy "lower max_model_len to 1".
    code, data = _json("Qwen/Qwen3-8B", "--gpu", "l4", "--vllm-version", "0.34.0")
    assert code == 1
    # 9,664 before the compiled-embedding floor carried over to 0.27+ (a larger transient peak, which 0.34 keeps
    # free and takes its margin from)
    assert data["longest_max_model_len"] == 7680 and data["longest_max_model_len_sure"] == 0
    assert data["recommended"] is None or not data["recommended"].get("max_model_len")
    fleet = runner.invoke(app, ["recommend", "Qwen/Qwen3-8B", "--gpus", "l4", "--json"])
    rows = {r["tensor_parallel_size"]: r for r in json.loads(fleet.stdout)["rows"]}
    assert rows[1]["max_model_len"] == 0 and rows[2]["max_model_len"] == 40960
    check = runner.invoke(app, ["check", "Qwen/Qwen3-8B", "--gpu", "l4", "--json"])
    flags = [r["flags"].get("--max-model-len") for r in json.loads(check.stdout)["verdict"]["remedies"]]
    assert "1" not in flags


def test_fleet_of_a_model_the_release_does_not_serve_is_exit_2() -> None:
    # QA: Qwen3 on 0.6.6 across l4,h100 printed two '-' rows with weights '?', no reason, and exited 1; check and
    # `recommend --gpu` exit 2 with vLLM's words for the same model and release
    result = runner.invoke(app, ["recommend", "Qwen/Qwen3-8B", "--gpus", "l4,h100", "--vllm-version", "0.6.6"])
    assert result.exit_code == 2
    assert "Model architectures ['Qwen3ForCausalLM'] are not supported for now" in result.stderr
    assert result.stdout == ""
