"""Multimodal remedies: serve without the modality vLLM profiles the encoder with, or text only (a limit of 0 runs
no encoder profile for it, kvplan.core.mm_profile). Qwen2.5-VL-7B on an L4 at 32,768 tokens, vLLM 0.34: its
dummy video (32,768 tokens) and image (16,384) profiles leave no KV cache; text only leaves 56,448 tokens, and the
flags are what the remedy says, checked by planning them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()
BASE = ["Qwen/Qwen2.5-VL-7B-Instruct", "--gpu", "l4", "--vllm-version", "0.34.0", "--max-model-len", "32768"]


def _check(*extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = runner.invoke(app, ["check", *BASE, *extra, "--json"], env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_no_video_and_text_only_remedies_with_their_flags() -> None:
    code, data = _check()
    assert code == 1 and data["verdict"]["status"] == "fail"
    mm = [r for r in data["verdict"]["remedies"] if r["kind"] == "limit_mm_per_prompt"]
    assert [r["flags"] for r in mm] == [{"--limit-mm-per-prompt": '{"video":0}'},
                                        {"--limit-mm-per-prompt": '{"image":0,"video":0}'}]
    assert "32,768-token video" in mm[0]["summary"] and not mm[0]["fits"]
    assert mm[1]["fits"] and mm[1]["tokens"] == 56_448
    code, text_only = _check("--limit-mm-per-prompt", '{"image":0,"video":0}')
    assert code == 0 and text_only["kv_cache"]["tokens"] == 56_448


def test_no_multimodal_remedy_when_serving_text_only_already() -> None:
    code, data = _check("--limit-mm-per-prompt", '{"image":0,"video":0}', "--max-model-len", "128000")
    assert code == 1 and data["verdict"]["remedies"]
    assert all(r["kind"] != "limit_mm_per_prompt" for r in data["verdict"]["remedies"])
