"""vLLM's "GPU KV cache size: N tokens" by release, against real logs with their logged KV memory given.

Up to 0.20 V1 logs ``num_blocks // len(groups) * min_block_size`` (``_report_kv_cache_config``, kv_cache_utils.py
0.11.0-0.20.0); from 0.21 ``int(max_concurrency * max_model_len)`` (``get_kv_cache_capacity``). The two differ for
sliding-window and hybrid models, which is where these lines are.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_benchmark

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "benchmarks" / "gpu-runs"


def _accuracy() -> ModuleType:
    return load_benchmark("accuracy")


@pytest.mark.parametrize(("file", "line", "logged"), [
    ("public-issues.jsonl", 12, 168_880),  # gemma-2-9b-it, H100, 0.19.0: two groups (sliding + full)
    ("public-issues.jsonl", 13, 36_560),  # gemma-3-27b-it, 0.19.0
    ("public-issues-recent.jsonl", 3, 79_648),  # Qwen3.6-35B-A3B NVFP4 (gated delta net + attention), 0.20.0
])
def test_kv_cache_size_as_the_release_logs_it(file: str, line: int, logged: int) -> None:
    accuracy = _accuracy()
    text = (RUNS / file).read_text().splitlines()[line]
    case = accuracy.run_line(line, json.loads(text))
    row = case.rows["kv_given"]
    assert row["meas_tokens"] == logged
    # the logged memory is rounded to 0.01 GiB: kvplan's tokens from it land within one block of vLLM's
    assert abs(row["pred_tokens"] - logged) <= 64
