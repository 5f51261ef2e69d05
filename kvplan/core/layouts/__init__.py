"""Layout builders: one per KV layout family, each turning a config view into the layers vLLM builds.

A builder reads one config level (``ConfigView``, class defaults filled in) and the dimensions every decoder shares
(``BaseDims``), and returns the layers as vLLM's model code lays them out. Each family lives in its own module
here and registers itself in ``LAYOUT_BUILDERS``; ``MODEL_TYPE_LAYOUTS`` routes a config's text model type to
a layout. A family without a builder is refused by name upstream, never read as plain attention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kvplan.core.config_view import ConfigView
from kvplan.core.model import LayerSpec


@dataclass(frozen=True, kw_only=True)
class BaseDims:
    """What model_spec_from_config settled before choosing a layout (attention dims may be 0 for state-only)."""

    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_size: int


@dataclass(frozen=True, kw_only=True)
class Layout:
    layers: tuple[LayerSpec, ...]
    notes: tuple[str, ...] = ()
    # (first vLLM release that loads this config, why older ones do not): a spelling older model code rejects
    requires_release: tuple[str, str] | None = None


Builder = Callable[[ConfigView, BaseDims], Layout]

# layout name -> builder; text model_type -> layout name. Family modules add themselves via ``register``.
LAYOUT_BUILDERS: dict[str, Builder] = {}
MODEL_TYPE_LAYOUTS: dict[str, str] = {}


def register(name: str, *model_types: str) -> Callable[[Builder], Builder]:
    """Decorator: ``@register("falcon_h1", "falcon_h1")`` names a layout and the model types that use it."""

    def add(builder: Builder) -> Builder:
        LAYOUT_BUILDERS[name] = builder
        for model_type in model_types:
            MODEL_TYPE_LAYOUTS[model_type] = name
        return builder

    return add
