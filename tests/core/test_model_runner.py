"""Which runner vLLM picks, release by release: the rules read in the 0.20-0.33 wheels (config/vllm.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.model import ModelSpec
from kvplan.core.model_runner import default_model_runner
from kvplan.sources import catalog


def _model(name: str) -> ModelSpec:
    entry = catalog.find(name)
    assert entry is not None, name
    return model_spec_from_config(entry.config)


def _runner(model: ModelSpec, version: str, *, quantized: bool = False, platform: str = "cuda") -> str:
    engine = "v0" if version.startswith(("0.5.", "0.6.", "0.7.")) else "v1"
    return default_model_runner(model, version=version, engine=engine, platform=platform, quantized=quantized)


@pytest.mark.parametrize(
    ("name", "runners"),
    [
        # dense Llama: listed from 0.23, every dense model from 0.25
        ("meta-llama/Llama-3.1-8B-Instruct", {"0.21.0": "v1", "0.22.0": "v1", "0.23.0": "v2", "0.26.0": "v2",
                                              "0.33.0": "v2"}),
        # Qwen3 dense: the first model V2 served by default (0.22)
        ("Qwen/Qwen3-8B", {"0.21.0": "v1", "0.22.0": "v2", "0.28.0": "v2"}),
        # MoE outside the list: V1 until every model moved (0.29)
        ("Qwen/Qwen3-30B-A3B", {"0.24.0": "v1", "0.26.0": "v1", "0.28.0": "v1", "0.29.0": "v2"}),
        # DeepseekV2ForCausalLM is listed from 0.24 on, MoE or not
        ("deepseek-ai/DeepSeek-V2-Lite", {"0.23.0": "v1", "0.24.0": "v2", "0.27.0": "v2"}),
        # hybrid attention + Mamba: not listed, so V1 until 0.29
        ("nvidia/Nemotron-H-56B-Base-8K", {"0.26.0": "v1", "0.28.0": "v1", "0.29.0": "v2"}),
    ],
)
def test_default_runner_by_release(name: str, runners: dict[str, str]) -> None:
    model = _model(name)
    assert {version: _runner(model, version) for version in runners} == runners


def test_quantized_checkpoints_waited_until_0_24() -> None:
    model = _model("Qwen/Qwen3-8B")
    assert _runner(model, "0.23.0", quantized=True) == "v1"
    assert _runner(model, "0.24.0", quantized=True) == "v2"


def test_cpu_build_and_v0_use_their_own_runner() -> None:
    model = _model("Qwen/Qwen3-8B")
    assert _runner(model, "0.33.0", platform="cpu") == "v1"
    assert _runner(model, "0.6.6") == "v1"


def test_hybrid_in_the_list_may_use_v2_from_0_27() -> None:
    hybrid = replace(_model("nvidia/Nemotron-H-56B-Base-8K"), architecture="DeepseekV2ForCausalLM")
    assert _runner(hybrid, "0.26.0") == "v1"
    assert _runner(hybrid, "0.27.0") == "v2"
