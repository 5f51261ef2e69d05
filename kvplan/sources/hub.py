"""The Hugging Face Hub through huggingface_hub, imported inside functions (its download stack costs ~150 ms).

Endpoint, token and cache directory come from the ``environ`` mapping and are passed to huggingface_hub
explicitly, because huggingface_hub reads its own variables once, at import time. ``config.json`` goes
through ``hf_hub_download`` (so it lands in the HF cache, where ``hf_cache`` finds it next time); weight bytes
come from ``get_safetensors_metadata`` (shard headers by range request, no weight download) and are kept in
kvplan's cache by commit. Foreign errors become kvplan errors here; a token never reaches a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from kvplan.core.errors import AccessError, ConfigError, KvplanError, ModelNotFoundError, NetworkError, UsageError
from kvplan.core.weights import WeightsInfo
from kvplan.sources.hf_cache import hf_hub_cache_dir, load_hub_weights, save_hub_weights
from kvplan.sources.local import CONFIG_FILE, EXTRA_CONFIG_FILES, read_json_object
from kvplan.sources.safetensors import summarize
from kvplan.sources.types import ResolvedModel

if TYPE_CHECKING:
    from huggingface_hub import HfApi

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub.constants.ENV_VARS_TRUE_VALUES
_TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{10,}")  # belt and braces: the shape of Hub user tokens
_TRANSPORT_MODULES = {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3", "h11", "ssl"}


@dataclass(frozen=True, kw_only=True)
class HubSettings:
    endpoint: str
    token: str | None
    cache_dir: Path

    @property
    def public_endpoint(self) -> str:
        """The endpoint without any ``user:password@`` part, fit for messages and ``location``."""
        parts = urlsplit(self.endpoint)
        host = parts.netloc.rpartition("@")[2]
        shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
        return shown.replace(self.token, "***") if self.token else shown


def hub_settings(environ: Mapping[str, str] = os.environ) -> HubSettings:
    # HUGGING_FACE_HUB_TOKEN is the legacy spelling huggingface_hub still honours. With no token here,
    # huggingface_hub falls back to the one saved by `hf auth login`.
    token = environ.get("HF_TOKEN") or environ.get("HUGGING_FACE_HUB_TOKEN") or None
    if token is not None and not (token.isascii() and token.isprintable()):
        # It goes into an HTTP header, where it cannot be sent; say so rather than fail in http.client.
        raise UsageError("HF_TOKEN holds characters a Hub token never has (non-ASCII or control characters)",
                         hint="Copy the token again from https://huggingface.co/settings/tokens")
    return HubSettings(
        endpoint=(environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
        token=token,
        cache_dir=hf_hub_cache_dir(environ),
    )


def hub_offline(environ: Mapping[str, str] = os.environ) -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is truthy, as huggingface_hub reads them."""
    value = environ.get("HF_HUB_OFFLINE") or environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in _TRUE


def fetch_from_hub(
    repo_id: str,
    *,
    revision: str | None = None,
    environ: Mapping[str, str] = os.environ,
    ref: str | None = None,
) -> ResolvedModel:
    """config.json, side configs and weight bytes of ``repo_id`` at ``revision`` from the Hub."""
    settings = hub_settings(environ)
    if hub_offline(environ):
        raise NetworkError(f"HF_HUB_OFFLINE is set: the Hub was not asked for {repo_id}")
    try:
        return _fetch(repo_id, revision, settings, environ, ref)
    except KvplanError:
        raise
    except Exception as exc:
        error = translate_hub_error(exc, repo_id=repo_id, revision=revision, settings=settings)
        if error is None:
            raise  # not a Hub failure we know: a bug, so keep the traceback
        raise error from exc


