"""Pieces shared by the state-space / recurrent layout families: config words, attention and Mamba-2 layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims
from kvplan.core.model import AttentionLayer, MambaLayer

T = TypeVar("T")

# transformers 5 renames the legacy words (configuration_utils._LEGACY_LAYER_TYPE_REMAP): "mamba" ->
# "linear_attention", "attention" -> "full_attention"; vLLM reads the config after that, so both spellings
# name the same layer.
STATE_WORDS = frozenset({"mamba", "linear_attention"})
ATTENTION_WORDS = frozenset({"attention", "full_attention"})


def kv_heads(cfg: ConfigView, dims: BaseDims, class_default: int | None) -> int:
    """``num_key_value_heads``: left out, the class default (8 for Falcon-H1, Bamba, LFM2); null, the heads."""
    if "num_key_value_heads" not in cfg.data and class_default is not None:
        return class_default
    return cfg.int_("num_key_value_heads", default=0) or dims.num_attention_heads


def full_attention(dims: BaseDims, *, kv: int | None = None, head: int | None = None) -> AttentionLayer:
    size = dims.head_size if head is None else head
    return AttentionLayer(kind="full", num_kv_heads=dims.num_kv_heads if kv is None else kv, head_size=size,
                          head_size_v=size)


def layer_words(cfg: ConfigView, num_layers: int, *keys: str) -> list[str]:
    """The per-layer words of the first of ``keys`` the config has, at least ``num_layers`` of them."""
    for key in keys:
        words = cfg.data.get(key)
        if words is None:
            continue
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ConfigError(f"config field {key} must be a list of layer kinds")
        if len(words) < num_layers:
            raise ConfigError(f"{key} lists {len(words)} layers, num_hidden_layers is {num_layers}")
        return list(words[:num_layers])
    raise ConfigError(f"{cfg.model_type} config has no {' or '.join(keys)}")


def pick(words: Sequence[str], by_word: Mapping[str, T], key: str) -> list[T]:
    unknown = sorted(set(words) - set(by_word))
    if unknown:
        raise ConfigError(f"{key} holds {', '.join(map(repr, unknown))}: kvplan knows "
                          f"{', '.join(map(repr, sorted(by_word)))} here")
    return [by_word[w] for w in words]


def positive(cfg: ConfigView, *names: str, default: int | None = None) -> int:
    value = cfg.int_(*names, default=default)
    if value <= 0:
        raise ConfigError(f"config field {names[0]} must be positive, got {value}")
    return value


def head_dim_or_auto(cfg: ConfigView, key: str, intermediate: int, heads: int) -> int:
    """``mamba_d_head`` may still read "auto", or be left out (the class default, "auto"): transformers resolves
    it to intermediate // heads."""
    value = cfg.get(key)
    if value is None or value == "auto":
        return intermediate // heads
    return positive(cfg, key)


def mamba2(*, intermediate: int, state: int, groups: int, heads: int, head_dim: int, conv_kernel: int,
           ssm_dtype: str | None = None) -> MambaLayer:
    if intermediate <= 0 or state <= 0 or groups <= 0 or heads <= 0 or head_dim <= 0 or conv_kernel <= 1:
        raise ConfigError("Mamba-2 sizes must be positive (and the conv kernel wider than 1)")
    return MambaLayer(kind="mamba2", intermediate_size=intermediate, state_size=state, n_groups=groups,
                      num_heads=heads, head_dim=head_dim, conv_kernel=conv_kernel, ssm_dtype=ssm_dtype)
