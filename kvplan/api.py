"""The library entry points: resolve the model and GPU through the adapters, then plan with the pure core."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.errors import UsageError
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import ModelSpec
from kvplan.core.plan import PlanResult, plan
from kvplan.core.settings import DeploySettings
from kvplan.core.weights import WeightsInfo, with_quantization_flag, without_skipped_layers
from kvplan.sources.types import ResolvedModel


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    source: ResolvedModel
    result: PlanResult
    calibration_note: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.result.verdict.status == "fail" else 0


@dataclass(frozen=True, kw_only=True)
class PlanInputs:
    """What the adapters resolve for the core: the model (with any drafter's layers) and its weights."""

    source: ResolvedModel
    model: ModelSpec
    weights: WeightsInfo | None


def plan_inputs(model_ref: str, settings: DeploySettings, *, revision: str | None,
                environ: Mapping[str, str]) -> PlanInputs:
    """Resolve the model, and the draft model of ``--speculative-config`` when it names one."""
    from kvplan.core.speculative import with_drafter
    from kvplan.sources.resolve import resolve_model

    source = resolve_model(model_ref, revision=revision, environ=environ)
    model = model_spec_from_config(source.config, source.extra_configs)
    spec = settings.speculative
    draft_source = resolve_model(spec.draft_model, environ=environ) if spec and spec.draft_model else None
    draft = model_spec_from_config(draft_source.config, draft_source.extra_configs) if draft_source else None
    model = with_drafter(model, spec, config=source.config, draft=draft)
    weights = weights_for(source, model, settings.quantization, keep_mtp=bool(spec and spec.method == "mtp"))
    if weights is not None and draft_source is not None:
        draft_weights = _checkpoint_weights(draft_source)
        if draft_weights is None:
            weights = replace(weights, source=f"{weights.source}; draft model weights unknown (not added)")
        else:
            weights = replace(weights, total_bytes=weights.total_bytes + draft_weights.total_bytes,
                              exact=weights.exact and draft_weights.exact,
                              source=f"{weights.source} + draft model {draft_source.ref} "
                                     f"({draft_weights.total_bytes / 2**30:.2f} GiB, {draft_weights.source})")
    return PlanInputs(source=source, model=model, weights=weights)


def weights_for(source: ResolvedModel, model: ModelSpec | None = None,
                quantization: str | None = None, *, keep_mtp: bool = False) -> WeightsInfo | None:
    """Checkpoint bytes when a source had them; else counted from the config (labelled an estimate); less the
    MTP layers vLLM does not load (unless an MTP drafter loads them: ``keep_mtp``); then what
    ``--quantization`` makes of them (``model``: the checkpoint's own quantization)."""
    weights = _checkpoint_weights(source)
    if weights is None:
        return None
    if not keep_mtp:
        weights = without_skipped_layers(weights, source.config,
                                         (source.extra_configs or {}).get("hf_quant_config.json"))
    if not quantization:
        return weights
    checkpoint_method = model.quantization if model else None
    return with_quantization_flag(weights, source.config, quantization, checkpoint_method)


def _checkpoint_weights(source: ResolvedModel) -> WeightsInfo | None:
    if source.weights is not None:
        return source.weights
    from kvplan.core.errors import KvplanError
    from kvplan.core.params import count_params

    extra = (source.extra_configs or {}).get("hf_quant_config.json")
    try:
        counted = count_params(source.config, hf_quant_config=extra)
    except KvplanError:
        return None
    # A config count is exact in parameters; its bytes are an estimate (vocab padding, buffers, quant scales).
    return WeightsInfo(total_bytes=counted.bytes, source=counted.source, exact=False,
                       param_count=counted.param_count)


def resolve_gpu_for(settings: DeploySettings, *, gpu: str | None, gpu_memory_bytes: int | None,
                    environ: Mapping[str, str]) -> GpuSpec | None:
    from kvplan.gpu.resolve import resolve_gpu

    if settings.platform == "cpu" and gpu is not None:
        raise UsageError(f"--gpu {gpu} names a CUDA GPU, but --platform cpu runs vLLM's CPU build",
                         hint="Drop one: the CPU build sizes its KV cache by --kv-cache-memory")
    if settings.platform == "cpu" and gpu_memory_bytes is None:
        return None  # the CPU build sizes KV from --kv-cache-memory; NVML is irrelevant there
    return resolve_gpu(gpu=gpu, gpu_memory_bytes=gpu_memory_bytes, count=settings.world_size,
                       kv_cache_memory_set=settings.kv_cache_memory_bytes is not None, environ=environ)


def check(model_ref: str, settings: DeploySettings, *, gpu: str | None = None, gpu_memory_bytes: int | None = None,
          revision: str | None = None, environ: Mapping[str, str] | None = None,
          use_calibration: bool = True) -> CheckReport:
    env = os.environ if environ is None else environ
    inputs = plan_inputs(model_ref, settings, revision=revision, environ=env)
    gpu_spec = resolve_gpu_for(settings, gpu=gpu, gpu_memory_bytes=gpu_memory_bytes, environ=env)
    measured: Estimate | None = None
    note: str | None = None
    if use_calibration and gpu_spec is not None and settings.kv_cache_memory_bytes is None:
        from kvplan.probe.calibration import lookup_overhead

        measured, note = lookup_overhead(model_ref, revision, gpu_spec, settings, env)
    result = plan(inputs.model, settings, gpu_spec, inputs.weights, measured_overhead=measured)
    return CheckReport(source=inputs.source, result=result, calibration_note=note)
