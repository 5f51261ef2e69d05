"""Config dict -> ModelSpec, the way vLLM reads a Hugging Face config.

Every spelling and fallback is settled here and nowhere else: ``n_head_kv`` / ``multi_query`` /
``multi_query_group_num``, a missing ``head_dim``, nested ``text_config``, ``layer_types`` and window
patterns, MLA latents, Mamba / gated-delta-net state, ``seq_length`` / ``max_position_embeddings`` and
rope scaling. vLLM reads configs after transformers' config classes filled in their defaults; kvplan carries
those defaults in ``CONFIG_DEFAULTS`` (tested against transformers) so that planning never imports
transformers. Configs are data: nothing here executes remote code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from kvplan.core.config_defaults import CONFIG_DEFAULTS as CONFIG_DEFAULTS  # re-exported: tests read it here
from kvplan.core.config_view import DTYPE_NAMES as _DTYPE_NAMES
from kvplan.core.config_view import ConfigView as _Cfg
from kvplan.core.errors import ConfigError, UnsupportedModelError, config_values_checked
from kvplan.core.layouts import LAYOUT_BUILDERS, MODEL_TYPE_LAYOUTS, BaseDims
from kvplan.core.layouts import families as _families  # noqa: F401  (registers every layout builder)
from kvplan.core.model import AttentionLayer, LayerSpec, MambaLayer, MlaProjections, ModelSpec, NoKvLayer
from kvplan.core.params import attention_weight_layout
from kvplan.core.state_keys import refuse_unread_state
from kvplan.core.vision import vision_tower
from kvplan.core.vllm_archs import layout_for_architectures

_MODEL_TYPE_ALIASES = {"RefinedWebModel": "falcon", "RefinedWeb": "falcon"}

# vllm/config/model.py _get_and_verify_max_len: the smallest of these keys that is present.
MAX_LEN_KEYS = (
    "max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "model_max_length",
    "max_target_positions", "max_sequence_length", "max_seq_length", "seq_len",
)
# Rope types whose factor does not extend the derived length (0.33 also leaves YaRN alone).
_ROPE_NOT_SCALED = {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling", "default", "mrope"}

# Families whose attention vLLM runs as MLA when the config has kv_lora_rank
# (model_arch_config_convertor.py is_deepseek_mla).
MLA_MODEL_TYPES = {
    "deepseek_v2", "deepseek_v3", "deepseek_v32", "deepseek_mtp", "kimi_k2", "kimi_vl", "glm_moe_dsa",
    "longcat_flash", "pangu_ultra_moe", "pangu_ultra_moe_mtp", "mistral_large_3", "eagle",
    "glm4_moe_lite", "glm4_moe_lite_mtp",  # GLM-4.7-Flash (is_deepseek_mla in 0.32-0.34)
}
MLA_MODEL_TYPES |= {"kimi_linear"}  # its full-attention layers (layouts/kimi_linear.py)

# Families whose KV layout vLLM builds in ways kvplan does not model yet: said plainly, never guessed.
UNSUPPORTED_MODEL_TYPES: dict[str, str] = {
    "deepseek_ref": "compressed sparse attention with per-layer compression ratios",
    "deepseek_v41": "compressed sparse attention (DeepSeek-V4.1), not read from vLLM yet",
    # Families vLLM runs as MLA (is_deepseek_mla, 0.32-0.34) whose layouts differ from DeepSeek-V2/V3's (sliding
    # windows, their own indexers, hybrids): refused by name rather than sized as plain attention.
    "glm5_next": "an MLA variant with its own sparse indexer (vllm/models/glm5next), not read from vLLM yet",
    "glm5_next_text": "an MLA variant with its own sparse indexer (vllm/models/glm5next), not read from vLLM yet",
    "dots3_note": "MLA with sliding windows and an indexer (vllm/models/dots3_note), not read from vLLM yet",
    "hy_v4": "an MLA variant (vllm/models/hy_v4) not read from vLLM yet",
    "axk1": "an MLA variant (model_executor/models/AXK1.py) not read from vLLM yet",
    "k3_dspark": "an MLA drafter (DSpark) not read from vLLM yet",
    "mistral_large_4": "an MLA variant not read from vLLM yet",
    "bailing_hybrid": "MLA beside linear-attention layers, not read from vLLM yet",
}

# The layout each refused model type needs, for configs without ``architectures`` (a builder registered under
# that name in kvplan.core.layouts lifts the refusal).
UNSUPPORTED_TYPE_LAYOUTS: dict[str, str] = {
    "deepseek_v4": "deepseek_v4", "deepseek_ref": "deepseek_ref", "kimi_linear": "kimi_linear",
    "minimax_m3": "minimax_m2", "minimax_m1": "minimax_linear", "gemma4_text": "gemma4", "step3p7": "step3p7",
    "muse_glimmer_text": "muse_glimmer", "laguna": "laguna", "mimo_v2_flash": "mimo_v2_flash",
    "deepseek_v32": "deepseek_v32", "glm_moe_dsa": "deepseek_v32",
    "mamba": "mamba", "falcon_mamba": "mamba", "mamba2": "mamba2", "falcon_h1": "falcon_h1", "bamba": "bamba",
    "zamba2": "zamba2", "lfm2": "lfm2", "lfm2_moe": "lfm2", "gemma3n_text": "gemma3n", "plamo2": "plamo",
    "plamo3": "plamo", "olmo_hybrid": "olmo_hybrid", "minimax": "minimax_linear",
}

# Layouts model_spec_from_config builds itself (the rest are kvplan.core.layouts families).
BUILTIN_LAYOUTS = frozenset({"attention", "mla", "llama4", "jamba", "nemotron_h", "nemotron_nas", "encoder_only"})
# Layouts with no attention at all: a config without heads is not an error for them.
STATE_ONLY_LAYOUTS = frozenset({"mamba", "mamba2"})

# Encoder-only families: vLLM's EncoderOnlyAttention returns no KV cache spec, so nothing is allocated.
ENCODER_ONLY_MODEL_TYPES = {
    "bert", "roberta", "xlm-roberta", "modernbert", "nomic_bert", "camembert", "electra", "distilbert",
}

MAX_LAYERS = 10_000  # the deepest served models have a few hundred


def _text_level(config: Mapping[str, Any]) -> tuple[Mapping[str, Any], str, bool]:
    """vLLM's ``hf_text_config``: the nested text config of multimodal models, else the config itself."""
    top_type = str(config.get("model_type") or "")
    nested = config.get("text_config")
    if nested is None and isinstance(config.get("llm_config"), Mapping):
        # InternVL-style: vllm/transformers_utils/config.py _CONFIG_ATTRS_MAPPING remaps llm_config to text_config
        nested = config["llm_config"]
    thinker = config.get("thinker_config")
    if nested is None and isinstance(thinker, Mapping) and isinstance(thinker.get("text_config"), Mapping):
        # Qwen2.5/3-Omni: vLLM serves the thinker; its hf_text_config is thinker_config.text_config
        return thinker["text_config"], str(thinker["text_config"].get("model_type") or f"{top_type}_text"), True
    if isinstance(nested, Mapping):
        nested_type = str(nested.get("model_type") or f"{top_type}_text")
        if top_type == "gemma3":
            nested_type = "gemma3_text"
        return nested, nested_type, True
    # Phi-4-multimodal has no vision_config: phi4mm.py builds its SigLIP and audio towers from embd_layer
    return config, _MODEL_TYPE_ALIASES.get(top_type, top_type), "vision_config" in config or top_type == "phi4mm"


