"""Dockerfiles that run vLLM: ENTRYPOINT / CMD in exec (JSON) or shell form, ENV / ARG values, and the
vllm/vllm-openai base image's own entry point when only CMD is given (its arguments are vLLM's)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kvplan.inputs.deploy_files import from_command, problem_deployment, vllm_image
from kvplan.inputs.manifest import Deployment
from kvplan.inputs.vllm_args import CommandError, EnvValue, Origin, Token, parse_vllm_command, shell_words

_INSTRUCTION = re.compile(r"^\s*(?P<op>[A-Za-z]+)\s+(?P<rest>.*)$", re.S)


def _instructions(text: str) -> list[tuple[str, str, int, list[str]]]:
    """(instruction, arguments, first line, physical lines) with backslash continuations joined and comment
    lines inside a continuation skipped, as Docker reads them."""
    out: list[tuple[str, str, int, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line, start = lines[i], i + 1
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts, physical = [line], [line]
        while parts[-1].rstrip().endswith("\\") and i < len(lines):
            parts[-1] = parts[-1].rstrip()[:-1]
            following = lines[i]
            physical.append(following)
            i += 1
            # A comment or empty line inside a continuation is dropped; the instruction goes on.
            parts.append("\\" if not following.strip() or following.lstrip().startswith("#") else following)
        joined = " ".join(parts).rstrip("\\")
        match = _INSTRUCTION.match(joined)
        if match:
            out.append((match.group("op").upper(), match.group("rest").strip(), start, physical))
    return out


def _exec_words(rest: str, start: int, physical: list[str]) -> list[Token] | None:
    """A JSON exec form with each word's line (found in the physical lines in order); None if not JSON."""
    if not rest.startswith("["):
        return None
    try:
        items = json.loads(rest)
    except (ValueError, RecursionError):  # deep brackets recurse past Python's limit
        return None
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        return None
    words: list[Token] = []
    row, col = 0, 0
    for item in items:
        needle = json.dumps(item)
        line_no = start + row
        for r in range(row, len(physical)):
            at = physical[r].find(needle, col if r == row else 0)
            if at >= 0:
                row, col, line_no = r, at + len(needle), start + r
                break
        words.append(Token(item, line_no))
    return words


def load_dockerfile(path: Path, text: str) -> list[Deployment]:
    env: dict[str, EnvValue] = {}
    image = ""
    entrypoint: tuple[list[Token] | None, str, int] | None = None
    cmd: tuple[list[Token] | None, str, int] | None = None
    for op, rest, start, physical in _instructions(text):
        if op == "FROM":
            image = rest.split()[0] if rest.split() else ""
            env, entrypoint, cmd = {}, None, None  # a new stage starts clean
        elif op in ("ENV", "ARG"):
            pairs = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S*)", rest)
            if not pairs and op == "ENV" and len(rest.split(None, 1)) == 2:
                pairs = [tuple(rest.split(None, 1))]  # the legacy ENV KEY value form
            for name, value in pairs:
                value = value.strip("\"'")
                if "$" in value:
                    continue  # from the build or run environment: using it is the error, naming it
                env[name] = EnvValue(value, Origin(file=str(path), line=start, text=f"{op} {name}={value}"))
        elif op == "ENTRYPOINT":
            entrypoint = (_exec_words(rest, start, physical), rest, start)
        elif op == "CMD":
            cmd = (_exec_words(rest, start, physical), rest, start)
    chosen = entrypoint or cmd
    if chosen is None:
        return []
    words, rest, line = chosen
    try:
        if entrypoint is not None and words is not None:
            extra = cmd[0] if cmd is not None and cmd[0] is not None else []
            command = parse_vllm_command([*words, *extra], file=str(path), env=env, base_dir=path.parent,
                                         literal=True)
        elif words is None:  # shell form: /bin/sh -c "..."
            command = parse_vllm_command(shell_words(rest, line), file=str(path), env=env, base_dir=path.parent)
        elif vllm_image(image) and not any(w.text == "vllm" or "vllm.entrypoints" in w.text for w in words):
            command = parse_vllm_command(words, file=str(path), env=env, base_dir=path.parent, entry_found=True,
                                         literal=True)
        else:
            command = parse_vllm_command(words, file=str(path), env=env, base_dir=path.parent, literal=True)
    except CommandError as err:
        if "no `vllm serve`" in err.message and not vllm_image(image):
            return []
        return [problem_deployment(f"{path.name}:{line}", path, line, err)]
    return [from_command(command, name=f"{path.name}:{line}", file=path, line=line, image=image)]
