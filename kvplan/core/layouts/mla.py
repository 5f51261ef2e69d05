"""Plain MLA families (DeepSeek-V2/V3 style, ``DeepseekV2MLAAttention``) that vLLM runs as MLA
(model_arch_config_convertor.py ``is_deepseek_mla``, 0.32-0.34): one latent of
``kv_lora_rank + qk_rope_head_dim`` per token and layer. A config with ``index_topk`` makes the same class
build DeepSeek's sparse-attention indexer (deepseek_v2.py 0.34 line 1138, ``is_v32``), which
``kvplan.core.layouts.deepseek_v32`` sizes.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts.deepseek_v32 import _freq_skips, _notes, sparse_mla_layers
from kvplan.core.model import AttentionLayer


@register("mla", "glm4_moe_lite", "glm4_moe_lite_mtp", "deepseek_v2", "deepseek_v3")
def mla(cfg: ConfigView, dims: BaseDims) -> Layout:
    if cfg.get("kv_lora_rank") is None:
        # vLLM runs these as MLA only with kv_lora_rank; the multi-head fallback is not modelled
        raise ConfigError(f"{cfg.model_type} config has no kv_lora_rank: vLLM would not run it as MLA, and "
                          "kvplan does not size the multi-head fallback")
    if cfg.get("index_topk") is not None:
        layers = sparse_mla_layers(cfg, dims.num_layers, _freq_skips(cfg, dims.num_layers))
        return Layout(layers=layers, notes=_notes(layers, cfg))
    latent = cfg.int_("kv_lora_rank") + cfg.int_("qk_rope_head_dim")
    return Layout(layers=tuple(AttentionLayer(kind="mla", num_kv_heads=1, head_size=latent, head_size_v=0)
                               for _ in range(dims.num_layers)))
