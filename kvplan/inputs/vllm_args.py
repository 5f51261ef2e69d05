"""The one parser of vLLM's command line, for `check -- vllm serve ...`, every deploy file `gate` reads, and
explain's "non-default args" line.

Reads ``vllm serve MODEL --flag value ...`` and ``python -m vllm.entrypoints.openai.api_server --model M ...``
as vLLM's FlexibleArgumentParser does (vllm/utils/argparse_utils.py, 0.33): ``--flag=value``, underscores
or dashes, switches and their ``--no-`` forms, short spellings (``-tp``), ``--config file.yaml`` (its values
first, the command line over them), ``VAR=value`` before the command and the environment given (VLLM_USE_V1).
Flags vLLM takes that do not change memory are read past; flags no release 0.32-0.34 knows are kept and
reported (a warning: vLLM would refuse them, kvplan cannot tell a typo from a newer release).

The result is kvplan's setting values (the names and types of a gate manifest: ``max_model_len``,
``kv_cache_memory`` ...) with the token and line that set each one.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvplan.inputs.engine_args import (
    ENGINE_ARG_SETTINGS,
    ENV_SETTINGS,
    SETTING_TO_ENGINE_ARG,
    CommandError,
    Rule,
    UnresolvedError,
    convert,
    human_readable_int,
    setting_for_engine_arg,
)
from kvplan.inputs.shell_words import SHELL_OPERATORS, Token, shell_words
from kvplan.inputs.vllm_flag_table import FLAG_KINDS, SHORT_FLAGS

__all__ = [  # the parser's names, and the table's and the shell reader's that callers import from here
    "ENGINE_ARG_SETTINGS", "ENV_SETTINGS", "FLAG_KINDS", "SETTING_TO_ENGINE_ARG", "SHELL_OPERATORS", "CommandError",
    "EnvValue", "Origin", "Rule", "Token", "UnresolvedError", "VllmCommand", "convert", "find_entry",
    "human_readable_int", "parse_command_line", "parse_engine_args", "parse_vllm_command", "resolve_text",
    "setting_for_engine_arg", "shell_words",
]

ENTRY_MODULES = ("vllm.entrypoints.openai.api_server", "vllm.entrypoints.api_server")
# Flags of releases before 0.32 (not in the generated table) that still appear in deploy files.
_OLD_SWITCHES = {"use_v2_block_manager", "disable_log_requests", "enable_chunked_prefill", "worker_use_ray",
                 "engine_use_ray", "disable_custom_all_reduce", "disable_sliding_window",
                 "trust_remote_code", "disable_log_stats", "enable_auto_tool_choice", "enable_reasoning",
                 "disable_frontend_multiprocessing", "disable_async_output_proc"}
_OLD_VALUED = {"swap_space", "max_context_len_to_capture", "max_seq_len_to_capture", "speculative_model",
               "num_speculative_tokens", "guided_decoding_backend", "tokenizer_pool_size", "max_log_len",
               "num_gpu_blocks_override", "reasoning_parser", "preemption_mode"}


# 0.32-0.34's shorthands for keys of --speculative-config (EngineArgs.create_speculative_config, engine/arg_utils.py):
# folded into it after parsing, whatever the order; a key given both ways is vLLM's "mutually exclusive" error.
_SPEC_FLAGS = {"spec_method": "method", "spec_model": "model", "spec_tokens": "num_speculative_tokens"}


# Flags that change the memory vLLM gives the KV cache, which kvplan does not model: said, never read past in
# silence (EngineArgs fields, engine/arg_utils.py 0.34). Their default values say nothing.
_UNPLANNED = {
    "kv_cache_dtype_skip_layers": "the layers it names keep the model dtype in the KV cache",
    "decode_context_parallel_size": "decode context parallelism shards the KV cache across ranks",
    "prefill_context_parallel_size": "prefill context parallelism shards the KV cache across ranks",
    "hf_overrides": "it changes the model config kvplan reads",
    "kv_offloading_size": "it adds a CPU tier to the KV cache",
    "mm_ipc_gpu_memory_gb": "it reserves GPU memory out of the KV cache",
    "compilation_config": "it changes the CUDA graphs vLLM captures",
    "cudagraph_capture_sizes": "it changes the CUDA graphs vLLM captures",
    "max_cudagraph_capture_size": "it changes the CUDA graphs vLLM captures",
    "mamba_cache_mode": "it changes the Mamba state blocks a request holds",
    "mamba_block_size": "it changes the Mamba state blocks a request holds",
}
_NO_EFFECT = {"", "0", "0.0", "1", "none", "null", "false", "{}", "[]"}


@dataclass(frozen=True, kw_only=True)
class Origin:
    """Where a setting was set: the file, the line, and the words that set it."""

    file: str
    line: int | None
    text: str

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class EnvValue:
    """An environment variable the deployment sets, and where."""

    text: str
    origin: Origin | None = None


@dataclass(frozen=True, kw_only=True)
class VllmCommand:
    """A vLLM launch as kvplan plans it."""

    model: str | None
    values: dict[str, Any]  # kvplan settings, typed as a gate manifest types them
    origins: dict[str, Origin]  # setting (and "model") -> where it was set
    unknown_flags: tuple[str, ...] = ()  # flags no vLLM release kvplan read takes: reported, not planned
    entry: str = "serve"  # serve, or api_server (python -m vllm.entrypoints...)
    config_file: str | None = None  # --config, as given
    notes: tuple[str, ...] = field(default=())


# $NAME, ${NAME:-default}, and the script's own arguments: $1, ${2:-8192}, "$@" (never set in the file: a default
# is what the script runs with when given none, as for an unset variable)
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#])(?P<op>:?[-=?+])?(?P<default>[^}]*)\}"
                  r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*|[0-9@*#]))")
_TEMPLATE = re.compile(r"\{\{.*?(?:\}\}|$)|\{%.*?(?:%\}|$)")


def resolve_text(text: str, env: Mapping[str, EnvValue], what: str, origin: Origin) -> tuple[str, Origin]:
    """Substitute ``$VAR`` / ``${VAR}`` / ``${VAR:-default}`` from the variables the deployment sets; a Helm
    or Jinja template, or a variable that is not set there, is an error naming it, never a guess. The origin
    becomes the variable's line when the value is that variable alone."""
    template = _TEMPLATE.search(text)
    if template:
        err = UnresolvedError(f"{origin.where()}: {what} is the template {template.group(0)}, which kvplan cannot "
                              "resolve", hint="Gate the rendered file (helm template ... > rendered.yaml)")
        err.line = origin.line
        raise err
    if "$" not in text and "`" not in text:
        return text, origin
    substitution = re.search(r"\$\([^)]*\)?|`[^`]*`?", text)
    if substitution:  # $(command) / `command`: its output is not in the file
        err = UnresolvedError(f"{origin.where()}: {what} is the command substitution {substitution.group(0)}, "
                              "which kvplan cannot resolve", hint="Write the value, or gate the rendered deployment")
        err.line = origin.line
        raise err
    whole: list[Origin] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        known = env.get(name)
        op, default = match.group("op"), match.group("default") or ""
        if (known is not None and known.text != "") or (known is not None and op not in (":-", ":=")):
            if match.group(0) == text and known.origin is not None:
                whole.append(known.origin)
            return known.text
        if op in ("-", ":-", "=", ":="):
            return default
        if not (name[0].isalpha() or name[0] == "_"):
            err = UnresolvedError(f"{origin.where()}: {what} is {match.group(0)}, the script's own arguments, which "
                                  "kvplan cannot see", hint="Write the value, or give it a default (${1:-value})")
            err.line = origin.line
            raise err
        err = UnresolvedError(f"{origin.where()}: {what} is {match.group(0)}, which is not set in this file",
                              hint=f"Set {name} in the file, or gate the rendered deployment")
        err.line = origin.line
        raise err

    resolved = _VAR.sub(substitute, text)
    return resolved, whole[0] if whole else origin


