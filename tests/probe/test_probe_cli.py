"""`kvplan probe` through Typer's runner with a fake vLLM interpreter (no vLLM needed).

The fake "python" is a shell script that runs a small program standing in for ``kvplan.probe.child``: it
reads the request on stdin, prints vLLM-like log lines and one ``KVPLAN_RESULT`` line, or hangs, or crashes.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app
from kvplan.probe import calibration
from tests.probe.processes import wait_gone

runner = CliRunner()
GiB = 1 << 30

TOO_SMALL = (
    "To serve at least one request with the model's max seq len (200000), (0.76 GiB KV cache is needed, which "
    "is larger than the available KV cache memory (0.5 GiB). Based on the available memory, the estimated "
    "maximum model length is 130944. Try increasing `gpu_memory_utilization` (which also controls CPU memory "
    "on the CPU backend) or decreasing `max_model_len` when initializing the engine."
)

FAKE_CHILD = textwrap.dedent("""
    import json, os, subprocess, sys, time
    spec = json.load(open(sys.argv[1]))
    request = json.loads(sys.stdin.read())
    json.dump(request, open(spec["request_out"], "w"))
    mode = spec["mode"]
    print("INFO Initializing a V1 LLM engine (v0.32.0) with config: ...", file=sys.stderr, flush=True)
    print("INFO Starting to load model /m...", file=sys.stderr, flush=True)
    if mode == "hang":
        grand = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(spec["pids"], "w") as f:
            f.write(f"{os.getpid()} {grand.pid}")
        time.sleep(600)
    if mode == "crash":
        print("Traceback (most recent call last):", file=sys.stderr)
        print("RuntimeError: libcuda.so.1: cannot open shared object file", file=sys.stderr, flush=True)
        sys.exit(1)
    if mode == "kv_error_log_only":
        # A separate engine-core process: vLLM's words only in the log, the parent's error is generic.
        print("(EngineCore pid=9) ERROR ValueError: " + spec["message"], file=sys.stderr, flush=True)
        err = {"kind": "crash", "message": "Engine core initialization failed. See root cause above."}
        print("KVPLAN_RESULT " + json.dumps({"error": err, "vllm_version": "0.32.0", "device": "cpu"}), flush=True)
        sys.exit(1)
    print("INFO Model loading took 0.01 GiB memory and 0.1 seconds", file=sys.stderr, flush=True)
    print("INFO init engine (profile, create kv cache, warmup model) took 1.00 s", file=sys.stderr, flush=True)
    print("KVPLAN_RESULT " + json.dumps(spec["payload"]), flush=True)
    sys.exit(spec.get("exit", 0))
