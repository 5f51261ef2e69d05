"""Weight bytes of a checkpoint, with the source of the figure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class WeightsInfo:
    """Bytes of the stored checkpoint (all ranks together) and where the figure came from.

    ``source`` is one of: "safetensors headers", "safetensors index total_size",
    "hub safetensors metadata", "catalog", "counted from config" (an estimate, labelled so).
    ``bytes_by_dtype`` maps safetensors dtype names (``BF16``, ``F8_E4M3``, ``U8``...) to bytes, when known.
    """

    total_bytes: int
    source: str
    exact: bool = True
    param_count: int | None = None
    bytes_by_dtype: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
