"""OLMo hybrid: gated-delta-net layers and attention layers, by ``layer_types``.

vllm/model_executor/models/olmo_hybrid.py (0.32-0.34): "linear_attention" layers run
``OlmoHybridGatedDeltaNetAttention`` (layers/mamba/gdn/olmo_gdn_linear_attn.py: gated_delta_net_state_shape of
``linear_num_key_heads``, ``linear_num_value_heads``, ``linear_key_head_dim``, ``linear_value_head_dim``,
``linear_conv_kernel_dim``; dtypes gated_delta_net_state_dtype, no config hook), the rest ``OlmoHybridAttention``
(head size hidden // heads, ``num_key_value_heads`` or the heads).
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import ATTENTION_WORDS, full_attention, layer_words, pick, positive
from kvplan.core.model import LayerSpec, MambaLayer


@register("olmo_hybrid", "olmo_hybrid")
def olmo_hybrid(cfg: ConfigView, dims: BaseDims) -> Layout:
    words = layer_words(cfg, dims.num_layers, "layer_types")
    # OlmoHybridConfig.__post_init__ (transformers 5.x) fills what a config leaves out or nulls
    k_heads = positive(cfg, "linear_num_key_heads", default=dims.num_attention_heads)
    k_dim = positive(cfg, "linear_key_head_dim", default=int(0.75 * dims.hidden_size / k_heads))
    gdn = MambaLayer(kind="gdn", num_k_heads=k_heads,
                     num_v_heads=positive(cfg, "linear_num_value_heads", default=dims.num_attention_heads),
                     head_k_dim=k_dim, head_v_dim=positive(cfg, "linear_value_head_dim", default=2 * k_dim),
                     conv_kernel=positive(cfg, "linear_conv_kernel_dim", default=4))
    kv = cfg.int_("num_key_value_heads", default=0) or dims.num_attention_heads
    attention = full_attention(dims, kv=kv, head=dims.hidden_size // dims.num_attention_heads)
    by_word: dict[str, LayerSpec] = {"linear_attention": gdn, **dict.fromkeys(ATTENTION_WORDS, attention)}
    return Layout(layers=tuple(pick(words, by_word, "layer_types")))
