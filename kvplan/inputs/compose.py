"""docker-compose services that run vLLM: ``command`` / ``entrypoint`` (list or shell string), the image's
own entry point for vllm/vllm-openai, ``environment`` and the ``.env`` beside the file (compose reads it for
``${VAR}``), and the GPUs ``deploy.resources.reservations.devices`` reserves (count, or device_ids)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kvplan.inputs.deploy_files import from_command, problem_deployment, vllm_image
from kvplan.inputs.k8s import container_words
from kvplan.inputs.manifest import Deployment
from kvplan.inputs.safe_yaml import YamlMap, line_of
from kvplan.inputs.vllm_args import CommandError, EnvValue, Origin, find_entry, parse_vllm_command


def _environment(service: Mapping[str, Any], file: Path) -> dict[str, EnvValue]:
    env: dict[str, EnvValue] = {}
    dotenv = file.parent / ".env"
    if dotenv.is_file():
        from kvplan.inputs.env_files import read_env
        from kvplan.inputs.safe_yaml import read_text_bounded

        env.update(read_env(dotenv, read_text_bounded(dotenv, "env file")))
    items = service.get("environment")
    if isinstance(items, Mapping):
        for key, value in items.items():
            if value is not None:
                env[str(key)] = EnvValue(str(value), Origin(file=str(file), line=line_of(items, key),
                                                            text=f"{key}: {value}"))
    elif isinstance(items, list):
        for index, item in enumerate(items):
            name, eq, value = str(item).partition("=")
            if eq:
                env[name] = EnvValue(value, Origin(file=str(file), line=line_of(items, index), text=str(item)))
    return env


def _gpu_count(service: Mapping[str, Any]) -> tuple[int | None, int | None]:
    from kvplan.inputs.k8s import _get

    devices = _get(service, "deploy", "resources", "reservations", "devices")
    if not isinstance(devices, list):
        return None, None
    for index, device in enumerate(devices):
        if not isinstance(device, Mapping):
            continue
        if isinstance(device.get("count"), int) and not isinstance(device.get("count"), bool):
            return device["count"], line_of(device, "count")
        if isinstance(device.get("device_ids"), list):
            return len(device["device_ids"]), line_of(device, "device_ids")
        if str(device.get("count", "")).strip() == "all":
            return None, line_of(devices, index)  # all the host has: unknown here
    return None, None


def load_compose(data: Mapping[str, Any], file: Path) -> list[Deployment]:
    raw_lines = file.read_text(encoding="utf-8-sig").splitlines()
    services = data["services"]
    out: list[Deployment] = []
    for name, service in services.items():
        if not isinstance(service, Mapping):
            continue
        image = str(service.get("image", ""))
        words = container_words(_as_container(service), raw_lines)
        runs = find_entry(words) is not None or any("vllm serve" in w.text or "vllm.entrypoints" in w.text
                                                    for w in words)
        uses_image_entry = vllm_image(image) and service.get("entrypoint") is None
        if not runs and not uses_image_entry:
            continue
        line = line_of(services, name)
        label = f"service/{name}"
        try:
            count, count_line = _gpu_count(service)
            command = parse_vllm_command(words, file=str(file), env=_environment(service, file),
                                         base_dir=file.parent, entry_found=not runs)
        except CommandError as err:
            out.append(problem_deployment(label, file, line, err))
            continue
        out.append(from_command(command, name=label, file=file, line=line, gpu_count=count,
                                gpu_count_line=count_line, image=image))
    return out


def _as_container(service: Mapping[str, Any]) -> YamlMap:
    """A compose service seen as a container (entrypoint -> command, command -> args), keeping its lines."""
    view = YamlMap()
    lines = getattr(service, "key_lines", {})
    view.line = getattr(service, "line", 0)
    view.key_lines = {}
    for source, target in (("entrypoint", "command"), ("command", "args")):
        if service.get(source) is not None:
            view[target] = service[source]
            view.key_lines[target] = lines.get(source, view.line)
    return view
