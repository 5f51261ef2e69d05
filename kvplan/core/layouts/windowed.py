"""Shared by the families whose decoder layers are full or sliding-window attention, picked per layer by
``layer_types`` (the Gemma 2 convention): ``config.sliding_window`` on "sliding_attention" layers, none on
the others. Not a layout of its own; family modules build on it."""

from __future__ import annotations

from collections.abc import Sequence

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.model import AttentionLayer

LAYER_TYPE_NAMES = ("full_attention", "sliding_attention")


def window(cfg: ConfigView, *keys: str) -> int | None:
    """The window a sliding layer gets (first of ``keys`` present, default ``sliding_window``); None if unset."""
    value = cfg.get(*(keys or ("sliding_window",)))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"config field {(keys or ('sliding_window',))[0]} must be a positive whole number, "
                          f"got {value!r}")
    return value


def layer_types(cfg: ConfigView, num_layers: int, default: Sequence[str] | None = None) -> list[str]:
    """``layer_types`` cut to ``num_layers`` (vLLM indexes it by layer), or ``default`` when the config has none."""
    types = cfg.data.get("layer_types")
    if types is None:
        if default is None:
            raise ConfigError(f"{cfg.model_type} config has no layer_types")
        types = list(default)
    if not isinstance(types, list) or len(types) < num_layers:
        got = len(types) if isinstance(types, list) else repr(types)
        raise ConfigError(f"layer_types lists {got} layers, num_hidden_layers is {num_layers}")
    unknown = sorted({str(t) for t in types[:num_layers]} - set(LAYER_TYPE_NAMES))
    if unknown:
        raise ConfigError(f"layer_types holds {', '.join(map(repr, unknown))}: {cfg.model_type} layers are "
                          "'full_attention' or 'sliding_attention'")
    return [str(t) for t in types[:num_layers]]


def layer(kind: str, *, kv_heads: int, head: int, head_v: int | None = None,
          sliding_window: int | None = None) -> AttentionLayer:
    """One layer: sliding when ``kind`` is "sliding_attention" and a window is set, else full."""
    if kv_heads <= 0 or head <= 0:
        raise ConfigError(f"config gives {kv_heads} KV heads of size {head}; both must be positive")
    v = head if head_v is None else head_v
    if kind == "sliding_attention" and sliding_window:
        return AttentionLayer(kind="sliding", num_kv_heads=kv_heads, head_size=head, head_size_v=v,
                              sliding_window=sliding_window)
    return AttentionLayer(kind="full", num_kv_heads=kv_heads, head_size=head, head_size_v=v)