def _dtype_of(config: Mapping[str, Any], text: Mapping[str, Any]) -> str | None:
    for level in (config, text):
        for key in ("torch_dtype", "dtype", "params_dtype"):
            value = level.get(key)
            if isinstance(value, str) and value.lower().replace("torch.", "") in _DTYPE_NAMES:
                return _DTYPE_NAMES[value.lower().replace("torch.", "")]
    # Qwen-1 style boolean flags
    for flag, name in (("bf16", "bfloat16"), ("fp16", "float16"), ("fp32", "float32")):
        if config.get(flag) is True:
            return name
    return None


def _max_len(cfg: _Cfg) -> tuple[int, str]:
    found: list[tuple[int, str]] = []
    for key in MAX_LEN_KEYS:
        value = cfg.data.get(key, cfg.defaults.get(key))
        if isinstance(value, (str, bool)) or (isinstance(value, float) and not math.isfinite(value)):
            # vLLM compares it as a number (_get_and_verify_max_len): a string fails there, true reads as 1;
            # kvplan had skipped it and planned the 2,048 default with no word
            raise ConfigError(f"config field {key} must be a whole number of tokens, got {value!r}")
        if isinstance(value, (int, float)) and value > 0:
            found.append((int(value), key))
    if not found:
        # vLLM warns and assumes 2048 (Falcon RW has no length key at all).
        return 2048, "default"
    derived, key = min(found)
    rope = cfg.data.get("rope_scaling") or cfg.data.get("rope_parameters")
    if isinstance(rope, Mapping) and not cfg.model_type.startswith("gemma3"):
        rope_type = str(rope.get("rope_type") or rope.get("type") or "default")
        factor = rope.get("factor")
        if rope_type not in _ROPE_NOT_SCALED and isinstance(factor, (int, float)) and factor > 1:
            derived = int(derived * factor)
    return derived, key


