"""Qwen3-Next, Qwen3.5 / 3.6: gated-delta-net layers and attention layers.

vllm/model_executor/models/qwen3_next.py and qwen3_5.py (0.32-0.34; Qwen3.5 also vllm/models/qwen3_5): a layer is
``QwenGatedDeltaNetAttention`` when ``layer_types[i] == "linear_attention"`` (older Qwen3-Next configs: every
``full_attention_interval``-th layer is attention), else attention with ``head_dim`` and ``num_key_value_heads``.
GDN state: gated_delta_net_state_shape of ``linear_num_key_heads``, ``linear_num_value_heads``,
``linear_key_head_dim``, ``linear_value_head_dim``, ``linear_conv_kernel_dim``; Qwen3.5's config hook
(models/config.py Qwen3_5ForConditionalGenerationConfig) takes the SSM dtype from ``mamba_ssm_dtype`` under
"auto". From 0.33, on CUDA with FlashInfer's GDN prefill (Hopper; Blackwell with 128-wide keys), each layer keeps
one prefill checkpoint block in align mode (qwen_gdn_linear_attn.py get_kv_cache_spec): ``flashinfer_gdn``.
"""

from __future__ import annotations

from kvplan.core.config_view import DTYPE_NAMES, ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import ATTENTION_WORDS, full_attention, pick
from kvplan.core.model import LayerSpec, MambaLayer


@register("qwen3_next", "qwen3_next", "qwen3_5_text", "qwen3_5_moe_text")
def qwen3_next(cfg: ConfigView, dims: BaseDims) -> Layout:
    num_layers = dims.num_layers
    types = cfg.data.get("layer_types")
    if not isinstance(types, list) or len(types) < num_layers:
        interval = cfg.int_("full_attention_interval")
        types = ["full_attention" if (i + 1) % interval == 0 else "linear_attention" for i in range(num_layers)]
    ssm_dtype = cfg.data.get("mamba_ssm_dtype")  # Qwen3.5 keeps its recurrent state in float32
    gdn = MambaLayer(kind="gdn", num_k_heads=cfg.int_("linear_num_key_heads"),
                     num_v_heads=cfg.int_("linear_num_value_heads"), head_k_dim=cfg.int_("linear_key_head_dim"),
                     head_v_dim=cfg.int_("linear_value_head_dim"), conv_kernel=cfg.int_("linear_conv_kernel_dim"),
                     ssm_dtype=DTYPE_NAMES.get(str(ssm_dtype)) if ssm_dtype else None, flashinfer_gdn=True)
    by_word: dict[str, LayerSpec] = {"linear_attention": gdn, **dict.fromkeys(ATTENTION_WORDS, full_attention(dims))}
    return Layout(layers=tuple(pick([str(t) for t in types[:num_layers]], by_word, "layer_types")))
