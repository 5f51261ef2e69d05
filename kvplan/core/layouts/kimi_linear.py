"""Kimi Linear: Kimi delta attention (KDA) layers and MLA layers, by ``linear_attn_config``.

vllm/models/kimi_k3/nvidia/model.py (0.32-0.34; registry ``KimiLinearForCausalLM``): a decoder layer is KDA
when ``config.is_kda_layer(i)``, i.e. ``i + 1`` is in ``linear_attn_config["kda_layers"]`` (1-based,
transformers_utils/configs/kimi_linear.py), else ``MultiHeadLatentAttention`` (one latent of
``kv_lora_rank + qk_rope_head_dim``; kimi_linear is in ``is_deepseek_mla``). The KDA layer is
``KimiGatedDeltaNetAttention`` (layers/mamba/gdn/kimi_gdn_linear_attn.py): kda_state_shape of
``linear_attn_config["num_heads"]``, ``["head_dim"]``, ``["short_conv_kernel_size"]`` -- a conv state of
3 x heads x head_dim channels and a float32 head_dim x head_dim state per head (kda_state_dtype, called
without the SSM flag).
"""

from __future__ import annotations

from collections.abc import Mapping

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.model import AttentionLayer, LayerSpec, MambaLayer


def _count(kda: Mapping[str, object], key: str) -> int:
    value = kda.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"linear_attn_config.{key} must be a positive whole number, got {value!r}")
    return value


@register("kimi_linear", "kimi_linear")
def kimi_linear(cfg: ConfigView, dims: BaseDims) -> Layout:
    kda_config = cfg.data.get("linear_attn_config")
    if not isinstance(kda_config, Mapping):
        raise ConfigError("kimi_linear config has no linear_attn_config")
    kda_layers = kda_config.get("kda_layers")
    if not isinstance(kda_layers, list) or not all(isinstance(i, int) for i in kda_layers):
        raise ConfigError("linear_attn_config.kda_layers must list the KDA layers (1-based)")
    kda = MambaLayer(kind="kda", num_heads=_count(kda_config, "num_heads"), head_dim=_count(kda_config, "head_dim"),
                     conv_kernel=_count(kda_config, "short_conv_kernel_size"))
    mla = AttentionLayer(kind="mla", num_kv_heads=1, head_size=cfg.int_("kv_lora_rank") + cfg.int_("qk_rope_head_dim"),
                         head_size_v=0)
    layers: list[LayerSpec] = [kda if i + 1 in kda_layers else mla for i in range(dims.num_layers)]
    return Layout(layers=tuple(layers))
