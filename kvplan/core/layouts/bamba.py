"""Bamba: Mamba-2 and attention layers, by ``layers_block_type`` (from ``attn_layer_indices``).

vllm/model_executor/models/bamba.py (read in the vllm-project/vllm tree at 017597e9; the architecture left vLLM
in 0.23, registry.py _PREVIOUSLY_SUPPORTED_MODELS): ``ALL_DECODER_LAYER_TYPES`` "attention" / "mamba" by
``config.layers_block_type`` (transformers derives it from ``attn_layer_indices``); attention head size
hidden // heads, ``num_key_value_heads``; ``MambaMixer2`` with the Granite-4.0-H keys.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import ATTENTION_WORDS, STATE_WORDS, full_attention, kv_heads, layer_words, pick
from kvplan.core.layouts.granite_hybrid import granite_style_mixer
from kvplan.core.model import LayerSpec


@register("bamba", "bamba")
def bamba(cfg: ConfigView, dims: BaseDims) -> Layout:
    indices = cfg.data.get("attn_layer_indices")
    if cfg.data.get("layers_block_type") is None and cfg.data.get("layer_types") is None:
        if not isinstance(indices, list) or not all(isinstance(i, int) for i in indices):
            raise ConfigError("bamba config has no attn_layer_indices (nor layers_block_type)")
        words = ["attention" if i in indices else "mamba" for i in range(dims.num_layers)]
    else:
        words = layer_words(cfg, dims.num_layers, "layers_block_type", "layer_types")
    mixer = granite_style_mixer(cfg, dims)
    # BambaConfig: num_key_value_heads 8 when left out
    attention = full_attention(dims, kv=kv_heads(cfg, dims, 8), head=dims.hidden_size // dims.num_attention_heads)
    by_word: dict[str, LayerSpec] = {**dict.fromkeys(STATE_WORDS, mixer), **dict.fromkeys(ATTENTION_WORDS, attention)}
    return Layout(layers=tuple(pick(words, by_word, "layers_block_type")))