def _flag_name(word: str) -> str:
    return word.lstrip("-").replace("-", "_")


def _abbreviation(name: str) -> str:
    """argparse's ``allow_abbrev`` (its default, which vLLM's FlexibleArgumentParser keeps, utils/argparse_utils.py
    0.34): a flag written as a unique prefix of one is that flag (``--kv-cache-memory 10GiB`` is
    ``--kv-cache-memory-bytes``, ``--max-model`` is ``--max-model-len``). Exact names and ambiguous prefixes stay
    as they are (an ambiguous one is reported as unknown; vLLM refuses it)."""
    if name in FLAG_KINDS or name in _OLD_SWITCHES or name in _OLD_VALUED:
        return name
    if name.startswith("no_") and FLAG_KINDS.get(name[3:]) == "switch":
        return name
    options = [flag for flag in FLAG_KINDS if flag.startswith(name)]
    options += [f"no_{flag}" for flag, kind in FLAG_KINDS.items() if kind == "switch" and f"no_{flag}".startswith(name)]
    return options[0] if len(options) == 1 else name


def find_entry(tokens: Sequence[Token]) -> tuple[int, str] | None:
    """(index of the first argument after the entry point, entry kind), or None when vLLM is not run here."""
    for i, token in enumerate(tokens):
        base = token.text.rsplit("/", 1)[-1]
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if base == "vllm" and nxt == "serve":
            return i + 2, "serve"
        if token.text == "-m" and nxt in ENTRY_MODULES:
            return i + 2, "api_server"
    return None


