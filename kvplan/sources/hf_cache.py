"""The huggingface_hub cache read straight from disk, plus kvplan's own cache of Hub weight metadata.

Importing huggingface_hub costs ~150 ms of the 0.3 s cold-start budget, so the cache layout is read directly::

    $HF_HUB_CACHE/models--org--name/refs/<branch or tag>     -> commit hash (text)
    $HF_HUB_CACHE/models--org--name/snapshots/<commit>/...   -> config.json, index, shards (symlinks to blobs)

huggingface_hub does not cache ``get_safetensors_metadata`` (it reads shard headers with range requests), so
kvplan keeps what it fetched as JSON, keyed by repo and commit: a second run needs no network at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kvplan.core.weights import WeightsInfo
from kvplan.sources.local import CONFIG_FILE, read_extra_configs, read_json_object, weights_from_dir
from kvplan.sources.types import ResolvedModel

DEFAULT_REVISION = "main"  # huggingface_hub.constants.DEFAULT_REVISION
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_COMMIT_PREFIX = re.compile(r"^[0-9a-f]{7,39}$")
# Hub repo ids: an optional namespace and a name of letters, digits, '-', '_' and '.' (huggingface_hub's
# validate_repo_id). Anything else cannot be in the cache, and must never become a path.
REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*$")
_CACHE_SCHEMA = 1


def hf_hub_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The hub cache directory, with huggingface_hub.constants' precedence of variables."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):  # the second is the legacy spelling
        if environ.get(name):
            return _expand(environ[name])
    if environ.get("HF_HOME"):
        return _expand(environ["HF_HOME"]) / "hub"
    return _xdg_cache(environ) / "huggingface" / "hub"


def kvplan_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """kvplan's cache: ``$KVPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/kvplan``, else ``~/.cache/kvplan``."""
    if environ.get("KVPLAN_CACHE_DIR"):
        return _expand(environ["KVPLAN_CACHE_DIR"])
    return _xdg_cache(environ) / "kvplan"


def read_hf_cache(
    repo_id: str,
    *,
    revision: str | None = None,
    environ: Mapping[str, str] = os.environ,
    ref: str | None = None,
) -> ResolvedModel | None:
    """The model at ``revision`` (branch, tag, full or short commit) from the HF cache, or None if absent."""
    if not REPO_ID.match(repo_id):
        return None
    repo_dir = hf_hub_cache_dir(environ) / ("models--" + repo_id.replace("/", "--"))
    commit = snapshot_commit(repo_dir, revision or DEFAULT_REVISION)
    if commit is None:
        return None
    snapshot = repo_dir / "snapshots" / commit
    config_path = snapshot / CONFIG_FILE
    if not config_path.is_file():
        return None
    return ResolvedModel(
        ref=ref if ref is not None else repo_id,
        config=read_json_object(config_path),
        config_source="hf-cache",
        location=str(snapshot),
        revision=commit,
        weights=_snapshot_weights(snapshot, repo_id, commit, environ),
        extra_configs=read_extra_configs(snapshot),
    )


def snapshot_commit(repo_dir: Path, revision: str) -> str | None:
    """The commit of a cached snapshot for a branch, tag or (possibly abbreviated) commit hash."""
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    if _COMMIT.match(revision):
        return revision if (snapshots / revision).is_dir() else None
    # Refs may hold slashes ("refs/pr/1"), as huggingface_hub writes them; never let one climb out of refs/.
    parts = revision.split("/")
    if all(part not in ("", ".", "..") for part in parts):
        ref_file = repo_dir.joinpath("refs", *parts)
        if ref_file.is_file():
            commit = _read_text(ref_file).strip()
            if _COMMIT.match(commit) and (snapshots / commit).is_dir():
                return commit
    if _COMMIT_PREFIX.match(revision):
        matches = [p.name for p in snapshots.iterdir() if p.name.startswith(revision) and _COMMIT.match(p.name)]
        if len(matches) == 1:
            return matches[0]
    return None


