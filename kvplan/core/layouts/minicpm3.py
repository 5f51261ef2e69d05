"""MiniCPM3: DeepSeek-style latent projections, decompressed into full heads before a plain attention cache.

vLLM ``model_executor/models/minicpm3.py`` (0.32-0.34, alike; ``MiniCPM3Attention``, 0.34 lines 126-134):
``Attention(num_local_heads, qk_head_dim, num_kv_heads=num_local_heads)`` with ``qk_head_dim =
qk_nope_head_dim + qk_rope_head_dim``; V (``v_head_dim`` wide) is zero-padded to ``qk_head_dim`` before the
cache (line 172). So every layer caches ``num_attention_heads`` heads (not ``num_key_value_heads``) of
``qk_nope_head_dim + qk_rope_head_dim`` for K and for V; ``kv_lora_rank`` never reaches the cache. minicpm3 is
not one of vLLM's is_deepseek_mla model types, so it is not run as MLA.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import positive
from kvplan.core.model import AttentionLayer


@register("minicpm3", "minicpm3")
def minicpm3(cfg: ConfigView, dims: BaseDims) -> Layout:
    head = positive(cfg, "qk_nope_head_dim") + positive(cfg, "qk_rope_head_dim")
    layer = AttentionLayer(kind="full", num_kv_heads=dims.num_attention_heads, head_size=head, head_size_v=head)
    return Layout(layers=(layer,) * dims.num_layers)