def _expand_shell_strings(tokens: Sequence[Token]) -> list[Token]:
    """``sh -c "vllm serve ..."`` (and args: ["vllm serve ..."]) hold the command in one string: split it."""
    if find_entry(tokens) is not None:
        return list(tokens)
    for i, token in enumerate(tokens):
        if "vllm" in token.text and (" " in token.text or "\n" in token.text):
            inner = shell_words(token.text, token.line)
            if token.line is not None and token.text.startswith("\n"):
                inner = [Token(t.text, t.line) for t in inner]
            if find_entry(inner) is not None:
                return [*tokens[:i], *inner, *tokens[i + 1:]]
    return list(tokens)


def parse_vllm_command(words: Sequence[Token | str], *, file: str = "<command line>",
                       env: Mapping[str, EnvValue] | None = None, base_dir: Path | None = None,
                       entry_found: bool = False, literal: bool = False) -> VllmCommand:
    """Parse a vLLM launch. ``words`` may hold what comes before vLLM (``VAR=1``, ``exec``, ``sh -c``);
    ``entry_found`` says they start right after ``vllm serve`` (or the api_server module). ``literal``: the words
    reach vLLM as written, with no shell to substitute ``$VAR`` (a Dockerfile's exec form), unless they run one
    (``sh -c "vllm serve ..."``)."""
    tokens = [w if isinstance(w, Token) else Token(w) for w in words]
    variables: dict[str, EnvValue] = dict(env or {})
    entry = "serve"
    if not entry_found:
        expanded = _expand_shell_strings(tokens)
        literal = literal and expanded == tokens  # a shell string inside: the shell substitutes there
        tokens = expanded
        found = find_entry(tokens)
        if found is None:
            shown = " ".join(t.text for t in tokens[:6])
            clipped = len(tokens) > 6 or len(shown) > 200  # one line, not a 100 KB word of the file
            raise CommandError(f"{file}: no `vllm serve` or `python -m vllm.entrypoints.openai.api_server` "
                               f"in the command ({shown[:200]}{' ...' if clipped else ''})")
        start, entry = found
        # VAR=value words just before the command set its environment (VLLM_USE_V1=1 vllm serve ...)
        for token in reversed(tokens[:start - 2]):
            if token.text in SHELL_OPERATORS:
                break
            name, eq, value = token.text.partition("=")
            if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                variables[name] = EnvValue(value, Origin(file=file, line=token.line, text=token.text))
        tokens = tokens[start:]
    cut = next((i for i, t in enumerate(tokens) if t.text in SHELL_OPERATORS), len(tokens))
    tokens = tokens[:cut]
    return _Parser(file, variables, base_dir, entry, literal).run(tokens)


