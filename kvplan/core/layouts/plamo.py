"""PLaMo 2: Mamba-2 mixers with an attention layer every ``mamba_step`` layers.

vllm/model_executor/models/plamo2.py (read in the 0.22.0 wheel; the architecture left vLLM in 0.26, and its config
is remote code, read here as data): ``is_mamba(config, i)`` is ``i % mamba_step != mamba_step // 2`` (with no more
than ``mamba_step // 2`` layers, only the last is attention). The mixer's get_state_shape is mamba2_state_shape
with ``n_groups=0`` (no B/C groups in the conv state), intermediate ``mamba_num_heads * hidden_size_per_head``,
``mamba_num_heads`` heads of ``hidden_size_per_head``, ``mamba_d_state``, ``mamba_d_conv``; attention takes
``num_key_value_heads`` of ``hidden_size_per_head``. PLaMo 3 is attention only (sliding / full): not this family.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError, UnsupportedModelError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import full_attention, positive
from kvplan.core.model import LayerSpec, MambaLayer


def _is_mamba(i: int, num_layers: int, step: int) -> bool:
    if num_layers <= step // 2:
        return i != num_layers - 1  # attention in the last layer only
    return i % step != step // 2


@register("plamo", "plamo2")
def plamo2(cfg: ConfigView, dims: BaseDims) -> Layout:
    if cfg.model_type != "plamo2":
        # Plamo3ForCausalLM: per-layer windows (interleaved_sliding_window) from a remote-code config class
        raise UnsupportedModelError(f"kvplan cannot size {cfg.model_type} models faithfully yet: PLaMo 3's "
                                    "per-layer sliding windows come from its remote-code config class, not read",
                                    hint="Measure it with `kvplan probe` on a machine with vLLM")
    step = positive(cfg, "mamba_step")
    if step <= 1:
        raise ConfigError(f"config field mamba_step must be above 1, got {step}")  # vLLM asserts it
    head = positive(cfg, "hidden_size_per_head")
    heads = positive(cfg, "mamba_num_heads")
    mixer = MambaLayer(kind="mamba2", intermediate_size=heads * head, state_size=positive(cfg, "mamba_d_state"),
                       n_groups=0, num_heads=heads, head_dim=head, conv_kernel=positive(cfg, "mamba_d_conv"))
    attention = full_attention(dims, kv=positive(cfg, "num_key_value_heads"), head=head)
    n = dims.num_layers
    layers: list[LayerSpec] = [mixer if _is_mamba(i, n, step) else attention for i in range(n)]
    # V0 releases (to 0.10.1) sized PLaMo 2 through their own Mamba cache, not read here
    return Layout(layers=tuple(layers),
                  requires_release=("0.10.2", "kvplan plans PLaMo 2 on the V1 engine only (vLLM 0.10.2 and later)"))
