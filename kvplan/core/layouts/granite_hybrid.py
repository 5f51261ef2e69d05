"""Granite-4.0-H (GraniteMoeHybrid): Mamba-2 and attention layers, by ``layer_types``.

vllm/model_executor/models/granitemoehybrid.py (0.32-0.34): ``ALL_DECODER_LAYER_TYPES`` maps
"full_attention" and "linear_attention"; Hub configs write "attention" / "mamba" (or ``layers_block_type``),
which transformers 5 renames on load (``_LEGACY_LAYER_TYPE_REMAP``), so both spellings are the same model.
Attention: head size hidden // heads (vLLM ignores a head_dim key), ``num_key_value_heads``; mixer:
``MambaMixer2`` with intermediate ``mamba_expand * hidden_size``, ``mamba_n_groups``, ``mamba_n_heads``,
``mamba_d_head``, ``mamba_d_state``, ``mamba_d_conv`` (get_mamba_state_shape_from_config).
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import (
    ATTENTION_WORDS,
    STATE_WORDS,
    full_attention,
    head_dim_or_auto,
    layer_words,
    mamba2,
    pick,
    positive,
)
from kvplan.core.model import LayerSpec, MambaLayer

# GraniteMoeHybridConfig's and BambaConfig's Mamba defaults (transformers 5.x), checked against the classes.
MIXER_DEFAULTS = {"mamba_n_heads": 128, "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4,
                  "mamba_expand": 2}


def granite_style_mixer(cfg: ConfigView, dims: BaseDims) -> MambaLayer:
    """The Mamba-2 mixer of Granite-4.0-H and Bamba (same config keys, same MambaMixer2 arguments)."""
    d = MIXER_DEFAULTS
    intermediate = positive(cfg, "mamba_expand", default=d["mamba_expand"]) * dims.hidden_size
    heads = positive(cfg, "mamba_n_heads", default=d["mamba_n_heads"])
    return mamba2(intermediate=intermediate, state=positive(cfg, "mamba_d_state", default=d["mamba_d_state"]),
                  groups=positive(cfg, "mamba_n_groups", default=d["mamba_n_groups"]), heads=heads,
                  head_dim=head_dim_or_auto(cfg, "mamba_d_head", intermediate, heads),
                  conv_kernel=positive(cfg, "mamba_d_conv", default=d["mamba_d_conv"]))


@register("granite_hybrid", "granitemoehybrid")
def granite_hybrid(cfg: ConfigView, dims: BaseDims) -> Layout:
    words = layer_words(cfg, dims.num_layers, "layer_types", "layers_block_type")
    mixer = granite_style_mixer(cfg, dims)
    attention = full_attention(dims, head=dims.hidden_size // dims.num_attention_heads)
    by_word: dict[str, LayerSpec] = {**dict.fromkeys(STATE_WORDS, mixer), **dict.fromkeys(ATTENTION_WORDS, attention)}
    requires = None
    if set(words) & {"linear_attention", "full_attention"}:
        # 0.22 knows "attention" / "mamba" only (KeyError on the new words); 0.26, 0.29 and 0.32+ take them (0.23-0.25
        # not read, so not assumed)
        requires = ("0.26.0", "cannot load this config: its GraniteMoeHybrid model code reads layer_types "
                              "'mamba' / 'attention' only "
                              "(read in 0.22), and this config writes transformers 5's 'linear_attention' / "
                              "'full_attention'")
    return Layout(layers=tuple(pick(words, by_word, "layer_types")), requires_release=requires)
