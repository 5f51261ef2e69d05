"""Every quote and error text of the real GPU logs, parsed into the settings and numbers they state, each pinned.

``../shared/fixtures/vllm-gpu-logs.jsonl`` (beside the repository, as in CI; skipped where absent) and
``benchmarks/gpu-runs/`` (the full logs of ten start-ups on an H100, and their summary file). A pin lists every
field the parser fills; the fixture's own fields must agree wherever the parser read a value.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.vllm_logs import LogReading, parse_log

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "fixtures" / "vllm-gpu-logs.jsonl"
GPU_RUNS = ROOT / "benchmarks" / "gpu-runs"
SETTINGS = {
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "gpu_memory_utilization",
    "max_model_len",
    "max_num_seqs",
    "max_num_batched_tokens",
    "kv_cache_dtype",
    "dtype",
    "quantization",
    "enforce_eager",
}
NUMBERS = (
    "total_gpu_memory_gib",
    "model_loading_gib",
    "non_torch_gib",
    "activation_peak_gib",
    "cuda_graph_gib",
    "available_kv_cache_gib",
    "kv_cache_tokens",
    "gpu_blocks",
    "cpu_blocks",
    "max_concurrency",
    "max_concurrency_len",
)
READING = (
    "engine",
    "vllm_version",
    "source",
    "model",
    "architecture",
    "gpu_name",
    "model_loading_gib",
    "available_kv_cache_gib",
    "total_gpu_memory_gib",
    "free_at_init_gib",
    "requested_gib",
    "non_torch_gib",
    "activation_peak_gib",
    "cuda_graph_gib",
    "cuda_graph_estimate_gib",
    "kv_cache_tokens",
    "max_concurrency",
    "max_concurrency_len",
    "gpu_blocks",
    "cpu_blocks",
)


def flat(reading: LogReading) -> dict[str, Any]:
    """The reading's filled fields, settings and errors (error texts left out: the pins hold the numbers)."""
    out: dict[str, Any] = {k: v for k, v in dataclasses.asdict(reading.settings).items() if v is not None}
    out.update({k: getattr(reading, k) for k in READING if getattr(reading, k) is not None})
    errors = [
        {k: v for k, v in dataclasses.asdict(e).items() if v not in (None, ()) and k != "text"} for e in reading.errors
    ]
    if errors:
        out["errors"] = errors
    return out


