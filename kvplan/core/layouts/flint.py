"""Flint: full and sliding-window layers by ``layer_types``, with vLLM's own config defaults.

vLLM ``models/flint/model.py`` (0.34, the only release that has it; ``FlintAttention``, lines 295-305): every
layer caches ``num_key_value_heads`` heads of ``head_dim``, and ``config.sliding_window`` on "sliding_attention"
layers (the learned sinks are logits, not cached tokens; the ``kv_sharing_target_layer_name`` it names is only
asserted to be unset). vLLM's own ``FlintConfig`` (``models/flint/configs.py`` lines 28-74) fills what a config
leaves out: 4 KV heads of 128, ``layer_types`` all "full_attention", window 513 unless ``use_sliding_window`` is
false (then none).
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w
from kvplan.core.layouts._state import kv_heads, positive


@register("flint", "flint")
def flint(cfg: ConfigView, dims: BaseDims) -> Layout:
    types = w.layer_types(cfg, dims.num_layers, default=["full_attention"] * dims.num_layers)
    window = None if cfg.data.get("use_sliding_window") is False else (
        w.window(cfg) if "sliding_window" in cfg.data else 513)
    kv = kv_heads(cfg, dims, 4)
    head = positive(cfg, "head_dim", default=128)
    return Layout(layers=tuple(w.layer(t, kv_heads=kv, head=head, sliding_window=window) for t in types))
