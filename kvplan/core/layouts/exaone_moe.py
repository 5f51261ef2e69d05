"""K-EXAONE (ExaoneMoE): full / sliding layers by ``layer_types``, each sliding layer with its own window.

vLLM ``model_executor/models/exaone_moe.py`` (0.32-0.34, lines 233-246 in 0.34): a "full_attention" layer has no
window; a sliding layer takes ``config.sliding_windows[layer_idx]`` when the config has that list, else
``config.sliding_window``. Every layer caches ``num_key_value_heads`` heads of ``head_dim``. ExaoneMoeConfig
derives ``layer_types`` when a config has none (a rule kvplan does not read): such a config is refused.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError, UnsupportedModelError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.layouts import windowed as w


@register("exaone_moe", "exaone_moe")
def exaone_moe(cfg: ConfigView, dims: BaseDims) -> Layout:
    if cfg.data.get("layer_types") is None:
        raise UnsupportedModelError(
            "exaone_moe config has no layer_types, and transformers derives them for exaone_moe by a rule kvplan "
            "does not know", hint="Add the model's layer_types to config.json, or measure it with `kvplan probe` "
                                  "on a machine with vLLM")
    types = w.layer_types(cfg, dims.num_layers)
    windows = cfg.data.get("sliding_windows")
    if windows is not None and (not isinstance(windows, list) or len(windows) < dims.num_layers):
        raise ConfigError(f"sliding_windows must list a window for each of the {dims.num_layers} layers")
    layers = []
    for i, kind in enumerate(types):
        window = w.window(cfg) if windows is None else windows[i]
        if kind == "sliding_attention" and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
            raise ConfigError(f"layer {i} is sliding_attention but its window is {window!r}")
        layers.append(w.layer(kind, kv_heads=dims.num_kv_heads, head=dims.head_size, sliding_window=window))
    return Layout(layers=tuple(layers))
