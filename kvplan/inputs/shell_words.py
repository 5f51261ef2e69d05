"""Shell command lines as words with their file lines: what scripts, Dockerfiles' shell form, `sh -c` strings and
compose's string commands hold."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from kvplan.inputs.engine_args import CommandError

SHELL_OPERATORS = frozenset({"&&", "||", ";", "|", "&", ";;", ">", ">>", "<", "2>", ">&", "2>&1", "|&"})


@dataclass(frozen=True)
class Token:
    """One word of a command line, with the line of the file it is written on (None: typed, not a file)."""

    text: str
    line: int | None = None


def _without_comment(line: str) -> str:
    """The line up to a shell comment: a `#` at the start of a word, outside quotes (`abc#def` is one word)."""
    quote = ""
    previous = " "
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                previous = char
                continue
        elif char in ("'", '"') and previous != "\\":
            quote = char
        elif char == "#" and previous in " \t;&|(":
            return line[:index]
        previous = char
    return line


def shell_words(text: str, first_line: int | None) -> list[Token]:
    """A shell command's words with their lines: backslash-newline joins lines (not one in a comment), comments end
    one, operators (&&, ;, |) are words of their own. A quote left open at a line's end is read with the lines after
    it."""
    out: list[Token] = []
    lines = text.split("\n")
    pending = ""
    pending_line: int | None = None
    for offset, raw in enumerate(lines):
        line_no = None if first_line is None else first_line + offset
        piece = raw[:-1] if raw.endswith("\\") else raw
        chunk = pending + piece
        start = pending_line if pending else line_no
        code = _without_comment(chunk)
        # A backslash inside a comment is comment text, not a continuation: `vllm serve M \` then `  # --flag 1 \`
        # then `  --max-model-len 8192` runs `vllm serve M` alone, and the last line as a command of its own
        continued = raw.endswith("\\") and len(code) == len(chunk)
        try:
            lexer = shlex.shlex(code, posix=True, punctuation_chars=";&|<>")
            lexer.whitespace_split = True
            lexer.commenters = ""  # `#` starts a comment only at a word's start: _without_comment cuts it
            words = list(lexer)
        except ValueError:  # an open quote: carry on with the next line
            pending, pending_line = chunk + "\n", start
            continue
        pending, pending_line = "", None
        out.extend(Token(w, start) for w in words)
        if not continued:
            out.append(Token(";", start))  # a line ends a command
    if pending:
        raise CommandError(f"line {pending_line}: unterminated quote in a shell command")
    return out
