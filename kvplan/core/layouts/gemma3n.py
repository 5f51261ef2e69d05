"""Gemma 3n: windows by ``layer_types`` and KV-sharing layers that allocate nothing.

vLLM ``model_executor/models/gemma3n.py`` (0.32-0.34, alike), ``Gemma3nAttention``: every layer has
``num_key_value_heads`` heads of ``head_dim``, sliding layers ``sliding_window``. The last
``num_kv_shared_layers`` layers share the KV cache of layer ``first_shared - 2`` (sliding) or
``first_shared - 1`` (full) through ``kv_sharing_target_layer_name``: they return no KV cache spec. Were that
index negative the layer would keep its own cache. transformers' Gemma3nTextConfig defaults: layer_types
4 sliding : 1 full, num_kv_shared_layers 15, sliding_window 512.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w
from kvplan.core.layouts.gemma4 import kv_shared_from
from kvplan.core.model import LayerSpec, NoKvLayer


@register("gemma3n", "gemma3n_text")
def gemma3n(cfg: ConfigView, dims: BaseDims) -> Layout:
    n = dims.num_layers
    types = w.layer_types(cfg, n, default=["full_attention" if (i + 1) % 5 == 0 else "sliding_attention"
                                           for i in range(n)])
    window = w.window(cfg)
    if window is None:
        window = 512
    first_shared = kv_shared_from(cfg, n, default=15)
    layers: list[LayerSpec] = []
    for i, kind in enumerate(types):
        target = first_shared - (2 if kind == "sliding_attention" else 1)
        if i >= first_shared and target >= 0:
            layers.append(NoKvLayer())
        else:
            layers.append(w.layer(kind, kv_heads=dims.num_kv_heads, head=dims.head_size, sliding_window=window))
    notes: tuple[str, ...] = ()
    shared = sum(isinstance(layer, NoKvLayer) for layer in layers)
    if shared:
        notes = (f"{shared} layers reuse earlier layers' KV cache (KV sharing): they allocate nothing",)
    return Layout(layers=tuple(layers), notes=notes)
