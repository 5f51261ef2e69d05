"""vLLM's registry as data (kvplan.core.vllm_registry, generated from the wheels by tools/gen_vllm_registry.py)
and dispatch by architecture: the release must register it, kvplan must have its layout, the config must hold
no state the layout does not read."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app
from kvplan.core.architectures import MLA_MODEL_TYPES, model_spec_from_config
from kvplan.core.errors import UnsupportedModelError
from kvplan.core.layout_table import LAYOUT_OF_ARCHITECTURE
from kvplan.core.layouts import LAYOUT_BUILDERS
from kvplan.core.vllm_archs import check_release_serves, registered_in, registry_release, release_architectures
from kvplan.core.vllm_registry import ARCHITECTURES, RELEASE_COUNTS, RELEASES

ROOT = Path(__file__).resolve().parents[2]


def test_the_spans_reproduce_every_release_count() -> None:
    for release in RELEASES:
        assert len(release_architectures(release)) == RELEASE_COUNTS[release], release


def test_counts_of_the_releases_kvplan_models() -> None:
    assert RELEASES[0] == "0.5.4" and RELEASES[-1] == "0.34.0"
    assert {v: RELEASE_COUNTS[v] for v in ("0.5.4", "0.6.6", "0.10.1.1", "0.33.0", "0.34.0")} == {
        "0.5.4": 60, "0.6.6": 106, "0.10.1.1": 191, "0.33.0": 415, "0.34.0": 426}
    x_y_0 = [f"0.{minor}.0" for minor in range(6, 35)]
    assert all(v in RELEASES for v in x_y_0)


@pytest.mark.parametrize(("arch", "spans"), [
    ("LlamaForCausalLM", (("0.5.4", "0.34.0"),)),
    ("Qwen3ForCausalLM", (("0.8.4", "0.34.0"),)),  # Qwen3 support landed in vLLM 0.8.4
    ("QWenLMHeadModel", (("0.5.4", "0.23.0"),)),
    ("Gemma4ForCausalLM", (("0.19.0", "0.34.0"),)),
    ("BambaForCausalLM", (("0.7.3", "0.23.0"),)),
])
def test_known_architectures(arch: str, spans: tuple[tuple[str, str], ...]) -> None:
    assert ARCHITECTURES[arch][3] == spans


def test_module_class_and_kind() -> None:
    assert ARCHITECTURES["Qwen3ForCausalLM"][:3] == ("qwen3", "Qwen3ForCausalLM", "text-generation")
    assert ARCHITECTURES["Gemma3ForConditionalGeneration"][2] == "multimodal"
    assert ARCHITECTURES["DeepseekV4ForCausalLM"][0] == "vllm.models.deepseek_v4"


def test_releases_between_those_read() -> None:
    assert registry_release("0.34.5") == "0.34.0"
    assert registry_release("0.8.5.post1") == "0.8.5.post1"
    assert registry_release("0.9.3") == "0.9.2"
    assert registered_in("Qwen3ForCausalLM", "0.8.4") and not registered_in("Qwen3ForCausalLM", "0.8.3")


def test_qwen3_on_066_is_refused_in_vllms_words() -> None:
    with pytest.raises(UnsupportedModelError) as err:
        check_release_serves(("Qwen3ForCausalLM",), "0.6.6")
    text = err.value.one_line()
    assert text.startswith("Model architectures ['Qwen3ForCausalLM'] are not supported for now. Supported "
                           "architectures: ['QWenLMHeadModel', 'Qwen2")
    assert "plan with --vllm-version 0.8.4 or later" in text


def test_qwen3_on_066_through_the_cli() -> None:
    result = CliRunner().invoke(app, ["check", "Qwen/Qwen3-8B", "--kv-cache-memory", "4GiB", "--max-model-len", "4096",
                                      "--vllm-version", "0.6.6"])
    assert result.exit_code == 2
    assert "Model architectures ['Qwen3ForCausalLM'] are not supported for now" in result.stderr
    ok = CliRunner().invoke(app, ["check", "Qwen/Qwen3-8B", "--kv-cache-memory", "4GiB", "--max-model-len", "4096",
                                  "--vllm-version", "0.8.4"])
    assert ok.exit_code == 0, ok.stderr


def test_removed_architectures_say_until_when() -> None:
    with pytest.raises(UnsupportedModelError, match=r"was supported in vLLM until v0\.23\.0"):
        check_release_serves(("QWenLMHeadModel",), "0.33.0")
    check_release_serves(("QWenLMHeadModel",), "0.23.0")


def test_an_architecture_no_release_registers() -> None:
    with pytest.raises(UnsupportedModelError) as err:
        check_release_serves(("Step3p7FlashForCausalLM",), "0.33.0")
    assert "No vLLM release from 0.5.4 to 0.34.0 registers it" in err.value.one_line()
    check_release_serves((), "0.6.6")  # no architectures: vLLM falls back on the model type


def _tiny(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 256,
                              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
                              "max_position_embeddings": 4096}
    config.update(extra)
    return config


def test_without_architectures_the_model_type_routes_as_before() -> None:
    spec = model_spec_from_config(_tiny())
    assert spec.architectures == () and spec.num_layers == 2


def test_a_family_without_a_builder_is_refused_by_layout_name() -> None:
    if "falcon_h1" in LAYOUT_BUILDERS:
        pytest.skip("a falcon_h1 builder is registered")
    config = _tiny(model_type="falcon_h1", architectures=["FalconH1ForCausalLM"], mamba_d_ssm=64, mamba_n_heads=4)
    with pytest.raises(UnsupportedModelError, match="no 'falcon_h1' layout"):
        model_spec_from_config(config)


def test_pure_mamba_without_architectures_is_refused_not_sized_as_attention() -> None:
    if "mamba2" in LAYOUT_BUILDERS:
        pytest.skip("a mamba2 builder is registered")
    config = {"model_type": "mamba2", "num_hidden_layers": 2, "hidden_size": 256, "state_size": 128,
              "num_heads": 8, "head_dim": 64, "n_groups": 1, "conv_kernel": 4, "vocab_size": 1000}
    with pytest.raises(UnsupportedModelError, match="'mamba2'"):
        model_spec_from_config(config)


def test_state_keys_no_layout_reads_are_refused_by_name() -> None:
    config = _tiny(architectures=["LlamaForCausalLM"], mamba_d_state=16, mamba_expand=2, index_n_heads=8)
    with pytest.raises(UnsupportedModelError) as err:
        model_spec_from_config(config)
    assert "Mamba/SSM state (mamba_d_state, mamba_expand)" in err.value.message
    assert "indexer cache (index_n_heads)" in err.value.message
    # the same keys at null describe nothing
    model_spec_from_config(_tiny(architectures=["LlamaForCausalLM"], mamba_d_state=None))


def test_an_unknown_layout_in_the_table_is_refused() -> None:
    config = _tiny(model_type="zaya", architectures=["ZayaForCausalLM"])
    with pytest.raises(UnsupportedModelError, match="no KV layout for ZayaForCausalLM"):
        model_spec_from_config(config)


def test_every_layout_in_the_table_is_a_known_name() -> None:
    names = {"attention", "mla", "llama4", "jamba", "nemotron_h", "granite_hybrid", "qwen3_next", "nemotron_nas",
             "encoder_only", "text_config", "unknown", "deepseek_v32", "deepseek_v4", "deepseek_v41", "gemma4",
             "gemma3n",
             "minimax_m2", "minimax_linear", "step3p7", "mimo_v2_flash", "laguna", "muse_glimmer", "falcon_h1",
             "bamba", "zamba2", "lfm2", "olmo_hybrid", "plamo", "mamba", "mamba2", "kimi_linear",
             "cohere2", "exaone_moe", "longcat_flash", "layer_types_attention", "lfm3", "qwen3_5_unhooked",
             "minicpm3", "step3p5", "flint", "step3_text"}
    assert {layout for layout, _m, _w in LAYOUT_OF_ARCHITECTURE.values()} <= names
    assert all(arch in ARCHITECTURES for arch in LAYOUT_OF_ARCHITECTURE)


def _load_tool(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_generator_reads_registry_syntax(tmp_path: Path) -> None:
    """The forms vLLM's registry.py uses: dict displays, ``**TABLE`` and the class-filter comprehension."""
    tool = _load_tool("gen_vllm_registry")
    source = '''
_TEXT_GENERATION_MODELS = {"LlamaForCausalLM": ("llama", "LlamaForCausalLM"),
                           "AquilaModel": ("llama", "LlamaForCausalLM"), "OPTForCausalLM": ("opt", "OPTForCausalLM")}
_EMBEDDING_MODELS = {"BertModel": ("bert", "BertEmbeddingModel"),
    **{k: (mod, arch) for k, (mod, arch) in _TEXT_GENERATION_MODELS.items() if arch == "LlamaForCausalLM"}}
_VLLM_MODELS = {**_TEXT_GENERATION_MODELS, **_EMBEDDING_MODELS}
_PREVIOUSLY_SUPPORTED_MODELS = {"Phi3SmallForCausalLM": "0.9.2"}
'''
    release = tool.read_release(source, "0.9.9")
    assert sorted(release.models) == ["AquilaModel", "BertModel", "LlamaForCausalLM", "OPTForCausalLM"]
    assert release.kinds["AquilaModel"] == "text-generation" and release.kinds["BertModel"] == "pooling"
    assert release.previously_supported == {"Phi3SmallForCausalLM": "0.9.2"}


