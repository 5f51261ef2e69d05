"""The multimodal, LoRA and offload flags plan the same wherever they are written: check's own flags, a vLLM
command after `--`, a deploy script and a gate manifest. Qwen2.5-VL-7B on an H100, vLLM 0.34, text only (image and
video 0), one LoRA slot, 4 GiB offloaded: 1,117,248 KV tokens. The command and the deploy files used to drop all
three in silence (--enable-lora read as an old switch, --limit-mm-per-prompt accepted and unused) or call
--cpu-offload-gb 'not planned': 736,576 tokens, the plain plan's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()
TEXT_LORA_OFFLOAD_TOKENS = 1_117_248
PLAIN_TOKENS = 736_576
FLAGS = ["--gpu", "h100", "--vllm-version", "0.34.0", "--json"]
MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
VLLM_FLAGS = ["--limit-mm-per-prompt", '{"image":0,"video":0}', "--enable-lora", "--cpu-offload-gb", "4"]


def _tokens(args: list[str]) -> int:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)["kv_cache"]["tokens"])


def test_check_flags_and_the_command_agree() -> None:
    assert _tokens(["check", MODEL, *FLAGS]) == PLAIN_TOKENS
    assert _tokens(["check", MODEL, *FLAGS, *VLLM_FLAGS]) == TEXT_LORA_OFFLOAD_TOKENS
    result = runner.invoke(app, ["check", *FLAGS, "--", "vllm", "serve", MODEL, *VLLM_FLAGS])
    assert result.exit_code == 0 and "not planned" not in result.stderr
    assert json.loads(result.stdout)["kv_cache"]["tokens"] == TEXT_LORA_OFFLOAD_TOKENS
    # vLLM's dotted form, and check's own flag beside the command
    assert _tokens(["check", *FLAGS, "--enable-lora", "--", "vllm", "serve", MODEL, "--limit-mm-per-prompt.image",
                    "0", "--limit-mm-per-prompt.video", "0", "--cpu-offload-gb=4"]) == TEXT_LORA_OFFLOAD_TOKENS


@pytest.mark.parametrize(("name", "text"), [
    ("serve.sh", f"vllm serve {MODEL} --limit-mm-per-prompt '{{\"image\":0,\"video\":0}}' --enable-lora "
                 "--cpu-offload-gb 4\n"),
    ("deploy.toml", f'[[deployment]]\nmodel = "{MODEL}"\nlimit_mm_per_prompt = {{image = 0, video = 0}}\n'
                    "enable_lora = true\ncpu_offload_gb = 4\n"),
])
def test_gate_reads_them_from_deploy_files(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(app, ["gate", str(path), *FLAGS])
    assert result.exit_code == 0, result.output
    (deployment,) = json.loads(result.stdout)["deployments"]
    assert deployment["kv_cache_tokens"] == TEXT_LORA_OFFLOAD_TOKENS and deployment["notes"] == []


def test_a_manifest_value_of_the_wrong_type_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text(f'[[deployment]]\nmodel = "{MODEL}"\nenable_lora = "yes"\n')
    result = runner.invoke(app, ["gate", str(path), *FLAGS])
    assert result.exit_code == 2 and "enable_lora must be true or false" in result.output
