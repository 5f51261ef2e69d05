"""The calibration store: what ``kvplan probe`` measured, one JSON object per line, for ``check`` to reuse.

A record's ``non_kv_bytes`` is ``budget - measured available KV memory`` on a real GPU: everything vLLM
kept for itself (weights, activation peak, non-torch buffers, CUDA graphs). That sum does not depend on
``gpu_memory_utilization``, the block size or ``--kv-cache-memory`` (they only size the KV cache), so those
are left out of the key and one probe calibrates every utilisation of the same deployment.

Several probes may append at once: each record is one ``os.write`` on an ``O_APPEND`` descriptor under an
exclusive ``flock``, and readers skip a line they cannot parse rather than fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kvplan.core.errors import UsageError
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB

SCHEMA = 1
STORE_NAME = "calibration.jsonl"
# DeploySettings fields that change vLLM's non-KV memory (see the module docstring for what is left out).
KEY_SETTINGS = (
    "platform", "entrypoint", "max_model_len", "tensor_parallel_size", "pipeline_parallel_size", "dtype",
    "kv_cache_dtype", "quantization", "max_num_seqs", "max_num_batched_tokens", "enforce_eager",
    "enable_chunked_prefill", "enable_prefix_caching", "speculative_config",
)


def store_path(environ: Mapping[str, str] = os.environ) -> Path:
    from kvplan.sources.hf_cache import kvplan_cache_dir

    return kvplan_cache_dir(environ) / STORE_NAME


def model_key(model_ref: str) -> str:
    """Local paths by their absolute form (``./m`` and ``/abs/m`` are one model); Hub ids as typed."""
    path = Path(model_ref).expanduser()
    return str(path.resolve()) if path.exists() else model_ref


def gpu_key(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` (torch, NVML) and ``h100 80gb hbm3`` name the same card."""
    text = " ".join(name.lower().split())
    return text.removeprefix("nvidia ").strip()


def settings_key(settings: DeploySettings) -> dict[str, Any]:
    """The settings that change what vLLM keeps outside the KV cache, as JSON values (a drafter brings its
    own weights and activations: records made without one never stand for a check with one)."""
    key = {name: getattr(settings, name) for name in KEY_SETTINGS if name != "speculative_config"}
    key["speculative_config"] = settings.speculative.vllm_config() if settings.speculative else None
    return key


@contextlib.contextmanager
def _locked(fd: int, exclusive: bool) -> Iterator[None]:
    if sys.platform == "win32":  # no flock there; appends of one write are still whole lines
        yield
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def append_record(record: dict[str, Any], environ: Mapping[str, str] = os.environ) -> Path:
    path = store_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with _locked(fd, exclusive=True):
            written = 0
            while written < len(data):  # one write in practice; the loop only guards a short write
                written += os.write(fd, data[written:])
    finally:
        os.close(fd)
    return path


# The types kvplan writes, for the fields its readers use.
_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,), "gpu": (str,), "created": (str,), "vllm_version": (str,), "status": (str,),
    "revision": (str, type(None)), "settings": (dict,), "measured": (dict,),
    "non_kv_bytes": (int, type(None)), "non_kv_error_bytes": (int, type(None)),
    "elapsed_s": (int, float), "budget_bytes": (int, type(None)),
}


def _well_formed(item: object) -> bool:
    """A record whose fields have the types kvplan writes; anything else (an edited or foreign line) is skipped."""
    if not isinstance(item, dict) or item.get("schema") != SCHEMA:
        return False
    for key, allowed in _RECORD_TYPES.items():
        value = item.get(key)
        if key in item and (not isinstance(value, allowed) or isinstance(value, bool)):
            return False
    return True


def read_records(environ: Mapping[str, str] = os.environ) -> list[dict[str, Any]]:
    path = store_path(environ)
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            with _locked(fd, exclusive=False), os.fdopen(os.dup(fd), "rb") as stream:
                raw = stream.read()
        finally:
            os.close(fd)
    except FileNotFoundError:
        return []
    except OSError as err:  # a directory in its place, a cache dir that is a file, no permission
        raise UsageError(f"cannot read the calibration store {path}: {err.strerror or err}",
                         hint="Remove or fix it, or point KVPLAN_CACHE_DIR elsewhere") from None
    records = []
    for line in raw.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            item = json.loads(line)
            if _well_formed(item):
                records.append(item)
    return records


