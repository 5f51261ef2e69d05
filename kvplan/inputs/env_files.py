"""Env files and shell scripts: api-for-open-llm's .env, and scripts (or env files) that run vLLM.

api-for-open-llm (xusenlinzy/api-for-open-llm) builds vLLM's AsyncEngineArgs from its environment
(api/config.py Settings, api/models.py create_vllm_engine): model=MODEL_PATH, max_model_len=CONTEXT_LEN when
> 0, tensor_parallel_size=TENSOR_PARALLEL_SIZE (1), gpu_memory_utilization=GPU_MEMORY_UTILIZATION (0.9),
dtype=DTYPE ("half"), max_num_seqs=MAX_NUM_SEQS (256), max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS when > 0,
quantization=QUANTIZATION_METHOD; it runs vLLM when ENGINE=vllm (USE_VLLM=true in older releases). Its
defaults are passed to vLLM, so they are planned too.
"""

from __future__ import annotations

import re
from pathlib import Path

from kvplan.core.errors import UsageError
from kvplan.inputs.deploy_files import from_command, problem_deployment, vllm_image
from kvplan.inputs.manifest import Deployment
from kvplan.inputs.vllm_args import (
    SHELL_OPERATORS,
    CommandError,
    EnvValue,
    Origin,
    Token,
    VllmCommand,
    find_entry,
    parse_vllm_command,
    resolve_text,
    shell_words,
)

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")
# A dotenv line may space its `=` (python-dotenv, which api-for-open-llm loads its .env with, reads
# `CONTEXT_LEN = 8192` as CONTEXT_LEN=8192; so does docker compose's .env); a shell word may not.
_DOTENV_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=(?P<value>.*)$")

# api-for-open-llm's variable -> (vLLM engine argument, the value it passes when the variable is unset or empty;
# None: not passed). Read in api/config.py and api/models.py create_vllm_engine.
API_FOR_OPEN_LLM: dict[str, tuple[str, str | None]] = {
    "CONTEXT_LEN": ("max_model_len", None),
    "TENSOR_PARALLEL_SIZE": ("tensor_parallel_size", "1"),
    "GPU_MEMORY_UTILIZATION": ("gpu_memory_utilization", "0.9"),
    "DTYPE": ("dtype", "half"),
    "MAX_NUM_SEQS": ("max_num_seqs", "256"),
    "MAX_NUM_BATCHED_TOKENS": ("max_num_batched_tokens", None),
    "QUANTIZATION_METHOD": ("quantization", None),
    "ENFORCE_EAGER": ("enforce_eager", None),
}
_NOT_SET_WHEN_NOT_POSITIVE = {"CONTEXT_LEN", "MAX_NUM_BATCHED_TOKENS"}  # -1 (its default) means vLLM's own


def _env_value(raw: str) -> str:
    """A dotenv value: quotes removed; an unquoted value ends at ' #'."""
    value = raw.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        return value[1:end] if end > 0 else value[1:]
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def read_env(path: Path, text: str) -> dict[str, EnvValue]:
    """KEY=value lines (``export`` allowed, # comments), each with its line; ${VAR} from earlier lines."""
    env: dict[str, EnvValue] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_ASSIGNMENT.match(line)
        if match is None:
            continue
        origin = Origin(file=str(path), line=number, text=line.strip())
        value = _env_value(match.group("value"))
        try:
            value, _ = resolve_text(value, env, match.group("name"), origin)
        except CommandError:
            continue  # a value from outside the file: using it later is the error, naming it
        env[match.group("name")] = EnvValue(value, origin)
    return env


def load_env_file(path: Path, text: str) -> list[Deployment]:
    env = read_env(path, text)
    if any(name in env for name in ("MODEL_PATH", "CONTEXT_LEN", "ENGINE", "USE_VLLM")):
        return [_api_for_open_llm(path, env)]
    if "vllm serve" in text or "vllm.entrypoints" in text:
        return load_shell_script(path, text)
    raise UsageError(f"{path}: no vLLM deployment in this env file (api-for-open-llm's MODEL_PATH, ENGINE=vllm "
                     "... are not set, and no vLLM command is run)")


