"""The adapters behind the two tables of `kvplan recommend`: which models (the bundled catalog, the HF cache),
which GPUs (NVML per device, --gpu, --gpu-memory, the GPU catalog), and the calibration store; the planning
itself is ``kvplan.core.fleet``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from kvplan.core.errors import GpuError, KvplanError, UsageError
from kvplan.core.estimate import Estimate
from kvplan.core.fleet import BoxQuery, Candidate, FleetRow, ModelRow, busy_device_error, plan_box_model, plan_fleet
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import ModelSpec
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB
from kvplan.core.weights import WeightsInfo

_PARAMS_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMbBtT]?)\s*$")
_PARAM_UNITS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def parse_params(text: str) -> int:
    """``70B``, ``1.5T``, ``8e9`` (a count of parameters, powers of ten)."""
    match = _PARAMS_RE.match(text)
    if match:
        return int(float(match.group(1)) * _PARAM_UNITS[match.group(2).lower()])
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value > 0 and value == value and value != float("inf"):
        return int(value)
    raise UsageError(f"--max-params: give a parameter count such as 8B, 70B or 1.5T, got '{text}'")


# --- GPUs ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Device:
    index: int  # CUDA's ordinal (the position in CUDA_VISIBLE_DEVICES' order)
    name: str
    total_bytes: int
    free_bytes: int | None
    busy: str | None  # vLLM's start-up error on this device at the utilisation asked, when it would fail


@dataclass(frozen=True, kw_only=True)
class Box:
    source: str  # "nvml" | "catalog" | "flag"
    count: int
    devices: tuple[Device, ...]
    spec_for: Callable[[int], GpuSpec]  # the device vLLM plans on for that many GPUs (TP x PP)
    catalog_key: str | None = None
    note: str | None = None  # what kvplan does not mirror for this GPU (ROCm, unified memory)


MAX_BOX_GPUS = 1024


def resolve_box(*, gpu: str | None, gpu_memory_bytes: int | None, gpu_count: int | None, utilization: float,
                environ: Mapping[str, str], free_check: bool = True) -> Box:
    """--gpu-memory > --gpu NAME > NVML (every visible device); none of them is a GpuError naming the flags.
    ``free_check``: vLLM's start-up free-memory check applies (the profiled sizing path; 0.34's extensible KV
    cache has none: other processes' memory comes off the KV cache instead)."""
    from kvplan.gpu.catalog import catalog_gpu_spec, get_gpu
    from kvplan.gpu.nvml import read_visible_gpus, to_gpu_spec
    from kvplan.gpu.resolve import resolve_gpu

    if gpu_count is not None and gpu_count < 1:
        raise UsageError(f"--gpu-count must be at least 1 (got {gpu_count})")
    if gpu_count is not None and gpu_count > MAX_BOX_GPUS:
        # a box is one machine's devices (one per row of the header): a count past any machine is a typo, and
        # 10**23 overflowed Python's tuple index (a traceback) where 10**9 would have filled the memory
        raise UsageError(f"--gpu-count must be at most {MAX_BOX_GPUS:,} (got {gpu_count:,})",
                         hint="Give the GPUs of one machine: vLLM plans one engine across them")
    count = gpu_count or 1
    if gpu_memory_bytes is not None or gpu is not None:
        spec = resolve_gpu(gpu=gpu, gpu_memory_bytes=gpu_memory_bytes, count=1, kv_cache_memory_set=False,
                           environ=environ)
        assert spec is not None
        entry = None
        if gpu is not None:
            try:
                entry = get_gpu(gpu)
            except UsageError:
                entry = None
        if gpu_memory_bytes is None and entry is not None:
            spec = catalog_gpu_spec(entry.key, 1)
        device = Device(index=0, name=spec.name, total_bytes=spec.total_bytes, free_bytes=None, busy=None)
        return Box(source=spec.source, count=count, devices=(device,) * count, spec_for=lambda _n: spec,
                   catalog_key=entry.key if entry else None, note=entry.note if entry else None)
    if gpu_count is not None:
        raise UsageError("--gpu-count needs --gpu NAME or --gpu-memory SIZE (NVML counts this machine's GPUs)")
    found = read_visible_gpus(environ)
    if not found:
        visible = environ.get("CUDA_VISIBLE_DEVICES")
        why = "NVML unavailable" + (f" or CUDA_VISIBLE_DEVICES='{visible}' selects none" if visible is not None
                                    else "")
        raise GpuError(f"No GPU found ({why}): nothing to plan the catalog on",
                       hint="Pass --gpu NAME [--gpu-count N] or --gpu-memory SIZE, or name a MODEL for the fleet "
                            "table")
    devices = []
    for position, nvml_device in enumerate(found):
        own = to_gpu_spec([nvml_device], 1)
        devices.append(Device(index=position, name=nvml_device.name, total_bytes=own.total_bytes,
                              free_bytes=nvml_device.free_bytes,
                              busy=busy_device_error(position, own, utilization) if free_check else None))

    def spec_for(n: int) -> GpuSpec:
        # vLLM takes the first n visible devices; a TP larger than the box is planned on all of them, alike
        return to_gpu_spec(found, min(n, len(found)))

    notes = []
    for nvml_device in found:
        try:
            note = get_gpu(nvml_device.name).note
        except UsageError:
            note = None
        if note and note not in notes:
            notes.append(note)
    return Box(source="nvml", count=len(found), devices=tuple(devices), spec_for=spec_for,
               note="; ".join(notes) or None)


