"""vLLM 0.34's start-up log: the extensible KV cache's lines and the server-version line.

The fixture tests/data/logs/llama31-8b-v1-0.34-extensible-h100.log is NOT a captured log (no GPU ran 0.34 here): it
is built from the 0.34.0 wheel's exact format strings, with numbers made consistent with each other:
``Memory after warmup: ...`` (v1/worker/extensible_kv_cache.py measure_kv_cache_blocks), ``Extended KV cache to %d
blocks (%.2f GiB).`` (extend_kv_cache), ``%s KV cache size: %s tokens, Maximum concurrency for %s tokens per
request: %.2fx`` (v1/core/kv_cache_utils.py update_kv_cache_capacity, one line in 0.34), ``vLLM server version %s,
serving model %s`` (entrypoints/common/startup.py), ``Model loading took %s GiB memory and %.6f seconds``
(v1/worker/gpu/model_runner.py) and the ``(EngineCore pid=N) INFO`` prefix of vllm/logger.py's _FORMAT.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kvplan.cli.app import app
from kvplan.core.vllm_logs import parse_log

LOG = Path(__file__).resolve().parents[1] / "data" / "logs" / "llama31-8b-v1-0.34-extensible-h100.log"


def test_the_extensible_kv_cache_lines_are_read() -> None:
    r = parse_log(LOG.read_bytes())
    assert (r.vllm_version, r.engine, r.model) == ("0.34.0", "v1", "meta-llama/Llama-3.1-8B-Instruct")
    # the committed cache, not the capacity reserved before warm-up (Available KV cache memory: 60.25 GiB)
    assert (r.gpu_blocks, r.extensible_kv_gib, r.free_after_warmup_gib) == (7290, 56.95, 61.56)
    assert r.available_kv_cache_gib == 60.25
    assert (r.kv_cache_tokens, r.max_concurrency, r.max_concurrency_len) == (466_560, 3.56, 131_072)
    assert not r.failed


def test_a_remap_after_warmup_wins_over_the_measurement() -> None:
    r = parse_log("INFO [extensible_kv_cache.py:693] Memory after warmup: 3.1 GiB free, 1.0 GiB committed to the KV "
                  "cache, 2.0 GiB kept for transient activations (2.0 GiB allocated at peak, 0.1 GiB of torch "
                  "reservation growth); 120 KV cache blocks (0.94 GiB) fit within the requested 20.0 GiB. Torch may "
                  "reserve up to 5.0 GiB.\nINFO [extensible_kv_cache.py:536] Extended KV cache to 118 blocks "
                  "(0.92 GiB).\n")
    assert (r.gpu_blocks, r.extensible_kv_gib, r.engine) == (118, 0.92, "v1")


def test_the_server_version_line_of_0_33_and_0_34() -> None:
    r = parse_log("(APIServer pid=1) INFO 12-07 08:00:01 [startup.py:39] vLLM server version 0.34.0, serving model "
                  "Qwen/Qwen3-8B\nINFO [gpu_worker.py:795] Available KV cache memory: 20.5 GiB\n")
    assert r.vllm_version == "0.34.0"


def test_explain_re_plans_0_34_from_the_committed_blocks_with_planning_error_zero() -> None:
    result = CliRunner().invoke(app, ["explain", str(LOG), "--gpu", "h100", "--json"],
                                env={"HF_HUB_OFFLINE": "1", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    replan = data["replan"]
    assert data["classification"]["cause"] == "healthy"
    assert (replan["kv_cache"]["num_blocks"], replan["kv_cache"]["tokens"]) == (7290, 466_560)
    assert replan["planning_error_zero"], replan["agreement"]


def test_an_unreadable_vllm_version_flag_is_bad_input() -> None:
    """It was planned with the default release, with a note, and exit 0; `check --vllm-version banana` exits 2."""
    result = CliRunner().invoke(app, ["explain", str(LOG), "--vllm-version", "banana"], env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 2 and "--vllm-version: cannot read 'banana'" in result.stderr, result.output


def test_a_0_34_log_cut_before_warm_up_says_its_kv_figure_is_only_the_reserved_capacity() -> None:
    head = b"".join(line for line in LOG.read_bytes().splitlines(keepends=True) if b"Extended" not in line
                    and b"after warmup" not in line and b"KV cache size" not in line)
    result = CliRunner().invoke(app, ["explain", "-", "--gpu", "h100", "--json"], input=head,
                                env={"HF_HUB_OFFLINE": "1"})
    data = json.loads(result.stdout)
    assert any("only the capacity reserved before" in note for note in data["notes"]), data["notes"]
    full = CliRunner().invoke(app, ["explain", str(LOG), "--gpu", "h100", "--json"], env={"HF_HUB_OFFLINE": "1"})
    assert not any("capacity reserved" in note for note in json.loads(full.stdout)["notes"])


AUTO_FIT_FAIL = (
    "(EngineCore pid=9) ERROR 12-07 08:01:02 [core.py:1757] ValueError: Cannot auto-fit max_model_len: not enough GPU "
    "memory available to serve even a single token. Increase `gpu_memory_utilization` or use more GPUs.\n")
AUTO_FIT_REDUCED = (
    "(EngineCore pid=9) INFO 12-07 08:00:14 [core.py:154] Initializing a V1 LLM engine (v0.34.0) with config: "
    "model='meta-llama/Llama-3.1-8B-Instruct', dtype=torch.bfloat16, max_seq_len=131072, tensor_parallel_size=1\n"
    "(EngineCore pid=9) INFO 12-07 08:01:21 [kv_cache_planning.py:1494] --max-model-len auto reduced max_model_len "
    "from 131072 to 65536 (20.1 GiB GPU available for the KV cache).\n")


def test_auto_fit_wordings_of_0_34() -> None:
    """From v1/core/kv_cache_planning.py (0.34) _auto_fit_max_model_len's format strings: its no-memory error is a
    failure (explain said 'no failure', exit 0), and the fitted length replaces the config line's."""
    r = parse_log(AUTO_FIT_FAIL)
    assert [e.kind for e in r.errors] == ["no_memory"]
    assert parse_log(AUTO_FIT_REDUCED).settings.max_model_len == 65536


def test_record_says_why_an_extensible_measurement_is_not_stored(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["explain", str(LOG), "--gpu", "h100", "--record"],
                                env={"HF_HUB_OFFLINE": "1", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)})
    assert result.exit_code == 0
    assert "extensible KV cache was sized from the memory free after warm-up" in result.output
