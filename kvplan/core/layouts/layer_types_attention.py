"""Full / sliding layers by ``layer_types`` with the config's window as it is, for architectures whose own model
code says so while their text model type names another family.

Cohere Compass (vLLM ``model_executor/models/cohere_compass.py`` 0.34, ``CohereCompassAttention`` lines
2118-2172): ``layer_type = config.layer_types[layer_idx]``, ``per_layer_sliding_window = config.sliding_window``
on "sliding_attention" layers (no +1, unlike Cohere 2's commandr.py), ``num_key_value_heads`` heads of
``head_dim``. The table routes it here by architecture, so a Cohere-2-typed text config does not pick up the
cohere2 layout's +1. No model type routes here.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w


@register("layer_types_attention")
def layer_types_attention(cfg: ConfigView, dims: BaseDims) -> Layout:
    types = w.layer_types(cfg, dims.num_layers)  # vLLM indexes config.layer_types: none is refused
    window = w.window(cfg)
    return Layout(layers=tuple(w.layer(t, kv_heads=dims.num_kv_heads, head=dims.head_size, sliding_window=window)
                               for t in types))
