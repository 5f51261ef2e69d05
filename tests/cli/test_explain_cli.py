"""`kvplan explain`: the seed log's fix passes `check`, exit codes, JSON, golden text, --record feeding `check`.

Regenerate the goldens after an intended change: KVPLAN_UPDATE_GOLDEN=1 python -m pytest tests/cli/test_explain_cli.py
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
SEED = ROOT / "tests" / "data" / "logs" / "qwen7b-chat-v0-api-for-open-llm.log"
H100 = ROOT / "benchmarks" / "gpu-runs" / "h100-vllm-0.26.0"


def _run(*args: str, input: bytes | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input, env={"COLUMNS": "120", "NO_COLOR": "1"})


def _json(*args: str) -> tuple[int, dict[str, Any]]:
    result = _run("explain", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _fix(data: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(f for f in data["fixes"] if f["kind"] == kind)


def test_seed_gives_a_max_model_len_that_passes_check_with_the_same_kv_memory() -> None:
    code, data = _json(str(SEED))
    assert code == 1
    assert data["classification"]["cause"] == "max_model_len"
    replan = data["replan"]
    assert replan["kv_cache"]["num_blocks"] == 282 and replan["planning_error_zero"]
    kv_bytes = replan["logged_kv_cache_bytes"]
    assert kv_bytes == 282 * 8 * 2**20  # 282 blocks of 16 tokens x 32 layers x 32 heads x 128 x 2 x bf16
    fix = _fix(data, "max_model_len")
    assert fix["changes"] == {"max_model_len": 4512} and fix["env"] == "CONTEXT_LEN=4512"
    assert fix["serve_flags"] == "--max-model-len 4512"
    same_kv = ["check", "Qwen/Qwen-7B-Chat", "--vllm-version", "0.5.4", "--dtype", "bfloat16",
               "--kv-cache-memory", f"{kv_bytes // 2**20}MiB"]
    assert _run(*same_kv, "--max-model-len", "4512").exit_code == 0
    assert _run(*same_kv, "--max-model-len", "4513").exit_code == 1  # the largest: one more token fails
    assert _run(*same_kv, "--max-model-len", "8192").exit_code == 1


def test_seed_gives_the_utilisation_that_fits_8192() -> None:
    """With the GPU named, the non-KV memory is the log's (budget - 282 blocks): 0.99 of an A10G fits 8192,
    0.98 does not."""
    from kvplan.core.plan import replan
    from kvplan.core.vllm_logs import parse_log

    code, data = _json(str(SEED), "--gpu", "a10g")
    assert code == 1
    fix = _fix(data, "gpu_memory_utilization")
    assert fix["changes"] == {"gpu_memory_utilization": 0.99}
    assert fix["env"] == "GPU_MEMORY_UTILIZATION=0.99" and fix["serve_flags"] == "--gpu-memory-utilization 0.99"
    assert _fix(data, "kv_cache_dtype")["env_note"].startswith("api-for-open-llm has no variable for kv_cache_dtype")
    assert _fix(data, "tensor_parallel")["changes"] == {"tensor_parallel_size": 2}
    sources = {t["name"]: t["source"] for t in data["terms"]}
    assert sources["weights"] == "log" and sources["KV cache"] == "derived from the log"
    assert sources["activation peak"] == "estimate"  # named as still estimated (held inside the logged budget)

    from kvplan.cli.explain import _gpu, _resolve_model
    from kvplan.core.explain import explain, planning_version, settings_from_log

    reading = parse_log(SEED.read_bytes())
    version, _ = planning_version(reading, None, ())
    model = _resolve_model(reading, None, None, None, version, os.environ)
    result = explain(reading, settings_from_log(reading, version, model.spec), model=model.spec,
                     weights=model.weights, gpu=_gpu(reading, "a10g", None))
    assert result.plan is not None
    measured = None
    from kvplan.core.estimate import Estimate

    memory = result.plan.memory
    measured = Estimate(value_bytes=memory.budget_bytes - memory.kv_cache_bytes, error_bytes=0, source="log")
    assert replan(result.plan, measured, gpu_memory_utilization=0.99).verdict.status == "ok"
    assert replan(result.plan, measured, gpu_memory_utilization=0.98).verdict.status == "fail"


def test_seed_without_a_gpu_says_how_much_more_kv_memory() -> None:
    _, data = _json(str(SEED))
    fix = _fix(data, "gpu_memory_utilization")
    assert fix["fits"] is None and "1840 MiB more" in fix["summary"]  # 512 - 282 blocks of 8 MiB
    assert any("GPU's total memory" in m for m in data["missing"])


def test_the_briefs_wording_of_the_seed() -> None:
    text = SEED.read_text().replace("Loading model weights took 14.3820 GB", "Model loading took 14.38 GB")
    result = _run("explain", "-", "--json", input=text.encode())
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["log"]["model_loading_gib"] == 14.38
    assert _fix(data, "max_model_len")["env"] == "CONTEXT_LEN=4512"


LLAMA, GEMMA = "meta-llama/Llama-3.1-8B-Instruct", "OpenPipe/gemma-3-12b-it-text-only"
MODELS = {"llama-default": LLAMA, "llama-eager": LLAMA, "llama-fp8-weights": LLAMA,
          "llama1b-serve-like": "meta-llama/Llama-3.2-1B-Instruct", "qwen25-7b-default": "Qwen/Qwen2.5-7B-Instruct",
          "qwen3-default": "Qwen/Qwen3-8B", "gemma3-12b-default": GEMMA, "gemma3-12b-seqs128": GEMMA,
          "gemma3-12b-tok4096": GEMMA, "nemotron9b-default": "nvidia/NVIDIA-Nemotron-Nano-9B-v2"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_healthy_h100_logs_replan_with_zero_error(name: str) -> None:
    """All ten H100 start-ups: with the logged KV memory, kvplan's tokens and concurrency are vLLM's."""
    code, data = _json(str(H100 / f"{name}.log"), "--model", MODELS[name])
    assert code == 0 and data["classification"]["cause"] == "healthy"
    replan = data["replan"]
    assert replan["planning_error_zero"], replan["agreement"]
    assert replan["kv_cache"]["tokens"] == data["log"]["kv_cache_tokens"]
    assert {t["name"]: t["source"] for t in data["terms"]}["KV cache"] == "log"


def test_free_memory_failure_says_what_another_process_holds() -> None:
    text = (b"ValueError: Free memory on device cuda:0 (15.32/22.04 GiB) on startup is less than desired GPU memory "
            b"utilization (0.88, 19.39 GiB). Decrease GPU memory utilization or reduce GPU memory used by other "
            b"processes.\n")
    result = _run("explain", "-", input=text)
    assert result.exit_code == 1
    assert "6.72 GiB of the 22.04 GiB was in use" in result.stdout and "holds about 6.32 GiB" in result.stdout
    assert "--gpu-memory-utilization 0.69" in result.stdout


def test_mamba_failure_from_nim_gives_max_num_seqs_as_nim_env() -> None:
    text = b"NIM_MAX_MODEL_LEN=4096\nValueError: max_num_seqs (256) exceeds available Mamba cache blocks (146).\n"
    code = _run("explain", "-", "--json", input=text)
    data = json.loads(code.stdout)
    fix = _fix(data, "max_num_seqs")
    assert fix["serve_flags"] == "--max-num-seqs 146" and fix["env"] == "NIM_MAX_NUM_SEQS=146"


def test_v1_error_without_a_model_uses_vllms_own_estimate() -> None:
    text = (b"ValueError: To serve at least one request with the models's max seq len (262144), (24.00 GiB KV cache "
            b"is needed, which is larger than the available KV cache memory (8.04 GiB). Based on the available "
            b"memory, the estimated maximum model length is 87840. Try increasing `gpu_memory_utilization`")
    result = _run("explain", "-", "--json", "--gpu-memory", "79.1GiB", "--vllm-version", "0.11.0", input=text)
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["replan"] is None
    assert _fix(data, "max_model_len")["changes"] == {"max_model_len": 87840}


def test_unsupported_architecture() -> None:
    text = b"ValueError: Model architectures ['QWenLMHeadModel'] are not supported for now. Supported architectures"
    data = json.loads(_run("explain", "-", "--json", input=text).stdout)
    assert data["classification"]["cause"] == "unsupported_architecture"


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02" * 1000, bytes(random.Random(3).randrange(256)
                                                                      for _ in range(100_000)),
                                  b"hello world\r\njust an ordinary log line\n"])
def test_nothing_usable_exits_2_and_says_what_it_looked_for(data: bytes) -> None:
    result = _run("explain", "-", input=data)
    assert result.exit_code == 2
    assert "nothing usable" in result.stderr and "Available KV cache memory" in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = _run("explain", str(tmp_path / "nope.log"))
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_record_feeds_check() -> None:
    code = _run("explain", str(H100 / "llama-default.log"), "--model", "meta-llama/Llama-3.1-8B-Instruct",
                "--gpu", "h100", "--record")
    assert code.exit_code == 0 and "--record: the log's non-KV memory" in code.stdout
    # the log is the LLM class's (its args line, no API server): check the same deployment
    check = _run("check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--vllm-version", "0.26.0",
                 "--entrypoint", "llm", "--gpu-memory-utilization", "0.9", "--json")
    assert check.exit_code == 0
    assert "measured by kvplan explain" in check.stderr
    assert json.loads(check.stdout)["kv_cache"]["tokens"] == 444528  # the log's figure, exactly


def test_record_needs_a_named_gpu() -> None:
    result = _run("explain", str(H100 / "llama-default.log"), "--model", "meta-llama/Llama-3.1-8B-Instruct",
                  "--record")
    assert "nothing recorded (the log does not name the GPU" in result.stdout


@pytest.mark.parametrize(("golden", "args"), [
    ("explain_seed_qwen7b_a10g.txt", [str(SEED), "--gpu", "a10g"]),
    ("explain_healthy_llama_h100.txt", [str(H100 / "llama-default.log"), "--model",
                                        "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100"]),
])
def test_human_output_golden(golden: str, args: list[str]) -> None:
    args = [a.replace(str(ROOT) + "/", "") for a in args]
    cwd = os.getcwd()
    os.chdir(ROOT)  # relative paths in the output, whatever the checkout's location
    try:
        result = _run("explain", *args)
    finally:
        os.chdir(cwd)
    path = GOLDEN / golden
    if os.environ.get("KVPLAN_UPDATE_GOLDEN"):
        path.write_text(result.stdout)
    assert result.stdout == path.read_text()


def test_v1_failure_with_the_model_replans_to_vllms_own_estimate() -> None:
    """A `vllm serve` 0.11 log of Llama-3.1-8B on an L4: 1.95 GiB of KV memory; vLLM estimated 15,968 tokens and
    the re-plan on the logged memory gives the same; no utilisation fits 131,072 on the card."""
    code, data = _json(str(ROOT / "tests" / "data" / "logs" / "llama31-8b-v1-0.11-max-seq-len.log"), "--gpu", "l4")
    assert code == 1 and data["log"]["source"] == "vllm serve"
    assert data["replan"]["planning_error_zero"]
    assert _fix(data, "max_model_len")["changes"] == {"max_model_len": 15968}
    util = _fix(data, "gpu_memory_utilization")
    assert util["fits"] is False and util["changes"] == {}
    assert _fix(data, "kv_cache_dtype")["fits"] is False


def test_cuda_out_of_memory_while_capturing_graphs() -> None:
    text = (b"INFO Model loading took 15.0 GiB\nINFO [gpu_worker.py:298] Available KV cache memory: 54.0 GiB\n"
            b"Capturing CUDA graph shapes:  40%|####      | 27/67\n"
            b"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB. GPU 0 has a total capacity of "
            b"79.10 GiB of which 1.05 GiB is free.\n")
    data = json.loads(_run("explain", "-", "--json", input=text).stdout)
    assert data["classification"]["cause"] == "oom_graphs"
    assert _fix(data, "enforce_eager")["serve_flags"] == "--enforce-eager"


def test_free_memory_failure_with_the_model_replans_the_utilisation_it_allows() -> None:
    text = ("INFO 11-02 09:00:09 [core.py:77] Initializing a V1 LLM engine (v0.11.0) with config: "
            "model='Qwen/Qwen2.5-7B-Instruct', dtype=torch.bfloat16, max_seq_len=32768, tensor_parallel_size=1\n"
            "ValueError: Free memory on device cuda:0 (15.32/22.04 GiB) on startup is less than desired GPU memory "
            "utilization (0.88, 19.39 GiB).\n")
    data = json.loads(_run("explain", "-", "--json", input=text.encode()).stdout)
    (fix,) = data["fixes"]
    # 0.69 x 22.04 GiB holds the 14.2 GiB of weights and the runtime memory, but (kvplan's estimate) no KV cache
    assert fix["fits"] is False and "0.69" in fix["summary"] and "free the memory" in fix["summary"]


SHARED = ROOT.parent / "shared" / "fixtures" / "vllm-gpu-logs.jsonl"


@pytest.mark.parametrize(("row", "model", "version"), [
    (28, "Qwen/Qwen2.5-1.5B-Instruct", "0.7.2"),
    (38, "meta-llama/Llama-3.1-8B-Instruct", "0.6.6"),
    (39, "meta-llama/Llama-3.1-8B-Instruct", "0.6.6"),
    (40, "meta-llama/Llama-3.1-8B-Instruct", "0.6.6"),
])
def test_real_v0_logs_replan_with_zero_error(row: int, model: str, version: str) -> None:
    """Public V0 logs (the fixture's quotes, one line each): the re-plan on the logged blocks gives vLLM's blocks,
    tokens, concurrency and error figures exactly."""
    if not SHARED.is_file():
        pytest.skip("shared fixtures not present")
    line = json.loads(SHARED.read_text().splitlines()[row])
    text = line["quote"].replace(" | ", "\n") + "\n" + (line["error_text"] or "")
    result = _run("explain", "-", "--json", "--model", model, "--vllm-version", version, input=text.encode())
    data = json.loads(result.stdout)
    assert result.exit_code == (1 if line["error_text"] else 0)
    assert data["replan"]["planning_error_zero"], data["replan"]["agreement"]
    assert len(data["replan"]["agreement"]) >= 2


def test_when_the_replan_disagrees_with_the_log_the_log_wins() -> None:
    """A log whose figures kvplan does not reproduce (here: an estimate that does not match its own available
    memory for this model) gets vLLM's own length, and a note saying the re-plan differs."""
    text = ("INFO [core.py:1] Initializing a V1 LLM engine (v0.10.1) with config: model='Qwen/Qwen3-8B', "
            "dtype=torch.bfloat16, max_seq_len=40960, tensor_parallel_size=1, kv_cache_dtype=fp8_e4m3\n"
            "ValueError: To serve at least one request with the model's max seq len (40960), (3.12 GiB KV cache is "
            "needed, which is larger than the available KV cache memory (1.2 GiB). Based on the available memory, "
            "the estimated maximum model length is 15728.\n")
    data = json.loads(_run("explain", "-", "--json", input=text.encode()).stdout)
    assert not data["replan"]["planning_error_zero"]
    assert _fix(data, "max_model_len")["changes"] == {"max_model_len": 15728}
    assert any("differs from the log" in n for n in data["notes"])


def test_no_memory_after_loading_gives_a_budget_and_says_the_utilisation_was_assumed() -> None:
    text = ("NIM_MAX_MODEL_LEN=4096 NIM_MAX_NUM_SEQS=32\n"
            "INFO 09-21 [gpu_model_runner.py:1] Model loading took 16.5842 GiB and 10.1 seconds\n"
            "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
            "initializing the engine.\n")
    result = _run("explain", "-", "--json", "--model", "nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu-memory",
                  "31.84GiB", "--vllm-version", "0.11.0", input=text.encode())
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["classification"]["cause"] == "no_memory"
    assert {t["name"]: t["source"] for t in data["terms"]}["weights"] == "log"
    fix = _fix(data, "gpu_memory_utilization")
    assert fix["env"] is None and fix["env_note"].startswith("NIM has no variable for gpu_memory_utilization")
    assert any("gpu_memory_utilization is not in the log" in n for n in data["notes"])
