"""A model directory or a config.json on disk: the config as data, ModelOpt's quant config, weight bytes.

Nothing here executes model code: config.json is parsed with ``json.loads`` (which accepts ``Infinity`` and
``NaN``, as transformers' configs sometimes contain), and weights are counted from safetensors headers.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from kvplan.core.errors import ConfigError, ModelNotFoundError
from kvplan.core.weights import WeightsInfo
from kvplan.sources import safetensors
from kvplan.sources.types import ResolvedModel

CONFIG_FILE = "config.json"
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
# ModelOpt (NVIDIA) checkpoints describe their quantization here rather than in config.json; vLLM reads it.
EXTRA_CONFIG_FILES = ("hf_quant_config.json",)
_SHARD_OF = re.compile(r"-(\d+)-of-(\d+)\.safetensors$")


def read_local_model(path: str | Path, *, ref: str | None = None) -> ResolvedModel:
    """Read a model directory (holding config.json) or a config.json path into a ResolvedModel."""
    given = Path(os.path.expanduser(path))  # unlike Path.expanduser, leaves "~nosuchuser" as it is
    if given.is_dir():
        config_path, model_dir = given / CONFIG_FILE, given
        if not config_path.is_file():
            raise ConfigError(
                f"{given}: no {CONFIG_FILE} in this directory",
                hint="Pass a Hugging Face model directory or the path of its config.json",
            )
    elif given.is_file():
        config_path, model_dir = given, given.parent
    else:
        raise ModelNotFoundError(f"{given}: no such file or directory")
    return ResolvedModel(
        ref=ref if ref is not None else str(path),
        config=read_json_object(config_path),
        config_source="local",
        location=str(config_path.resolve()),
        weights=weights_from_dir(model_dir),
        extra_configs=read_extra_configs(model_dir),
    )


def read_json_object(path: Path) -> dict[str, Any]:
    """Parse a JSON file that must hold an object; every failure is a one-line ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found a JSON {_json_kind(data)}")
    return data


def read_extra_configs(model_dir: Path) -> dict[str, dict[str, Any]] | None:
    """The side configs present next to config.json (e.g. hf_quant_config.json), keyed by file name."""
    found = {name: read_json_object(model_dir / name) for name in EXTRA_CONFIG_FILES if (model_dir / name).is_file()}
    return found or None


def weights_from_dir(model_dir: Path) -> WeightsInfo | None:
    """Weight bytes of the safetensors checkpoint in a directory, or None when there is none.

    Shard headers are read when every shard is present: they give bytes per dtype and a parameter count as
    well as the total. Without the shards (a directory holding only config and index, or a partial HF-cache
    snapshot), the index's ``metadata.total_size`` gives the total. Without an index, ``model.safetensors``
    alone is the checkpoint; only when that is absent are other ``*.safetensors`` files counted, because
    Mistral repos ship ``consolidated.safetensors`` beside the HF-format files, and summing both doubles.
    """
    index_path = model_dir / INDEX_FILE
    if index_path.is_file():
        index = read_json_object(index_path)
        shards = _index_shards(index, where=str(index_path))
        if shards and all((model_dir / shard).is_file() for shard in shards):
            return _from_headers([model_dir / shard for shard in shards], exact=True)
        total = _index_total_size(index, where=str(index_path))
        if total is not None:
            return WeightsInfo(total_bytes=total, source="safetensors index total_size", exact=True)
        return None
    single = model_dir / SINGLE_FILE
    if single.is_file():
        return _from_headers([single], exact=True)
    files = sorted(p for p in model_dir.glob("*.safetensors") if p.is_file())
    if not files:
        return None
    return _from_headers(files, exact=_all_shards_present(files))


def _from_headers(files: list[Path], *, exact: bool) -> WeightsInfo:
    headers = [safetensors.read_header(path) for path in files]
    totals = safetensors.summarize(headers, where=str(files[0].parent))
    return totals.to_weights(source="safetensors headers", exact=exact)


def _index_shards(index: dict[str, Any], *, where: str) -> list[str]:
    weight_map = index.get("weight_map")
    if weight_map is None:
        return []
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ConfigError(f"{where}: 'weight_map' must map tensor names to shard file names")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        # A shard name is a path inside the model directory; refuse one that would read elsewhere.
        parts = PurePosixPath(shard).parts
        if not parts or PurePosixPath(shard).is_absolute() or ".." in parts or "\\" in shard:
            raise ConfigError(f"{where}: shard name '{shard}' points outside the model directory")
    return shards


def _index_total_size(index: dict[str, Any], *, where: str) -> int | None:
    metadata = index.get("metadata")
    total = metadata.get("total_size") if isinstance(metadata, dict) else None
    if total is None:
        return None
    # Some exporters write total_size as a float (e.g. 15231233024.0); an integral float is still exact.
    if isinstance(total, float) and total.is_integer():
        total = int(total)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ConfigError(f"{where}: metadata.total_size must be a byte count, found {total!r}")
    return total


def _all_shards_present(files: list[Path]) -> bool:
    """False when file names say ``-0000k-of-0000n`` and fewer than n such shards are here."""
    counts: dict[str, set[int]] = {}
    for path in files:
        match = _SHARD_OF.search(path.name)
        if match:
            counts.setdefault(match.group(2), set()).add(int(match.group(1)))
    return all(len(seen) >= int(of) for of, seen in counts.items())


def _json_kind(value: Any) -> str:
    kinds = {
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }
    return kinds.get(type(value), type(value).__name__)
