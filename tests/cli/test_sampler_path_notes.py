"""The activation note names the top-k/top-p path V1_SAMPLER_PATHS gives the release: Qwen3-8B on an H100 at 8K
(1,024 x 151,936 logits). 0.17-0.20 sample with Triton only (FlashInfer's sampler is opt-in until 0.21): the note
used to say 'FlashInfer / Triton' there, and nothing at all for 0.11.1-0.16's sort."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()


@pytest.mark.parametrize(("version", "note", "gib"), [
    ("0.11.1", "(PyTorch sort top-k/top-p: FlashInfer's sampler opt-in)", 5.66),
    ("0.16.0", "(PyTorch sort top-k/top-p: FlashInfer's sampler opt-in)", 5.66),
    ("0.17.0", "(in-place Triton top-k/top-p; FlashInfer's sampler opt-in)", 2.17),
    ("0.20.0", "(in-place Triton top-k/top-p; FlashInfer's sampler opt-in)", 2.17),
    ("0.21.0", "(in-place FlashInfer, then Triton top-k/top-p)", 2.17),
])
def test_the_note_names_the_release_path(version: str, note: str, gib: float) -> None:
    result = runner.invoke(app, ["check", "Qwen/Qwen3-8B", "--gpu", "h100", "--vllm-version", version,
                                 "--max-model-len", "8192", "--json"])
    assert result.exit_code == 0, result.output
    memory = json.loads(result.stdout)["memory"]
    assert memory["activation_source"] == f"estimate: profile-run peak = sampler over 1024 x 151936 logits {note}"
    assert round(memory["activation_bytes"] / 2**30, 2) == gib
