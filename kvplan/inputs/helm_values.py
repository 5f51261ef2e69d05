"""vllm-project/production-stack Helm values: one deployment per ``servingEngineSpec.modelSpec[]`` item.

The flags are those the chart's templates/deployment-vllm-multi.yaml renders: ``vllm serve <modelURL>``,
``--enable-chunked-prefill`` / ``--no-`` when enableChunkedPrefill is set, ``--enable-prefix-caching`` or
``--no-enable-prefix-caching`` whenever vllmConfig is given, --max-model-len, --dtype, --tensor-parallel-size,
--max-num-seqs, --gpu_memory_utilization from their camelCase keys, each extraArgs item as one word, and
VLLM_USE_V1=0 for ``v0: "1"``. ``requestGPU`` is the pod's GPU count; ``nodeSelectorTerms`` may name the GPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kvplan.inputs.deploy_files import from_command, problem_deployment
from kvplan.inputs.k8s import env_of, product_from_terms
from kvplan.inputs.manifest import Deployment
from kvplan.inputs.safe_yaml import line_of
from kvplan.inputs.vllm_args import CommandError, EnvValue, Origin, Token, parse_vllm_command

# vllmConfig key -> the flag the chart renders for it
VLLM_CONFIG_FLAGS = {"maxModelLen": "--max-model-len", "dtype": "--dtype", "tensorParallelSize":
                     "--tensor-parallel-size", "maxNumSeqs": "--max-num-seqs",
                     "gpuMemoryUtilization": "--gpu_memory_utilization", "maxLoras": "--max_loras"}


def _words(spec: Mapping[str, Any], file: Path) -> tuple[list[Token], dict[str, EnvValue]]:
    words = [Token(str(spec["modelURL"]), line_of(spec, "modelURL"))]
    env = env_of(spec, file)
    config = spec.get("vllmConfig")
    if not isinstance(config, Mapping):
        return words, env
    if "enableChunkedPrefill" in config:
        line = line_of(config, "enableChunkedPrefill")
        words.append(Token("--enable-chunked-prefill" if config["enableChunkedPrefill"] is True
                           else "--no-enable-chunked-prefill", line))
    line = line_of(config, "enablePrefixCaching") if "enablePrefixCaching" in config else line_of(spec, "vllmConfig")
    words.append(Token("--enable-prefix-caching" if config.get("enablePrefixCaching") is True
                       else "--no-enable-prefix-caching", line))
    for key, flag in VLLM_CONFIG_FLAGS.items():
        if key in config:
            words.extend([Token(flag, line_of(config, key)), Token(str(config[key]), line_of(config, key))])
    extra = config.get("extraArgs")
    if isinstance(extra, list):
        words.extend(Token(str(item), line_of(extra, i)) for i, item in enumerate(extra))
    if str(config.get("v0", "")) == "1":
        env["VLLM_USE_V1"] = EnvValue("0", Origin(file=str(file), line=line_of(config, "v0"), text='v0: "1"'))
    return words, env


def load_production_stack(values: Mapping[str, Any], file: Path) -> list[Deployment]:
    specs = values.get("servingEngineSpec", {}).get("modelSpec") if isinstance(
        values.get("servingEngineSpec"), Mapping) else None
    if not isinstance(specs, list):
        return []
    out: list[Deployment] = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            continue
        name = f"modelSpec/{spec.get('name', index + 1)}"
        line = line_of(specs, index)
        if not spec.get("modelURL"):
            out.append(problem_deployment(name, file, line, f"{file}:{line}: modelSpec has no modelURL"))
            continue
        notes: tuple[str, ...] = ()
        if "raySpec" in spec:
            notes = ("raySpec: the chart runs this model on a Ray cluster; planned per GPU as written",)
        try:
            words, env = _words(spec, file)
            gpu, gpu_line = product_from_terms(spec.get("nodeSelectorTerms"), file)
            command = parse_vllm_command(words, file=str(file), env=env, base_dir=file.parent, entry_found=True)
        except CommandError as err:
            out.append(problem_deployment(name, file, line, err))
            continue
        count = spec.get("requestGPU")
        count = count if isinstance(count, int) and not isinstance(count, bool) else None
        image = f"{spec.get('repository', '')}:{spec.get('tag', '')}"
        out.append(from_command(command, name=name, file=file, line=line, gpu=gpu, gpu_line=gpu_line,
                                gpu_count=count, gpu_count_line=line_of(spec, "requestGPU") if count else None,
                                image=image, notes=notes))
    return out


def load_llm_d(values: Mapping[str, Any], file: Path) -> list[Deployment]:
    """llm-d-incubation/llm-d-modelservice values: one deployment per decode / prefill container whose
    modelCommand is vllmServe (the chart renders `vllm serve <modelArtifacts.name> --port ... <args>`, as its
    examples/output-*.yaml show). What the chart adds itself (parallelism, other model commands) is not guessed:
    such a deployment is an error asking for the rendered manifest."""
    artifacts = values.get("modelArtifacts")
    name = artifacts.get("name") if isinstance(artifacts, Mapping) else None
    out: list[Deployment] = []
    for role in ("decode", "prefill"):
        section = values.get(role)
        if not isinstance(section, Mapping) or section.get("create") is False:
            continue
        containers = section.get("containers")
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            if not isinstance(container, Mapping):
                continue
            label = f"{role}/{container.get('name', index + 1)}"
            line = line_of(containers, index)
            parallel = section.get("parallelism")
            problem = None
            if container.get("modelCommand") != "vllmServe":
                problem = f"modelCommand {container.get('modelCommand')!r}: the chart builds that command itself"
            elif not isinstance(name, str) or not name:
                problem = "modelArtifacts.name is not set"
            elif isinstance(parallel, Mapping) and any(v not in (None, 1) for v in parallel.values()):
                problem = "parallelism is applied by the chart"
            if problem:
                out.append(problem_deployment(label, file, line, f"{file}:{line}: llm-d {problem}: gate the rendered "
                                                                 "manifest (helm template ... > rendered.yaml)"))
                continue
            given = container.get("args")
            args: list[Any] = given if isinstance(given, list) else []
            words = [Token(str(name), line_of(artifacts, "name")),
                     *(Token(str(a), line_of(args, i)) for i, a in enumerate(args))]
            try:
                from kvplan.inputs.k8s import gpu_count_of, gpu_product

                count, count_line = gpu_count_of(container.get("resources"), file)
                gpu, gpu_line = gpu_product(section, file)
                command = parse_vllm_command(words, file=str(file), env=env_of(container, file),
                                             base_dir=file.parent, entry_found=True)
            except CommandError as err:
                out.append(problem_deployment(label, file, line, err))
                continue
            out.append(from_command(command, name=label, file=file, line=line, gpu=gpu, gpu_line=gpu_line,
                                    gpu_count=count, gpu_count_line=count_line))
    return out