# --- models ----------------------------------------------------------------------------------------------------


def cached_model_ids(environ: Mapping[str, str]) -> list[str]:
    """Hub ids of the models in the huggingface_hub cache (``models--org--name`` folders)."""
    from kvplan.sources.hf_cache import hf_hub_cache_dir

    root = hf_hub_cache_dir(environ)
    try:
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("models--"))
    except OSError:
        return []
    return [name[len("models--"):].replace("--", "/", 1) for name in names if name.count("--") >= 2]


def candidates(refs: Sequence[str], settings: DeploySettings, environ: Mapping[str, str]) -> list[Candidate]:
    """Each model as ``kvplan check`` would read it offline (HF cache, else the bundled catalog); what kvplan
    refuses to plan becomes a candidate with the reason, never an exception."""
    from kvplan.api import weights_for
    from kvplan.core.architectures import model_spec_from_config
    from kvplan.sources.resolve import resolve_model

    out: list[Candidate] = []
    for ref in dict.fromkeys(refs):
        try:
            source = resolve_model(ref, environ=environ, allow_network=False)
            model = model_spec_from_config(source.config, source.extra_configs)
            weights = weights_for(source, model, settings.quantization)
        except KvplanError as err:
            out.append(Candidate(ref=ref, model=None, weights=None, refused=err.one_line()))
            continue
        params = weights.param_count if weights is not None else None
        out.append(Candidate(ref=ref, model=model, weights=weights, param_count=params, family=model.model_type))
    return out


def keep(candidate: Candidate, *, max_params: int | None, family: str | None) -> bool:
    """--max-params and --family: a model with an unknown parameter count is kept (said in its row)."""
    if max_params is not None and candidate.param_count is not None and candidate.param_count > max_params:
        return False
    if family is not None:
        wanted = family.lower().replace("-", "").replace("_", "")
        names = (candidate.family, candidate.ref)
        if not any(wanted in n.lower().replace("-", "").replace("_", "") for n in names):
            return False
    return True


def calibration(environ: Mapping[str, str]) -> Callable[[str, GpuSpec, DeploySettings], Estimate | None] | None:
    """The calibration store's measured overheads, as ``kvplan check`` uses them; None when the store is empty."""
    from kvplan.probe.calibration import lookup_overhead, model_key, read_records

    try:
        records = read_records(environ)
    except UsageError:
        return None
    models = {r.get("model") for r in records}
    if not models:
        return None

    def measured(ref: str, gpu: GpuSpec, settings: DeploySettings) -> Estimate | None:
        if model_key(ref) not in models:
            return None
        return lookup_overhead(ref, None, gpu, settings, environ)[0]

    return measured


# --- the two tables --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BoxResult:
    box: Box
    settings: DeploySettings
    utilization: float
    rows: list[ModelRow]
    filtered_out: int
    query: BoxQuery


