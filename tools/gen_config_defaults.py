"""Generate kvplan/core/config_defaults.py: transformers' config-class defaults for the keys the planner reads.

    python tools/gen_config_defaults.py      (with transformers installed; nothing else is needed)

vLLM reads a config after transformers' config class filled in its defaults. For every model type of
transformers' CONFIG_MAPPING this records the constant defaults of the class's ``__init__`` parameters that
kvplan reads (layers, widths, heads, KV heads, head size, lengths, windows and layer-pattern keys, vocabulary,
MLA latents, Mamba / SSM / linear-attention / short-conv state shapes). A default of None is left out: the class
derives it from other keys (KV heads = heads, head_dim = hidden / heads), and so does kvplan; so is a default
the class body replaces (Jamba's "auto" dt rank). ``DERIVED`` adds
the few values a class computes in its body rather than takes as a parameter (checked by
tests/core/test_config_defaults.py against instances).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "kvplan" / "core" / "config_defaults.py"

KEYS = {
    "num_hidden_layers", "n_layer", "num_layers", "n_layers", "hidden_size", "n_embd", "d_model",
    "num_attention_heads", "n_head", "n_heads", "num_heads", "num_key_value_heads", "n_head_kv", "num_kv_heads",
    "multi_query_group_num", "num_attention_groups", "head_dim", "hidden_size_per_head",
    "max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "model_max_length",
    "max_target_positions", "max_sequence_length", "max_seq_length", "seq_len",
    "sliding_window", "use_sliding_window", "max_window_layers", "sliding_window_pattern", "attention_chunk_size",
    "no_rope_layer_interval", "full_attention_interval", "attn_layer_period", "attn_layer_offset",
    "vocab_size", "padded_vocab_size", "n_vocab", "rope_local_base_freq", "rotary_dim", "partial_rotary_factor",
    "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
    "num_kv_shared_layers", "conv_kernel", "n_groups", "state_size", "expand", "conv_L_cache", "block_dim",
}
STATE_PREFIXES = ("mamba_", "ssm_", "linear_", "index_")
DERIVES_LAYER_TYPES = "_derives_layer_types"  # a marker, not a config key (kvplan.core.architectures reads it)

# Values a class sets in its body, not from a parameter: model type -> key -> value (with why).
DERIVED: dict[str, dict[str, Any]] = {
    # Gemma3TextConfig: every 6th layer global (_sliding_window_pattern = 6; layer_types built from it)
    "gemma3_text": {"sliding_window_pattern": 6},
    # Llama4TextConfig: no_rope_layers default to every 4th layer ((i + 1) % 4 != 0)
    "llama4_text": {"no_rope_layer_interval": 4},
    # Qwen3NextConfig: layer_types default to every 4th layer full attention
    "qwen3_next": {"full_attention_interval": 4},
}


def _plain(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, list) and all(isinstance(v, (bool, int, float, str)) for v in value)


def _held(instance: Any, key: str, fallback: Any) -> Any:
    try:
        return getattr(instance, key, fallback)
    except Exception:  # per-layer attributes of heterogeneous configs refuse a global read
        return None


def defaults_of(config_class: type) -> dict[str, Any]:
    try:
        params = inspect.signature(config_class.__init__).parameters
    except (TypeError, ValueError):
        return {}
    out: dict[str, Any] = {}
    for name, param in params.items():
        if name not in KEYS and not name.startswith(STATE_PREFIXES):
            continue
        default = param.default
        if default is inspect.Parameter.empty or default is None or not _plain(default):
            continue
        out[name] = default
    return out


def table() -> dict[str, dict[str, Any]]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING, CONFIG_MAPPING_NAMES

    found: dict[str, dict[str, Any]] = {}
    for model_type in sorted(CONFIG_MAPPING_NAMES):
        try:
            config_class = CONFIG_MAPPING[model_type]
        except Exception:  # a class that cannot be imported here (optional dependency): left out
            continue
        values = defaults_of(config_class)
        try:
            instance = config_class()
        except Exception:  # a class that needs arguments: its parameter defaults stand
            instance = None
        if instance is not None:
            # keep what an instance holds: a default the class body replaces ("auto" dt rank) is derived
            values = {k: v for k, v in values.items() if _held(instance, k, v) == v}
            derived = _held(instance, "layer_types", None)
            if isinstance(derived, list) and set(map(str, derived)) - {"full_attention"}:
                # the class builds layer_types from other keys (Cohere2: sliding_window_pattern) when a config
                # has none: a rule kvplan must know, not a list to copy
                values[DERIVES_LAYER_TYPES] = True
        values.update(DERIVED.get(model_type, {}))
        if values:
            found[model_type] = dict(sorted(values.items()))
    return found


def render(found: dict[str, dict[str, Any]], version: str) -> str:
    lines = [
        "# ruff: noqa: E501",
        '"""Defaults of transformers\' config classes for the keys the planner reads. GENERATED by',
        f"tools/gen_config_defaults.py from transformers {version}: do not edit.",
        "",
        "vLLM reads a config after transformers' config class filled in its defaults; kvplan plans without importing",
        "transformers, so it carries those defaults as data: the constant defaults of each class's parameters (None",
        "defaults are derived from other keys, by the class and by kvplan alike), plus a few values a class sets in",
        f"its body. {len(found)} model types. Checked against transformers in tests/core/test_config_defaults.py.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any",
        "",
        f'TRANSFORMERS_VERSION = "{version}"',
        "",
        "CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {",
    ]
    for model_type, values in found.items():
        lines.append(f"    {model_type!r}: {values!r},".replace("'", '"'))  # no quotes inside these names
    lines += ["}", ""]
    return "\n".join(lines)


def main() -> int:
    try:
        import transformers
    except ImportError:
        print("transformers is not installed", file=sys.stderr)
        return 2
    import logging

    logging.getLogger("transformers").setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    found = table()
    text = render(found, transformers.__version__)
    OUT.write_text(text)
    print(f"wrote {OUT}: {len(found)} model types", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