def test_a_registered_builder_is_used_and_must_read_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract with kvplan.core.layouts: a builder registered under the table's layout name is used for the
    architecture; a state family it read no key of is refused."""
    from kvplan.core.config_view import ConfigView
    from kvplan.core.layouts import BaseDims, Layout
    from kvplan.core.model import AttentionLayer, MambaLayer

    def reads_mamba(cfg: ConfigView, dims: BaseDims) -> Layout:
        state = cfg.int_("mamba_d_ssm")
        mamba = MambaLayer(kind="mamba2", conv_kernel=4, intermediate_size=state, state_size=16, num_heads=4,
                           head_dim=16)
        attention = AttentionLayer(kind="full", num_kv_heads=dims.num_kv_heads, head_size=dims.head_size,
                                   head_size_v=dims.head_size)
        return Layout(layers=(mamba, attention) * (dims.num_layers // 2))

    def ignores_mamba(cfg: ConfigView, dims: BaseDims) -> Layout:
        return Layout(layers=(AttentionLayer(kind="full", num_kv_heads=dims.num_kv_heads, head_size=dims.head_size,
                                             head_size_v=dims.head_size),) * dims.num_layers)

    config = _tiny(model_type="falcon_h1", architectures=["FalconH1ForCausalLM"], mamba_d_ssm=64, mamba_n_heads=4)
    monkeypatch.setitem(LAYOUT_BUILDERS, "falcon_h1", reads_mamba)
    spec = model_spec_from_config(config)
    assert [layer.__class__.__name__ for layer in spec.layers] == ["MambaLayer", "AttentionLayer"]
    monkeypatch.setitem(LAYOUT_BUILDERS, "falcon_h1", ignores_mamba)
    with pytest.raises(UnsupportedModelError, match=r"mamba_d_ssm, mamba_n_heads"):
        model_spec_from_config(config)


def test_a_model_type_builder_wins_over_plain_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    """MiniMax-M2 is plain attention in the table; a family module that registers its model type knows better."""
    from kvplan.core.config_view import ConfigView
    from kvplan.core.layouts import MODEL_TYPE_LAYOUTS, BaseDims, Layout
    from kvplan.core.model import NoKvLayer

    def nothing(cfg: ConfigView, dims: BaseDims) -> Layout:
        return Layout(layers=(NoKvLayer(),) * dims.num_layers, notes=("registered",))

    monkeypatch.setitem(LAYOUT_BUILDERS, "minimax_m2", nothing)
    monkeypatch.setitem(MODEL_TYPE_LAYOUTS, "minimax_m2", "minimax_m2")
    spec = model_spec_from_config(_tiny(model_type="minimax_m2", architectures=["MiniMaxM2ForCausalLM"]))
    assert spec.notes == ("registered",)


def test_multimodal_wrappers_follow_their_text_model() -> None:
    config = {"model_type": "qwen2_vl", "architectures": ["Qwen2VLForConditionalGeneration"],
              "vision_config": {}, "text_config": {**_tiny(model_type="qwen2")}}
    spec = model_spec_from_config(config)
    assert spec.is_multimodal and spec.num_layers == 2 and spec.architectures == ("Qwen2VLForConditionalGeneration",)


def test_inspect_refuses_too() -> None:
    result = CliRunner().invoke(app, ["inspect", "Qwen/Qwen3-8B", "--max-model-len", "4096", "--vllm-version", "0.6.6"])
    assert result.exit_code == 2 and "are not supported for now" in result.stderr


def test_layer_types_transformers_derives_are_not_guessed() -> None:
    """Cohere2Config builds layer_types from sliding_window_pattern when a config has none (every 4th layer
    global): windowing all layers would be a wrong number, so kvplan refuses; with layer_types it plans."""
    config = _tiny(model_type="cohere2", architectures=["Cohere2ForCausalLM"], num_hidden_layers=4,
                   sliding_window=512)
    with pytest.raises(UnsupportedModelError, match="derives them for cohere2"):
        model_spec_from_config(config)
    config["layer_types"] = ["sliding_attention"] * 3 + ["full_attention"]
    assert [layer.kind for layer in model_spec_from_config(config).layers] == ["sliding"] * 3 + ["full"]


def test_llm_config_is_the_text_config() -> None:
    """vLLM remaps llm_config to text_config (_CONFIG_ATTRS_MAPPING, 0.34): InternVL's language model."""
    config = {"model_type": "internvl_chat", "architectures": ["InternVLChatModel"], "vision_config": {},
              "llm_config": {**_tiny(model_type="qwen2"), "architectures": ["Qwen2ForCausalLM"]}}
    spec = model_spec_from_config(config)
    assert spec.model_type == "qwen2" and spec.num_layers == 2 and spec.is_multimodal


