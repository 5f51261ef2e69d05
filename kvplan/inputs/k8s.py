"""Kubernetes workloads that run vLLM: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod,
LeaderWorkerSet and KServe InferenceService.

A container runs vLLM when its command + args hold `vllm serve` / the api_server module (also inside
``sh -c "..."``), or when it runs the vllm/vllm-openai image with args only. Its ``env`` values (``valueFrom``
ones cannot be read here) fill ``$(VAR)`` / ``${VAR}``; the ``nvidia.com/gpu`` limit is the GPU count the
pod gets (times the group size for a LeaderWorkerSet); a ``nvidia.com/gpu.product`` (or GKE
``cloud.google.com/gke-accelerator``) node selector or required node affinity names the GPU.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kvplan.inputs.deploy_files import from_command, gpu_key, problem_deployment, vllm_image
from kvplan.inputs.manifest import Deployment
from kvplan.inputs.safe_yaml import line_of
from kvplan.inputs.vllm_args import (
    CommandError,
    EnvValue,
    Origin,
    Token,
    find_entry,
    parse_vllm_command,
    shell_words,
)

POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"), "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
GPU_LABELS = ("nvidia.com/gpu.product", "cloud.google.com/gke-accelerator")
_K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
# KServe's huggingface server flags (kserve/python/huggingfaceserver): not vLLM's; --model_id is the model.
_KSERVE_FLAGS = {"--model_name", "--model_dir", "--backend", "--task", "--disable_lower_case",
                 "--disable_special_tokens", "--max_length", "--tensor_input_names", "--return_token_type_ids",
                 "--return_probabilities", "--trust_remote_code", "--dtype_hf"}


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def locate_words(words: Sequence[str], raw_lines: Sequence[str], first_line: int) -> list[Token]:
    """Each word with the file line it is written on, found in order from ``first_line`` (1-based)."""
    out: list[Token] = []
    row, col = max(first_line - 1, 0), 0
    for word in words:
        found = None
        probe = word if len(word) < 60 else word[:60]
        for r in range(row, min(len(raw_lines), row + 400)):
            at = raw_lines[r].find(probe, col if r == row else 0)
            if at >= 0:
                found, row, col = r, r, at + len(probe)
                break
        out.append(Token(word, (found + 1) if found is not None else first_line))
    return out


def container_words(container: Mapping[str, Any], raw_lines: Sequence[str]) -> list[Token]:
    """command + args as words with lines; a single string holding a shell command is split as a shell would."""
    words: list[Token] = []
    for key in ("command", "args"):
        value = container.get(key)
        if isinstance(value, str):  # compose's string form: a shell command line
            split = shell_words(_K8S_VAR.sub(r"${\1}", value), None)
            words.extend(locate_words([w.text for w in split if w.text != ";"], raw_lines,
                                      line_of(container, key) or 1))
            continue
        if not isinstance(value, list):
            continue
        for index, item in enumerate(value):
            text = _K8S_VAR.sub(r"${\1}", str(item))
            line = line_of(value, index) or line_of(container, key) or 1
            after_c = bool(words) and words[-1].text == "-c"
            if ("\n" in text or " " in text) and ("vllm" in text or after_c):
                split = shell_words(text, None)
                words.extend(locate_words([w.text for w in split], raw_lines, line))
            else:
                words.append(Token(text, line))
    return words


def env_of(container: Mapping[str, Any], file: Path) -> dict[str, EnvValue]:
    env: dict[str, EnvValue] = {}
    items = container.get("env")
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, Mapping) and isinstance(item.get("name"), str) and "value" in item:
                value = "" if item["value"] is None else str(item["value"])
                line = line_of(items, index)
                env[item["name"]] = EnvValue(value, Origin(file=str(file), line=line,
                                                           text=f"{item['name']}={value}"))
    return env


def gpu_count_of(resources: Any, file: Path) -> tuple[int | None, int | None]:
    """(nvidia.com/gpu limit or request, its line); a templated count is an error naming it."""
    for part in ("limits", "requests"):
        table = _get(resources, part)
        if isinstance(table, Mapping) and "nvidia.com/gpu" in table:
            value = table["nvidia.com/gpu"]
            line = line_of(table, "nvidia.com/gpu")
            text = str(value).strip()
            if not text.isdigit():
                raise CommandError(f"{file}:{line}: nvidia.com/gpu is {text!r}, which kvplan cannot resolve",
                                   hint="Gate the rendered manifest")
            return int(text), line
    return None, None


def gpu_product(pod: Mapping[str, Any], file: Path) -> tuple[str | None, int | None]:
    """The GPU a node selector or required node affinity asks for, as a catalog key, and its line."""
    selector = pod.get("nodeSelector")
    if isinstance(selector, Mapping):
        for label in GPU_LABELS:
            if label in selector:
                line = line_of(selector, label)
                return gpu_key(str(selector[label]), f"{file}:{line}"), line
    terms = _get(pod, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                 "nodeSelectorTerms")
    return product_from_terms(terms, file)


def product_from_terms(terms: Any, file: Path) -> tuple[str | None, int | None]:
    if not isinstance(terms, list):
        return None, None
    for term in terms:
        expressions = _get(term, "matchExpressions")
        if not isinstance(expressions, list):
            continue
        for index, expression in enumerate(expressions):
            if not isinstance(expression, Mapping) or expression.get("key") not in GPU_LABELS:
                continue
            values = expression.get("values")
            line = line_of(expressions, index)
            if expression.get("operator") != "In" or not isinstance(values, list) or not values:
                continue
            keys = {gpu_key(str(v), f"{file}:{line}") for v in values}
            if len(keys) > 1:
                raise CommandError(f"{file}:{line}: the pod may land on any of {', '.join(map(str, values))}",
                                   hint="Gate each with --gpu NAME, or pin one GPU product")
            return keys.pop(), line
    return None, None


def pod_deployments(pod: Mapping[str, Any], *, name: str, file: Path, raw_lines: Sequence[str],
                    group_size: int = 1, extra_env: Mapping[str, EnvValue] | None = None) -> list[Deployment]:
    containers = pod.get("containers")
    if not isinstance(containers, list):
        return []
    out: list[Deployment] = []
    runs = [c for c in containers if isinstance(c, Mapping) and _runs_vllm(c, raw_lines)]
    for container in runs:
        label = name if len(runs) == 1 else f"{name}/{container.get('name', '?')}"
        line = getattr(container, "line", None)
        try:
            env = {**(extra_env or {}), **env_of(container, file)}
            count, count_line = gpu_count_of(container.get("resources"), file)
            gpu, gpu_line = gpu_product(pod, file)
            words = container_words(container, raw_lines)
            image = str(container.get("image", ""))
            entry_found = find_entry(words) is None and not any("vllm" in w.text for w in words[:3]) \
                and vllm_image(image)
            command = parse_vllm_command(words, file=str(file), env=env, base_dir=file.parent,
                                         entry_found=entry_found)
        except CommandError as err:
            out.append(problem_deployment(label, file, line, err))
            continue
        out.append(from_command(command, name=label, file=file, line=line, gpu=gpu, gpu_line=gpu_line,
                                gpu_count=None if count is None else count * group_size,
                                gpu_count_line=count_line, image=image))
    return out


def _runs_vllm(container: Mapping[str, Any], raw_lines: Sequence[str]) -> bool:
    words = container_words(container, raw_lines)
    if find_entry(words) is not None:
        return True
    if any("vllm serve" in w.text or "vllm.entrypoints" in w.text for w in words):
        return True
    return vllm_image(str(container.get("image", ""))) and not container.get("command")


def load_k8s(documents: list[Any], file: Path) -> list[Deployment]:
    raw_lines = file.read_text(encoding="utf-8-sig").splitlines()
    out: list[Deployment] = []
    for doc in documents:
        if not isinstance(doc, Mapping):
            continue
        kind = str(doc.get("kind", ""))
        name = f"{kind}/{_get(doc, 'metadata', 'name') or '?'}"
        if kind in POD_SPEC_PATHS:
            pod = _get(doc, *POD_SPEC_PATHS[kind])
            if isinstance(pod, Mapping):
                out.extend(pod_deployments(pod, name=name, file=file, raw_lines=raw_lines))
        elif kind == "LeaderWorkerSet":
            template = _get(doc, "spec", "leaderWorkerTemplate")
            size = _get(template, "size")
            group = int(size) if isinstance(size, int) and size > 0 else 1
            pod = _get(template, "leaderTemplate", "spec") or _get(template, "workerTemplate", "spec")
            if isinstance(pod, Mapping):
                out.extend(pod_deployments(pod, name=name, file=file, raw_lines=raw_lines, group_size=group))
        elif kind == "InferenceService":
            out.extend(_inference_service(doc, name=name, file=file, raw_lines=raw_lines))
    return out


def _inference_service(doc: Mapping[str, Any], *, name: str, file: Path,
                       raw_lines: Sequence[str]) -> list[Deployment]:
    """KServe: a predictor with its own vLLM containers, or the huggingface runtime (vLLM backend) whose
    model args are vLLM's engine args plus KServe's own (--model_id names the model)."""
    predictor = _get(doc, "spec", "predictor")
    if not isinstance(predictor, Mapping):
        return []
    if isinstance(predictor.get("containers"), list):
        return pod_deployments(predictor, name=name, file=file, raw_lines=raw_lines)
    model = predictor.get("model")
    if not isinstance(model, Mapping) or str(_get(model, "modelFormat", "name")).lower() != "huggingface":
        return []
    line = getattr(model, "line", None)
    words = container_words(model, raw_lines)
    if any(w.text in ("--backend=huggingface", "--backend=hf") for w in words):
        return [problem_deployment(name, file, line, f"{file}:{line}: KServe's huggingface backend, not vLLM")]
    kept: list[Token] = []
    skip = False
    for word in words:
        head = word.text.split("=", 1)[0]
        if skip:
            skip = False
            continue
        if head in ("--model_id", "--model-id"):
            if "=" in word.text:
                kept.extend([Token("--model", word.line), Token(word.text.split("=", 1)[1], word.line)])
            else:
                kept.append(Token("--model", word.line))
            continue
        if head in _KSERVE_FLAGS:
            skip = "=" not in word.text and head not in ("--disable_lower_case", "--disable_special_tokens",
                                                         "--return_token_type_ids", "--return_probabilities",
                                                         "--trust_remote_code")
            continue
        kept.append(word)
    storage = model.get("storageUri")
    if isinstance(storage, str) and storage.startswith("hf://") and not any(w.text == "--model" for w in kept):
        kept = [Token("--model", line_of(model, "storageUri")), Token(storage[5:], line_of(model, "storageUri")),
                *kept]
    try:
        count, count_line = gpu_count_of(model.get("resources"), file)
        gpu, gpu_line = gpu_product(predictor, file)
        command = parse_vllm_command(kept, file=str(file), env=env_of(model, file), base_dir=file.parent,
                                     entry_found=True)
    except CommandError as err:
        return [problem_deployment(name, file, line, err)]
    return [from_command(command, name=name, file=file, line=line, gpu=gpu, gpu_line=gpu_line, gpu_count=count,
                         gpu_count_line=count_line)]