""")


def _model_dir(tmp_path: Path) -> Path:
    """A 4-layer llama (2 KV heads x 64, float32): 512 KiB per 128-token block."""
    model = tmp_path / "tiny-llama"
    model.mkdir()
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 256,
        "intermediate_size": 512,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "num_hidden_layers": 4,
        "vocab_size": 1024,
        "max_position_embeddings": 262144,
        "torch_dtype": "float32",
        "tie_word_embeddings": False,
        "rms_norm_eps": 1e-6,
    }
    (model / "config.json").write_text(json.dumps(config))
    return model


def _fake_python(tmp_path: Path, mode: str, payload: dict[str, Any] | None = None, exit_code: int = 0) -> Path:
    child = tmp_path / "fake_child.py"
    child.write_text(FAKE_CHILD)
    spec = tmp_path / "fake_spec.json"
    spec.write_text(
        json.dumps(
            {
                "mode": mode,
                "payload": payload,
                "exit": exit_code,
                "message": TOO_SMALL,
                "pids": str(tmp_path / "pids"),
                "request_out": str(tmp_path / "request.json"),
            }
        )
    )
    exe = tmp_path / "fake-python"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{child}" "{spec}"\n')
    exe.chmod(0o755)
    return exe


def _cpu_payload(
    blocks: int, *, max_model_len: int = 4096, device: str = "cpu", available: int = GiB // 2
) -> dict[str, Any]:
    tokens = blocks * 128
    return {
        "vllm_version": "0.32.0",
        "device": device,
        "num_blocks": blocks,
        "block_size": 128,
        "max_model_len": max_model_len,
        "engine_kv_cache_tokens": tokens,
        "max_concurrency_exact": tokens / max_model_len,
        "available_kv_cache_bytes": available,
        "model_dtype": "float32",
        "kv_cache_dtype": "auto",
        "elapsed_s": 1.0,
    }


BASE = ["--kv-cache-memory", "0.5GiB", "--dtype", "float32", "--load-format", "dummy", "--max-model-len", "4096"]


def _probe(model: Path, exe: Path, *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    result = runner.invoke(app, ["probe", str(model), "--vllm-python", str(exe), *BASE, *extra, "--json"])
    try:
        data = json.loads(result.stdout)
    except ValueError:
        data = None
    return result.exit_code, data, result.stderr


def test_matching_result_exit_0(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    # 0.5 GiB / 512 KiB per block = 1024 blocks; kvplan predicts the same for the CPU build.
    code, data, err = _probe(model, _fake_python(tmp_path, "ok", _cpu_payload(1024)), "--platform", "cpu")
    assert code == 0, err
    assert data is not None
    assert data["status"] == "match"
    assert data["measured"]["kv_cache"] == {
        "tokens": 131072,
        "num_blocks": 1024,
        "block_size": 128,
        "max_concurrency": 32.0,
        "max_model_len": 4096,
        "dtype": "auto",
        "groups": None,
    }
    assert data["measured"]["vllm_version"] == "0.32.0" and data["measured"]["device"] == "cpu"
    predicted = data["predicted"]
    assert predicted["kv_cache"]["num_blocks"] == 1024
    assert predicted["settings"]["entrypoint"] == "llm" and predicted["settings"]["platform"] == "cpu"
    assert predicted["settings"]["vllm_version"] == "0.32.0"  # planned for the release that really ran
    assert data["error"] is None
    assert data["elapsed_s"] > 0
    assert Path(data["calibration_record"]).is_file()
    assert "loading weights" in err  # progress on stderr, phase read from the log lines
    request = json.loads((tmp_path / "request.json").read_text())
    args = request["engine_args"]
    assert args["model"] == str(model.resolve())
    assert args["kv_cache_memory_bytes"] == GiB // 2 and args["max_model_len"] == 4096
    assert args["load_format"] == "dummy" and args["skip_tokenizer_init"] is True
    assert args["dtype"] == "float32"
    assert "gpu_memory_utilization" not in args and "block_size" not in args  # vLLM's own defaults


def test_log_file_keeps_vllms_whole_output_and_never_overwrites(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    exe = _fake_python(tmp_path, "ok", _cpu_payload(1024))
    log = tmp_path / "vllm.log"
    code, _, err = _probe(model, exe, "--platform", "cpu", "--log-file", str(log))
    assert code == 0, err
    lines = log.read_text().splitlines()
    assert lines[0].startswith("INFO Initializing a V1 LLM engine (v0.32.0)")
    assert "INFO Model loading took 0.01 GiB memory and 0.1 seconds" in lines
    assert not any(line.startswith("KVPLAN_RESULT") for line in lines)  # the child's report is not vLLM's output
    code, data, err = _probe(model, exe, "--platform", "cpu", "--log-file", str(log))
    assert code == 2 and data is None
    assert "already exists" in err and log.read_text().splitlines() == lines
    code, _, err = _probe(model, exe, "--platform", "cpu", "--log-file", str(tmp_path / "no" / "vllm.log"))
    assert code == 2 and "no such directory" in err


def test_mismatching_result_exit_3(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    code, data, err = _probe(model, _fake_python(tmp_path, "ok", _cpu_payload(1000)), "--platform", "cpu")
    assert code == 3, err
    assert data is not None and data["status"] == "mismatch"
    bad = {row["field"] for row in data["comparison"] if not row["ok"]}
    assert bad == {"num_blocks", "tokens", "max_concurrency"}
    assert any("num_blocks: kvplan 1024, vLLM 1000" in r for r in data["reasons"])


def test_device_decides_the_platform(tmp_path: Path) -> None:
    """No --platform: kvplan first plans for CUDA (block 16), then again for the CPU vLLM reports."""
    model = _model_dir(tmp_path)
    code, data, err = _probe(model, _fake_python(tmp_path, "ok", _cpu_payload(1024)))
    assert code == 0, err
    assert data is not None and data["predicted"]["settings"]["platform"] == "cpu"
    assert any("--platform cpu" in note for note in data["notes"])


def test_kv_error_from_payload_exit_1(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    payload = {
        "error": {"kind": "kv_cache_too_small", "message": TOO_SMALL, "type": "ValueError"},
        "estimated_max_model_len": 130944,
        "vllm_version": "0.32.0",
        "device": "cpu",
    }
    exe = _fake_python(tmp_path, "ok", payload, exit_code=3)
    code, data, err = _probe(model, exe, "--platform", "cpu", "--max-model-len", "200000")
    assert code == 1, err
    assert data is not None and data["status"] == "engine_error"
    assert data["error"]["kind"] == "kv_cache_too_small"
    assert "estimated maximum model length is 130944" in data["error"]["message"]
    assert data["agrees"] is True  # kvplan predicted this refusal, with the same largest length
    assert data["predicted"]["verdict"]["status"] == "fail"
    assert {r["field"]: r["ok"] for r in data["comparison"]} == {"starts": True, "max_model_len_fit": True}
    assert data["calibration_record"] is None
    assert data["log_tail"]


def test_kv_error_only_in_log_exit_1(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    exe = _fake_python(tmp_path, "kv_error_log_only")
    code, data, err = _probe(model, exe, "--platform", "cpu", "--max-model-len", "200000")
    assert code == 1, err
    assert data is not None and data["error"]["kind"] == "kv_cache_too_small"
    assert data["error"]["message"].startswith("To serve at least one request")


def test_kv_error_human_view(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    exe = _fake_python(tmp_path, "kv_error_log_only")
    result = runner.invoke(
        app, ["probe", str(model), "--vllm-python", str(exe), *BASE, "--platform", "cpu", "--max-model-len", "200000"]
    )
    assert result.exit_code == 1
    out = result.stdout
    assert "ENGINE ERROR" in out and "kv_cache_too_small" in out
    assert "kvplan predicted: To serve at least one request" in out.replace("\n", " ")
    assert "vLLM took" in out


def test_crashing_child_exit_2(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    code, data, err = _probe(model, _fake_python(tmp_path, "crash"), "--platform", "cpu")
    assert code == 2, err
    assert data is not None and data["status"] == "engine_error"
    assert data["error"]["kind"] == "crash"
    assert "libcuda.so.1" in data["error"]["message"]




def test_timeout_leaves_no_process(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    started = time.monotonic()
    code, data, err = _probe(model, _fake_python(tmp_path, "hang"), "--platform", "cpu", "--timeout", "3")
    assert code == 2, err
    assert data is not None and data["status"] == "timeout"
    assert time.monotonic() - started < 30
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert not wait_gone(pids)


def test_interrupt_is_exit_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kvplan.probe import runner as probe_runner

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(probe_runner, "run_child", interrupted)
    model = _model_dir(tmp_path)
    code, _, err = _probe(model, _fake_python(tmp_path, "ok", _cpu_payload(1024)), "--platform", "cpu")
    assert code == 130
    assert "interrupted" in err


def test_no_vllm_python_says_how_to_point_at_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # away from the repo's ./.venv-vllm-cpu
    monkeypatch.delenv("KVPLAN_VLLM_PYTHON", raising=False)
    model = _model_dir(tmp_path)
    result = runner.invoke(app, ["probe", str(model), *BASE, "--platform", "cpu"])
    if result.exit_code == 0:
        pytest.skip("this interpreter has vLLM")
    assert result.exit_code == 2
    assert "--vllm-python" in result.stderr
    result = runner.invoke(app, ["probe", str(model), *BASE, "--vllm-python", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a file" in result.stderr
    (tmp_path / "python").write_text("#!/bin/sh\n")  # not executable
    result = runner.invoke(app, ["probe", str(model), *BASE, "--vllm-python", "./python"])
    assert result.exit_code == 2 and "not executable" in result.stderr


def test_a_relative_vllm_python_is_that_file_not_one_on_path(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """str(Path("./python")) is "python": without making it absolute, Popen ran whatever python PATH found."""
    model = _model_dir(tmp_path)
    exe = _fake_python(tmp_path, "ok", _cpu_payload(1024))
    (tmp_path / "python").write_text(exe.read_text())
    (tmp_path / "python").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    code, data, err = _probe(model, Path("./python"), "--platform", "cpu")
    assert code == 0, err
    assert data is not None and data["vllm_python"] == str(tmp_path / "python")


def test_bad_timeouts_and_log_files_are_refused_before_vllm_starts(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    exe = _fake_python(tmp_path, "ok", _cpu_payload(1024))
    for value in ("nan", "inf", "0", "-1"):
        code, _, err = _probe(model, exe, "--platform", "cpu", "--timeout", value)
        assert code == 2 and "--timeout must be a positive number" in err, (value, err)
    dangling = tmp_path / "vllm.log"
    dangling.symlink_to(tmp_path / "nowhere")
    code, _, err = _probe(model, exe, "--platform", "cpu", "--log-file", str(dangling))
    assert code == 2 and "already exists" in err
    assert not (tmp_path / "request.json").exists()  # vLLM never started


def test_cuda_probe_teaches_check(tmp_path: Path) -> None:
    """A probe on a (fake) A10G records non-KV memory; `check` for that GPU then uses it and says so."""
    model = _model_dir(tmp_path)
    gpu = ["--gpu", "a10g", "--gpu-memory", "22GiB", "--gpu-memory-utilization", "0.9", "--max-model-len", "4096"]
    budget = -(-22 * GiB * 9 // 10)
    available = budget - 3 * GiB  # vLLM kept 3 GiB for weights, activations and graphs
    blocks = available // (4 * 2 * 2 * 64 * 4 * 16)  # 4 layers, K+V, 2 heads x 64, fp32, block 16
    payload = _cpu_payload(blocks, device="NVIDIA A10G", available=available)
    payload.update(block_size=16, engine_kv_cache_tokens=blocks * 16, max_concurrency_exact=blocks * 16 / 4096)
    exe = _fake_python(tmp_path, "ok", payload)
    result = runner.invoke(app, ["probe", str(model), "--vllm-python", str(exe), "--dtype", "float32", *gpu, "--json"])
    assert result.exit_code in (0, 3), result.stderr
    data = json.loads(result.stdout)
    assert data["predicted"]["settings"]["platform"] == "cuda"
    [record] = calibration.read_records()
    assert record["non_kv_bytes"] == 3 * GiB and record["gpu"] == "NVIDIA A10G"

    check = ["check", str(model), "--dtype", "float32", *gpu, "--entrypoint", "llm", "--json"]
    result = runner.invoke(app, [*check, "--vllm-version", "0.32.0"])
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["memory"]["kv_cache_bytes"] == available
    assert plan["kv_cache"]["num_blocks"] == blocks
    assert "measured" in plan["memory"]["kv_cache_source"]
    assert any(note.startswith("calibrated: non-KV memory 3.00 GiB") for note in plan["notes"])
    assert "calibrated" in result.stderr

    result = runner.invoke(app, check)  # default vLLM version: the record is not used, and the note says why
    assert "estimate" in json.loads(result.stdout)["memory"]["kv_cache_source"]
    assert "--vllm-version 0.32.0" in result.stderr


def test_calibration_list_and_clear(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    _probe(model, _fake_python(tmp_path, "ok", _cpu_payload(1024)), "--platform", "cpu")
    result = runner.invoke(app, ["calibration", "list", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert len(listed["records"]) == 1 and listed["records"][0]["measured"]["tokens"] == 131072
    result = runner.invoke(app, ["calibration", "list"])
    assert result.exit_code == 0 and "tiny-llama" in result.stdout and "131,072" in result.stdout
    result = runner.invoke(app, ["calibration", "clear"])
    assert result.exit_code == 0 and "removed 1" in result.stdout
    assert json.loads(runner.invoke(app, ["calibration", "list", "--json"]).stdout)["records"] == []


def test_engine_args_pass_parallelism_and_leave_defaults_to_vllm() -> None:
    from kvplan.core.settings import AUTO_MAX_MODEL_LEN, DeploySettings
    from kvplan.probe.engine_args import engine_args

    settings = DeploySettings(
        tensor_parallel_size=2,
        pipeline_parallel_size=2,
        max_model_len=AUTO_MAX_MODEL_LEN,
        kv_cache_dtype="fp8",
        quantization="fp8",
        enforce_eager=True,
        max_num_seqs=8,
    )
    args = engine_args("org/m", settings, revision="abc", distributed_executor_backend="ray")
    assert args == {
        "model": "org/m",
        "revision": "abc",
        "tensor_parallel_size": 2,
        "pipeline_parallel_size": 2,
        "dtype": "auto",
        "kv_cache_dtype": "fp8",
        "enforce_eager": True,
        "load_format": "auto",
        "max_model_len": -1,
        "quantization": "fp8",
        "max_num_seqs": 8,
        "distributed_executor_backend": "ray",
    }
    assert engine_args("m", settings, load_format="dummy", skip_tokenizer_init=False).get("skip_tokenizer_init") is None


def test_engine_args_carry_the_mamba_ssm_dtype_only_when_set() -> None:
    from kvplan.core.settings import DeploySettings
    from kvplan.probe.engine_args import engine_args

    assert "mamba_ssm_cache_dtype" not in engine_args("org/m", DeploySettings())
    args = engine_args("org/m", DeploySettings(mamba_ssm_cache_dtype="bfloat16", disable_hybrid_kv_cache_manager=True))
    assert args["mamba_ssm_cache_dtype"] == "bfloat16" and args["disable_hybrid_kv_cache_manager"] is True


def test_engine_args_carry_prefix_caching_only_when_said() -> None:
    from kvplan.core.settings import DeploySettings
    from kvplan.probe.engine_args import engine_args

    assert "enable_prefix_caching" not in engine_args("org/m", DeploySettings())  # vLLM's default for the release
    assert engine_args("org/m", DeploySettings(enable_prefix_caching=False))["enable_prefix_caching"] is False


def test_a_release_kvplan_cannot_plan_keeps_the_measurement(tmp_path: Path) -> None:
    """--enable-prefix-caching on Nemotron-H plans at the default release, but vLLM 0.26 ran it (Mamba cache mode
    'all', which kvplan refuses): the measurement is still shown, with a note and no prediction."""
    from tests.conftest import CATALOG_SOURCES

    model = tmp_path / "nano-9b"
    model.mkdir()
    (model / "config.json").write_text((CATALOG_SOURCES / "nvidia__NVIDIA-Nemotron-Nano-9B-v2" / "config.json")
                                       .read_text())
    payload = dict(_cpu_payload(40, max_model_len=4096), vllm_version="0.26.0", device="cuda", block_size=1312,
                   model_dtype="bfloat16")
    exe = _fake_python(tmp_path, "ok", payload)
    result = runner.invoke(app, ["probe", str(model), "--vllm-python", str(exe), "--kv-cache-memory", "1GiB",
                                 "--max-model-len", "4096", "--load-format", "dummy", "--gpu-memory", "80GiB",
                                 "--enable-prefix-caching", "--json"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "unplanned" and data["predicted"] is None
    assert data["measured"]["kv_cache"]["num_blocks"] == 40
    assert any("Mamba cache mode 'all'" in note for note in data["notes"])


def test_a_model_directory_without_tokenizer_starts_without_one(tmp_path: Path) -> None:
    """Real weights (load_format auto) but no tokenizer files: vLLM would stop with "Couldn't instantiate the
    backend tokenizer", so the probe asks for skip_tokenizer_init (it sends token ids only) and says so."""
    model = _model_dir(tmp_path)
    exe = _fake_python(tmp_path, "ok", _cpu_payload(1024))
    args = ["probe", str(model), "--vllm-python", str(exe), "--kv-cache-memory", "0.5GiB", "--dtype", "float32",
            "--max-model-len", "4096", "--platform", "cpu", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    request = json.loads((tmp_path / "request.json").read_text())
    assert request["engine_args"]["load_format"] == "auto"
    assert request["engine_args"]["skip_tokenizer_init"] is True
    assert "no tokenizer files" in result.stderr

    (model / "tokenizer.json").write_text("{}")  # with a tokenizer, vLLM's default stands
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "skip_tokenizer_init" not in json.loads((tmp_path / "request.json").read_text())["engine_args"]


def test_probe_takes_the_llm_entrypoint_and_refuses_serve(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    exe = _fake_python(tmp_path, "ok", _cpu_payload(1024))
    code, data, err = _probe(model, exe, "--platform", "cpu", "--entrypoint", "llm")
    assert code == 0, err
    assert data is not None and data["predicted"]["settings"]["entrypoint"] == "llm"
    code, data, err = _probe(model, exe, "--platform", "cpu", "--entrypoint", "serve")
    assert code == 2 and data is None
    assert "measures --entrypoint llm only" in err and "Traceback" not in err
