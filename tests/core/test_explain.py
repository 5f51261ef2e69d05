"""The pure parts of `explain`: the engine-arg table, the classification, the release to plan with, the log-only
fixes."""

from __future__ import annotations

import pytest

from kvplan.core import engine_args
from kvplan.core.explain import classify, explain, planning_version
from kvplan.core.vllm_logs import parse_log


@pytest.mark.parametrize(("name", "setting"), [
    ("max_model_len", "max_model_len"), ("--max-model-len", "max_model_len"), ("max_seq_len", "max_model_len"),
    ("-tp", "tensor_parallel_size"), ("--tensor-parallel-size", "tensor_parallel_size"),
    ("context_length", "max_model_len"), ("quantization_method", "quantization"),
    ("--kv-cache-memory", "kv_cache_memory_bytes"), ("tokenizer", None), ("-x", None),
])
def test_setting_for(name: str, setting: str | None) -> None:
    assert engine_args.setting_for(name) == setting


@pytest.mark.parametrize(("setting", "raw", "value"), [
    ("max_model_len", "8,192", 8192), ("max_model_len", "-1", None), ("max_model_len", "8192.5", None),
    ("gpu_memory_utilization", "0.9", 0.9), ("gpu_memory_utilization", "nan", None),
    ("dtype", "torch.bfloat16", "bfloat16"), ("quantization", "None", None), ("enforce_eager", "True", True),
    ("enforce_eager", "false", False), ("enforce_eager", "maybe", None),
])
def test_coerce(setting: str, raw: str, value: object) -> None:
    assert engine_args.coerce(setting, raw) == value


def test_flag_for_and_env_tables_name_real_settings() -> None:
    assert engine_args.flag_for("kv_cache_memory_bytes") == "--kv-cache-memory"
    assert engine_args.flag_for("max_num_seqs") == "--max-num-seqs"
    assert set(engine_args.API_FOR_OPEN_LLM_ENV) <= set(engine_args.SETTINGS)
    assert set(engine_args.NIM_ENV.values()) <= set(engine_args.SETTINGS)


def test_classify_picks_the_root_cause() -> None:
    reading = parse_log("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n"
                        "ValueError: No available memory for the cache blocks.")
    assert classify(reading)[0] == "oom"
    assert classify(parse_log("Available KV cache memory: -2.14 GiB"))[0] == "no_memory"
    assert classify(parse_log("GPU KV cache size: 410,128 tokens"))[0] == "healthy"
    assert classify(parse_log("Model loading took 15.0 GiB"))[0] == "no_failure_seen"


def test_planning_version() -> None:
    v04 = parse_log("Initializing an LLM engine (v0.4.2) with config: model='m'")
    assert planning_version(v04, None, ())[0] == "0.5.4"
    v0 = parse_log("# GPU blocks: 282, # CPU blocks: 512")
    version, notes = planning_version(v0, None, ())
    assert version == "0.6.6" and "not in the log" in notes[0]
    assert planning_version(v0, "0.6.3", ())[0] == "0.6.3"
    v1 = parse_log("[gpu_worker.py:298] Available KV cache memory: 57.18 GiB")
    assert planning_version(v1, None, ("0.10.2", "0.11.0"))[0] == "0.11.0"
    worded = parse_log("Memory profiling results: total_gpu_memory=23.58GiB initial_memory_usage=15.34GiB")
    version, notes = planning_version(worded, None, ())
    assert version == "0.6.4.post1" and "printed only by 0.6.4 or 0.6.4.post1" in notes[0]


def test_log_only_explanation_of_the_v0_error() -> None:
    reading = parse_log("ValueError: The model's max seq len (32768) is larger than the maximum number of tokens "
                        "that can be stored in KV cache (29568). Try increasing `gpu_memory_utilization`")
    result = explain(reading, None, model=None, weights=None, gpu=None)
    assert result.failed and result.exit_code == 1
    (fix,) = result.fixes
    assert fix.changes == {"max_model_len": 29568} and fix.fits is True
    assert any("model's config" in m for m in result.missing)
