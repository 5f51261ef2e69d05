"""MiniMax-M2 (M2, M2.5, M2.7): every layer full attention.

vLLM ``model_executor/models/minimax_m2.py`` (0.32-0.34): ``MiniMaxM2DecoderLayer`` builds
``MiniMaxM2Attention`` without ``attn_window_size``, so each layer caches ``num_key_value_heads`` heads of
``head_dim`` for every token; ``attn_type_list`` (all 1, softmax attention, in the released configs) is not
read. The model-level window (``cache_config.sliding_window``) would apply if the config had one.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w


@register("minimax_m2", "minimax_m2")
def minimax_m2(cfg: ConfigView, dims: BaseDims) -> Layout:
    window = w.window(cfg)  # EngineArgs: the model-level window applies when the config has no layer_types
    kind = "sliding_attention" if window else "full_attention"
    return Layout(layers=tuple(w.layer(kind, kv_heads=dims.num_kv_heads, head=dims.head_size, sliding_window=window)
                               for _ in range(dims.num_layers)))
