"""Laguna (poolside): full and sliding-window layers by ``layer_types``, one KV shape for both.

vLLM ``model_executor/models/laguna.py`` (0.32-0.34, alike): ``LagunaAttention`` takes
``config.sliding_window`` on "sliding_attention" layers and none elsewhere; every layer has
``num_key_value_heads`` heads of ``head_dim``. ``num_attention_heads_per_layer`` (Laguna-XS) changes only the
query heads, and the sliding layers' attention sinks are learned logits, not cached tokens.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w


@register("laguna", "laguna")
def laguna(cfg: ConfigView, dims: BaseDims) -> Layout:
    # LagunaConfig.__post_init__: layer_types defaults to all "full_attention"
    types = w.layer_types(cfg, dims.num_layers, default=["full_attention"] * dims.num_layers)
    window = w.window(cfg)
    return Layout(layers=tuple(w.layer(t, kv_heads=dims.num_kv_heads, head=dims.head_size, sliding_window=window)
                               for t in types))