# Rows 16-21 quote a report's table ("model 9.44 GiB | KV 29.63 GiB (194,192 tok)"), rows 0-12 a NIM report's
# summary ("budget 0.9 | KV tokens 435036"): not vLLM's wording, so only the flags and NIM variables they name are
# read. The report's other figures stay the fixture's, not the parser's.
SHARED_PINS: dict[int, dict[str, Any]] = {
    0: {"max_model_len": 4096, "max_num_seqs": 32, "source": "NIM"},
    1: {"max_model_len": 4096, "max_num_seqs": 32, "source": "NIM"},
    2: {"max_model_len": 4096, "max_num_seqs": 32, "source": "NIM"},
    3: {"max_model_len": 4096, "max_num_seqs": 32, "source": "NIM"},
    4: {"max_model_len": 4096, "max_num_seqs": 32, "source": "NIM"},
    5: {
        "max_model_len": 4096,
        "max_num_seqs": 32,
        "source": "NIM",
        "model_loading_gib": 16.5842,
        "errors": [{"kind": "no_memory"}],
    },
    6: {"max_model_len": 4096, "max_num_seqs": 32, "source": "NIM", "errors": [{"kind": "no_memory"}]},
    7: {"max_model_len": 4096, "source": "NIM"},
    8: {"max_model_len": 4096, "source": "NIM"},
    9: {"max_model_len": 4096, "source": "NIM"},
    10: {"max_model_len": 4096, "source": "NIM"},
    11: {
        "max_model_len": 4096,
        "source": "NIM",
        "errors": [{"kind": "mamba_blocks", "max_num_seqs": 256, "mamba_blocks": 146}],
    },
    12: {"max_model_len": 4096, "source": "NIM", "errors": [{"kind": "mamba_blocks", "max_num_seqs": 256}]},
    13: {
        "engine": "v1",
        "available_kv_cache_gib": 51.63,
        "kv_cache_tokens": 410128,
        "max_concurrency": 3.13,
        "max_concurrency_len": 131072,
    },
    14: {
        "max_model_len": 131072,
        "max_num_seqs": 1,
        "max_num_batched_tokens": 8192,
        "kv_cache_dtype": "fp8",
        "quantization": "modelopt",
        "enable_prefix_caching": True,
        "engine": "v1",
        "available_kv_cache_gib": 6.01,
        "kv_cache_tokens": 569878,
        "max_concurrency": 4.35,
        "max_concurrency_len": 131072,
    },
    15: {
        "engine": "v1",
        "source": "vllm serve",
        "model": "Qwen/Qwen3-14B",
        "model_loading_gib": 27.52,
        "available_kv_cache_gib": 11.57,
        "kv_cache_tokens": 75824,
        "max_concurrency": 1.85,
        "max_concurrency_len": 40960,
    },
    16: {"source": "vllm serve", "model": "Qwen/Qwen3-14B-AWQ"},
    17: {
        "gpu_memory_utilization": 0.95,
        "max_model_len": 1024,
        "max_num_seqs": 8,
        "max_num_batched_tokens": 8192,
        "block_size": 16,
        "enable_prefix_caching": True,
    },
    18: {},
    19: {},
    20: {},
    21: {},
    22: {
        "engine": "v1",
        "available_kv_cache_gib": 5.33,
        "kv_cache_tokens": 300220,
        "max_concurrency": 1.15,
        "max_concurrency_len": 262144,
    },
    23: {"engine": "v1", "available_kv_cache_gib": 57.18, "max_concurrency": 23.73, "max_concurrency_len": 6144},
    24: {"engine": "v1", "available_kv_cache_gib": 57.18, "max_concurrency": 11.12, "max_concurrency_len": 34048},
    25: {
        "tensor_parallel_size": 8,
        "gpu_memory_utilization": 0.85,
        "max_model_len": 128000,
        "max_num_seqs": 1024,
        "max_num_batched_tokens": 32000,
        "engine": "v0",
        "source": "vllm serve",
        "model": ".../DeepSeek-R1",
        "model_loading_gib": 83.88,
        "available_kv_cache_gib": 21.43,
        "total_gpu_memory_gib": 139.81,
        "non_torch_gib": 7.16,
        "activation_peak_gib": 6.37,
        "max_concurrency": 2.3,
        "max_concurrency_len": 128000,
        "gpu_blocks": 18418,
        "cpu_blocks": 3437,
    },
    26: {"engine": "v1", "kv_cache_tokens": 302921, "max_concurrency": 2.31, "max_concurrency_len": 131072},
    27: {
        "tensor_parallel_size": 4,
        "gpu_memory_utilization": 0.93,
        "max_model_len": 32768,
        "max_num_batched_tokens": 4096,
        "dtype": "half",
        "block_size": 32,
        "enable_chunked_prefill": True,
        "engine": "v0",
        "model_loading_gib": 14.25,
        "available_kv_cache_gib": 4.3,
        "total_gpu_memory_gib": 21.66,
        "non_torch_gib": 0.2,
        "activation_peak_gib": 1.4,
        "max_concurrency": 5.73,
        "max_concurrency_len": 32768,
    },
    28: {
        "gpu_memory_utilization": 0.5,
        "engine": "v0",
        "model_loading_gib": 2.8884,
        "available_kv_cache_gib": 2.36,
        "total_gpu_memory_gib": 14.56,
        "non_torch_gib": 0.01,
        "activation_peak_gib": 2.02,
        "cuda_graph_gib": 0.17,
        "max_concurrency": 2.69,
        "max_concurrency_len": 32768,
        "gpu_blocks": 5517,
        "cpu_blocks": 9362,
    },
    29: {
        "gpu_memory_utilization": 0.9,
        "engine": "v0",
        "model_loading_gib": 2.8797,
        "available_kv_cache_gib": 15.52,
        "total_gpu_memory_gib": 22.06,
        "non_torch_gib": 0.05,
        "activation_peak_gib": 1.4,
        "max_concurrency": 141.92,
        "max_concurrency_len": 4096,
        "gpu_blocks": 36332,
        "cpu_blocks": 9362,
    },
    30: {
        "max_model_len": 100000,
        "engine": "v1",
        "available_kv_cache_gib": 10.55,
        "kv_cache_tokens": 230528,
        "max_concurrency": 2.31,
        "max_concurrency_len": 100000,
    },
    31: {
        "max_model_len": 221000,
        "engine": "v1",
        "errors": [
            {
                "kind": "max_model_len",
                "max_model_len": 221000,
                "needed_gib": 10.12,
                "available_gib": 5.59,
                "estimated_max_model_len": 122080,
            }
        ],
    },
    32: {"engine": "v1", "model_loading_gib": 65.9651, "available_kv_cache_gib": -2.14},
    33: {
        "gpu_memory_utilization": 0.92,
        "engine": "v0",
        "model_loading_gib": 14.27,
        "available_kv_cache_gib": 4.07,
        "total_gpu_memory_gib": 21.66,
        "non_torch_gib": 0.2,
        "activation_peak_gib": 1.39,
        "max_concurrency": 1.21,
        "max_concurrency_len": 131072,
    },
    34: {
        "engine": "v1",
        "source": "vllm serve",
        "model": ".../Qwen3-Coder-480B-A35B-Instruct-FP8",
        "errors": [
            {
                "kind": "max_model_len",
                "max_model_len": 262144,
                "needed_gib": 62.0,
                "available_gib": 48.66,
                "estimated_max_model_len": 205728,
            }
        ],
    },
    35: {
        "gpu_memory_utilization": 0.95,
        "engine": "v1",
        "errors": [
            {
                "kind": "max_model_len",
                "max_model_len": 262144,
                "needed_gib": 62.0,
                "available_gib": 55.65,
                "estimated_max_model_len": 235296,
            }
        ],
    },
    36: {
        "engine": "v1",
        "errors": [
            {
                "kind": "max_model_len",
                "max_model_len": 262144,
                "needed_gib": 24.0,
                "available_gib": 8.04,
                "estimated_max_model_len": 87840,
            }
        ],
    },
    37: {
        "gpu_memory_utilization": 0.95,
        "engine": "v0",
        "model_loading_gib": 33.059,
        "available_kv_cache_gib": 5.38,
        "total_gpu_memory_gib": 47.37,
        "non_torch_gib": 0.08,
        "activation_peak_gib": 6.49,
        "cuda_graph_gib": 0.11,
        "max_concurrency": 1.79,
        "max_concurrency_len": 32768,
        "gpu_blocks": 3671,
        "cpu_blocks": 2730,
    },
    38: {
        "gpu_memory_utilization": 0.9,
        "engine": "v0",
        "model_loading_gib": 14.9888,
        "available_kv_cache_gib": 4.6,
        "total_gpu_memory_gib": 22.07,
        "non_torch_gib": 0.05,
        "activation_peak_gib": 0.22,
        "max_concurrency": 0.29,
        "max_concurrency_len": 131072,
        "gpu_blocks": 2356,
        "cpu_blocks": 2048,
        "errors": [{"kind": "max_model_len", "max_model_len": 131072, "kv_tokens": 37696}],
    },
    39: {
        "gpu_memory_utilization": 0.9,
        "engine": "v0",
        "model_loading_gib": 14.9888,
        "available_kv_cache_gib": 3.81,
        "total_gpu_memory_gib": 23.58,
        "non_torch_gib": 0.35,
        # 0.6.4: torch's peak less the torch memory before the profile (initial usage less non-torch), 17.06 -
        # (15.34 - 0.35); 1.72 when the non-torch memory (its CUDA context) was taken for torch's
        "activation_peak_gib": 2.07,
        "max_concurrency": 1.56,
        "max_concurrency_len": 20000,
        "gpu_blocks": 1952,
        "cpu_blocks": 2048,
    },
    40: {
        "gpu_memory_utilization": 0.9,
        "engine": "v0",
        "available_kv_cache_gib": 2.89,
        "total_gpu_memory_gib": 23.58,
        "non_torch_gib": 0.35,
        "activation_peak_gib": 2.99,  # 17.98 - (15.34 - 0.35)
        "max_concurrency": 0.82,
        "max_concurrency_len": 29000,
        "gpu_blocks": 1478,
        "cpu_blocks": 2048,
        "errors": [{"kind": "max_model_len", "max_model_len": 29000, "kv_tokens": 23648}],
    },
    41: {"engine": "v0", "errors": [{"kind": "max_model_len", "max_model_len": 32768, "kv_tokens": 29568}]},
    42: {
        "engine": "v0",
        "source": "vllm serve",
        "model": "/models--Qwen--Qwen1.5-7B-Chat",
        "errors": [{"kind": "max_model_len", "max_model_len": 32768, "kv_tokens": 7344}],
    },
    43: {
        "gpu_memory_utilization": 0.7,
        "engine": "v0",
        "model_loading_gib": 8.6253,
        "available_kv_cache_gib": 45.21,
        "total_gpu_memory_gib": 79.15,
        "non_torch_gib": 0.09,
        "activation_peak_gib": 1.16,
        "cuda_graph_gib": 1.12,
        "max_concurrency": 462.97,
        "max_concurrency_len": 512,
        "gpu_blocks": 14815,
        "cpu_blocks": 1966,
    },
    44: {
        "gpu_memory_utilization": 0.88,
        "engine": "v1",
        "total_gpu_memory_gib": 22.04,
        "free_at_init_gib": 15.32,
        "requested_gib": 19.39,
        "errors": [
            {
                "kind": "free_memory",
                "available_gib": 15.32,
                "total_gib": 22.04,
                "requested_gib": 19.39,
                "utilization": 0.88,
            },
            {
                "kind": "max_model_len",
                "max_model_len": 4096,
                "needed_gib": 0.58,
                "available_gib": 0.47,
                "estimated_max_model_len": 3280,
            },
        ],
    },
}


