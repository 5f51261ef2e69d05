"""`kvplan gate` reads NCCL_NVLS_ENABLE=0 from a deploy file's environment as `check -- NCCL_NVLS_ENABLE=0 vllm
serve ...` does: Qwen3-32B at TP 4 on H100s, vLLM 0.10.1 (V1 before 0.11 counts the NVLS buffers before sizing
the KV cache), 32K context: 794,368 KV tokens with NVLS off, 757,504 with its 2.25 GiB of buffers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()
FLAGS = ["--gpu", "h100", "--vllm-version", "0.10.1", "--json"]
SERVE = "vllm serve Qwen/Qwen3-32B --tensor-parallel-size 4 --max-model-len 32768"
NVLS_OFF_TOKENS = 794_368
NVLS_ON_TOKENS = 757_504

FILES = {
    "export.sh": f"#!/bin/bash\nexport NCCL_NVLS_ENABLE=0\n{SERVE}\n",
    "inline.sh": f"NCCL_NVLS_ENABLE=0 {SERVE}\n",
    "compose.yml": ("services:\n  vllm:\n    image: vllm/vllm-openai:v0.10.1\n    environment:\n"
                    "      NCCL_NVLS_ENABLE: \"0\"\n    command: --model Qwen/Qwen3-32B --tensor-parallel-size 4"
                    " --max-model-len 32768\n"),
    "k8s.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: q32\nspec:\n  template:\n    spec:\n"
                 "      containers:\n        - name: vllm\n          image: vllm/vllm-openai:v0.10.1\n          env:\n"
                 "            - name: NCCL_NVLS_ENABLE\n              value: \"0\"\n"
                 "          args: [\"--model\", \"Qwen/Qwen3-32B\", \"--tensor-parallel-size\", \"4\","
                 " \"--max-model-len\", \"32768\"]\n"),
    "deploy.toml": ('[[deployment]]\nname = "q32"\nmodel = "Qwen/Qwen3-32B"\ntensor_parallel_size = 4\n'
                    'max_model_len = 32768\nnccl_nvls_enable = 0\n'),
}


def _check_tokens(command: list[str]) -> int:
    result = runner.invoke(app, ["check", *FLAGS, "--", *command])
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)["kv_cache"]["tokens"])


def test_check_reads_the_variable_before_the_command() -> None:
    assert _check_tokens(["NCCL_NVLS_ENABLE=0", *SERVE.split()]) == NVLS_OFF_TOKENS
    assert _check_tokens(SERVE.split()) == NVLS_ON_TOKENS


@pytest.mark.parametrize("name", sorted(FILES))
def test_gate_reads_it_from_the_deploy_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(FILES[name])
    result = runner.invoke(app, ["gate", str(path), *FLAGS])
    assert result.exit_code == 0, result.output
    (deployment,) = json.loads(result.stdout)["deployments"]
    assert deployment["kv_cache_tokens"] == NVLS_OFF_TOKENS


def test_gate_without_it_keeps_the_buffers(tmp_path: Path) -> None:
    path = tmp_path / "plain.sh"
    path.write_text(SERVE + "\n")
    result = runner.invoke(app, ["gate", str(path), *FLAGS])
    assert json.loads(result.stdout)["deployments"][0]["kv_cache_tokens"] == NVLS_ON_TOKENS


def test_a_manifest_value_of_the_wrong_type_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text('[[deployment]]\nmodel = "Qwen/Qwen3-32B"\nnccl_nvls_enable = [0]\n')
    result = runner.invoke(app, ["gate", str(path), *FLAGS])
    assert result.exit_code == 2
    assert "nccl_nvls_enable must be 0 or 1" in result.output
