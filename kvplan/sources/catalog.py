"""Bundled catalog of popular models: config fields, weight bytes and the public source of each.

The data is ``kvplan/data/catalog.json``, built by ``tools/build_catalog.py`` from the copies of the
published files in ``tests/data/catalog_sources/``. Loaded once, on first use.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    name: str  # "Qwen/Qwen2.5-7B-Instruct"
    config: dict[str, Any]  # only the config fields the planner needs
    weights_bytes: int | None
    weights_source: str  # e.g. "safetensors index total_size (url)" or "counted from config"
    source_url: str
    param_count: int | None = None  # counted from the config (kvplan.core.params), None when unsupported
    extra_configs: dict[str, dict[str, Any]] | None = None  # e.g. {"hf_quant_config.json": {...}} (ModelOpt)


@cache
def _entries() -> dict[str, CatalogEntry]:
    text = resources.files("kvplan").joinpath("data/catalog.json").read_text(encoding="utf-8")
    out: dict[str, CatalogEntry] = {}
    for raw in json.loads(text)["models"]:
        entry = CatalogEntry(
            name=raw["name"],
            config=raw["config"],
            weights_bytes=raw.get("weights_bytes"),
            weights_source=raw.get("weights_source", "unknown"),
            source_url=raw["source_url"],
            param_count=raw.get("param_count"),
            extra_configs=raw.get("extra_configs"),
        )
        out[entry.name.lower()] = entry
    return out


def _key(ref: str) -> str:
    ref = ref.strip().rstrip("/")
    if "/" not in ref and "__" in ref:
        ref = ref.replace("__", "/", 1)
    return ref.lower()


def find(ref: str) -> CatalogEntry | None:
    """Case-insensitive lookup by Hub id (``org/name``; ``org__name`` and a trailing ``/`` accepted)."""
    entry = _entries().get(_key(ref))
    return None if entry is None else replace(entry, config=copy.deepcopy(entry.config))


def names() -> list[str]:
    """Hub ids of every catalog entry, sorted case-insensitively."""
    return sorted((e.name for e in _entries().values()), key=str.lower)
