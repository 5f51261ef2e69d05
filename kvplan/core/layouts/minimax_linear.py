"""MiniMax-Text-01 / MiniMax-M1: lightning (linear) attention layers and softmax attention layers.

vllm/model_executor/models/minimax_text_01.py (read in 0.11.0 and 0.22.0; the architectures left vLLM in 0.23):
``decoder_attention_types`` is ``attn_type_list`` (or ``decoder_attention_types``), else ``layer_types``
("linear_attention" -> 0, "full_attention" -> 1, anything else a ValueError), else every layer full attention.
Type 0 is ``MiniMaxText01LinearAttention`` (layers/mamba/linear_attn.py): linear_attention_state_shape
(heads / TP, head_dim, head_dim), one tensor in the model dtype (linear_attention_state_dtype). Type 1 is
``MiniMaxText01Attention``: ``num_key_value_heads`` of ``head_dim`` (else hidden // heads), no window given to
``Attention``. V1 only (0.10.2+); V0 releases ran it with a cache of their own, which kvplan refuses.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import full_attention
from kvplan.core.model import LayerSpec, MambaLayer


def _attention_types(cfg: ConfigView, num_layers: int) -> list[int]:
    for key in ("attn_type_list", "decoder_attention_types"):
        value = cfg.data.get(key)
        if value:  # vLLM's getattr(...) or ...: an empty list falls through
            if not isinstance(value, list) or len(value) < num_layers or any(v not in (0, 1) for v in value):
                raise ConfigError(f"config field {key} must give 0 (linear) or 1 (full) for each of "
                                  f"{num_layers} layers")
            return [int(v) for v in value[:num_layers]]
    words = cfg.data.get("layer_types")
    if isinstance(words, list) and words:
        codes = {"linear_attention": 0, "full_attention": 1}
        unknown = sorted({str(w) for w in words} - set(codes))
        if unknown:
            raise ConfigError(f"Unsupported layer type: {unknown[0]}")  # vLLM's words
        if len(words) < num_layers:
            raise ConfigError(f"layer_types lists {len(words)} layers, num_hidden_layers is {num_layers}")
        return [codes[str(w)] for w in words[:num_layers]]
    if cfg.model_type == "minimax":
        # transformers' MiniMaxConfig fills layer_types: full on even layers, linear on odd ones
        return [1 if (i + 1) % 2 else 0 for i in range(num_layers)]
    return [1] * num_layers


@register("minimax_linear", "minimax", "minimax_text_01", "minimax_m1")
def minimax_linear(cfg: ConfigView, dims: BaseDims) -> Layout:
    head = dims.head_size  # config head_dim, else hidden // heads
    linear = MambaLayer(kind="linear", num_heads=dims.num_attention_heads, head_dim=head, conv_kernel=0)
    attention = full_attention(dims, head=head)
    layers: list[LayerSpec] = [linear if t == 0 else attention for t in _attention_types(cfg, dims.num_layers)]
    return Layout(layers=tuple(layers))
