"""`recommend --format yaml|env|helm`: the recommended deployment in the formats teams deploy with, so it can
be pasted in and gated (`kvplan gate` reads each back to the same settings).

- yaml: vLLM's own --config file (`vllm serve --config FILE`), flag names as keys;
- env: an api-for-open-llm .env (ENGINE=vllm, MODEL_PATH, CONTEXT_LEN, ...). api-for-open-llm passes its own
  defaults (DTYPE=half, MAX_NUM_SEQS=256, GPU_MEMORY_UTILIZATION=0.9) to vLLM, so every one is written out;
  a setting its .env cannot carry (--kv-cache-dtype, --block-size, ...) is refused, never dropped;
- helm: vllm-project/production-stack values (servingEngineSpec.modelSpec[]), vllmConfig keys as the chart
  renders them (it turns prefix caching off unless enablePrefixCaching is true, so it is always written).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from kvplan.core.errors import UsageError

if TYPE_CHECKING:
    from kvplan.core.sweep import Sweep

FORMATS = ("yaml", "env", "helm")

# api-for-open-llm's variables, by the engine argument they set (api/config.py, api/models.py)
_ENV_NAMES = {"max_model_len": "CONTEXT_LEN", "tensor_parallel_size": "TENSOR_PARALLEL_SIZE",
              "gpu_memory_utilization": "GPU_MEMORY_UTILIZATION", "dtype": "DTYPE", "max_num_seqs": "MAX_NUM_SEQS",
              "max_num_batched_tokens": "MAX_NUM_BATCHED_TOKENS", "quantization": "QUANTIZATION_METHOD"}
# production-stack vllmConfig keys, by engine argument (helm/templates/deployment-vllm-multi.yaml)
_HELM_KEYS = {"max_model_len": "maxModelLen", "dtype": "dtype", "tensor_parallel_size": "tensorParallelSize",
              "max_num_seqs": "maxNumSeqs", "gpu_memory_utilization": "gpuMemoryUtilization"}


def _scalar(value: object) -> str:
    """A YAML scalar: numbers and booleans bare, text quoted (JSON quoting is valid YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def _args(sweep: Sweep, length: int) -> list[tuple[str, object]]:
    from kvplan.render.recommend_view import _engine_args

    return _engine_args(sweep, length)


def render(kind: str, ref: str, sweep: Sweep, length: int) -> str:
    if kind not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got '{kind}'")
    if length <= 0:
        raise UsageError("nothing to write: no length is recommended with these settings")
    settings = sweep.base.settings
    if settings.entrypoint == "llm":
        raise UsageError(f"--format {kind} writes a server deployment; --entrypoint llm plans the LLM class")
    args = _args(sweep, length)
    gpu = sweep.base.gpu.name if sweep.base.gpu else "no GPU"
    head = f"kvplan recommend: {ref} on {gpu}, vLLM {settings.vllm_version}"
    if kind == "yaml":
        return _config_yaml(ref, args, settings.use_v1, head)
    if kind == "env":
        return _api_for_open_llm(ref, args, sweep, head)
    return _production_stack(ref, args, sweep, head)


def _config_yaml(ref: str, args: list[tuple[str, object]], use_v1: bool | None, head: str) -> str:
    lines = [f"# {head}", "# vllm serve --config THIS_FILE"]
    if use_v1 is not None:
        lines.append(f"# and set VLLM_USE_V1={int(use_v1)} in the environment (a --config file cannot)")
    lines.append(f"model: {_scalar(ref)}")
    for name, value in args:
        key = name.replace("_", "-")
        if isinstance(value, dict):
            lines.append(f"{key}: {json.dumps(value, sort_keys=True)}")  # a JSON object is a YAML flow mapping
        else:
            lines.append(f"{key}: {_scalar(value)}")
    return "\n".join(lines) + "\n"


def _api_for_open_llm(ref: str, args: list[tuple[str, object]], sweep: Sweep, head: str) -> str:
    values = dict(args)
    cannot = [name for name in values if name not in _ENV_NAMES]
    if cannot:
        flags = ", ".join("--" + n.replace("_", "-") for n in cannot)
        raise UsageError(f"api-for-open-llm's .env cannot set {flags}", hint="Use --format yaml or helm")
    engine = sweep.base.engine
    # Its defaults go to vLLM when a variable is unset: write what kvplan planned instead.
    values.setdefault("dtype", "auto")
    values.setdefault("tensor_parallel_size", engine.tensor_parallel_size)
    values.setdefault("max_num_seqs", engine.max_num_seqs)
    if engine.pipeline_parallel_size > 1:
        raise UsageError("api-for-open-llm's .env cannot set --pipeline-parallel-size", hint="Use --format yaml")
    lines = [f"# {head}", "ENGINE=vllm", f"MODEL_PATH={ref}"]
    lines += [f"{_ENV_NAMES[name]}={value}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def _production_stack(ref: str, args: list[tuple[str, object]], sweep: Sweep, head: str) -> str:
    engine, settings = sweep.base.engine, sweep.base.settings
    values = dict(args)
    config = [f"        {_HELM_KEYS[name]}: {_scalar(value)}" for name, value in values.items() if name in _HELM_KEYS]
    prefix_caching = values.get("enable_prefix_caching", engine.enable_prefix_caching)
    config.append(f"        enablePrefixCaching: {_scalar(prefix_caching)}")
    extra: list[str] = []
    for name, value in values.items():
        if name in _HELM_KEYS or name == "enable_prefix_caching":
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            extra.append(flag)
        elif value is False:
            extra.append("--no-" + name.replace("_", "-"))
        else:
            extra += [flag, json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else str(value)]
    if extra:
        config.append("        extraArgs:")
        config += [f"          - {json.dumps(word)}" for word in extra]
    if settings.use_v1 is False:
        config.append('        v0: "1"')
    elif settings.use_v1:
        raise UsageError("production-stack values set VLLM_USE_V1 only to 0 (v0: \"1\")",
                         hint="Leave --vllm-use-v1 unset, or use --format yaml")
    name = ref.rstrip("/").rsplit("/", 1)[-1].lower().replace(".", "-").replace("_", "-")[:40] or "model"
    lines = [f"# {head}", "servingEngineSpec:", "  modelSpec:", f"    - name: {_scalar(name)}",
             '      repository: "vllm/vllm-openai"', f'      tag: "v{settings.vllm_version}"',
             f"      modelURL: {_scalar(ref)}", "      replicaCount: 1",
             f"      requestGPU: {engine.tensor_parallel_size * engine.pipeline_parallel_size}", "      vllmConfig:",
             *config]
    return "\n".join(lines) + "\n"
