"""A remedy that does not fit at the model's length reports the longest length it starts at, searched where the
profile shrinks with the context: V0, and multimodal models (Qwen2.5-VL's dummy video grows with max_model_len).
Qwen2.5-VL-7B with --enable-lora on an RTX 4090, vLLM 0.34, at its 128,000 tokens: tensor parallel 2 used to read
'largest max_model_len 0' (the fit at 128K's 11.96 GiB encoder profile) while `check -tp 2` starts at 8K."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()
FLAGS = ["Qwen/Qwen2.5-VL-7B-Instruct", "--gpu", "rtx4090", "--vllm-version", "0.34.0", "--enable-lora", "--json"]


def _check(*extra: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["check", *FLAGS, *extra])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_tensor_parallel_remedy_names_the_length_check_starts_at() -> None:
    result = runner.invoke(app, ["recommend", *FLAGS])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["longest_max_model_len"] == 0
    (tp,) = [r for r in data["remedies"] if r["kind"] == "tensor_parallel"]
    assert tp["summary"] == "tensor parallel 2: still does not fit (largest max_model_len 81919)"
    # the same figure as check's own plans at TP 2: 81,919 starts (inside the error), 81,920 does not (the dummy
    # video grows with max_model_len, so the KV cache drops there)
    assert _check("-tp", "2", "--max-model-len", "81919")["verdict"]["status"] == "warn"
    assert _check("-tp", "2", "--max-model-len", "81920")["verdict"]["status"] == "fail"
    assert _check("-tp", "2", "--max-model-len", "8192")["kv_cache"]["tokens"] == 322_752


def test_recommend_prints_a_shortfall_not_a_negative_memory() -> None:
    """Nemotron-Nano-9B-v2 at 0.9 of an L4, vLLM 0.34: the centre is 0.02 GiB short (+- 0.92); the header used to
    read 'KV cache memory -0.28 GiB'. JSON keeps the signed figure."""
    flags = ["nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--gpu", "l4", "--gpu-util", "0.9", "--lengths", "2K",
             "--vllm-version", "0.34.0"]
    human = runner.invoke(app, ["recommend", *flags])
    assert "KV cache memory: none, 0.02 GiB short ± 0.92 (estimate)" in human.stdout
    assert "KV cache memory -" not in human.stdout
    data = json.loads(runner.invoke(app, ["recommend", *flags, "--json"]).stdout)
    assert round(data["kv_cache_bytes"] / 2**30, 2) == -0.02