def _rope_for(cfg: _Cfg, layer_type: str) -> Mapping[str, Any] | None:
    """The rope parameters of one layer type: transformers v5 keys them by layer type (Gemma 3)."""
    rope = cfg.data.get("rope_scaling") or cfg.data.get("rope_parameters")
    if not isinstance(rope, Mapping):
        return None
    per_type = rope.get(layer_type)
    return per_type if isinstance(per_type, Mapping) else rope


def _local_rope_cache_positions(cfg: _Cfg, derived: int, layers: Sequence[LayerSpec]) -> int:
    """Rows of a second cos/sin cache, for sliding-window layers that rotate with their own rope.

    Gemma 3 (vLLM ``Gemma3Attention``): sliding layers use the default rope at ``rope_local_base_freq``, global
    ones the config's (scaled) rope; ``get_rope`` caches one module per distinct parameter set, so two caches
    unless both are alike. Measured on an H100 (vLLM 0.26, Gemma-3-12B): 64 MiB of the logged weights."""
    if not any(getattr(layer, "sliding_window", None) for layer in layers):
        return 0
    rope = cfg.data.get("rope_parameters")
    if isinstance(rope, Mapping) and isinstance(rope.get("sliding_attention"), Mapping):
        local = rope["sliding_attention"]
        return 0 if local == rope.get("full_attention") else _rope_cache_positions(cfg, derived, local)
    # Gemma3TextConfig's defaults in transformers 4.5x (v5 keeps them under rope_parameters): the nested text configs
    # of the multimodal checkpoints (gemma-3-4b/27b-it) leave both out.
    gemma3 = cfg.model_type.startswith("gemma3")
    local_base = cfg.get("rope_local_base_freq", default=10_000.0 if gemma3 else None)
    if local_base is None:
        return 0
    full = _rope_for(cfg, "full_attention") or {}
    full_kind = str(full.get("rope_type") or full.get("type") or "default")
    theta = cfg.get("rope_theta", default=full.get("rope_theta", 1_000_000.0 if gemma3 else None))
    if full_kind == "default" and local_base == theta:
        return 0  # one parameter set: one shared cache
    return _rope_cache_positions(cfg, derived, {"rope_type": "default"})


def _rope_cache_positions(cfg: _Cfg, derived: int, rope: Mapping[str, Any] | None = None) -> int:
    """Rows of vLLM's rotary cos/sin cache: max positions, scaled for yarn/linear/dynamic (longrope: both)."""
    if rope is None:
        rope = _rope_for(cfg, "full_attention")
    base = cfg.get("max_position_embeddings", default=derived)
    if not isinstance(base, int):
        return derived
    if isinstance(rope, Mapping):
        kind = str(rope.get("rope_type") or rope.get("type") or "default")
        factor = rope.get("factor")
        original = rope.get("original_max_position_embeddings")
        if kind == "longrope" and isinstance(original, int):
            return base + original
        if kind in ("yarn", "linear", "dynamic", "deepseek_yarn") and isinstance(factor, (int, float)):
            return int((original if isinstance(original, int) and kind != "linear" else base) * factor)
    return base


def _rotary_dim(cfg: _Cfg, head: int) -> int:
    if isinstance(cfg.get("rotary_dim"), int):
        return int(cfg.get("rotary_dim"))
    rope = cfg.data.get("rope_parameters") if isinstance(cfg.data.get("rope_parameters"), Mapping) else {}
    factor = cfg.get("partial_rotary_factor", default=rope.get("partial_rotary_factor", 1.0) if rope else 1.0)
    if isinstance(cfg.get("qk_rope_head_dim"), int):
        return int(cfg.get("qk_rope_head_dim"))
    return int(head * float(factor)) if isinstance(factor, (int, float)) else head


