"""The Typer app and the one place where errors become exit codes.

Exit codes: 0 fits (ok or warn), 1 would not start, 2 unusable input or environment. ``KVPLAN_DEBUG=1``
shows tracebacks of kvplan errors; an unexpected exception is a bug and is re-raised.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import TypeVar

import typer

from kvplan import __version__

T = TypeVar("T")

app = typer.Typer(
    name="kvplan",
    help="vLLM KV-cache capacity planner: will this model start on this GPU, and how many tokens fit?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# The shape of a Hub user token (hf_ and 34 letters and digits), for tokens written in the files kvplan reads
_HUB_TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}")


def redact_tokens(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """The Hub token never reaches output, even where a library or a URL the user set echoes it, or a deploy file
    holds one where kvplan reads a value (`vllm serve $HF_TOKEN` names the token as the model)."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        token = environ.get(name, "")
        if len(token) >= 8:  # shorter values would mask ordinary words
            text = text.replace(token, "***")
    return _HUB_TOKEN_SHAPE.sub("hf_***", text)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    sys.stderr.write(f"kvplan: error: {redact_tokens(message)}\n")
    return typer.Exit(code)


def guarded(action: Callable[[], T]) -> T:
    """Run a command body; KvplanError -> one line on stderr and exit 2."""
    from kvplan.core.errors import KvplanError

    try:
        return action()
    except KvplanError as err:
        if os.environ.get("KVPLAN_DEBUG"):
            raise
        raise fail(err.one_line(), err.exit_code) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kvplan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """vLLM KV-cache capacity planner."""


def _register() -> None:
    from kvplan.cli import calibration_cmd, check, explain, gate, inspect_cmd, listing, probe, recommend

    check.register(app)
    recommend.register(app)
    gate.register(app)
    inspect_cmd.register(app)
    probe.register(app)
    listing.register(app)
    calibration_cmd.register(app)
    explain.register(app)


_register()


def main() -> None:
    app()
