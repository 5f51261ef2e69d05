"""check --json says how the free memory at vLLM 0.34's snapshot was found, as the human table's 'free at start'
row does: Qwen3-32B at TP 4 on H100s, 32K, loses half of its 2.25 GiB of NCCL NVLS buffers there (77.66 GiB free
of 79.18 instead of 78.79), and NCCL_NVLS_ENABLE=0 gives them back."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()
FLAGS = ["--gpu", "h100", "--vllm-version", "0.34.0", "--json"]
SERVE = ["vllm", "serve", "Qwen/Qwen3-32B", "-tp", "4", "--max-model-len", "32768"]


def _extensible(*env: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["check", *FLAGS, "--", *env, *SERVE])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["memory"]["extensible"]  # type: ignore[no-any-return]


def test_the_nvls_share_is_named_in_the_json() -> None:
    with_nvls = _extensible()
    assert "NCCL NVLS buffers at the snapshot (2.25 GiB in full" in with_nvls["init_free_source"]
    assert round(with_nvls["init_free_bytes"] / 2**30, 2) == 77.66
    without = _extensible("NCCL_NVLS_ENABLE=0")
    assert "NVLS" not in without["init_free_source"]
    assert round(without["init_free_bytes"] / 2**30, 2) == 78.79
