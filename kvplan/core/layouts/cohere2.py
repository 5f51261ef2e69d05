"""Cohere 2 (Command R7B, Command A) and Cohere 2 MoE: sliding layers cache one token more than the config says.

vLLM ``model_executor/models/commandr.py`` (0.32-0.34, line 244 in 0.34) and ``cohere2_moe.py`` (0.34 line 256,
0.33 line 256, 0.32 line 213): on a ``layer_types[i] == "sliding_attention"`` layer the attention gets
``per_layer_sliding_window = config.sliding_window + 1`` ("cohere swa layer sees [pos - sliding_window, pos]",
and the +1 "propagates into the KV-cache eviction formula"); other layers are full. Every layer caches
``num_key_value_heads`` heads of ``head_dim``. Cohere2MoE without ``layer_types`` windows nothing; Cohere2's
config class derives ``layer_types`` from ``sliding_window_pattern``, a rule kvplan does not read, so such a
config is refused (as for plain attention).
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import UnsupportedModelError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w


@register("cohere2", "cohere2", "cohere2_moe")
def cohere2(cfg: ConfigView, dims: BaseDims) -> Layout:
    window = w.window(cfg)
    if cfg.data.get("layer_types") is None:
        if window and cfg.model_type == "cohere2":
            raise UnsupportedModelError(
                "cohere2 config has a sliding window but no layer_types, and transformers derives them for cohere2 "
                "by a rule kvplan does not know", hint="Add the model's layer_types to config.json, or measure it "
                                                       "with `kvplan probe` on a machine with vLLM")
        types = ["full_attention"] * dims.num_layers  # cohere2_moe.py: no layer_types, no window
    else:
        types = w.layer_types(cfg, dims.num_layers)
    swa = window + 1 if window else None
    return Layout(layers=tuple(w.layer(t, kv_heads=dims.num_kv_heads, head=dims.head_size, sliding_window=swa)
                               for t in types))
