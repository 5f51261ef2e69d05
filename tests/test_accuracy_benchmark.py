"""benchmarks/accuracy.py runs offline on the fixture file and on an unseen file of the same format."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_benchmark

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"cases_used", "cases_skipped", "kv_tokens_median_abs_err_pct", "kv_tokens_max_abs_err_pct",
        "kv_memory_median_abs_err_pct", "kv_memory_max_abs_err_pct", "verdict_agreement", "kv_memory_coverage",
        "kv_tokens_coverage", "kv_memory_stated_error_median_pct"}


def _module() -> ModuleType:
    return load_benchmark("accuracy")


def _module_and_fixture() -> ModuleType:
    """The benchmark module, for tests that read the shared fixture file (skipped where it is absent)."""
    accuracy = _module()
    if not accuracy.DEFAULT_FILE.is_file():
        pytest.skip("shared fixtures not present")
    return accuracy


def _check(report: dict) -> None:  # type: ignore[type-arg]
    assert set(report["modes"]) == {"end_to_end", "overhead_only", "kv_given"}
    assert set(report) >= KEYS | {"lines_with_outcome", "lines_used_any_mode"}
    for summary in report["modes"].values():
        assert set(summary) >= KEYS
    for skipped in report["skipped"]:
        assert skipped["reason"]


def test_fixture_file(capsys: pytest.CaptureFixture[str]) -> None:
    accuracy = _module_and_fixture()
    assert accuracy.main(["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    _check(report)
    assert report["modes"]["end_to_end"]["cases_used"] >= 5
    assert report["lines"] == len(accuracy.DEFAULT_FILE.read_text().splitlines())


def test_synthetic_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        {"engine": "V0", "model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "RTX 3090", "tensor_parallel_size": 1,
         "gpu_memory_utilization": 0.9, "max_model_len": 20000, "total_gpu_memory_gib": 23.58,
         "model_loading_gib": 14.9888, "available_kv_cache_gib": 3.81, "gpu_blocks": 1952, "quote": ""},
        {"engine": "V1", "vllm_version": "0.28.0", "model": "Qwen/Qwen3-14B (local /models)", "gpu": "NVIDIA L40S",
         "max_model_len": 40960, "available_kv_cache_gib": 11.57, "kv_cache_tokens": 75824},
        {"engine": "V1", "model": None, "gpu": "H100", "available_kv_cache_gib": 1.0},
        {"engine": "V1", "model": "someone/Unknown-Model-7B", "gpu": "H100", "kv_cache_tokens": 10},
        {"engine": "V1", "model": "Qwen/Qwen3-8B", "gpu": "A GPU nobody sells", "kv_cache_tokens": 10},
    ]
    path = tmp_path / "logs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    accuracy = _module()
    assert accuracy.main([str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    _check(report)
    assert report["modes"]["end_to_end"]["cases_used"] == 2
    # no model named; a model kvplan cannot find; an unknown GPU and no logged KV memory; "not json"
    assert len(report["skipped"]) == 4
    assert report["lines_with_outcome"] == 5
    assert accuracy.main([str(path)]) == 0
    assert "Skipped" in capsys.readouterr().out


def test_lenient_name_and_metrics_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A log's prose name + its quantization find the one catalog entry holding all the words; a token count
    read from /metrics (blocks x block size) is compared with kvplan's blocks x block size, not the log's."""
    line = {"engine": "V1", "vllm_version": "0.33.0", "model": "Nemotron 3 Nano, NVFP4 (NIM profile x)",
            "gpu": "NVIDIA GeForce RTX 5090", "gpu_memory_utilization": 0.92, "max_model_len": 4096,
            "max_num_seqs": 256, "quantization": "nvfp4", "kv_cache_tokens": 3002368,
            "notes": "KV tokens from the engine's cache_config_info on /metrics (blocks x block size)."}
    path = tmp_path / "logs.jsonl"
    path.write_text(json.dumps(line) + "\n")
    accuracy = _module()
    assert accuracy.main([str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["modes"]["end_to_end"]["cases_used"] == 1
    case = report["cases"][0]
    assert case["label"].startswith("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4")
    row = case["end_to_end"]
    assert row["tokens_from"].startswith("metrics")
    assert accuracy._unique_token_match("Nemotron 3 Nano", "") is None  # BF16 and NVFP4 both match


def test_kv_given_uses_a_line_without_gpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No GPU stated, but the logged available KV memory: the exact part alone is compared (vLLM 0.28 log of
    Qwen3-14B on an L40S: 11.57 GiB -> 75,824 tokens)."""
    line = {"engine": "V1", "vllm_version": "0.28.0", "model": "Qwen/Qwen3-14B", "max_model_len": 40960,
            "available_kv_cache_gib": 11.57, "kv_cache_tokens": 75824}
    path = tmp_path / "logs.jsonl"
    path.write_text(json.dumps(line) + "\n")
    accuracy = _module()
    assert accuracy.main([str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    case = report["cases"][0]
    assert set(case) >= {"kv_given"} and "end_to_end" not in case
    assert case["kv_given"]["pred_tokens"] == 75824
    assert report["modes"]["kv_given"]["cases_used"] == 1 and report["modes"]["end_to_end"]["cases_used"] == 0


def test_mamba_blocks_failure_is_an_outcome() -> None:
    accuracy = _module()
    assert accuracy._outcome({"error_text": "max_num_seqs (256) exceeds available Mamba cache blocks (146)"}) is False


def test_data_expert_parallel_failure_compares_vllms_estimate(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """vllm-project/recipes#12: Qwen3-Coder-480B-FP8 with -dp 8 --enable-expert-parallel failed with 48.66 GiB of
    KV memory and vLLM estimated 205,728 tokens (62 layers x 8 heads x 128 x 2 x 2 B per token). The -FP8 name
    resolves to the catalog's base config; DP/EP sharding is not modelled, so only kv_given runs."""
    error = ("ValueError: To serve at least one request with the models's max seq len (262144), (62.00 GiB KV cache "
             "is needed, which is larger than the available KV cache memory (48.66 GiB). Based on the available "
             "memory, the estimated maximum model length is 205728. Try increasing `gpu_memory_utilization` or "
             "decreasing `max_model_len` when initializing the engine.")
    line = {"engine": "V1", "vllm_version": "0.10.1.dev101+gbda9d0535", "model": "Qwen3-Coder-480B-A35B-Instruct-FP8",
            "gpu": "H20", "tensor_parallel_size": 1, "max_model_len": 262144, "quantization": "fp8",
            "available_kv_cache_gib": 48.66, "error_text": error,
            "extra": {"data_parallel_size": 8, "enable_expert_parallel": True}}
    path = tmp_path / "logs.jsonl"
    path.write_text(json.dumps(line) + "\n")
    accuracy = _module()
    assert accuracy.main([str(path), "--json"]) == 0
    case = json.loads(capsys.readouterr().out)["cases"][0]
    assert set(case) & {"end_to_end", "overhead_only", "kv_given"} == {"kv_given"}
    row = case["kv_given"]
    assert (row["pred_max_len_estimate"], row["meas_max_len_estimate"]) == (205728, 205728)
    assert row["verdict_ok"] and row["pred_status"] == "fail"
    ref, config, weights, _notes = accuracy.resolve_model("Qwen3-Coder-480B-A35B-Instruct-FP8")
    assert ref == "Qwen/Qwen3-Coder-480B-A35B-Instruct" and weights is None
    assert config["quantization_config"]["weight_block_size"] == [128, 128]


def test_names_in_parentheses_are_tried() -> None:
    accuracy = _module()
    raw = "qwen3-omni-30b-int8 (local; Qwen3-Omni-30B-A3B, compressed-tensors W8A16)"
    assert accuracy._parenthesised_names(raw) == ["Qwen3-Omni-30B-A3B"]
    ref, _config, weights, notes = accuracy.resolve_model(raw)
    # the catalog's bf16 thinker counted from the config (audio tower left out: an estimate)
    assert ref == "Qwen/Qwen3-Omni-30B-A3B-Instruct" and weights is not None
    assert weights.total_bytes == 62_142_556_640 and not weights.exact  # as `check` takes it: an estimate
    assert "matched to" in notes[0]


def test_lines_with_an_assumed_release_are_summarised_apart(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    base = {"engine": "V1", "model": "Qwen/Qwen3-14B", "gpu": "NVIDIA L40S", "gpu_memory_utilization": 0.9,
            "max_model_len": 4096, "available_kv_cache_gib": 30.0, "kv_cache_tokens": 196608}
    lines = [dict(base, vllm_version="0.28.0"), dict(base, vllm_version="NIM 9.9 (vLLM version not stated)")]
    path = tmp_path / "logs.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    accuracy = _module()
    assert accuracy.main([str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["release_assumed_lines"] == [1]
    assert report["modes"]["end_to_end"]["cases_used"] == 2
    assert report["modes_release_known"]["end_to_end"]["cases_used"] == 1
    assert accuracy.main([str(path)]) == 0
    assert "Lines whose vLLM release is known (all but [1]" in capsys.readouterr().out


def test_h100_file_plans_the_quantization_flag_as_check_does(capsys: pytest.CaptureFixture[str]) -> None:
    """The benchmark takes its end-to-end weights from api.weights_for, --quantization included: Llama-3.1-8B
    with --quantization fp8 on the H100 logged 8.54 GiB; the bf16 figure (14.99) would be 10 % off in KV."""
    accuracy = _module()
    assert accuracy.main([str(ROOT / "benchmarks" / "gpu-runs" / "h100-vllm-0.26.0.jsonl"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    _check(report)
    runs = [json.loads(line) for line in (ROOT / "benchmarks" / "gpu-runs" / "h100-vllm-0.26.0.jsonl")
            .read_text().splitlines()]
    index = next(i for i, run in enumerate(runs) if run["source"]["log"].endswith("llama-fp8-weights.log"))
    fp8 = next(case for case in report["cases"] if case["line"] == index)
    assert abs(fp8["end_to_end"]["pred_weights_gib"] - 8.54) < 0.1
    assert report["modes"]["end_to_end"]["verdict_agreement"] == 1.0
    # 0.43 % when written; 1.28 % since the V1 sampler takes the 14 B read from 0.26 and the V1 non-torch the
    # 0.25 GiB measured (Nemotron-Nano-9B-v2: its Mamba-2 forward, read at 2.16 GiB, logged a 2.45 GiB peak, and
    # vLLM's CUDA-graph estimate for it, 0.56 GiB, is above kvplan's 0.17); every line stays inside its stated error
    assert report["modes"]["end_to_end"]["kv_tokens_max_abs_err_pct"] < 1.5
    assert report["kv_memory_coverage"] == 1.0


def test_assume_version_moves_only_lines_without_a_release(capsys: pytest.CaptureFixture[str]) -> None:
    accuracy = _module_and_fixture()
    assert accuracy.main(["--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert accuracy.main(["--json", "--assume-version", "0.30.0"]) == 0
    assumed = json.loads(capsys.readouterr().out)
    assert assumed["modes_release_known"] == default["modes_release_known"]
    moved = [case for case in assumed["cases"] if case["line"] in assumed["release_assumed_lines"]]
    assert moved and all(case["label"].endswith("0.30.0") for case in moved)
    assert accuracy.main(["--assume-version", "soon"]) == 2
    assert "--assume-version" in capsys.readouterr().err


def test_coverage_counts_lines_inside_the_stated_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Coverage is the share of lines whose logged KV memory / tokens lie inside kvplan's stated +- error. The same
    Qwen3-14B L40S start-up (vLLM 0.28: 11.57 GiB, 75,824 tokens) with its true figures, and with figures far
    outside any error bar: covered once out of two; the stated error's median is reported beside."""
    base = {"engine": "V1", "vllm_version": "0.28.0", "model": "Qwen/Qwen3-14B", "gpu": "NVIDIA L40S",
            "max_model_len": 40960}
    lines = [dict(base, available_kv_cache_gib=11.57, kv_cache_tokens=75824),
             dict(base, available_kv_cache_gib=20.0, kv_cache_tokens=150000)]
    path = tmp_path / "logs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    accuracy = _module()
    assert accuracy.main([str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kv_memory_coverage"] == 0.5 and report["kv_tokens_coverage"] == 0.5
    assert 0 < report["kv_memory_stated_error_median_pct"] < 10
    rows = [case["end_to_end"] for case in report["cases"]]
    assert [row["kv_covered"] for row in rows] == [True, False]
    # the logged memory given (kv_given): the real line's tokens lie within the log's 0.01 GiB rounding
    assert [case["kv_given"]["tokens_covered"] for case in report["cases"]] == [True, False]


def test_configs_folder_resolves_models_the_catalog_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads((ROOT / "tests" / "data" / "catalog_sources" / "Qwen__Qwen3-8B" / "config.json").read_text())
    folder = tmp_path / "configs" / "someorg__Private-Model-8B"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    line = {"engine": "V1", "vllm_version": "0.33.0", "model": "someorg/Private-Model-8B", "gpu": "NVIDIA L4",
            "max_model_len": 8192, "available_kv_cache_gib": 3.0}
    path = tmp_path / "logs.jsonl"
    path.write_text(json.dumps(line) + "\n")
    accuracy = _module()
    assert accuracy.main([str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"][0]["reason"].startswith("model 'someorg/Private-Model-8B'")
    assert accuracy.main([str(path), "--json", "--configs", str(tmp_path / "configs")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["lines_used_any_mode"] == 1 and report["cases"][0]["label"].startswith("someorg/Private-Model-8B")
    assert accuracy.main([str(path), "--configs", str(tmp_path / "nope")]) == 2


def test_several_files_are_summarised_together(capsys: pytest.CaptureFixture[str]) -> None:
    """The fixture and the H100 runs at once: each file's report, then the end-to-end figures over both; the
    fixture's lines that set a constant for themselves are left out of its held-out summary."""
    accuracy = _module_and_fixture()
    h100 = ROOT / "benchmarks" / "gpu-runs" / "h100-vllm-0.26.0.jsonl"
    assert accuracy.main([str(accuracy.DEFAULT_FILE), str(h100), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    fixture, runs = data["files"]
    together = data["all_files_end_to_end"]
    assert together["cases_used"] == fixture["cases_used"] + runs["cases_used"]
    assert set(together) >= KEYS
    held = fixture["end_to_end_held_out"]
    fitted = {i for lines in fixture["calibration_lines"].values() for i in lines}
    assert 28 in fitted and held["cases_used"] == fixture["cases_used"] - len(
        {c["line"] for c in fixture["cases"] if "end_to_end" in c} & fitted)
    # the H100 file's line 5 (Nemotron-Nano-9B-v2) sets ERR_CUDAGRAPH_HYBRID_MIN: its held-out summary leaves it out
    assert runs["calibration_lines"] == {"ERR_CUDAGRAPH_HYBRID_MIN": [5]}
    assert runs["end_to_end_held_out"]["cases_used"] == runs["cases_used"] - 1
