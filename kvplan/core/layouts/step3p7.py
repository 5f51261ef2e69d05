"""Step-3.5 / Step-3.7 (StepFun): full and sliding-window layers by ``layer_types``, one KV shape for both.

Step3p7ForConditionalGeneration serves its ``text_config`` (model type "step3p5") with vLLM's
``model_executor/models/step3p5.py`` (0.32-0.34): ``Step3p5DecoderLayer`` gives every layer
``num_attention_groups`` KV heads (transformers' Step3p7TextConfig maps it to ``num_key_value_heads``) of
``head_dim``, and ``config.sliding_window`` on "sliding_attention" layers only (it clears
``cache_config.sliding_window``); the sliding layers' own query-head count does not touch the cache.
A flat config with model type "step3p7" (no ``text_config``) is read the same way.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w


@register("step3p7", "step3p7", "step3p5")
def step3p7(cfg: ConfigView, dims: BaseDims) -> Layout:
    # Step3p7TextConfig.__post_init__: layer_types defaults to all "full_attention"
    types = w.layer_types(cfg, dims.num_layers, default=["full_attention"] * dims.num_layers)
    window = w.window(cfg)
    return Layout(layers=tuple(w.layer(t, kv_heads=dims.num_kv_heads, head=dims.head_size, sliding_window=window)
                               for t in types))
