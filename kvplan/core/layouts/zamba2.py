"""Zamba2: a Mamba-2 mixer in every layer; "hybrid" layers also run a shared attention block with its own KV.

vllm/model_executor/models/zamba2.py (0.32-0.34): ``Zamba2Model`` walks ``config.layers_block_type``: "hybrid"
makes a ``Zamba2HybridLayer`` (a shared transformer block, then a ``Zamba2MambaDecoderLayer``), anything else a
``Zamba2MambaDecoderLayer``. The shared blocks' weights are reused, but ``Zamba2Attention`` builds one
``Attention`` per hybrid layer ("KV cache is unique for every attention layer"): ``num_attention_heads`` heads,
no separate KV heads, head size ``attention_head_dim`` (2 * hidden / heads). The mixer: intermediate
``mamba_expand * hidden_size``, ``mamba_ngroups``, ``n_mamba_heads``, ``mamba_headdim``, ``mamba_d_state``,
``mamba_d_conv`` (get_mamba_state_shape_from_config). transformers writes the per-layer words as
``layers_block_type`` ("mamba" / "hybrid"; 5.x: "linear_attention" / "hybrid"; ``layer_types`` is its alias).
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import STATE_WORDS, full_attention, layer_words, mamba2, pick, positive
from kvplan.core.model import LayerSpec, ParallelLayer

# Zamba2Config's defaults (transformers 5.x), checked against the class.
DEFAULTS = {"num_attention_heads": 32, "mamba_d_state": 64, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_ngroups": 1,
            "n_mamba_heads": 8}


@register("zamba2", "zamba2")
def zamba2(cfg: ConfigView, dims: BaseDims) -> Layout:
    words = layer_words(cfg, dims.num_layers, "layers_block_type", "layer_types")
    d = DEFAULTS
    heads = positive(cfg, "num_attention_heads", default=d["num_attention_heads"])
    head = cfg.int_("attention_head_dim", default=2 * dims.hidden_size // heads)  # transformers derives both
    intermediate = positive(cfg, "mamba_expand", default=d["mamba_expand"]) * dims.hidden_size
    mamba_heads = positive(cfg, "n_mamba_heads", default=d["n_mamba_heads"])
    mixer = mamba2(intermediate=intermediate, state=positive(cfg, "mamba_d_state", default=d["mamba_d_state"]),
                   groups=positive(cfg, "mamba_ngroups", default=d["mamba_ngroups"]), heads=mamba_heads,
                   head_dim=cfg.int_("mamba_headdim", default=intermediate // mamba_heads),
                   conv_kernel=positive(cfg, "mamba_d_conv", default=d["mamba_d_conv"]))
    hybrid = ParallelLayer(attention=full_attention(dims, kv=heads, head=head), mamba=mixer)
    by_word: dict[str, LayerSpec] = {**dict.fromkeys(STATE_WORDS, mixer), "hybrid": hybrid}
    return Layout(layers=tuple(pick(words, by_word, "layers_block_type")))