def _api_for_open_llm(path: Path, env: dict[str, EnvValue]) -> Deployment:
    name = path.name
    engine = env.get("ENGINE")
    use_vllm = env.get("USE_VLLM")
    first_line = min((v.origin.line for v in env.values() if v.origin and v.origin.line), default=None)
    runs_vllm = (engine is not None and engine.text.lower() == "vllm") or (
        use_vllm is not None and use_vllm.text.lower() == "true")
    if not runs_vllm:
        where = engine.origin if engine and engine.origin else None
        said = f"ENGINE={engine.text}" if engine else "neither ENGINE=vllm nor USE_VLLM=true is set"
        return problem_deployment(name, path, where.line if where else first_line,
                                  f"{path}{f':{where.line}' if where else ''}: api-for-open-llm runs vLLM only with "
                                  f"ENGINE=vllm ({said}): nothing for kvplan to plan")
    model = env.get("MODEL_PATH")
    if model is None or not model.text:
        return problem_deployment(name, path, first_line, f"{path}: MODEL_PATH is not set: api-for-open-llm gives "
                                                          "vLLM MODEL_PATH as the model")
    words: list[Token] = [Token(model.text, model.origin.line if model.origin else None)]
    defaults: list[str] = []
    for variable, (arg, default) in API_FOR_OPEN_LLM.items():
        given = env.get(variable)
        text = given.text if given is not None and given.text != "" else None
        if text is not None and variable in _NOT_SET_WHEN_NOT_POSITIVE:
            try:
                if int(text) <= 0:
                    text = None
            except ValueError:
                pass  # the parser names the bad value
        if text is None:
            if default is None:
                continue
            text = default
            defaults.append(f"{arg}={default}")
        line = given.origin.line if given is not None and given.origin is not None and given.text != "" else None
        flag = "--" + arg.replace("_", "-")
        if arg == "enforce_eager":
            words.append(Token(flag if text.lower() == "true" else "--no-" + arg.replace("_", "-"), line))
        else:
            words.extend([Token(flag, line), Token(text, line)])
    try:
        command = parse_vllm_command(words, file=str(path), entry_found=True)
    except CommandError as err:
        return problem_deployment(name, path, first_line, err)
    # Names in the messages are the file's variables, not vLLM's flags.
    notes = (f"api-for-open-llm passes its defaults to vLLM: {', '.join(defaults)}",) if defaults else ()
    gpus = env.get("NUM_GPUs") or env.get("NUM_GPUS")
    count = int(gpus.text) if gpus is not None and gpus.text.isdigit() else None
    return from_command(command, name=name, file=path, line=model.origin.line if model.origin else first_line,
                        gpu_count=count, gpu_count_line=gpus.origin.line if gpus and gpus.origin and count else None,
                        notes=notes)


def _commands(words: list[Token]) -> list[list[Token]]:
    """Split a script's words into simple commands at ;, &&, ||, | and newlines."""
    out: list[list[Token]] = [[]]
    for word in words:
        if word.text in SHELL_OPERATORS:
            out.append([])
        else:
            out[-1].append(word)
    return [c for c in out if c]


def docker_run_args(command: list[Token]) -> tuple[list[Token], str] | None:
    """`docker run ... vllm/vllm-openai[:tag] ARGS`: the arguments given to the image's vLLM entry point."""
    texts = [w.text for w in command]
    if len(texts) < 3 or texts[0].rsplit("/", 1)[-1] not in ("docker", "podman") or texts[1] != "run":
        return None
    for i, text in enumerate(texts[2:], start=2):
        if vllm_image(text) and not texts[i - 1].startswith("--entrypoint"):
            return command[i + 1:], text
    return None


def commands_in_script(path: Path, text: str, env: dict[str, EnvValue] | None = None,
                       first_line: int = 1) -> list[tuple[VllmCommand | CommandError, int | None, str | None]]:
    """Every vLLM launch in a shell script, parsed with the variables assigned before it: (command or the
    error that stops it, its line, the image it runs in)."""
    variables: dict[str, EnvValue] = dict(env or {})
    found: list[tuple[VllmCommand | CommandError, int | None, str | None]] = []
    for command in _commands(shell_words(text, first_line)):
        texts = [w.text for w in command]
        if texts[0] == "export":
            command, texts = command[1:], texts[1:]
            if not command:
                continue
        match = _ASSIGNMENT.match(texts[0])
        if match and len(texts) == 1:
            origin = Origin(file=str(path), line=command[0].line, text=texts[0])
            try:
                value, _ = resolve_text(match.group("value"), variables, match.group("name"), origin)
                variables[match.group("name")] = EnvValue(value, origin)
            except CommandError:
                variables.pop(match.group("name"), None)
            continue
        docker = docker_run_args(command)
        line = command[0].line
        try:
            if docker is not None:
                args, image = docker
                found.append((parse_vllm_command(args, file=str(path), env=variables, base_dir=path.parent,
                                                 entry_found=True), line, image))
            elif find_entry(command) is not None or any("vllm" in t and " " in t for t in texts):
                found.append((parse_vllm_command(command, file=str(path), env=variables, base_dir=path.parent),
                              line, None))
        except CommandError as err:
            if find_entry(command) is not None or docker is not None:
                found.append((err, line, None))
    return found


def load_shell_script(path: Path, text: str) -> list[Deployment]:
    out: list[Deployment] = []
    for command, line, image in commands_in_script(path, text):
        name = f"{path.name}:{line}"
        if isinstance(command, CommandError):
            out.append(problem_deployment(name, path, line, command))
        else:
            out.append(from_command(command, name=name, file=path, line=line, image=image))
    return out
