"""LFM3 (and its VL / audio wrappers): short-convolution layers, full and sliding attention layers.

vLLM ``model_executor/models/lfm3.py`` (0.34, the only release that has it): ``Lfm3DecoderLayer`` (line 211) is
``Lfm3Attention`` when ``config.layer_types[i]`` is "full_attention" or "sliding_attention", else a ``ShortConv``
of width ``hidden_size`` (line 222) whose state is short_conv_state_shape(hidden_size, ``conv_L_cache``)
(``_short_conv_state_shape``, line 358). Attention: ``num_key_value_heads`` heads of ``config.head_dim``; a
sliding layer gets ``config.sliding_window`` (line 173). vLLM's own config class
(transformers_utils/configs/lfm3.py, line 61) fills ``layer_types`` when a config has none: layer i is
full_attention when i % 4 == 2, sliding_attention when i % 4 == 0 and i > 0, else conv; its defaults are
head_dim 128, conv_L_cache 7, sliding_window 256, 4 KV heads. Lfm3VlForConditionalGeneration and
Lfm3AudioForConditionalGeneration build ``Lfm3ForCausalLM`` from their text_config (init_vllm_registered_model);
the audio encoder's LFM2 runs in transformers without a KV cache (``use_cache=False``).
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w
from kvplan.core.layouts._state import kv_heads, positive
from kvplan.core.model import LayerSpec, MambaLayer


def _default_layer_types(num_layers: int) -> list[str]:
    return ["full_attention" if i % 4 == 2 else "sliding_attention" if i % 4 == 0 and i > 0 else "conv"
            for i in range(num_layers)]


@register("lfm3", "lfm3")
def lfm3(cfg: ConfigView, dims: BaseDims) -> Layout:
    words = cfg.data.get("layer_types") or _default_layer_types(dims.num_layers)
    words = [str(word) for word in words[:dims.num_layers]] if isinstance(words, list) else []
    if len(words) < dims.num_layers:
        raise ConfigError(f"layer_types lists {len(words)} layers, num_hidden_layers is {dims.num_layers}")
    conv = MambaLayer(kind="short_conv", conv_dim=dims.hidden_size,
                      conv_kernel=positive(cfg, "conv_L_cache", default=7))
    kv = kv_heads(cfg, dims, 4)
    head = positive(cfg, "head_dim", default=128)
    window = w.window(cfg)
    layers: list[LayerSpec] = [
        w.layer(word, kv_heads=kv, head=head, sliding_window=window) if word in w.LAYER_TYPE_NAMES else conv
        for word in words
    ]
    return Layout(layers=tuple(layers))