def load_hub_weights(
    repo_id: str, commit: str, environ: Mapping[str, str] = os.environ
) -> tuple[bool, WeightsInfo | None]:
    """(found, weights) from kvplan's Hub metadata cache; ``(True, None)`` records a repo with no safetensors.

    An unreadable or foreign entry is a miss, not an error: the cache is only a shortcut.
    """
    path = _hub_weights_path(repo_id, commit, environ)
    if path is None or not path.is_file():
        return False, None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry.get("schema") != _CACHE_SCHEMA or entry.get("repo_id") != repo_id or entry.get("commit") != commit:
            return False, None
        return True, _weights_from_json(entry["weights"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False, None


def save_hub_weights(
    repo_id: str, commit: str, weights: WeightsInfo | None, environ: Mapping[str, str] = os.environ
) -> None:
    """Record Hub weight metadata for ``repo_id`` at ``commit``; best effort (a read-only cache is fine)."""
    path = _hub_weights_path(repo_id, commit, environ)
    if path is None:
        return
    entry = {
        "schema": _CACHE_SCHEMA,
        "repo_id": repo_id,
        "commit": commit,
        "weights": _weights_to_json(weights),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(entry, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old entry or the new, never half
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _snapshot_weights(snapshot: Path, repo_id: str, commit: str, environ: Mapping[str, str]) -> WeightsInfo | None:
    # Headers of shards on disk are the richest figure; then what kvplan fetched from the Hub for this
    # commit (per dtype, parameters); the index's total_size alone comes last.
    on_disk = weights_from_dir(snapshot)
    if on_disk is not None and on_disk.source == "safetensors headers" and on_disk.exact:
        return on_disk
    found, fetched = load_hub_weights(repo_id, commit, environ)
    if found and fetched is not None:
        return fetched
    return on_disk


def _hub_weights_path(repo_id: str, commit: str, environ: Mapping[str, str]) -> Path | None:
    if not REPO_ID.match(repo_id) or not _COMMIT.match(commit):
        return None
    return kvplan_cache_dir(environ) / "hub-safetensors" / repo_id.replace("/", "--") / f"{commit}.json"


def _weights_to_json(weights: WeightsInfo | None) -> dict[str, Any] | None:
    if weights is None:
        return None
    return {
        "total_bytes": weights.total_bytes,
        "source": weights.source,
        "exact": weights.exact,
        "param_count": weights.param_count,
        "bytes_by_dtype": weights.bytes_by_dtype,
        "mtp_named_bytes": weights.mtp_named_bytes,
        "bytes_by_layer": {str(k): v for k, v in weights.bytes_by_layer.items()},
    }


def _weights_from_json(data: Any) -> WeightsInfo | None:
    if data is None:
        return None
    total, params, by_dtype = data["total_bytes"], data["param_count"], data["bytes_by_dtype"]
    if not isinstance(total, int) or not (params is None or isinstance(params, int)):
        raise TypeError("bad weights entry")
    if not all(isinstance(k, str) and isinstance(v, int) for k, v in by_dtype.items()):
        raise TypeError("bad bytes_by_dtype")
    # Entries written before kvplan kept tensor-name totals have neither key: names unknown (None).
    mtp, by_layer = data.get("mtp_named_bytes"), data.get("bytes_by_layer") or {}
    if not (mtp is None or isinstance(mtp, int)) or not all(
            isinstance(k, str) and k.isdigit() and isinstance(v, int) for k, v in by_layer.items()):
        raise TypeError("bad tensor-name totals")
    return WeightsInfo(
        total_bytes=total,
        source=str(data["source"]),
        exact=bool(data["exact"]),
        param_count=params,
        bytes_by_dtype=dict(by_dtype),
        mtp_named_bytes=mtp,
        bytes_by_layer={int(k): v for k, v in by_layer.items()},
    )


def _xdg_cache(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_CACHE_HOME")
    return _expand(xdg) if xdg else Path.home() / ".cache"


def _expand(value: str) -> Path:
    return Path(os.path.expandvars(value)).expanduser()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
