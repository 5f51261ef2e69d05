"""Falcon-H1: attention and a Mamba-2 mixer side by side in every decoder layer.

vllm/model_executor/models/falcon_h1.py (0.32-0.34): ``FalconH1ParallelHybrid`` builds
``FalconH1AttentionDecoderLayer`` (its ``Attention`` at ``layers.{i}``; head size ``head_dim``, else
hidden // heads; ``num_key_value_heads``) and ``FalconH1SSMDecoderLayer`` (``MambaMixer2`` named
``layers.{num_hidden_layers + i}``; intermediate ``mamba_d_ssm``, else ``mamba_expand * hidden_size``;
``mamba_n_groups``, ``mamba_n_heads``, ``mamba_d_head``, ``mamba_d_state``, ``mamba_d_conv``). Two KV cache
specs per decoder layer, both on that layer's PP stage.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import full_attention, head_dim_or_auto, mamba2, positive
from kvplan.core.model import ParallelLayer


@register("falcon_h1", "falcon_h1")
def falcon_h1(cfg: ConfigView, dims: BaseDims) -> Layout:
    d_ssm = cfg.get("mamba_d_ssm")
    if d_ssm is not None:
        intermediate = positive(cfg, "mamba_d_ssm")
    else:
        intermediate = positive(cfg, "mamba_expand") * dims.hidden_size
    heads = positive(cfg, "mamba_n_heads")
    mixer = mamba2(intermediate=intermediate, state=positive(cfg, "mamba_d_state"),
                   groups=positive(cfg, "mamba_n_groups"), heads=heads,
                   head_dim=head_dim_or_auto(cfg, "mamba_d_head", intermediate, heads),
                   conv_kernel=positive(cfg, "mamba_d_conv"))
    layer = ParallelLayer(attention=full_attention(dims), mamba=mixer)
    return Layout(layers=(layer,) * dims.num_layers)