class _Parser:
    def __init__(self, file: str, env: dict[str, EnvValue], base_dir: Path | None, entry: str,
                 literal: bool = False) -> None:
        self.file, self.env, self.base_dir, self.entry = file, env, base_dir, entry
        self.literal = literal
        self.values: dict[str, Any] = {}
        self.origins: dict[str, Origin] = {}
        self.unknown: list[str] = []
        self.model: str | None = None
        self.model_from = ""  # "positional" or "--model" on the command line (a --config's model is neither)
        self.spec: dict[str, tuple[object, Origin]] = {}  # --spec-method / --spec-model / --spec-tokens
        self.unplanned_values: dict[str, tuple[object, Origin]] = {}  # the last value of each _UNPLANNED flag
        self.config_file: str | None = None

    def origin(self, token: Token, text: str) -> Origin:
        return Origin(file=self.file, line=token.line, text=text)

    def resolve(self, text: str, what: str, origin: Origin) -> tuple[str, Origin]:
        if self.literal and "$" in text:
            # Docker's exec form runs no shell: vLLM is handed "${MODEL}" itself and fails on it
            err = UnresolvedError(f"{origin.where()}: {what} is {text} as written: an exec-form ENTRYPOINT/CMD runs "
                                  "no shell, so vLLM gets it unexpanded",
                                  hint='Write the value, or run a shell: ["sh", "-c", "vllm serve ..."]')
            err.line = origin.line
            raise err
        return resolve_text(text, self.env, what, origin)

    def set_model(self, text: str, origin: Origin) -> None:
        self.model, origin = self.resolve(text, "the model", origin)
        self.origins["model"] = origin

    def refuse_second_model(self, token: Token, words: str) -> None:
        """`vllm serve M ... --model N`: FlexibleArgumentParser.parse_args (utils/argparse_utils.py, 0.34) moves
        the first --model's value to the model's place, so M is left over and argparse refuses it."""
        err = CommandError(f"{self.origin(token, words).where()}: vllm serve is given the model twice ({self.model} "
                           f"and {words}): vLLM refuses the second as an unrecognized argument",
                           hint="Give the model once: vllm serve MODEL ...")
        err.line = token.line
        raise err

    def set_value(self, name: str, value: object, origin: Origin, flag: str) -> None:
        rule = ENGINE_ARG_SETTINGS.get(name)
        if rule is None:
            return
        if isinstance(value, str):
            value, origin = self.resolve(value, flag, origin)
        try:
            self.values[rule.key] = convert(rule, value, flag)
        except CommandError as err:
            located = CommandError(f"{origin.where()}: {err.message}")
            located.line = origin.line
            raise located from None
        self.origins[rule.key] = origin

    def set_nested(self, name: str, path: str, text: str, token: Token, word: str) -> None:
        """One dotted key of a JSON-valued flag; other dotted flags change nothing kvplan plans."""
        rule = ENGINE_ARG_SETTINGS.get(name)
        if rule is None or rule.kind != "json":
            return
        current = self.values.get(rule.key)
        data: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
        value: Any = text
        with contextlib.suppress(ValueError):
            value = json.loads(text)  # numbers and JSON values as vLLM's nested-dict parsing reads them
        target = data
        keys = path.split(".")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
        self.values[rule.key] = data
        self.origins[rule.key] = self.origin(token, f"{word} {text}")

    def run(self, tokens: list[Token]) -> VllmCommand:
        config_at = next((i for i, t in enumerate(tokens) if t.text == "--config" or t.text.startswith("--config=")),
                         None)
        if config_at is not None:
            token = tokens[config_at]
            path_text = token.text.partition("=")[2] if "=" in token.text else (
                tokens[config_at + 1].text if config_at + 1 < len(tokens) else "")
            skip = 1 if "=" in token.text else 2
            if not path_text:
                raise CommandError(f"{self.origin(token, '--config').where()}: --config needs a file")
            self.read_config(path_text, token)
            tokens = tokens[:config_at] + tokens[config_at + skip:]
        self.read_words(tokens)
        self.fold_spec_flags()
        for name, rule in ENV_SETTINGS.items():
            if name in self.env and rule.key not in self.values:
                known = self.env[name]
                self.values[rule.key] = known.text
                self.origins[rule.key] = known.origin or Origin(file=self.file, line=None, text=f"{name}={known.text}")
        return VllmCommand(model=self.model, values=self.values, origins=self.origins,
                           unknown_flags=tuple(dict.fromkeys(self.unknown)), entry=self.entry,
                           config_file=self.config_file, notes=self.notes())

    def unplanned(self, name: str, value: object, origin: Origin) -> None:
        self.unplanned_values[name] = (value, origin)  # the last one given wins, as in argparse

    def notes(self) -> tuple[str, ...]:
        return tuple(f"--{name.replace('_', '-')} is not planned ({_UNPLANNED[name]}): vLLM's KV cache will differ "
                     "from these figures" for name, (value, _) in self.unplanned_values.items()
                     if str(value).strip().lower() not in _NO_EFFECT)

    def fold_spec_flags(self) -> None:
        """--spec-method / --spec-model / --spec-tokens into speculative_config, as vLLM folds them."""
        if not self.spec:
            return
        current = self.values.get("speculative_config")
        data: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
        for name, (value, origin) in self.spec.items():
            key = _SPEC_FLAGS[name]
            flag = "--" + name.replace("_", "-")
            if key in data:
                err = CommandError(f"{origin.where()}: {flag} and --speculative-config['{key}'] are mutually "
                                   "exclusive (vLLM refuses both)")
                err.line = origin.line
                raise err
            if key == "num_speculative_tokens":
                try:
                    value = int(str(value))
                except ValueError:
                    err = CommandError(f"{origin.where()}: {flag}: expected a whole number, got {value!r}")
                    err.line = origin.line
                    raise err from None
            data[key] = value
            self.origins["speculative_config"] = origin
        self.values["speculative_config"] = data

    def read_config(self, path_text: str, token: Token) -> None:
        """vLLM's --config YAML: keys are flag names; the command line's own flags win over it."""
        from kvplan.inputs.safe_yaml import load_yaml_file

        origin = self.origin(token, f"--config {path_text}")
        path_text, origin = self.resolve(path_text, "--config", origin)
        path = Path(path_text)
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        if not path.is_file():
            raise CommandError(f"{origin.where()}: --config {path_text}: no such file here",
                               hint="Gate the config file itself too, or give its path")
        self.config_file = str(path)
        documents = load_yaml_file(path)
        if len(documents) != 1 or not isinstance(documents[0], Mapping):
            raise CommandError(f"{path}: a vLLM --config file is one YAML mapping of flag names to values")
        self.read_config_mapping(documents[0], str(path))

    def read_config_mapping(self, data: Mapping[str, Any], file: str, line: int | None = None) -> None:
        from kvplan.inputs.safe_yaml import line_of

        for key, value in data.items():
            name = _abbreviation(_flag_name(str(key)))  # vLLM turns each key into "--key" for argparse
            origin = Origin(file=file, line=line_of(data, key) or line, text=f"{key}: {value}")
            if name == "model":
                self.set_model(str(value), origin)
            elif name in ENGINE_ARG_SETTINGS:
                self.set_value(name, value, origin, f"{key}")
            elif name in _SPEC_FLAGS:
                self.spec[name] = (value, origin)
            elif name in _UNPLANNED:
                self.unplanned(name, value, origin)
            elif name not in FLAG_KINDS and name not in _OLD_SWITCHES | _OLD_VALUED:
                self.unknown.append(str(key))

    def read_words(self, tokens: list[Token]) -> None:
        i = 0
        positional_only = False
        while i < len(tokens):
            token = tokens[i]
            word = token.text
            i += 1
            if positional_only or not word.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", word):
                if self.entry == "serve" and self.model_from == "--model":
                    self.refuse_second_model(token, word)
                # vllm serve's MODEL wins over a --config file's model (cli/serve.py: args.model = args.model_tag)
                if self.entry == "serve" and self.model_from == "":
                    self.set_model(word, self.origin(token, word))
                    self.model_from = "positional"
                else:
                    self.unknown.append(word)
                continue
            if word == "--":
                positional_only = True
                continue
            if word.startswith("-O") and not word.startswith("--"):
                # -O3, -O=3, -Odecode, -O 3: vLLM's --optimization-level (argparse_utils.py, 0.33)
                if word == "-O" and i < len(tokens) and tokens[i].text in {"0", "1", "2", "3"}:
                    i += 1
                continue
            head, eq, inline = word.partition("=")
            name = SHORT_FLAGS.get(head, _flag_name(head)) if not head.startswith("--") else _flag_name(head)
            if head.startswith("--") and "." not in name:
                name = _abbreviation(name)
            if "." in name and name.split(".", 1)[0] in FLAG_KINDS:
                # --speculative-config.method ngram: one key of a JSON-valued flag (vLLM nests them)
                base_name, _, path = name.partition(".")
                if eq:
                    dotted = inline
                elif i < len(tokens) and not tokens[i].text.startswith("--"):
                    dotted = tokens[i].text
                    i += 1
                else:
                    raise CommandError(f"{self.origin(token, word).where()}: {head} needs a value")
                self.set_nested(base_name, path, dotted, token, word)
                continue
            negated = name.startswith("no_") and (FLAG_KINDS.get(name[3:]) == "switch" or name[3:] in _OLD_SWITCHES)
            base = name[3:] if negated else name
            kind = FLAG_KINDS.get(base) or ("switch" if base in _OLD_SWITCHES else
                                            "value" if base in _OLD_VALUED else None)
            if base == "model" and not negated:
                kind = "value"
            value: object
            if kind == "switch":
                value = not negated
                if eq:  # --enforce-eager=true: argparse refuses it; read what it says
                    value = inline
            elif kind == "list":
                if eq:
                    value = inline
                else:
                    items = []
                    while i < len(tokens) and not tokens[i].text.startswith("-"):
                        items.append(tokens[i].text)
                        i += 1
                    value = items
            else:
                if eq:
                    value = inline
                elif i < len(tokens) and (not tokens[i].text.startswith("-")
                                          or re.fullmatch(r"-\d+(\.\d+)?", tokens[i].text)):
                    value = tokens[i].text
                    i += 1
                elif kind is None:
                    value = True  # an unknown flag with no value after it
                else:
                    raise CommandError(f"{self.origin(token, word).where()}: {head} needs a value")
                if kind is None:
                    self.unknown.append(head)
                    continue
            shown = word if eq or kind == "switch" else f"{word} {value}"
            if base == "model":
                if self.entry == "serve" and self.model_from == "positional":
                    self.refuse_second_model(token, shown)
                if self.entry == "serve" and self.model_from == "--model":
                    continue  # vllm serve moves the first --model to the model's place; that one is served
                self.set_model(str(value), self.origin(token, shown))
                self.model_from = "--model" if self.entry == "serve" else ""
            elif base in ENGINE_ARG_SETTINGS:
                self.set_value(base, value, self.origin(token, shown), head)
            elif base in _UNPLANNED:
                self.unplanned(base, value, self.origin(token, shown))
            elif base in _SPEC_FLAGS and isinstance(value, str):
                resolved, origin = self.resolve(value, head, self.origin(token, shown))
                self.spec[base] = (resolved, origin)


def parse_engine_args(args: Mapping[str, Any], *, file: str = "vLLM's non-default args",
                      line: int | None = None) -> VllmCommand:
    """vLLM's engine arguments as a mapping (the "non-default args: {...}" dict vLLM logs at start-up, or a
    --config file's data): the same settings, origins and unknown names as the command line gives."""
    parser = _Parser(file, {}, None, "serve")
    parser.read_config_mapping(args, file, line)
    parser.fold_spec_flags()
    return VllmCommand(model=parser.model, values=parser.values, origins=parser.origins,
                       unknown_flags=tuple(dict.fromkeys(parser.unknown)), notes=parser.notes())


def parse_command_line(text: str, *, file: str = "<command line>", first_line: int | None = None,
                       env: Mapping[str, EnvValue] | None = None, base_dir: Path | None = None) -> VllmCommand:
    """A shell command line holding a vLLM launch (what a script, a Dockerfile's shell form or `sh -c` runs)."""
    return parse_vllm_command(shell_words(text, first_line), file=file, env=env, base_dir=base_dir)
