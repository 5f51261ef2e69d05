"""kvplan against five real vLLM 0.26.0 start-ups on an H100 (benchmarks/gpu-runs/h100-vllm-0.26.0.jsonl).

vLLM ran through ``kvplan probe`` on a lent H100 80GB HBM3 (CUDA total 85,017,493,504 B), Model Runner V2,
LLM class, random weights. Two runs (Llama-3.2-1B, Qwen2.5-7B) came after the V2 model was written: held out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvplan import api
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB

RUNS = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu-runs" / "h100-vllm-0.26.0.jsonl"
H100_CUDA_TOTAL = 85_017_493_504
OFFLINE = {"HF_HUB_OFFLINE": "1", "KVPLAN_CACHE_DIR": "/nonexistent-kvplan-cache"}

# kvplan's prediction for each run, pinned (the held-out two are what the probe printed on the H100);
# vLLM logged 444,528 / 444,928 / 394,576 / 2,105,424 / 1,022,416 tokens.
PREDICTED_TOKENS = {
    "llama-default": 445_344,
    "llama-eager": 445_344,
    "qwen3-default": 395_200,
    "llama1b-serve-like": 2_118_176,
    "qwen25-7b-default": 1_025_824,
}


def _runs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RUNS.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("run", _runs(), ids=lambda r: Path(r["source"]["log"]).stem)
def test_kv_tokens_within_one_percent_of_the_h100(run: dict[str, Any]) -> None:
    settings = DeploySettings(
        vllm_version="0.26.0", entrypoint="llm", gpu_memory_utilization=run["gpu_memory_utilization"],
        max_num_seqs=run["max_num_seqs"], max_num_batched_tokens=run["max_num_batched_tokens"],
        enforce_eager=run["enforce_eager"],
    )
    report = api.check(run["model"], settings, gpu_memory_bytes=H100_CUDA_TOTAL, environ=OFFLINE,
                       use_calibration=False)
    result = report.result
    assert result.engine.model_runner == "v2"
    overheads = result.memory.overheads
    assert overheads is not None
    assert overheads.cudagraph.value_bytes == 0  # 0.26's V2 runner reserves nothing for graphs
    assert abs(overheads.non_torch.value_bytes / GiB - run["non_torch_gib"]) < 0.005
    tokens = result.kv_cache.tokens
    assert tokens == PREDICTED_TOKENS[Path(run["source"]["log"]).stem]
    assert abs(tokens / run["kv_cache_tokens"] - 1) < 0.01
    # The logged figure lies inside kvplan's stated uncertainty.
    memory = result.memory
    assert abs(memory.kv_cache_bytes - run["available_kv_cache_gib"] * GiB) < memory.kv_cache_error_bytes
