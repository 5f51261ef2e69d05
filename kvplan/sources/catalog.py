"""Bundled catalog of popular models (stub: replaced by the catalog builder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    name: str  # "Qwen/Qwen2.5-7B-Instruct"
    config: dict[str, Any]  # only the config fields the planner needs
    weights_bytes: int | None
    weights_source: str  # e.g. "safetensors index total_size (url)" or "counted from config"
    source_url: str


def find(ref: str) -> CatalogEntry | None:
    """Case-insensitive lookup by Hub id."""
    return None


def names() -> list[str]:
    return []
