"""Step-3 text model (Step3TextForCausalLM, Step3-VL's language model): one KV head in every layer.

vLLM ``model_executor/models/step3_text.py`` (0.32-0.34; ``Step3TextDecoderLayer``, 0.34 line 237) builds
``Step3TextAttention(num_kv_heads=1, head_dim=config.head_dim)`` whatever the config's
``num_attention_groups`` says; vLLM's own Step3TextConfig (transformers_utils/configs/step3_vl.py) defaults
``head_dim`` to 256. Step3VLForConditionalGeneration builds the same model from its text_config.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts._state import positive
from kvplan.core.model import AttentionLayer


@register("step3_text", "step3_text")
def step3_text(cfg: ConfigView, dims: BaseDims) -> Layout:
    head = positive(cfg, "head_dim", default=256)
    layer = AttentionLayer(kind="full", num_kv_heads=1, head_size=head, head_size_v=head)
    return Layout(layers=(layer,) * dims.num_layers)
