"""`gate FILE...`: every vLLM deployment written in a file, whatever the file: kvplan manifests (TOML, JSON,
YAML), vLLM's --config YAML, api-for-open-llm .env and shell env files, shell scripts, Dockerfiles,
docker-compose, Kubernetes workloads (Deployment, StatefulSet, Job, LeaderWorkerSet, KServe InferenceService)
and vllm-project production-stack Helm values.

Each deployment keeps its file and the line that sets each value. A deployment kvplan cannot read (a template
it cannot resolve, a value of the wrong kind) is that deployment's error, never a guess; a file that holds no
vLLM deployment at all is unusable input (exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from kvplan.core.errors import UsageError
from kvplan.inputs.manifest import SETTING_KEYS, Deployment
from kvplan.inputs.vllm_args import CommandError, VllmCommand

_VLLM_IMAGE = re.compile(r"(?:^|/)vllm-openai(?::v?(?P<tag>[^@\s]+))?(?:@\S+)?$")
_RELEASE_TAG = re.compile(r"^v?(\d+\.\d+(?:\.\d+)?)(?:[.\-+].*)?$")


def vllm_image(image: str) -> bool:
    """vllm/vllm-openai (and mirrors of it): its entry point is vLLM's OpenAI server."""
    return bool(_VLLM_IMAGE.search(image.strip()))


def release_from_image(image: str) -> str | None:
    """vllm/vllm-openai:v0.8.5 runs vLLM 0.8.5; latest, nightly and digests say nothing."""
    match = _VLLM_IMAGE.search(image.strip())
    if match is None or not match.group("tag"):
        return None
    release = _RELEASE_TAG.match(match.group("tag"))
    return release.group(1) if release else None


def gpu_key(label: str, where: str) -> str:
    """A node label's GPU product (NVIDIA-A100-SXM4-80GB, nvidia-l4) as a catalog key; one unknown is an error."""
    from kvplan.gpu.catalog import get_gpu

    try:
        return get_gpu(label).key
    except UsageError as err:
        raise CommandError(f"{where}: GPU product {label!r} is not in kvplan's catalog ({err.message})",
                           hint="Give --gpu NAME (or --gpu-memory) for this file") from None


def problem_deployment(name: str, file: Path, line: int | None, message: str | CommandError) -> Deployment:
    """A deployment kvplan cannot plan, reported with its line; a template it cannot resolve fails the gate."""
    from kvplan.inputs.vllm_args import UnresolvedError

    unresolved = isinstance(message, UnresolvedError)
    text = message.one_line() if isinstance(message, CommandError) else message
    at = getattr(message, "line", None) or line
    return Deployment(name=name, model="", settings={}, source=str(file), line=line, problem=text,
                      unresolved=unresolved, lines={"problem": at} if at else {})


def from_command(command: VllmCommand, *, name: str, file: Path, line: int | None, gpu: str | None = None,
                 gpu_line: int | None = None, gpu_count: int | None = None, gpu_count_line: int | None = None,
                 image: str | None = None, notes: tuple[str, ...] = ()) -> Deployment:
    """A deployment from a parsed vLLM command and what the file around it says (GPU, count, image)."""
    if not command.model:
        return problem_deployment(name, file, line, f"{file}:{line}: the vLLM command names no model")
    values = {k: v for k, v in command.values.items() if k in SETTING_KEYS}
    # Lines of this file only: a value set in another file (a --config YAML) names that file in its messages.
    lines = {key: origin.line for key, origin in command.origins.items()
             if origin.line is not None and origin.file == str(file)}
    release = release_from_image(image) if image else None
    if release and "vllm_version" not in values:
        values["vllm_version"] = release
        if line is not None:
            lines["vllm_version"] = line
    if gpu_line is not None:
        lines["gpu"] = gpu_line
    if gpu_count_line is not None:
        lines["gpu_count"] = gpu_count_line
    model = command.model
    if model.startswith(("./", "../")):
        model = str((file.parent / model).resolve())
    unknown = tuple(f"{flag} is not a flag vLLM 0.32-0.34 takes: not planned" for flag in command.unknown_flags)
    return Deployment(name=name, model=model, settings=values, gpu=gpu, source=str(file), line=line, lines=lines,
                      notes=notes + unknown + command.notes, gpu_count=gpu_count)


def _kind_of(path: Path) -> str:
    name = path.name.lower()
    suffix = path.suffix.lower()
    if suffix in (".toml", ".json"):
        return "manifest"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if name == ".env" or name.startswith(".env.") or suffix == ".env" or name.endswith(".env.example"):
        return "env"
    if "dockerfile" in name or "containerfile" in name:
        return "dockerfile"
    if suffix in (".sh", ".bash", ".zsh"):
        return "shell"
    return "sniff"


