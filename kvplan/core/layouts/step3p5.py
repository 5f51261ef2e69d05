"""Step-3.5 served on its own (Step3p5ForCausalLM): the step3p7 layers, read with vLLM's own keys.

vLLM ``model_executor/models/step3p5.py`` (0.32-0.34; ``Step3p5DecoderLayer``, 0.34 lines 432-455): every layer
caches ``config.num_attention_groups`` KV heads (not ``num_key_value_heads``) of ``getattr(config, "head_dim")``,
and ``config.sliding_window`` on "sliding_attention" layers only (it clears ``cache_config.sliding_window``).
Without ``head_dim`` the head size is ``hidden_size // heads`` of the layer's own query heads
(``num_sliding_attention_heads``, ``attention_other_setting`` or ``per_layer_config``, lines 71-84): kvplan refuses
such a config rather than guess. ``mtp_layer_types`` name the MTP layers, which the main model does not build.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import UnsupportedModelError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w
from kvplan.core.layouts._state import positive


@register("step3p5")
def step3p5(cfg: ConfigView, dims: BaseDims) -> Layout:
    if cfg.data.get("head_dim") is None:
        raise UnsupportedModelError(
            "step3p5 config has no head_dim: vLLM then sizes each layer's heads from its own query-head count "
            "(num_sliding_attention_heads, per_layer_config), which kvplan does not model")
    kv = positive(cfg, "num_attention_groups") if cfg.data.get("num_attention_groups") is not None \
        else dims.num_kv_heads
    head = positive(cfg, "head_dim")
    types = w.layer_types(cfg, dims.num_layers, default=["full_attention"] * dims.num_layers)
    window = w.window(cfg)
    return Layout(layers=tuple(w.layer(t, kv_heads=kv, head=head, sliding_window=window) for t in types))
