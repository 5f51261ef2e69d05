"""MiMo-V2-Flash (Xiaomi): sliding-window and global layers with their own KV heads, and V narrower than K.

vLLM ``model_executor/models/mimo_v2.py`` (0.32-0.34, alike), ``MiMoV2DecoderLayer``: where
``hybrid_layer_pattern[i] == 1`` the layer is sliding-window attention with ``swa_num_key_value_heads`` heads,
K of ``swa_head_dim``, V of ``swa_v_head_dim`` and window ``sliding_window_size``; elsewhere full attention
with ``num_key_value_heads`` heads, K of ``head_dim``, V of ``v_head_dim``. V narrower than K runs on a
DIFFKV backend whose page holds K and V side by side: (head + head_v) per head and token
(kv_cache_interface.py ``AttentionSpec.state_content_size_bytes``). The decoder clears
``cache_config.sliding_window``, so the config's ``sliding_window`` / ``attention_chunk_size`` are not read.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w


@register("mimo_v2_flash", "mimo_v2_flash", "mimo_v2")
def mimo_v2_flash(cfg: ConfigView, dims: BaseDims) -> Layout:
    pattern = cfg.data.get("hybrid_layer_pattern")
    if not isinstance(pattern, list) or len(pattern) < dims.num_layers:
        # vLLM indexes config.hybrid_layer_pattern by layer and has no default for it
        raise ConfigError("mimo_v2_flash config has no hybrid_layer_pattern for every layer (vLLM's MiMoV2 reads "
                          "one entry a layer)")
    swa_window = w.window(cfg, "sliding_window_size")
    if swa_window is None:
        raise ConfigError("mimo_v2_flash config has no sliding_window_size")
    full_head = dims.head_size
    full_v = cfg.int_("v_head_dim", default=full_head)
    swa_head = cfg.int_("swa_head_dim")
    swa_v = cfg.int_("swa_v_head_dim", default=swa_head)
    swa_kv = cfg.int_("swa_num_key_value_heads")
    layers = tuple(
        w.layer("sliding_attention", kv_heads=swa_kv, head=swa_head, head_v=swa_v, sliding_window=swa_window)
        if pattern[i] == 1 else
        w.layer("full_attention", kv_heads=dims.num_kv_heads, head=full_head, head_v=full_v)
        for i in range(dims.num_layers)
    )
    return Layout(layers=layers)