def _kv_heads(cfg: _Cfg, num_heads: int) -> int:
    if cfg.model_type == "falcon" and not cfg.data.get("new_decoder_architecture") and cfg.data.get("multi_query"):
        return 1  # FalconModelArchConfigConvertor: multi-query, one KV head
    return cfg.int_("n_head_kv", "num_kv_heads", "num_key_value_heads", "multi_query_group_num",
                    "num_attention_groups", default=num_heads)


def _head_size(cfg: _Cfg, hidden: int, num_heads: int) -> int:
    head_dim = cfg.get("head_dim")
    if head_dim is not None:  # vLLM takes a head_dim that is there as it is: 0 would size nothing
        value = cfg.int_("head_dim")
        if value <= 0:
            raise ConfigError(f"config has head_dim {value}: it must be positive")
        return value
    per_head = cfg.get("hidden_size_per_head")
    if isinstance(per_head, int) and per_head > 0:
        return per_head
    if num_heads <= 0:
        raise ConfigError("config has num_attention_heads 0 and no head_dim")
    return hidden // num_heads


def _window(cfg: _Cfg) -> int | None:
    value = cfg.get("sliding_window")
    if isinstance(value, str):
        raise ConfigError(f"config field sliding_window must be a whole number, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        return None  # null, false, or a per-layer list (vLLM's interleaved form): no single window
    if value <= 0:
        return None
    if cfg.data.get("use_sliding_window") is False:
        return None  # Qwen2/3: transformers drops the window when use_sliding_window is false
    return value


def _attention_layers(cfg: _Cfg, num_layers: int, kv: int, head: int) -> list[LayerSpec]:
    """Plain (non-MLA) attention decoders, windows per layer as vLLM's model code assigns them."""
    window = _window(cfg)
    layer_types = cfg.data.get("layer_types")
    mt = cfg.model_type
    if not isinstance(layer_types, list):
        layer_types = None
        if mt in ("gemma2", "gpt_oss") and window:
            layer_types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(num_layers)]
        elif mt == "gemma3_text" and window:
            pattern = int(cfg.get("sliding_window_pattern", "_sliding_window_pattern", default=6))
            layer_types = [
                "sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(num_layers)
            ]
        elif mt in ("qwen2", "qwen3", "qwen2_moe", "qwen3_moe") and window:
            first = int(cfg.get("max_window_layers", default=0))
            layer_types = ["sliding_attention" if i >= first else "full_attention" for i in range(num_layers)]
    if layer_types is None and window and cfg.defaults.get("_derives_layer_types"):
        # transformers' class builds layer_types from other keys when the config has none (Cohere2 from
        # sliding_window_pattern): windowing every layer would be a guess
        raise UnsupportedModelError(
            f"{mt} config has a sliding window but no layer_types, and transformers derives them for {mt} by a "
            "rule kvplan does not know", hint="Add the model's layer_types to config.json, or measure it with "
                                             "`kvplan probe` on a machine with vLLM")
    if layer_types is not None and len(layer_types) < num_layers:
        raise ConfigError(f"layer_types lists {len(layer_types)} layers, num_hidden_layers is {num_layers}")
    unknown = sorted({str(t) for t in (layer_types or [])[:num_layers]} - {"sliding_attention", "full_attention"})
    if unknown:
        raise ConfigError(f"layer_types holds {', '.join(map(repr, unknown))}: this model's layers are "
                          "'full_attention' or 'sliding_attention'")
    layers: list[LayerSpec] = []
    for i in range(num_layers):
        kind = layer_types[i] if layer_types is not None else ("sliding_attention" if window else "full_attention")
        if kind == "sliding_attention" and window:
            layers.append(AttentionLayer(kind="sliding", num_kv_heads=kv, head_size=head, head_size_v=head,
                                         sliding_window=window))
        else:
            layers.append(AttentionLayer(kind="full", num_kv_heads=kv, head_size=head, head_size_v=head))
    return layers


def _llama4_layers(cfg: _Cfg, num_layers: int, kv: int, head: int) -> list[LayerSpec]:
    """Llama 4: chunked local attention on RoPE layers, global attention on the NoPE ones."""
    chunk = cfg.get("attention_chunk_size")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0):
        raise ConfigError(f"config field attention_chunk_size must be a positive whole number, got {chunk!r}")
    no_rope = cfg.data.get("no_rope_layers")
    if not isinstance(no_rope, list) or len(no_rope) < num_layers:
        interval = int(cfg.get("no_rope_layer_interval", default=4))
        no_rope = [int((i + 1) % interval != 0) for i in range(num_layers)]
    layers: list[LayerSpec] = []
    for i in range(num_layers):
        uses_rope = bool(no_rope[i])
        if uses_rope and chunk:
            layers.append(AttentionLayer(kind="chunked", num_kv_heads=kv, head_size=head, head_size_v=head,
                                         attention_chunk_size=int(chunk)))
        else:
            layers.append(AttentionLayer(kind="full", num_kv_heads=kv, head_size=head, head_size_v=head))
    return layers