def _fetch(
    repo_id: str, revision: str | None, settings: HubSettings, environ: Mapping[str, str], ref: str | None
) -> ResolvedModel:
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    # One HEAD without retries first: when the Hub is down, hf_hub_download retries with back-off for ~20 s
    # before giving up, and kvplan has a catalog to fall back on. On success it costs one round trip.
    url = hf_hub_url(repo_id, CONFIG_FILE, revision=revision, endpoint=settings.endpoint)
    get_hf_file_metadata(url, token=settings.token)
    # The branch or tag itself (not the commit) goes to hf_hub_download, so it records refs/<revision> in the
    # cache and the next run finds the snapshot offline.
    config_path = Path(
        hf_hub_download(
            repo_id,
            CONFIG_FILE,
            revision=revision,
            cache_dir=settings.cache_dir,
            endpoint=settings.endpoint,
            token=settings.token,
        )
    )
    commit = config_path.parent.name  # .../snapshots/<commit>/config.json
    return ResolvedModel(
        ref=ref if ref is not None else repo_id,
        config=read_json_object(config_path),
        config_source="hub",
        location=f"{settings.public_endpoint}/{repo_id}/blob/{commit}/{CONFIG_FILE}",
        revision=commit,
        weights=_weights(repo_id, commit, settings, environ),
        extra_configs=_extra_configs(repo_id, commit, settings),
    )


def _extra_configs(repo_id: str, commit: str, settings: HubSettings) -> dict[str, dict[str, Any]] | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    found: dict[str, dict[str, Any]] = {}
    for name in EXTRA_CONFIG_FILES:
        try:
            path = hf_hub_download(
                repo_id,
                name,
                revision=commit,
                cache_dir=settings.cache_dir,
                endpoint=settings.endpoint,
                token=settings.token,
            )
        except EntryNotFoundError as exc:
            if isinstance(exc, LocalEntryNotFoundError):  # the Hub went away mid-run: not "absent"
                raise
            continue  # most repos have no hf_quant_config.json
        found[name] = read_json_object(Path(path))
    return found or None


def _weights(repo_id: str, commit: str, settings: HubSettings, environ: Mapping[str, str]) -> WeightsInfo | None:
    found, cached = load_hub_weights(repo_id, commit, environ)
    if found:
        return cached
    from huggingface_hub.errors import NotASafetensorsRepoError

    try:
        meta = _api(settings).get_safetensors_metadata(repo_id, revision=commit)
    except NotASafetensorsRepoError:  # .bin or GGUF only: the planner counts weights from the config instead
        weights = None
    else:
        headers = [
            {
                name: {
                    "dtype": info.dtype,
                    "shape": list(info.shape),
                    "data_offsets": list(info.data_offsets),
                }
                for name, info in file_meta.tensors.items()
            }
            for file_meta in meta.files_metadata.values()
        ]
        totals = summarize(headers, where=f"{repo_id}@{commit[:12]} safetensors headers")
        weights = totals.to_weights(source="hub safetensors metadata")
    save_hub_weights(repo_id, commit, weights, environ)
    return weights


