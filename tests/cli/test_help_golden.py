"""Golden `--help` pages (Typer changes its layout between minor releases) and README/--help agreement.

Regenerate after an intended change: KVPLAN_UPDATE_GOLDEN=1 python -m pytest tests/cli/test_help_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
README = Path(__file__).resolve().parents[2] / "README.md"
COMMANDS = [[], ["check"], ["recommend"], ["gate"], ["inspect"], ["probe"], ["gpus"], ["models"], ["calibration"],
            ["explain"]]


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"},
                                terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a) or "root")
def test_help_matches_golden(args: list[str]) -> None:
    path = GOLDEN / f"help_{'_'.join(args) or 'root'}.txt"
    text = _help(args)
    if os.environ.get("KVPLAN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden {path.name}: run with KVPLAN_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_readme_flags_exist_in_check_help() -> None:
    help_text = _help(["check"])
    section = README.read_text().split("## Flags", 1)[1].split("##", 1)[0]
    for flag in set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-tp|-pp)\b", section)):
        assert flag in help_text, f"README names {flag}, which `kvplan check --help` lacks"


def test_check_help_flags_are_in_readme() -> None:
    readme = README.read_text()
    for flag in set(re.findall(r"(--[a-z][a-z-]+)", _help(["check"]))):
        if flag in ("--help",):
            continue
        assert flag in readme, f"`kvplan check --help` has {flag}, which README does not document"
