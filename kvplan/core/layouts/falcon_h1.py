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
from kvplan.core.layouts._state import full_attention, head_dim_or_auto, kv_heads, mamba2, positive
from kvplan.core.model import ParallelLayer

# FalconH1Config's defaults (transformers 5.x) for keys a config leaves out; tests check them against the class.
DEFAULTS = {"mamba_d_ssm": 1024, "mamba_n_heads": 128, "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4,
            "mamba_expand": 2, "num_key_value_heads": 8}


@register("falcon_h1", "falcon_h1")
def falcon_h1(cfg: ConfigView, dims: BaseDims) -> Layout:
    d = DEFAULTS
    if "mamba_d_ssm" not in cfg.data:
        intermediate = d["mamba_d_ssm"]
    elif cfg.data["mamba_d_ssm"] is None:  # null: vLLM takes mamba_expand * hidden_size
        intermediate = positive(cfg, "mamba_expand", default=d["mamba_expand"]) * dims.hidden_size
    else:
        intermediate = positive(cfg, "mamba_d_ssm")
    heads = positive(cfg, "mamba_n_heads", default=d["mamba_n_heads"])
    mixer = mamba2(intermediate=intermediate, state=positive(cfg, "mamba_d_state", default=d["mamba_d_state"]),
                   groups=positive(cfg, "mamba_n_groups", default=d["mamba_n_groups"]), heads=heads,
                   head_dim=head_dim_or_auto(cfg, "mamba_d_head", intermediate, heads),
                   conv_kernel=positive(cfg, "mamba_d_conv", default=d["mamba_d_conv"]))
    attention = full_attention(dims, kv=kv_heads(cfg, dims, d["num_key_value_heads"]))
    layer = ParallelLayer(attention=attention, mamba=mixer)
    return Layout(layers=(layer,) * dims.num_layers)