def _api(settings: HubSettings) -> HfApi:
    from huggingface_hub import HfApi

    cache_dir = str(settings.cache_dir)

    class _CacheDirApi(HfApi):
        # get_safetensors_metadata fetches a sharded repo's index with self.hf_hub_download and no cache_dir,
        # i.e. into the cache huggingface_hub chose at import time; send it to the one `environ` names.
        def hf_hub_download(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("cache_dir", cache_dir)
            return super().hf_hub_download(*args, **kwargs)

    return _CacheDirApi(endpoint=settings.endpoint, token=settings.token)


def translate_hub_error(
    exc: BaseException, *, repo_id: str, revision: str | None, settings: HubSettings
) -> KvplanError | None:
    """The kvplan error for a huggingface_hub / transport failure, or None for anything unexpected."""
    from huggingface_hub import errors as hf

    remote_missing = getattr(hf, "RemoteEntryNotFoundError", hf.EntryNotFoundError)
    where = settings.public_endpoint
    reason = _reason(exc, settings.token)
    if isinstance(exc, hf.GatedRepoError):
        return AccessError(
            f"{repo_id} is gated or private: accept its licence on the Hub and set HF_TOKEN",
            hint="HF_TOKEN is set: check that its account accepted the licence" if settings.token else None,
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return ModelNotFoundError(
            f"revision '{revision}' of {repo_id} not found on the Hub",
            hint="Pass a branch, tag or commit hash",
        )
    if isinstance(exc, hf.RepositoryNotFoundError):
        return ModelNotFoundError(
            f"{repo_id} not found on the Hub ({where})",
            hint="Check the model id, or pass a local model directory; for a private repo set HF_TOKEN",
        )
    if isinstance(exc, hf.LocalEntryNotFoundError):  # no answer from the Hub and nothing in the cache
        cause = exc.__cause__  # why there was no answer, when huggingface_hub kept it
        if cause is not None:
            inner = translate_hub_error(cause, repo_id=repo_id, revision=revision, settings=settings)
            if inner is not None:
                return inner
        return NetworkError(f"cannot reach the Hub at {where} ({reason})", hint=_NETWORK_HINT)
    if isinstance(exc, remote_missing):
        return ConfigError(
            f"{repo_id} has no {CONFIG_FILE} on the Hub",
            hint="kvplan reads transformers-style configs; GGUF-only and diffusers repos are not supported",
        )
    if isinstance(exc, hf.HfHubHTTPError):
        return _from_status(exc, repo_id=repo_id, where=where, token=settings.token)
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return NetworkError("huggingface_hub is in offline mode (HF_HUB_OFFLINE was set when it was imported)")
    if isinstance(exc, hf.FileMetadataError):
        return NetworkError(
            f"{where} did not answer like a Hugging Face Hub ({reason})",
            hint="Check HF_ENDPOINT and any proxy between you and the Hub",
        )
    if isinstance(exc, hf.SafetensorsParsingError):
        return ConfigError(f"{repo_id}: unreadable safetensors header on the Hub ({reason})")
    if isinstance(exc, hf.HFValidationError):
        return ModelNotFoundError(f"'{repo_id}' is not a valid Hub repo id ({reason})")
    if _is_transport_error(exc):
        return NetworkError(f"cannot reach the Hub at {where} ({reason})", hint=_NETWORK_HINT)
    if isinstance(exc, OSError) and exc.filename is not None:  # the disk, not the Hub: e.g. a read-only cache
        return KvplanError(
            f"cannot write to the HF cache at {settings.cache_dir} ({reason})",
            hint="Set HF_HUB_CACHE to a writable directory",
        )
    return None


_NETWORK_HINT = "Check the connection, HF_ENDPOINT and proxies, or pass a local model directory"


def _from_status(exc: BaseException, *, repo_id: str, where: str, token: str | None) -> KvplanError:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    server_says = str(getattr(response, "headers", {}).get("X-Error-Message", ""))
    if status == 401 and "invalid credentials" in server_says.lower():
        return AccessError("the Hub refused the token (invalid credentials)", hint="Set HF_TOKEN to a valid token")
    if status in (401, 403):
        return AccessError(
            f"{repo_id} is gated or private: accept its licence on the Hub and set HF_TOKEN",
            hint="HF_TOKEN is set: check that its account can read this repo" if token else None,
        )
    if status == 404:
        return ModelNotFoundError(f"{repo_id} not found on the Hub ({where})", hint="Check the model id")
    return NetworkError(f"the Hub at {where} answered HTTP {status} for {repo_id}", hint="Try again later")


def _is_transport_error(exc: BaseException) -> bool:
    # Checked by module rather than imported: huggingface_hub moved from requests to httpx to httpx2 across
    # the versions kvplan accepts, and importing the wrong one would fail.
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return any(cls.__module__.split(".")[0] in _TRANSPORT_MODULES for cls in type(exc).__mro__)


def _reason(exc: BaseException, token: str | None) -> str:
    """The innermost cause's first line, short and scrubbed of tokens."""
    inner: BaseException = exc
    while inner.__cause__ is not None and inner.__cause__ is not inner:
        inner = inner.__cause__
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    text = lines[0] if lines else type(inner).__name__
    return scrub(text[:160], token)


def scrub(text: str, token: str | None) -> str:
    """Remove a token (and anything shaped like a Hub token) from text meant for people."""
    if token:
        text = text.replace(token, "***")
    return _TOKEN_SHAPE.sub("hf_***", text)
