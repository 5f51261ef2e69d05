"""What a model source hands to the core: the raw config (data, never code) and weight bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvplan.core.weights import WeightsInfo


@dataclass(frozen=True, kw_only=True)
class ResolvedModel:
    ref: str  # what the user typed
    config: dict[str, Any]  # config.json as parsed (json.loads; Infinity/NaN accepted, as Python's json does)
    config_source: str  # "local" | "hf-cache" | "hub" | "catalog"
    location: str  # path or URL, never with a token in it
    revision: str | None = None
    weights: WeightsInfo | None = None
    extra_configs: dict[str, dict[str, Any]] | None = None  # e.g. hf_quant_config.json (ModelOpt) when present
    notes: tuple[str, ...] = ()  # visible notes, e.g. "Hub unreachable: used the bundled catalog"