def run_box(box: Box, settings: DeploySettings, refs: Sequence[str], environ: Mapping[str, str], *,
            min_context: int | None, concurrency: float | None, max_params: int | None, family: str | None,
            fixed_tp: int | None, utilization: float) -> BoxResult:
    found = candidates(refs, settings, environ)
    kept = [c for c in found if keep(c, max_params=max_params, family=family)]
    query = BoxQuery(settings=settings, gpu_count=box.count, min_context=min_context, concurrency=concurrency,
                     fixed_tp=fixed_tp)
    measured = calibration(environ)
    by_ref: Callable[[Candidate, GpuSpec, DeploySettings], Estimate | None] | None = None
    if measured is not None:
        def by_ref(c: Candidate, gpu: GpuSpec, s: DeploySettings) -> Estimate | None:
            return measured(c.ref, gpu, s)
    rows = [plan_box_model(c, query, box.spec_for, by_ref) for c in kept]
    return BoxResult(box=box, settings=settings, utilization=utilization, rows=rank(rows),
                     filtered_out=len(found) - len(kept), query=query)


def rank(rows: Sequence[ModelRow]) -> list[ModelRow]:
    """Fits first, the largest model first (then the longest context), then what does not fit, then what kvplan
    cannot plan; names break ties."""
    def key(row: ModelRow) -> tuple[int, int, int, str]:
        group = 0 if row.fits else 1 if row.plannable else 2
        return group, -(row.param_count or 0), -row.max_model_len, row.ref.lower()

    return sorted(rows, key=key)


@dataclass(frozen=True, kw_only=True)
class FleetResult:
    ref: str
    max_position_tokens: int
    target_length: int
    concurrency: float | None
    rows: list[FleetRow]
    names: dict[str, str]  # catalog key -> marketing name
    notes: dict[str, str]  # catalog key -> what kvplan does not mirror there


def fleet_gpus(keys: str | None) -> list[tuple[str, GpuSpec, str, str | None]]:
    """(key, spec, name, note) for the catalog GPUs, or those --gpus names (any spelling the catalog takes)."""
    from kvplan.gpu.catalog import catalog_gpu_spec, get_gpu, list_gpus

    if keys is None:
        chosen = list_gpus()
    else:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise UsageError(f"--gpus: name catalog GPUs, e.g. h100,l40s,mi300x (got '{keys}')")
        chosen = list(dict.fromkeys(get_gpu(part) for part in parts))
    return [(g.key, catalog_gpu_spec(g.key, 1), g.name, g.note) for g in chosen]


def run_fleet(ref: str, model: ModelSpec, weights: WeightsInfo | None, settings: DeploySettings,
              gpus_flag: str | None, *, target_length: int | None, concurrency: float | None,
              environ: Mapping[str, str]) -> FleetResult:
    gpus = fleet_gpus(gpus_flag)
    length = min(target_length or model.max_position_tokens, model.max_position_tokens)
    measured = calibration(environ)
    by_key: Callable[[str, GpuSpec, DeploySettings], Estimate | None] | None = None
    if measured is not None:
        def by_key(_key: str, gpu: GpuSpec, s: DeploySettings) -> Estimate | None:
            return measured(ref, gpu, s)
    rows = plan_fleet(model, weights, replace(settings, tensor_parallel_size=1, pipeline_parallel_size=1),
                      [(key, spec) for key, spec, _n, _note in gpus], target_length=length,
                      concurrency=concurrency, measured_for=by_key)
    refusals = [row.deployment.refused for row in rows]
    if refusals and all(refusals):
        # nothing in the table plans (the release does not serve the architecture, say): the input is unusable,
        # as `check` and `recommend --gpu` say with exit 2 (the table showed one '-' row and exited 1)
        raise UsageError(str(refusals[0]))
    return FleetResult(ref=ref, max_position_tokens=model.max_position_tokens, target_length=length,
                       concurrency=concurrency, rows=rows, names={k: n for k, _s, n, _note in gpus},
                       notes={k: note for k, _s, _n, note in gpus if note})


def gib(value: int | None) -> float | None:
    return None if value is None else round(value / GiB, 2)