def _rows() -> list[dict[str, Any]]:
    if not SHARED.is_file():
        pytest.skip("shared fixtures not present")
    return [json.loads(line) for line in SHARED.read_text().splitlines() if line.strip()]


def test_every_row_is_pinned() -> None:
    assert len(_rows()) == len(SHARED_PINS)


@pytest.mark.parametrize("index", sorted(SHARED_PINS))
def test_shared_quote_and_error_text(index: int) -> None:
    row = _rows()[index]
    reading = parse_log(f"{row['quote'] or ''}\n{row['error_text'] or ''}")
    assert flat(reading) == SHARED_PINS[index]
    for name in SETTINGS:  # where the parser read a setting, it is the one the fixture states
        value = getattr(reading.settings, name)
        if value is not None and row.get(name) is not None and name not in ("dtype", "quantization"):
            assert value == row[name], name
    for name in NUMBERS:
        value = getattr(reading, name)
        if value is not None and row.get(name) is not None:
            assert value == row[name], name


def _gpu_run_rows() -> list[dict[str, Any]]:
    path = GPU_RUNS / "h100-vllm-0.26.0.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("row", _gpu_run_rows(), ids=lambda r: Path(r["source"]["log"]).stem)
def test_gpu_run_log_gives_every_logged_figure(row: dict[str, Any]) -> None:
    """Each full H100 log parses into exactly the settings and figures its summary line records."""
    reading = parse_log((ROOT / row["source"]["log"]).read_bytes())
    assert reading.engine == "v1" and reading.vllm_version == "0.26.0" and not reading.errors
    for name in SETTINGS - {"quantization"}:
        if row.get(name) is not None:
            assert getattr(reading.settings, name) == row[name], name
    # the summary keeps `quantization` for the checkpoint's method; the fp8 run quantized online (the flag)
    online = "fp8" if Path(row["source"]["log"]).stem == "llama-fp8-weights" else None
    assert reading.settings.quantization == (row.get("quantization") or online)
    for name in NUMBERS:
        if row.get(name) is not None:
            assert getattr(reading, name) == row[name], name
    assert reading.free_at_init_gib == 78.66 and reading.architecture is not None
    assert reading.releases_cited == ("0.26.0",)


@pytest.mark.parametrize("row", _gpu_run_rows(), ids=lambda r: Path(r["source"]["log"]).stem)
def test_gpu_run_quotes(row: dict[str, Any]) -> None:
    """The summary file's quotes (excerpts of the same logs) give the same figures where they quote them."""
    reading = parse_log(row["quote"])
    assert reading.source == "LLM class"
    assert reading.model_loading_gib == row["model_loading_gib"]
    assert reading.available_kv_cache_gib == row["available_kv_cache_gib"]
    assert reading.kv_cache_tokens == row["kv_cache_tokens"]
    assert reading.engine == "v1" and not reading.errors