def _nas_layers(cfg: _Cfg, num_layers: int, num_heads: int, head: int) -> list[LayerSpec]:
    """Nemotron-NAS (DeciLM): per-block KV heads (heads // n_heads_in_group); no-op attention holds no KV."""
    blocks = cfg.data.get("block_configs")
    if not isinstance(blocks, list) or len(blocks) < num_layers:
        raise ConfigError("nemotron-nas config has no complete block_configs")
    layers: list[LayerSpec] = []
    for block in blocks[:num_layers]:
        attention = block.get("attention", {}) if isinstance(block, Mapping) else {}
        if attention.get("no_op") or attention.get("replace_with_linear"):
            layers.append(NoKvLayer())
            continue
        group = int(attention.get("n_heads_in_group") or 1)
        layers.append(AttentionLayer(kind="full", num_kv_heads=num_heads // group, head_size=head, head_size_v=head))
    return layers


def _mla_layers(cfg: _Cfg, num_layers: int) -> list[LayerSpec]:
    latent = cfg.int_("kv_lora_rank") + cfg.int_("qk_rope_head_dim")
    return [AttentionLayer(kind="mla", num_kv_heads=1, head_size=latent, head_size_v=0) for _ in range(num_layers)]


def _mla_projections(cfg: _Cfg, config: Mapping[str, Any],
                     extra: Mapping[str, Mapping[str, Any]]) -> MlaProjections:
    weights, block = attention_weight_layout(config, hf_quant_config=extra.get("hf_quant_config.json"))
    return MlaProjections(
        q_lora_rank=int(cfg.get("q_lora_rank", default=0) or 0),
        kv_lora_rank=cfg.int_("kv_lora_rank"),
        qk_nope_head_dim=cfg.int_("qk_nope_head_dim", default=0),
        qk_rope_head_dim=cfg.int_("qk_rope_head_dim"),
        v_head_dim=cfg.int_("v_head_dim", default=0),
        attention_weights=weights,
        fp8_block=block,
    )


def _jamba_layers(cfg: _Cfg, num_layers: int, kv: int, head: int, hidden: int) -> list[LayerSpec]:
    period, offset = cfg.int_("attn_layer_period"), cfg.int_("attn_layer_offset")
    mamba = MambaLayer(kind="mamba1", intermediate_size=cfg.int_("mamba_expand") * hidden,
                       state_size=cfg.int_("mamba_d_state"), conv_kernel=cfg.int_("mamba_d_conv"))
    attention = AttentionLayer(kind="full", num_kv_heads=kv, head_size=head, head_size_v=head)
    return [attention if i % period == offset else mamba for i in range(num_layers)]


# Config words (Nemotron-3) and the names transformers 5 normalises them to, as pattern codes.
_BLOCK_TYPE_CODES = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E",
                     "linear_attention": "M", "full_attention": "*"}


def _nemotron_h_pattern(cfg: _Cfg) -> str:
    """``hybrid_override_pattern`` ("M*-E"), or the newer ``layers_block_type`` list of words."""
    pattern = cfg.data.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern:
        return pattern
    words = cfg.data.get("layers_block_type")
    if isinstance(words, list) and words:
        try:
            return "".join(_BLOCK_TYPE_CODES[str(w)] for w in words)
        except KeyError as err:
            raise ConfigError(f"unknown layer kind {err.args[0]!r} in layers_block_type") from None
    raise ConfigError("nemotron_h config has neither hybrid_override_pattern nor layers_block_type")


def _nemotron_h_layers(cfg: _Cfg, pattern: str, kv: int, head: int) -> list[LayerSpec]:
    """One layer per character of ``pattern`` (already cut to num_hidden_layers)."""
    heads, head_dim = cfg.int_("mamba_num_heads"), cfg.int_("mamba_head_dim")
    ssm_dtype = cfg.data.get("mamba_ssm_cache_dtype")
    if min(heads, head_dim, cfg.int_("n_groups"), cfg.int_("ssm_state_size")) <= 0:
        raise ConfigError("nemotron_h config: mamba_num_heads, mamba_head_dim, n_groups and ssm_state_size must "
                          "be positive")
    mamba = MambaLayer(kind="mamba2", intermediate_size=heads * head_dim, state_size=cfg.int_("ssm_state_size"),
                       n_groups=cfg.int_("n_groups"), num_heads=heads, head_dim=head_dim,
                       conv_kernel=cfg.int_("conv_kernel"),
                       ssm_dtype=_DTYPE_NAMES.get(str(ssm_dtype)) if ssm_dtype else None,
                       nemotron_h_ssm_default=True)
    attention = AttentionLayer(kind="full", num_kv_heads=kv, head_size=head, head_size_v=head)
    by_char: dict[str, LayerSpec] = {"M": mamba, "*": attention, "-": NoKvLayer(), "E": NoKvLayer()}
    try:
        return [by_char[c] for c in pattern]
    except KeyError as err:
        raise ConfigError(f"unknown layer code {err.args[0]!r} in hybrid_override_pattern") from None


def _layout_by_model_type(cfg: _Cfg, text_type: str) -> str:
    """The layout of a config whose ``architectures`` name nothing kvplan's table holds (the old routing)."""
    if text_type in MODEL_TYPE_LAYOUTS:
        return MODEL_TYPE_LAYOUTS[text_type]
    if text_type in UNSUPPORTED_TYPE_LAYOUTS:
        return UNSUPPORTED_TYPE_LAYOUTS[text_type]
    if text_type in ENCODER_ONLY_MODEL_TYPES:
        return "encoder_only"
    if text_type in MLA_MODEL_TYPES and cfg.get("kv_lora_rank") is not None:
        return "mla"
    layer_types = cfg.data.get("layer_types")
    by_type = {"llama4_text": "llama4", "jamba": "jamba", "nemotron_h": "nemotron_h",
               "granitemoehybrid": "granite_hybrid", "qwen3_next": "qwen3_next", "nemotron-nas": "nemotron_nas"}
    if text_type in by_type:
        return by_type[text_type]
    if isinstance(layer_types, list) and "linear_attention" in layer_types and (
            cfg.get("linear_num_value_heads") is not None):
        return "qwen3_next"  # gated delta net hybrids (Qwen3.5)
    return "attention"


def choose_layout(config: Mapping[str, Any], text: Mapping[str, Any], cfg: _Cfg) -> tuple[str, str, str]:
    """(layout, architecture, why): by ``architectures`` as vLLM picks the class, else by text model type."""
    text_type = cfg.model_type
    choice = layout_for_architectures(config, text)
    if not choice.layout:
        return _layout_by_model_type(cfg, text_type), "", ""
    layout = choice.layout
    if layout == "attention" and text_type in MODEL_TYPE_LAYOUTS:
        layout = MODEL_TYPE_LAYOUTS[text_type]  # a family module that knows this model type knows better
    if layout == "unknown":
        raise UnsupportedModelError(
            f"kvplan has no KV layout for {choice.architecture} yet (vLLM {choice.module}: {choice.why})",
            hint="Measure it with `kvplan probe` on a machine with vLLM")
    if layout == "mla" and cfg.get("kv_lora_rank") is None:
        layout = "attention"  # DeepseekV2Attention without latents (DeepSeek-V1, dense Pangu)
    elif layout == "mla" and text_type not in MLA_MODEL_TYPES:
        raise UnsupportedModelError(
            f"{choice.architecture} ({text_type}) has kv_lora_rank, but kvplan does not know whether vLLM runs "
            f"{text_type} as MLA (is_deepseek_mla lists model types)",
            hint="Measure it with `kvplan probe` on a machine with vLLM")
    return layout, choice.architecture, choice.why


def _quantization(config: Mapping[str, Any], text: Mapping[str, Any],
                  extra: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """(quant_method, KV cache dtype the checkpoint asks for) from quantization_config / hf_quant_config.json."""
    quant = config.get("quantization_config") or text.get("quantization_config")
    method: str | None = None
    kv_dtype: str | None = None
    if isinstance(quant, Mapping):
        method = str(quant.get("quant_method") or "") or None
        scheme = quant.get("kv_cache_scheme")
        if isinstance(scheme, Mapping) and scheme.get("type") == "float" and scheme.get("num_bits") == 8:
            kv_dtype = "fp8"
    modelopt = extra.get("hf_quant_config.json")
    if isinstance(modelopt, Mapping):
        section = modelopt.get("quantization", modelopt)
        if isinstance(section, Mapping):
            method = method or "modelopt"
            if str(section.get("kv_cache_quant_algo") or "").upper() == "FP8":
                kv_dtype = "fp8"
    return method, kv_dtype


def _moe_experts_quant_algo(config: Mapping[str, Any], text: Mapping[str, Any],
                            extra: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The routed experts' ModelOpt quant_algo, as ``ModelOptMixedPrecisionConfig.get_quant_method`` resolves it
    for a RoutedExperts layer (``_resolve_quant_algo(prefix)``, quantization/modelopt.py 0.24.0): the entry of
    ``quantized_layers`` naming ``mlp.experts`` (not the shared expert) under MIXED_PRECISION, else the top-level
    ``quant_algo``. None for other quant methods and unquantized checkpoints."""
    quant = config.get("quantization_config") or text.get("quantization_config")
    sections: list[Mapping[str, Any]] = []
    if isinstance(quant, Mapping) and str(quant.get("quant_method") or "") == "modelopt":
        sections.append(quant)
    modelopt = extra.get("hf_quant_config.json")
    if isinstance(modelopt, Mapping):
        section = modelopt.get("quantization", modelopt)
        if isinstance(section, Mapping):
            sections.append(section)
    for section in sections:
        algo = str(section.get("quant_algo") or "").upper()
        if algo != "MIXED_PRECISION":
            return algo or None
        layers = section.get("quantized_layers")
        for name, recipe in (layers.items() if isinstance(layers, Mapping) else ()):
            if "experts" in str(name) and "shared_expert" not in str(name) and isinstance(recipe, Mapping):
                return str(recipe.get("quant_algo") or "").upper() or None
    return None


@config_values_checked
def model_spec_from_config(config: Mapping[str, Any],
                           extra_configs: Mapping[str, Mapping[str, Any]] | None = None) -> ModelSpec:
    """Build the ModelSpec vLLM would see for this config.json (parsed as data)."""
    if not isinstance(config, Mapping):
        raise ConfigError("config.json must hold a JSON object")
    text, text_type, multimodal = _text_level(config)
    if not text_type:
        raise ConfigError("config has no model_type")
    cfg = _Cfg(text, text_type)
    archs = config.get("architectures")
    architecture = str(archs[0]) if isinstance(archs, list) and archs else text_type
    layout_name, chosen_arch, why = choose_layout(config, text, cfg)
    cfg.read.clear()  # choosing looked at keys; only what the layout itself reads counts (state_keys)
    builder = LAYOUT_BUILDERS.get(layout_name)
    if builder is None and layout_name not in BUILTIN_LAYOUTS:
        reason = why or UNSUPPORTED_MODEL_TYPES.get(text_type) or "a KV layout kvplan has not read from vLLM yet"
        raise UnsupportedModelError(
            f"kvplan cannot size {chosen_arch or text_type} models faithfully yet: no '{layout_name}' layout "
            f"({reason})", hint="Measure it with `kvplan probe` on a machine with vLLM")
    state_only = layout_name in STATE_ONLY_LAYOUTS
    pattern = _nemotron_h_pattern(cfg) if layout_name == "nemotron_h" else ""
    if pattern and cfg.get("num_hidden_layers") is None:
        num_layers = len(pattern)
    else:
        num_layers = cfg.int_("num_hidden_layers", "n_layer", "num_layers", "n_layers")
    if pattern and len(pattern) < num_layers:
        # vLLM reads the pattern's character for each of num_hidden_layers layers
        raise ConfigError(f"hybrid_override_pattern has {len(pattern)} layers, num_hidden_layers is {num_layers}")
    hidden = cfg.int_("hidden_size", "n_embd", "d_model")
    # A state-only model has no attention heads (Mamba2Config's num_heads are SSM heads): none to read or check
    num_heads = 0 if state_only else cfg.int_("num_attention_heads", "n_head", "n_heads", "num_heads")
    if num_layers == 0:
        raise ConfigError("config has num_hidden_layers 0")
    if num_layers > MAX_LAYERS:  # kvplan lays out every layer: a typo here would exhaust memory, not fail
        raise ConfigError(f"config has num_hidden_layers {num_layers}: more than {MAX_LAYERS:,}, not a real model")
    kv = 0 if state_only else _kv_heads(cfg, num_heads)
    uses_mla = text_type in MLA_MODEL_TYPES and cfg.get("kv_lora_rank") is not None
    head = 0 if uses_mla or (state_only and not num_heads) else _head_size(cfg, hidden, num_heads)
    if not uses_mla and not state_only and (kv <= 0 or head <= 0):
        raise ConfigError(f"config gives {kv} KV heads of size {head}; both must be positive")
    if not uses_mla and num_heads and kv and num_heads % kv:
        raise ConfigError(f"config has {num_heads} attention heads and {kv} KV heads: the KV heads must divide "
                          "the attention heads")

    layers: list[LayerSpec]
    notes: tuple[str, ...] = ()
    requires_release: tuple[str, str] | None = None
    if builder is not None:
        dims = BaseDims(num_layers=num_layers, hidden_size=hidden, num_attention_heads=num_heads, num_kv_heads=kv,
                        head_size=head)
        layout = builder(cfg, dims)
        layers, notes = list(layout.layers), notes + layout.notes
        requires_release = layout.requires_release
    elif layout_name == "encoder_only":
        layers = [NoKvLayer() for _ in range(num_layers)]
        notes = (f"{text_type} is encoder-only: vLLM allocates no KV cache for it (EncoderOnlyAttention)",)
    elif uses_mla:
        layers = _mla_layers(cfg, num_layers)
    elif layout_name == "llama4":
        layers = _llama4_layers(cfg, num_layers, kv, head)
    elif layout_name == "jamba":
        layers = _jamba_layers(cfg, num_layers, kv, head, hidden)
    elif layout_name == "nemotron_h":
        layers = _nemotron_h_layers(cfg, pattern[:num_layers], kv, head)  # vLLM reads one character a layer
    elif layout_name == "nemotron_nas":
        layers = _nas_layers(cfg, num_layers, num_heads, head)
    else:
        layers = _attention_layers(cfg, num_layers, kv, head)
    refuse_unread_state(text, cfg.read, layout=layout_name, architecture=chosen_arch or architecture,
                        builtin_layout=builder is None)

    max_len, max_key = _max_len(cfg)
    method, kv_dtype = _quantization(config, text, extra_configs or {})
    vocab = cfg.int_("vocab_size", "padded_vocab_size", "n_vocab", default=0)
    if vocab == 0 and cfg.get("vocab_size", "padded_vocab_size", "n_vocab") is not None:
        raise ConfigError("config has vocab_size 0: it must be positive")
    intermediate = cfg.get("intermediate_size", "ffn_hidden_size", "n_inner", default=0)
    moe_intermediate = cfg.get("moe_intermediate_size", default=0)
    experts_per_tok = cfg.get("num_experts_per_tok", "moe_topk", default=0)
    tied = cfg.get("tie_word_embeddings", default=False)
    experts = cfg.get("num_local_experts", "num_experts", "n_routed_experts", default=0)
    experts = int(experts) if isinstance(experts, (int, float)) else 0
    return ModelSpec(
        model_type=text_type,
        architecture=architecture,
        architectures=tuple(str(a) for a in archs) if isinstance(archs, list) else (),
        layers=tuple(layers),
        config_dtype=_dtype_of(config, text),
        max_position_tokens=max_len,
        max_position_key=max_key,
        hidden_size=hidden,
        num_attention_heads=num_heads,
        vocab_size=vocab,
        quantization=method,
        moe_experts_quant_algo=_moe_experts_quant_algo(config, text, extra_configs or {}) if experts else None,
        checkpoint_kv_cache_dtype=kv_dtype,
        mla=_mla_projections(cfg, config, extra_configs or {}) if uses_mla else None,
        is_multimodal=multimodal,
        vision=vision_tower(config) if multimodal else None,
        intermediate_size=int(intermediate) if isinstance(intermediate, (int, float)) else 0,
        moe_intermediate_size=int(moe_intermediate) if isinstance(moe_intermediate, (int, float)) else 0,
        num_experts_per_tok=int(experts_per_tok) if isinstance(experts_per_tok, (int, float)) else 0,
        tie_word_embeddings=bool(tied),
        rotary_dim=_rotary_dim(cfg, head) if head else int(cfg.get("qk_rope_head_dim", default=0) or 0),
        rope_cache_positions=_rope_cache_positions(cfg, max_len),
        local_rope_cache_positions=_local_rope_cache_positions(cfg, max_len, layers),
        num_experts=experts,
        # Only gpt-oss needs this today (MXFP4 expert padding), and every gpt-oss layer is MoE.
        num_moe_layers=num_layers if experts and text_type == "gpt_oss" else 0,
        notes=notes,
        requires_release=requires_release,
    )