def load_deploy_file(path: Path) -> list[Deployment]:
    """Every deployment in one file; a file kvplan cannot read, or that holds none, is one UsageError line."""
    from kvplan.inputs.safe_yaml import read_text_bounded

    kind = _kind_of(path)
    if kind == "manifest" and path.suffix.lower() == ".json":
        head = read_text_bounded(path)[:4096]
        if ('"apiVersion"' in head and '"kind"' in head) or '"servingEngineSpec"' in head:
            kind = "yaml"  # a Kubernetes object or Helm values written as JSON (JSON is YAML: lines kept)
    if kind == "manifest":
        from kvplan.inputs.manifest import load_manifest

        return load_manifest(path)
    text = read_text_bounded(path)
    if kind == "sniff" and _parses_as_manifest(text):
        from kvplan.inputs.manifest import load_manifest

        return load_manifest(path)
    if kind == "sniff":
        first = text.lstrip()[:200]
        if first.startswith("#!") or "vllm serve" in text or "vllm.entrypoints" in text:
            kind = "dockerfile" if re.match(r"(?im)^\s*FROM\s+\S+", text) else "shell"
        elif re.search(r"(?m)^\s*(export\s+)?[A-Z_][A-Z0-9_]*=", text):
            kind = "env"
        else:
            kind = "yaml"
    if kind == "env":
        from kvplan.inputs.env_files import load_env_file

        found = load_env_file(path, text)
    elif kind == "shell":
        from kvplan.inputs.env_files import load_shell_script

        found = load_shell_script(path, text)
    elif kind == "dockerfile":
        from kvplan.inputs.dockerfile import load_dockerfile

        found = load_dockerfile(path, text)
    else:
        found = _load_yaml(path, text)
    if not found:
        raise UsageError(f"{path}: no vLLM deployment found (no `vllm serve` or vllm.entrypoints command, "
                         "and not a format kvplan gate reads)")
    return found


def _parses_as_manifest(text: str) -> bool:
    """A file without a telling name is a kvplan manifest when it is TOML or JSON with a deployment list."""
    import json
    import tomllib

    for loads in (json.loads, tomllib.loads):
        try:
            data = loads(text)
        except (ValueError, RecursionError):  # deep brackets recurse past Python's limit
            continue
        if isinstance(data, dict) and ("deployment" in data or "deployments" in data):
            return True
    return False


def _load_yaml(path: Path, text: str) -> list[Deployment]:
    from kvplan.inputs.safe_yaml import YamlMap, load_yaml_documents

    documents = [d for d in load_yaml_documents(text, path) if d is not None]
    if not documents:
        raise UsageError(f"{path}: empty YAML file")
    first = documents[0]
    if len(documents) == 1 and isinstance(first, Mapping) and ("deployment" in first or "deployments" in first):
        from kvplan.inputs.manifest import deployments_from_data

        return deployments_from_data(first, path)
    if len(documents) == 1 and isinstance(first, YamlMap) and "servingEngineSpec" in first:
        from kvplan.inputs.helm_values import load_production_stack

        return load_production_stack(first, path)
    if len(documents) == 1 and isinstance(first, YamlMap) and "modelArtifacts" in first and (
            "decode" in first or "prefill" in first):
        from kvplan.inputs.helm_values import load_llm_d

        return load_llm_d(first, path)
    if len(documents) == 1 and isinstance(first, YamlMap) and isinstance(first.get("services"), Mapping):
        from kvplan.inputs.compose import load_compose

        return load_compose(first, path)
    if any(isinstance(d, Mapping) and "kind" in d and "apiVersion" in d for d in documents):
        from kvplan.inputs.k8s import load_k8s

        return load_k8s(documents, path)
    if len(documents) == 1 and isinstance(first, YamlMap):
        return _vllm_config(first, path)
    raise UsageError(f"{path}: not a kvplan manifest, vLLM --config, compose file, Kubernetes manifest or "
                     "production-stack values")


def _vllm_config(data: Any, path: Path) -> list[Deployment]:
    """vLLM's own --config YAML (flag names as keys): one deployment, as `vllm serve --config FILE`."""
    from kvplan.inputs.vllm_args import parse_vllm_command
    from kvplan.inputs.vllm_flag_table import FLAG_KINDS

    keys = {str(k).replace("-", "_") for k in data}
    if "model" not in keys and not keys & set(FLAG_KINDS):
        raise UsageError(f"{path}: not a kvplan manifest, vLLM --config, compose file, Kubernetes manifest or "
                         "production-stack values")
    try:
        command = parse_vllm_command(["--config", str(path)], file=str(path), entry_found=True)
    except CommandError as err:
        return [problem_deployment(path.name, path, data.line, err)]
    return [from_command(command, name=path.name, file=path, line=1)]


def with_defaults(deployments: list[Deployment], *, gpu: str | None, gpu_memory: str | None,
                  vllm_version: str | None = None) -> list[Deployment]:
    """`gate --gpu` / `--gpu-memory` for deployments whose file names no GPU, `--vllm-version` for those whose
    file names no release (an image tag, a manifest's vllm_version)."""
    out = []
    for d in deployments:
        if (gpu is not None or gpu_memory is not None) and not (d.gpu or d.gpu_memory):
            d = replace(d, gpu=gpu, gpu_memory=gpu_memory)
        if vllm_version is not None and "vllm_version" not in d.settings:
            d = replace(d, settings={**d.settings, "vllm_version": vllm_version})
        out.append(d)
    return out
