"""Pure Mamba (Mamba-1, Falcon-Mamba) and Mamba-2 models: no attention, one state per layer and request.

vllm/model_executor/models/mamba.py (0.32-0.34) ``get_mamba_state_shape_from_config``: mamba1_state_shape of
``intermediate_size`` (transformers: expand * hidden), ``state_size``, ``conv_kernel``. mamba2.py: mamba2_state_shape
of ``expand * hidden_size``, ``n_groups``, ``num_heads``, ``head_dim``, ``state_size``, ``conv_kernel``. Both are
``IsAttentionFree``: vLLM sets the Mamba block size to max_model_len (prefix caching off,
models/config.py MambaModelConfig) and every layer's state page forms one KV cache group.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import mamba2 as mamba2_layer
from kvplan.core.layouts._state import positive
from kvplan.core.model import MambaLayer

# MambaConfig's and Mamba2Config's defaults (transformers 5.x), checked against the classes.
MAMBA1_DEFAULTS = {"state_size": 16, "expand": 2, "conv_kernel": 4}
MAMBA2_DEFAULTS = {"num_heads": 128, "head_dim": 64, "state_size": 128, "expand": 2, "conv_kernel": 4, "n_groups": 8}


@register("mamba", "mamba", "falcon_mamba")
def mamba(cfg: ConfigView, dims: BaseDims) -> Layout:
    d = MAMBA1_DEFAULTS
    intermediate = cfg.int_("intermediate_size",
                            default=positive(cfg, "expand", default=d["expand"]) * dims.hidden_size)
    layer = MambaLayer(kind="mamba1", intermediate_size=intermediate,
                       state_size=positive(cfg, "state_size", default=d["state_size"]),
                       conv_kernel=positive(cfg, "conv_kernel", default=d["conv_kernel"]))
    return Layout(layers=(layer,) * dims.num_layers)


@register("mamba2", "mamba2")
def mamba2(cfg: ConfigView, dims: BaseDims) -> Layout:
    d = MAMBA2_DEFAULTS
    layer = mamba2_layer(intermediate=positive(cfg, "expand", default=d["expand"]) * dims.hidden_size,
                         state=positive(cfg, "state_size", default=d["state_size"]),
                         groups=positive(cfg, "n_groups", default=d["n_groups"]),
                         heads=positive(cfg, "num_heads", default=d["num_heads"]),
                         head_dim=positive(cfg, "head_dim", default=d["head_dim"]),
                         conv_kernel=positive(cfg, "conv_kernel", default=d["conv_kernel"]))
    return Layout(layers=(layer,) * dims.num_layers)
