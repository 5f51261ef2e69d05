"""LongCat-Flash (and LongCat-Flash-Lite, the n-gram variant): two MLA attentions in every decoder layer.

vLLM ``model_executor/models/longcat_flash.py`` (0.32-0.34): ``FlashModel`` makes ``config.num_layers`` decoder
layers (0.34 line 396; LongCat configs name no num_hidden_layers), and each ``FlashDecoderLayer`` holds
``self_attn = nn.ModuleList([DeepseekV2MLAAttention(..., prefix=f"{prefix}.self_attn.{i}") for i in range(2)])``
(0.34 lines 267-286): two MLA caches a layer, each one latent of ``kv_lora_rank + qk_rope_head_dim`` per token.
``longcat_flash_ngram.py`` (0.26-0.34) builds the same ``FlashModel`` with an n-gram embedding in front.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.model import AttentionLayer

ATTENTIONS_PER_LAYER = 2


@register("longcat_flash", "longcat_flash")
def longcat_flash(cfg: ConfigView, dims: BaseDims) -> Layout:
    if cfg.get("kv_lora_rank") is None:
        raise ConfigError("longcat_flash config has no kv_lora_rank: vLLM's FlashDecoderLayer is MLA only")
    layers = cfg.int_("num_layers", default=dims.num_layers)  # FlashModel reads config.num_layers
    latent = cfg.int_("kv_lora_rank") + cfg.int_("qk_rope_head_dim")
    mla = AttentionLayer(kind="mla", num_kv_heads=1, head_size=latent, head_size_v=0)
    return Layout(layers=(mla,) * (layers * ATTENTIONS_PER_LAYER))
