"""The max_num_seqs cap of a hybrid Mamba model under full CUDA graphs (vLLM 0.19+): fewer sequences can cost
more memory (from 0.31 max_num_seqs itself is a CUDA-graph size), so the blocks left at 1,024 sequences need not
hold at their own count. Nemotron-H-56B, fp8 KV, one MI300X, vLLM 0.34: 449 blocks at the low end with 1,024
sequences; 450 sequences keep 450 at theirs, 451 do not. Recommend used to cap where 1,024 sequences left off
and call every length 'inside error' (the catalog table's fp8 column then read adds_tokens -8,192)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()
FLAGS = ["nvidia/Nemotron-H-56B-Base-8K", "--gpu", "mi300x", "--vllm-version", "0.34.0", "--kv-cache-dtype", "fp8",
         "--json"]


def _check(*extra: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["check", *FLAGS, *extra])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_recommend_caps_where_the_cap_holds() -> None:
    result = runner.invoke(app, ["recommend", *FLAGS])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["max_num_seqs_cap"] == 450
    assert [row["status"] for row in data["lengths"]] == ["ok", "ok", "ok"]
    assert data["recommended"]["max_model_len"] == 8192
    assert _check("--max-num-seqs", "450")["verdict"]["status"] == "ok"
    assert _check("--max-num-seqs", "451")["verdict"]["status"] == "warn"


def test_remedies_keep_their_aim() -> None:
    """A failing plan's remedy aims at vLLM's own check (469 blocks at the centre: it starts, inside the error);
    a warning plan's must make it ok (450)."""
    failing = _check()
    assert failing["verdict"]["status"] == "fail"
    (seqs,) = [r for r in failing["verdict"]["remedies"] if r["kind"] == "max_num_seqs"]
    assert seqs["flags"] == {"--max-num-seqs": "469"}
    warning = _check("--max-num-seqs", "455")
    assert warning["verdict"]["status"] == "warn"
    (seqs,) = [r for r in warning["verdict"]["remedies"] if r["kind"] == "max_num_seqs"]
    assert seqs["flags"] == {"--max-num-seqs": "450"}
