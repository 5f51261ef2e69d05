"""Gemma 4: sliding layers and global layers with their own head size and KV heads; KV-sharing layers.

transformers' Gemma4TextConfig (5.x) builds ``per_layer_config``: every "full_attention" layer gets
``head_dim = global_head_dim`` (default 512) and, when ``attention_k_eq_v`` is set,
``num_key_value_heads = num_global_key_value_heads``; it defaults ``layer_types`` to 5 sliding : 1 full,
forces the last layer to full attention, and halves the window for ``use_bidirectional_attention == "all"``.
vLLM ``model_executor/models/gemma4.py`` (0.32-0.34, alike) reads ``per_layer_config[i]`` for each layer's
head size and KV heads, ``sliding_window`` for sliding layers, and makes the last ``num_kv_shared_layers``
layers share the KV cache of the last earlier layer of the same type (``kv_sharing_target_layer_name``):
such a layer returns no KV cache spec and allocates nothing. k_eq_v layers still cache K and V (the K
weights are loaded into both slots).
"""

from __future__ import annotations

from collections.abc import Mapping

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w
from kvplan.core.model import LayerSpec, NoKvLayer


def kv_shared_from(cfg: ConfigView, num_layers: int, default: int = 0) -> int:
    """Index of the first KV-sharing layer (``num_hidden_layers - num_kv_shared_layers``)."""
    shared = cfg.int_("num_kv_shared_layers", default=default)
    if shared > num_layers:
        raise ConfigError(f"num_kv_shared_layers {shared} is more than num_hidden_layers {num_layers}")
    return num_layers - shared


def _per_layer_overrides(cfg: ConfigView, types: list[str]) -> dict[int, Mapping[str, object]]:
    saved = cfg.data.get("per_layer_config")
    if isinstance(saved, Mapping):  # a config saved with the overrides already written out
        return {int(k): v for k, v in saved.items() if isinstance(v, Mapping)}
    if isinstance(saved, list):
        return {i: v for i, v in enumerate(saved) if isinstance(v, Mapping)}
    overrides: dict[str, object] = {"head_dim": cfg.get("global_head_dim", default=512)}
    global_kv = cfg.get("num_global_key_value_heads")
    # Gemma4TextConfig declares attention_k_eq_v (default False), so a config without it gets no KV-head override
    if cfg.data.get("attention_k_eq_v", False) and global_kv is not None:
        overrides["num_key_value_heads"] = global_kv
    return {i: overrides for i, t in enumerate(types) if t == "full_attention"}


@register("gemma4", "gemma4_text")
def gemma4(cfg: ConfigView, dims: BaseDims) -> Layout:
    n = dims.num_layers
    types = w.layer_types(cfg, n, default=["sliding_attention" if (i + 1) % 6 else "full_attention"
                                           for i in range(n)])
    types[-1] = "full_attention"  # Gemma4TextConfig.__post_init__ forces it
    window = w.window(cfg)
    if window is None:
        window = 512  # Gemma4TextConfig's default
    if cfg.data.get("use_bidirectional_attention") == "all":
        window = window // 2 + 1  # Gemma4TextConfig.__post_init__ ("due to fa we set exclusive bounds")
    overrides = _per_layer_overrides(cfg, types)
    first_shared = kv_shared_from(cfg, n)
    layers: list[LayerSpec] = []
    for i, kind in enumerate(types):
        if i >= first_shared:
            earlier = types[:first_shared]
            if kind not in earlier:
                # vLLM: prev_layers[::-1].index(current_layer_type) raises ValueError
                raise ConfigError(f"gemma4 layer {i} shares the KV cache of an earlier {kind} layer, and there "
                                  "is none")
            layers.append(NoKvLayer())
            continue
        over = overrides.get(i, {})
        head = int(str(over.get("head_dim", dims.head_size)))
        kv = int(str(over.get("num_key_value_heads", dims.num_kv_heads)))
        layers.append(w.layer(kind, kv_heads=kv, head=head, sliding_window=window))
    notes: tuple[str, ...] = ()
    if first_shared < n:
        notes = (f"layers {first_shared}-{n - 1} reuse earlier layers' KV cache (KV sharing): they allocate "
                 "nothing",)
    return Layout(layers=tuple(layers), notes=notes)
