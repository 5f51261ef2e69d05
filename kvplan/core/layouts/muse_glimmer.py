"""Muse-Glimmer (Meta): iRoPE layout, full attention on the NoPE layers and sliding windows on the rest.

vLLM ``model_executor/models/muse_glimmer.py`` (0.32-0.34): ``MuseGlimmerAttention`` gives every layer
``num_key_value_heads`` heads of ``head_dim`` and ``config.sliding_window`` where ``layer_types`` says
"sliding_attention". transformers' MuseGlimmerTextConfig fills a missing ``layer_types`` with full attention
on every 4th layer counted back from the last.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w


@register("muse_glimmer", "muse_glimmer_text")
def muse_glimmer(cfg: ConfigView, dims: BaseDims) -> Layout:
    n = dims.num_layers
    default = ["full_attention" if (n - 1 - i) % 4 == 0 else "sliding_attention" for i in range(n)]
    types = w.layer_types(cfg, n, default=default)
    window = w.window(cfg)
    return Layout(layers=tuple(w.layer(t, kv_heads=dims.num_kv_heads, head=dims.head_size, sliding_window=window)
                               for t in types))
