"""Speculative decoding: the KV layers a drafter adds to the target's, read the way vLLM builds them.

vLLM registers the drafter's attention layers in the same forward context as the target's, so
``get_kv_cache_spec`` returns them beside the target's layers (tagged ``is_draft``) and they are grouped
with them: one more full-attention layer per EAGLE layer or MTP module. Model-free methods (ngram, suffix)
add no layers. Mamba layers keep ``num_speculative_tokens`` extra state blocks per request (engine.py).
Verified on the real CPU engine (tests/peer): an EAGLE draft of one layer on a 4-layer Llama, and MTP on a
Qwen3-Next hybrid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kvplan.core.errors import UsageError
from kvplan.core.model import ModelSpec
from kvplan.core.settings import DRAFT_MODEL_METHODS, SpeculativeSettings

# Keys that count a checkpoint's MTP modules (DeepSeek/GLM/MiMo; Qwen3-Next/Qwen3.5).
_MTP_KEYS = ("num_nextn_predict_layers", "mtp_num_hidden_layers")


def mtp_modules(config: Mapping[str, Any]) -> int:
    """How many MTP modules the checkpoint carries (0 when none)."""
    for source in (config, config.get("text_config") or {}):
        if not isinstance(source, Mapping):
            continue
        for key in _MTP_KEYS:
            value = source.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return 0


def with_drafter(model: ModelSpec, spec: SpeculativeSettings | None, *, config: Mapping[str, Any],
                 draft: ModelSpec | None = None) -> ModelSpec:
    """``model`` with the drafter's KV layers hosted beside its own (``ModelSpec.draft_layers``)."""
    if spec is None:
        return model
    if spec.method in DRAFT_MODEL_METHODS:
        if draft is None:
            raise UsageError(f"--speculative-config: the draft model {spec.draft_model!r} could not be read")
        if draft.mamba_layers:
            raise UsageError("--speculative-config: a draft model with Mamba layers is not planned by kvplan")
        layers = draft.attention_layers
    elif spec.method == "mtp":
        count = mtp_modules(config)
        if not count:
            raise UsageError("--speculative-config: method 'mtp' needs MTP layers in the checkpoint, and this "
                             "config names none (num_nextn_predict_layers / mtp_num_hidden_layers)")
        # An MTP module is one decoder layer with the target's own (full) attention; Nemotron-H's modules follow
        # mtp_hybrid_override_pattern ("*E": one attention layer and one MoE layer per module).
        own = next((layer for layer in model.attention_layers if layer.kind in ("full", "mla")), None)
        if own is None:
            raise UsageError("--speculative-config: no full-attention layer to model the MTP layer on")
        pattern = config.get("mtp_hybrid_override_pattern")
        per_module = 1
        if isinstance(pattern, str):
            if "M" in pattern:
                raise UsageError("--speculative-config: MTP modules with Mamba layers "
                                 f"(mtp_hybrid_override_pattern {pattern!r}) are not planned by kvplan")
            per_module = pattern.count("*")
        layers = (own,) * (count * per_module)
    else:
        layers = ()
    return replace(model, draft_layers=tuple(layers))
