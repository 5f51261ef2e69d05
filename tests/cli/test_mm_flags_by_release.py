"""Multimodal flags of later vLLM releases are refused for the releases without them (EngineArgs read in the
0.9.2, 0.10.1.1, 0.10.2, 0.16.0 and 0.17.0 wheels): vLLM's argparse stops on an unrecognized argument, so a plan
that read --language-model-only on 0.11 as text-only serving (Qwen2.5-VL-7B: 1.26 GiB less weights, no encoder
profile) described a deployment that never starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()
MODEL = ["Qwen/Qwen2.5-VL-7B-Instruct", "--gpu", "h100"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--vllm-version", "0.11.0", "--language-model-only"],
     "--language-model-only: vLLM 0.11.0 has no such flag (it came in 0.17.0)"),
    (["--vllm-version", "0.9.2", "--skip-mm-profiling"],
     "--skip-mm-profiling: vLLM 0.9.2 has no such flag (it came in 0.10.0)"),
    (["--vllm-version", "0.10.1", "-tp", "2", "--mm-encoder-tp-mode", "data"],
     "--mm-encoder-tp-mode data: vLLM 0.10.1 has no such flag (it came in 0.10.2)"),
])
def test_refused_before_the_release_that_has_it(flags: list[str], message: str) -> None:
    result = runner.invoke(app, ["check", *MODEL, *flags])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("flags", [
    ["--vllm-version", "0.17.0", "--language-model-only"],
    ["--vllm-version", "0.10.1", "--skip-mm-profiling"],
    ["--vllm-version", "0.10.2", "-tp", "2", "--mm-encoder-tp-mode", "data"],
    ["--vllm-version", "0.10.1", "-tp", "2", "--mm-encoder-tp-mode", "weights"],  # the old releases' behaviour
])
def test_planned_from_the_release_that_has_it(flags: list[str]) -> None:
    assert runner.invoke(app, ["check", *MODEL, *flags]).exit_code == 0
