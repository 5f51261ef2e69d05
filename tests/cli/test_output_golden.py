"""Golden outputs of `kvplan check` (JSON and the human view) for catalog models, offline.

Regenerate after an intended change: KVPLAN_UPDATE_GOLDEN=1 python -m pytest tests/cli/test_output_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvplan import __version__
from kvplan.cli.app import app

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = {
    # QWenLMHeadModel is registered in vLLM 0.5.4 to 0.23.0 (kvplan.core.vllm_registry)
    "check_qwen7b_classic.json": ["check", "Qwen/Qwen-7B-Chat", "--max-model-len", "8192", "--kv-cache-memory",
                                  "2264MiB", "--block-size", "16", "--vllm-version", "0.23.0", "--json"],
    "check_gemma3_27b_h100.json": ["check", "google/gemma-3-27b-it", "--gpu", "h100", "--max-model-len", "32768",
                                   "--json"],
    "check_qwen7b_classic.txt": ["check", "Qwen/Qwen-7B-Chat", "--max-model-len", "8192", "--kv-cache-memory",
                                 "2264MiB", "--block-size", "16", "--vllm-version", "0.23.0"],
    "check_llama70b_tp2_fp8.txt": ["check", "meta-llama/Llama-3.3-70B-Instruct", "--gpu", "h100", "-tp", "2",
                                   "--kv-cache-dtype", "fp8", "--max-model-len", "16384"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_matches_golden(name: str) -> None:
    result = CliRunner().invoke(app, CASES[name], env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"},
                                terminal_width=120)
    assert result.exit_code in (0, 1), result.output
    text = result.stdout.replace(f'"kvplan_version": "{__version__}"', '"kvplan_version": "X"')
    path = GOLDEN / name
    if os.environ.get("KVPLAN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden {name}: run with KVPLAN_UPDATE_GOLDEN=1"
    assert text == path.read_text()
