"""Find a model's config and weight bytes: local path > HF cache > Hub > bundled catalog.

The cheap, exact sources come first, so a model already on disk never touches the network or imports
huggingface_hub. The catalog is the last resort, and using it always leaves a visible note saying why.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from kvplan.core.errors import AccessError, KvplanError, ModelNotFoundError, NetworkError
from kvplan.core.weights import WeightsInfo
from kvplan.sources import catalog
from kvplan.sources.hf_cache import REPO_ID, hf_hub_cache_dir, read_hf_cache
from kvplan.sources.hub import fetch_from_hub, hub_offline, hub_settings
from kvplan.sources.local import read_local_model
from kvplan.sources.types import ResolvedModel


def resolve_model(
    ref: str,
    *,
    revision: str | None = None,
    environ: Mapping[str, str] = os.environ,
    allow_network: bool = True,
) -> ResolvedModel:
    """The model ``ref`` names: a local directory or config.json, else a Hub id at ``revision``.

    Raises ``ModelNotFoundError`` when no source has it, ``AccessError`` / ``NetworkError`` when the Hub
    refused or could not be reached and the catalog has no entry to fall back on, ``ConfigError`` when a
    config was found but cannot be read.
    """
    if not ref.strip():  # Path("") is the current directory: never read it by accident
        raise ModelNotFoundError("no model given", hint="Pass a model directory, a config.json or a Hub id")
    path = Path(os.path.expanduser(ref))  # unlike Path.expanduser, leaves "~nosuchuser" as it is
    try:
        exists = path.exists()
    except OSError:  # a name too long for a path (ENAMETOOLONG) is no local model: say so, not a traceback
        exists = False
    if exists:
        model = read_local_model(path, ref=ref)
        if revision:
            model = _with_note(model, f"--revision {revision} ignored: {ref} is a local path")
        return model
    ref = ref.strip().rstrip("/")  # "org/name/" as pasted from a browser
    if not REPO_ID.match(ref):
        raise ModelNotFoundError(
            f"{ref}: no such file or directory, and not a Hub model id",
            hint="Pass a model directory, a config.json, or a Hub id such as Qwen/Qwen2.5-7B-Instruct",
        )

    tried = [f"no local path '{ref}'"]
    cached = read_hf_cache(ref, revision=revision, environ=environ)
    if cached is not None:
        return cached
    at = f"@{revision}" if revision else ""
    tried.append(f"not in the HF cache ({hf_hub_cache_dir(environ)})")

    hub_error: KvplanError | None = None
    offline = hub_offline(environ)
    if offline:
        tried.append("Hub skipped (HF_HUB_OFFLINE is set)")
    elif not allow_network:
        tried.append("Hub skipped (network not allowed)")
    else:
        try:
            return fetch_from_hub(ref, revision=revision, environ=environ)
        except (NetworkError, AccessError, ModelNotFoundError) as exc:
            hub_error = exc
            tried.append(f"Hub: {exc.message}")

    entry = catalog.find(ref)
    note = _fallback_note(ref, hub_error, offline=offline, has_token=hub_settings(environ).token is not None)
    if entry is not None and note is not None:
        if revision:
            note += f" (revision {revision} not checked: the catalog holds one snapshot)"
        return _from_catalog(ref, entry, note)
    if isinstance(hub_error, NetworkError | AccessError):
        raise hub_error
    raise ModelNotFoundError(f"{ref}{at} not found: {'; '.join(tried)}", hint=_next_step(offline, allow_network))


def _fallback_note(ref: str, hub_error: KvplanError | None, *, offline: bool, has_token: bool) -> str | None:
    """Why the catalog answers, or None when it must not (the Hub said the repo or revision is not there)."""
    if hub_error is None:
        why = "HF_HUB_OFFLINE is set" if offline else "network not allowed"
        return f"{why} and {ref} is not in the HF cache: using the bundled catalog entry"
    if isinstance(hub_error, NetworkError):
        return f"Hub unreachable ({hub_error.message}): using the bundled catalog entry"
    if isinstance(hub_error, AccessError) and not has_token:
        return f"{ref} is gated and HF_TOKEN is not set: using the bundled catalog entry"
    return None


def catalog_weights(entry: catalog.CatalogEntry) -> WeightsInfo | None:
    """A catalog entry's weights as `check` takes them: a size counted from the config is an estimate and says
    so; a stored index size is exact."""
    if entry.weights_bytes is None:
        return None
    counted = entry.weights_source.startswith("counted from config")
    return WeightsInfo(
        total_bytes=entry.weights_bytes,
        source="counted from config" if counted else "catalog",
        exact=not counted,
        param_count=entry.param_count,
    )


def _from_catalog(ref: str, entry: catalog.CatalogEntry, note: str) -> ResolvedModel:
    weights = catalog_weights(entry)
    return ResolvedModel(
        ref=ref,
        config=dict(entry.config),
        config_source="catalog",
        location=entry.source_url,
        weights=weights,
        extra_configs=entry.extra_configs,
        notes=(note,),
    )


def _next_step(offline: bool, allow_network: bool) -> str:
    steps = "Check the model id, pass a local model directory, or set HF_TOKEN for a private or gated repo"
    if offline:
        return steps + "; unset HF_HUB_OFFLINE to ask the Hub"
    if not allow_network:
        return steps + "; allow network access to ask the Hub"
    return steps


def _with_note(model: ResolvedModel, note: str) -> ResolvedModel:
    return dataclasses.replace(model, notes=(*model.notes, note))
