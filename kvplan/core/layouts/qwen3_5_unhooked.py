"""Qwen3.5-style gated-delta-net hybrids built under another architecture's name: Qwen3.5's layers without
Qwen3.5's config hook.

MiniCPM-V 4.6 (vLLM ``model_executor/models/minicpmv4_6.py``, 0.32-0.34: ``self.language_model =
Qwen3_5ForCausalLM(...)`` on its text config, 0.34 line 1266) and Intern-S2-Mobius (``interns2_mobius.py``:
``QwenGatedDeltaNetAttention`` on "linear_attention" layers, ``Qwen3NextAttention`` on "full_attention" ones,
0.34 lines 194-212) lay out their layers as the qwen3_next layout does. Their architectures are not keys of
``MODELS_CONFIG_MAP`` (model_executor/models/config.py 0.34 lines 1603-1606 list the Qwen3_5* ones), so
``Qwen3_5ForConditionalGenerationConfig.verify_and_update_config`` never copies the config's
``mamba_ssm_dtype`` into ``mamba_ssm_cache_dtype``: under "auto" the SSM state takes the model dtype.
"""

from __future__ import annotations

from dataclasses import replace

from kvplan.core.config_view import ConfigView
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts.qwen3_next import qwen3_next
from kvplan.core.model import MambaLayer


@register("qwen3_5_unhooked")
def qwen3_5_unhooked(cfg: ConfigView, dims: BaseDims) -> Layout:
    layout = qwen3_next(cfg, dims)
    layers = tuple(replace(layer, ssm_dtype=None) if isinstance(layer, MambaLayer) else layer
                   for layer in layout.layers)
    notes = layout.notes
    if cfg.data.get("mamba_ssm_dtype"):
        notes += (f"the config's mamba_ssm_dtype ({cfg.data['mamba_ssm_dtype']}) is not applied: vLLM's Qwen3.5 "
                  "config hook runs only for the Qwen3_5* architectures",)
    return Layout(layers=layers, notes=notes, requires_release=layout.requires_release)
