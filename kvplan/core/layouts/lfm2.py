"""LFM2 / LFM2-MoE: short-convolution layers and attention layers, by ``layer_types``.

vllm/model_executor/models/lfm2.py and lfm2_moe.py (0.32-0.34): a layer is attention when
``config.layer_types[i] == "full_attention"``, else a ``ShortConv`` of width ``config.conv_dim`` whose state is
short_conv_state_shape: (conv_L_cache - 1 + speculative tokens, conv_dim / TP), one tensor in the model dtype
(short_conv_state_dtype). Attention: head size hidden // heads, ``num_key_value_heads``. LFM2 reads
``conv_dim`` (and ``block_dim``) from the config as the Hub files write them; transformers' Lfm2Config has
no such field, so a config without ``conv_dim`` fails in vLLM and is refused here. LFM2-MoE convolves
``hidden_size`` channels (lfm2_moe.py ``ShortConv(dim=config.hidden_size)``).
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import full_attention, kv_heads, layer_words, pick, positive
from kvplan.core.model import LayerSpec, MambaLayer


@register("lfm2", "lfm2", "lfm2_moe")
def lfm2(cfg: ConfigView, dims: BaseDims) -> Layout:
    if cfg.data.get("layer_types") is None and isinstance(cfg.data.get("full_attn_idxs"), list):
        attn = cfg.data["full_attn_idxs"]
        words = ["full_attention" if i in attn else "conv" for i in range(dims.num_layers)]
    else:
        words = layer_words(cfg, dims.num_layers, "layer_types")
    if cfg.model_type == "lfm2":
        missing = [key for key in ("block_dim", "conv_dim") if cfg.data.get(key) is None]
        if missing:
            raise ConfigError(f"lfm2 config has no {' or '.join(missing)}: vLLM's Lfm2 model reads config.block_dim "
                              "(its MLPs) and config.conv_dim (its ShortConv), as LFM2 checkpoints write them")
    if cfg.model_type == "lfm2_moe":
        width = dims.hidden_size
    elif "conv" not in words:
        width = 0
    else:
        width = positive(cfg, "conv_dim")
    # Lfm2Config / Lfm2MoeConfig: conv_L_cache 3 and num_key_value_heads 8 when left out
    conv = MambaLayer(kind="short_conv", conv_dim=width, conv_kernel=positive(cfg, "conv_L_cache", default=3))
    attention = full_attention(dims, kv=kv_heads(cfg, dims, 8), head=dims.hidden_size // dims.num_attention_heads)
    by_word: dict[str, LayerSpec] = {"conv": conv, "full_attention": attention}
    return Layout(layers=tuple(pick(words, by_word, "layer_types")))
