"""kvplan's table of transformers config-class defaults (CONFIG_DEFAULTS) against the classes themselves.

vLLM reads configs after transformers filled in these defaults (gemma-3-4b-it's text_config omits its heads);
kvplan carries them so that `check` never imports transformers. If transformers changes a default, this fails.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.architectures import CONFIG_DEFAULTS, model_spec_from_config
from kvplan.core.config_defaults import TRANSFORMERS_VERSION
from kvplan.core.model import AttentionLayer
from tests.conftest import CATALOG_SOURCES

transformers = pytest.importorskip("transformers")

CLASSES = {
    "gemma3_text": "Gemma3TextConfig",
    "gemma2": "Gemma2Config",
    "llama4_text": "Llama4TextConfig",
    "gpt_oss": "GptOssConfig",
    "jamba": "JambaConfig",
    "qwen3_next": "Qwen3NextConfig",
    "falcon": "FalconConfig",
}
# Keys kvplan derives differently from the class attribute of the same name.
DERIVED = {"sliding_window_pattern", "no_rope_layer_interval", "full_attention_interval",
           "_derives_layer_types"}  # the last is a marker: the class builds layer_types from other keys


@pytest.mark.parametrize("model_type", sorted(CLASSES))
def test_defaults_match_transformers(model_type: str) -> None:
    config = getattr(transformers, CLASSES[model_type])()
    for key, value in CONFIG_DEFAULTS[model_type].items():
        if key in DERIVED:
            continue
        assert getattr(config, key) == value, f"{CLASSES[model_type]}.{key}"


def test_gemma3_pattern_default_matches_layer_types() -> None:
    config = transformers.Gemma3TextConfig(num_hidden_layers=12)
    expected = ["sliding" if t == "sliding_attention" else "full" for t in config.layer_types]
    spec = model_spec_from_config({"model_type": "gemma3_text", "num_hidden_layers": 12})
    assert [layer.kind for layer in spec.layers] == expected


def _normalised(name: str) -> tuple[dict[str, Any], Any]:
    raw = json.loads((CATALOG_SOURCES / name / "config.json").read_text())
    kwargs = {k: v for k, v in raw.items() if k != "model_type"}
    return raw, transformers.AutoConfig.for_model(raw["model_type"], **kwargs).get_text_config()


@pytest.mark.parametrize("name", [
    "google__gemma-3-4b-it", "google__gemma-3-27b-it", "google__gemma-2-9b-it", "openai__gpt-oss-20b",
    "mistralai__Mistral-7B-v0.1", "Qwen__Qwen2.5-7B-Instruct", "meta-llama__Llama-3.1-8B",
    "microsoft__Phi-3-mini-4k-instruct", "Qwen__Qwen3-Next-80B-A3B-Thinking",
    "meta-llama__Llama-4-Scout-17B-16E-Instruct",
])
def test_heads_windows_and_lengths_agree_with_transformers(name: str) -> None:
    raw, text = _normalised(name)
    spec = model_spec_from_config(raw)
    attention = [layer for layer in spec.layers if isinstance(layer, AttentionLayer)]
    assert attention[0].num_kv_heads == text.num_key_value_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    assert attention[0].head_size == head_dim
    assert spec.max_position_tokens == text.max_position_embeddings
    layer_types = getattr(text, "layer_types", None)
    window = getattr(text, "sliding_window", None)
    if layer_types:
        ours = [layer.kind for layer in spec.layers]
        theirs = [{"sliding_attention": "sliding", "full_attention": "full", "chunked_attention": "chunked",
                   "linear_attention": "gdn"}[t] for t in layer_types]
        assert ours == theirs
    elif window:
        # no layer_types: vLLM windows every layer (CacheConfig.sliding_window)
        assert all(layer.kind == "sliding" and layer.sliding_window == window for layer in attention)
    else:
        assert all(layer.kind == "full" for layer in attention)


def _generator() -> Any:
    path = Path(__file__).resolve().parents[2] / "tools" / "gen_config_defaults.py"
    spec = importlib.util.spec_from_file_location("gen_config_defaults", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_config_defaults"] = module
    spec.loader.exec_module(module)
    return module


def test_every_config_class_is_in_the_table() -> None:
    """The generated table is what tools/gen_config_defaults.py reads from the installed transformers (590 model
    types from 5.24.0). Another transformers release may differ: regenerate, then review the diff."""
    if transformers.__version__ != TRANSFORMERS_VERSION:
        pytest.skip(f"table generated from transformers {TRANSFORMERS_VERSION}, {transformers.__version__} installed")
    assert _generator().table() == CONFIG_DEFAULTS
    assert len(CONFIG_DEFAULTS) >= 590


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "mistral", "deepseek_v3", "falcon_h1", "mamba2",
                                        "granitemoehybrid", "lfm2", "nemotron_h", "gemma3n_text"])
def test_the_table_holds_what_an_instance_holds(model_type: str) -> None:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    instance = CONFIG_MAPPING[model_type]()
    for key, value in CONFIG_DEFAULTS[model_type].items():
        if key not in DERIVED:
            assert getattr(instance, key) == value, f"{model_type}.{key}"


def test_the_marker_of_derived_layer_types() -> None:
    assert CONFIG_DEFAULTS["cohere2"]["_derives_layer_types"] is True
    assert set(transformers.Cohere2Config(num_hidden_layers=8).layer_types) == {"sliding_attention", "full_attention"}
    assert "_derives_layer_types" not in CONFIG_DEFAULTS["llama"]
