"""The `kvplan check` fast path (no Typer import) prints exactly what the Typer command prints, or steps aside."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app
from kvplan.cli.fast_check import parse, run

runner = CliRunner()
M = "Qwen/Qwen2.5-7B-Instruct"
SAME = [
    ["check", M, "--gpu", "a10g", "--max-model-len", "32768", "--json"],
    ["check", M, "--gpu", "a10g", "--max-model-len", "32768"],
    ["check", "--gpu=l4", M, "-tp", "2", "--kv-cache-dtype", "fp8", "--json"],
    ["check", M, "--gpu", "t4", "--json"],  # fails: exit 1 with remedies
    ["check", M, "--gpu", "t4"],
    ["check", M, "--gpu", "h100", "--gpu-util", "0.5", "--max-num-seqs", "64", "--enforce-eager", "--json"],
    ["check", M, "--gpu", "h100", "--no-enable-prefix-caching", "--vllm-version", "0.10.1", "--json"],
    ["check", M, "--kv-cache-memory", "4GiB", "--platform", "cpu", "--json"],
    ["check", M, "--gpu", "nope", "--json"],  # unusable: exit 2, one line
    ["check", M, "--gpu", "a10g", "--max-model-len", "12x"],
    ["check", M, "--gpu", "a10g", "--speculative-config", '{"method": "ngram", "num_speculative_tokens": 3}',
     "--json"],
    ["check", "no/such-model-xyz", "--gpu", "a10g"],
]
ASIDE = [
    ["check", "--help"], ["check"], ["check", M, "-tp", "two"], ["check", M, "--max-model-len", "-1"],
    ["check", "--", "vllm", "serve", M], ["check", M, "--frobnicate"], ["gate", "x.toml"], ["check", M, "--json=1"],
    ["check", M, "--gpu-util", "nan%"],
]


@pytest.mark.parametrize("argv", SAME, ids=lambda a: " ".join(a[2:])[:60])
def test_fast_path_prints_what_typer_prints(argv: list[str], capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"HF_HUB_OFFLINE": "1", "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    slow = runner.invoke(app, argv, env=env)
    values = parse(argv)
    assert values is not None
    code = run(values)
    fast = capsys.readouterr()
    assert (code, fast.out, fast.err) == (slow.exit_code, slow.stdout, slow.stderr)


@pytest.mark.parametrize("argv", ASIDE, ids=" ".join)
def test_fast_path_steps_aside(argv: list[str]) -> None:
    assert parse(argv) is None


def test_cold_check_does_not_import_typer() -> None:
    code = ("import sys; sys.argv = ['kvplan', 'check', 'Qwen/Qwen2.5-7B-Instruct', '--gpu', 'a10g', '--json']\n"
            "import kvplan.cli.fast_check as f\n"
            "try:\n    f.main()\nexcept SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'rich', 'huggingface_hub'}),"
            " file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"},
                          check=False)
    assert done.stderr.strip().splitlines()[-1] == "[]"