# The families the issue found sized as plain attention with exit 0, as transformers' classes write them.
SILENTLY_WRONG_BEFORE = [
    ("FalconH1Config", "FalconH1ForCausalLM", "falcon_h1", {"num_hidden_layers": 4}),
    ("Zamba2Config", "Zamba2ForCausalLM", "zamba2", {}),  # its class checks layer_types against 54 layers
    ("Mamba2Config", "Mamba2ForCausalLM", "mamba2", {"num_hidden_layers": 4}),
    ("Gemma3nTextConfig", "Gemma3nForCausalLM", "gemma3n", {"num_hidden_layers": 4}),
    ("Glm4MoeLiteConfig", "Glm4MoeLiteForCausalLM", "mla", {"num_hidden_layers": 4}),
]


@pytest.mark.parametrize(("cls", "arch", "layout", "extra"), SILENTLY_WRONG_BEFORE)
def test_families_once_sized_as_attention_are_sized_or_refused(cls: str, arch: str, layout: str,
                                                               extra: dict[str, Any]) -> None:
    transformers = pytest.importorskip("transformers")
    config = getattr(transformers, cls)(**extra).to_dict()
    config["architectures"] = [arch]
    if layout == "mla" and config["model_type"] in MLA_MODEL_TYPES:
        assert {layer.kind for layer in model_spec_from_config(config).attention_layers} == {"mla"}
        return
    if layout in LAYOUT_BUILDERS:
        pytest.skip(f"a {layout} builder is registered: its own tests pin it")
    with pytest.raises(UnsupportedModelError):
        model_spec_from_config(config)


def test_granite_4_h_in_both_spellings() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.GraniteMoeHybridConfig(num_hidden_layers=4).to_dict()
    config["architectures"] = ["GraniteMoeHybridForCausalLM"]
    config["layer_types"] = ["linear_attention", "linear_attention", "linear_attention", "full_attention"]
    v5 = model_spec_from_config(config)
    config["layer_types"] = ["mamba", "mamba", "mamba", "attention"]
    v4 = model_spec_from_config(config)
    assert [layer.__class__.__name__ for layer in v5.layers] == ["MambaLayer"] * 3 + ["AttentionLayer"]
    assert v4.layers == v5.layers
