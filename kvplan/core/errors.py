"""One hierarchy for every kind of unusable input or environment.

Adapters translate foreign exceptions (``GatedRepoError``, ``NVMLError``, ``OSError``...) into these at
their own edge; ``kvplan.cli.app.main`` maps them to a one-line message and exit code 2. A verdict
(the deployment does not fit) is *not* an error: it is a result with exit code 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class KvplanError(Exception):
    """Base class: unusable input or environment. Exit code 2, one line, no traceback."""

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        return f"{text}. {self.hint}" if self.hint else f"{text}."


class UsageError(KvplanError):
    """A flag value that cannot be used (bad size, utilisation outside (0, 1], unknown GPU name...)."""


class ConfigError(KvplanError):
    """A model config that cannot be read or lacks what the planner needs."""


def config_values_checked(function: Callable[P, R]) -> Callable[P, R]:
    """Config values of the wrong type or range (``"eight"`` KV heads, a period of 0, NaN sizes) surface deep
    in arithmetic as ValueError, ZeroDivisionError...; at the functions that read configs they become one
    ConfigError line instead of a traceback. Errors kvplan raises itself pass through unchanged."""

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except KvplanError:
            raise
        except (ValueError, TypeError, ZeroDivisionError, OverflowError, IndexError, KeyError,
                AttributeError) as err:
            detail = str(err) or type(err).__name__
            raise ConfigError(f"the model config has a value kvplan cannot use ({type(err).__name__}: {detail})",
                              hint="Check config.json (and quantization_config) for a missing, zero or "
                                   "mistyped field") from err

    return checked


class ModelNotFoundError(KvplanError):
    """No source (local path, HF cache, Hub, catalog) could provide the model."""


class AccessError(KvplanError):
    """The Hub refused access (gated or private repo, bad token)."""


class NetworkError(KvplanError):
    """The Hub could not be reached and nothing local answered."""


class GpuError(KvplanError):
    """No GPU information could be had (no driver and no --gpu/--gpu-memory/--kv-cache-memory)."""


class UnsupportedModelError(KvplanError):
    """An architecture kvplan cannot size faithfully; said plainly rather than guessed."""


class ProbeError(KvplanError):
    """The vLLM probe could not run (no vLLM, crash unrelated to memory, timeout)."""