def clear_records(environ: Mapping[str, str] = os.environ) -> int:
    """Empty the store (under the same lock as appends); the number of records it held."""
    path = store_path(environ)
    try:
        fd = os.open(path, os.O_RDWR)
        try:
            with _locked(fd, exclusive=True):
                count = sum(1 for line in os.fdopen(os.dup(fd), "rb") if line.strip())
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return 0
    except OSError as err:
        raise UsageError(f"cannot clear the calibration store {path}: {err.strerror or err}") from None
    return count


def make_record(
    *,
    model_ref: str,
    revision: str | None,
    device: str,
    gpu_total_bytes: int | None,
    vllm_version: str,
    settings: DeploySettings,
    measured: dict[str, Any],
    budget_bytes: int | None,
    available_error_bytes: int,
    status: str,
    predicted_tokens: int | None,
    elapsed_s: float,
) -> dict[str, Any]:
    """One store line. ``non_kv_bytes`` is None where it means nothing: CPU, or ``--kv-cache-memory`` set."""
    available = measured.get("available_kv_cache_bytes")
    non_kv = None
    if (budget_bytes is not None and isinstance(available, int) and settings.kv_cache_memory_bytes is None
            and settings.platform == "cuda"):
        non_kv = budget_bytes - available
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": model_key(model_ref),
        "revision": revision,
        "gpu": device,
        "gpu_total_bytes": gpu_total_bytes,
        "vllm_version": vllm_version,
        "settings": settings_key(settings),
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "kv_cache_memory_bytes": settings.kv_cache_memory_bytes,
        "status": status,
        "measured": measured,
        "budget_bytes": budget_bytes,
        "non_kv_bytes": non_kv,
        "non_kv_error_bytes": available_error_bytes if non_kv is not None else None,
        "predicted_tokens": predicted_tokens,
        "elapsed_s": round(elapsed_s, 2),
    }


def _differences(record: dict[str, Any], version: str, settings: dict[str, Any]) -> list[str]:
    diffs = []
    if record.get("vllm_version") != version:
        diffs.append(f"--vllm-version {record.get('vllm_version')} (this check: {version})")
    recorded = record.get("settings") or {}
    for name in KEY_SETTINGS:
        if recorded.get(name) != settings[name]:
            flag = "--" + name.replace("_", "-")
            diffs.append(f"{flag} {recorded.get(name)} (this check: {settings[name]})")
    return diffs


def lookup_overhead(model_ref: str, revision: str | None, gpu: GpuSpec, settings: DeploySettings,
                    environ: Mapping[str, str]) -> tuple[Estimate | None, str | None]:
    """The newest matching record's measured non-KV memory, and a note saying it was used (or why not)."""
    if settings.platform != "cuda" or settings.kv_cache_memory_bytes is not None:
        return None, None
    try:
        stored = read_records(environ)
    except UsageError as err:  # a broken store must not stop a check: plan without it, and say so
        return None, f"calibration not used: {err.one_line()}"
    records = [r for r in stored
               if r.get("model") == model_key(model_ref) and r.get("revision") == revision
               and gpu_key(str(r.get("gpu", ""))) == gpu_key(gpu.name) and isinstance(r.get("non_kv_bytes"), int)]
    if not records:
        return None, None
    wanted = settings_key(settings)
    exact = [r for r in records if not _differences(r, settings.vllm_version, wanted)]
    path = store_path(environ)
    if not exact:
        near = min(reversed(records), key=lambda r: len(_differences(r, settings.vllm_version, wanted)))
        diffs = "; ".join(_differences(near, settings.vllm_version, wanted))
        return None, f"a calibration record for this model on {gpu.name} was not used: it was measured with {diffs}"
    newest = exact[-1]
    values = [int(r["non_kv_bytes"]) for r in exact]
    # Repeated probes of one deployment differ by allocator noise: keep that spread as the error bar.
    error = max(max(values) - min(values), int(newest.get("non_kv_error_bytes") or 0))
    origin = str(newest.get("source") or "kvplan probe")  # `kvplan explain --record` writes "kvplan explain"
    source = f"measured: {origin} {newest.get('created', '?')}, vLLM {newest.get('vllm_version')}"
    note = (f"calibrated: non-KV memory {newest['non_kv_bytes'] / GiB:.2f} GiB measured by {origin} "
            f"({newest.get('created', '?')}, vLLM {newest.get('vllm_version')}, {newest.get('gpu')}) replaces "
            f"kvplan's estimate; {len(exact)} record(s) in {path}")
    return Estimate(value_bytes=int(newest["non_kv_bytes"]), error_bytes=error, source=source), note
