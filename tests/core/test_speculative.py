"""Speculative decoding: the drafter's KV layers beside the model's, Mamba's extra state blocks, the runner.

The two cases that vLLM itself confirms are in the peer suite (tests/peer/cases.py): an EAGLE draft on a
4-layer Llama (1 GiB, 209,664 tokens) and MTP on a Qwen3-Next hybrid (300 MiB, 100,000 tokens).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from kvplan import api
from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.errors import UsageError
from kvplan.core.model import ModelSpec
from kvplan.core.model_runner import default_model_runner
from kvplan.core.overheads import capture_sizes
from kvplan.core.plan import plan
from kvplan.core.settings import DeploySettings as _DeploySettings
from kvplan.core.settings import SpeculativeSettings
from kvplan.core.speculative import mtp_modules, with_drafter
from kvplan.core.units import GiB
from kvplan.sources import catalog

# The figures here were read in vLLM 0.33's code: every plan pins 0.33.0 (0.34, the default since, has its own
# tests in test_kv_sizing.py); a test naming another release still wins.
DeploySettings = partial(_DeploySettings, vllm_version="0.33.0")

MTP2 = SpeculativeSettings(method="mtp", num_speculative_tokens=2)


def _config(name: str) -> dict:  # type: ignore[type-arg]
    entry = catalog.find(name)
    assert entry is not None
    return dict(entry.config)


def _spec(name: str) -> ModelSpec:
    return model_spec_from_config(_config(name))


def _tokens(model: ModelSpec, settings: _DeploySettings) -> tuple[int, int]:
    result = plan(model, settings)
    return result.kv_cache.num_blocks, result.kv_cache.bytes_per_block


def test_mtp_hosts_one_more_layer_of_the_models_own_attention() -> None:
    config = _config("deepseek-ai/DeepSeek-R1")
    assert mtp_modules(config) == 1
    model = _spec("deepseek-ai/DeepSeek-R1")
    drafted = with_drafter(model, MTP2, config=config)
    assert drafted.draft_layers == (model.attention_layers[0],) and drafted.draft_layers[0].kind == "mla"
    base = DeploySettings(kv_cache_memory_bytes=10 * GiB, max_model_len=8192)
    _, bpb = _tokens(model, base)
    _, bpb_mtp = _tokens(drafted, DeploySettings(kv_cache_memory_bytes=10 * GiB, max_model_len=8192, speculative=MTP2))
    assert bpb == 61 * 16 * 576 * 2 and bpb_mtp == 62 * 16 * 576 * 2  # one latent of 576 bf16 values per token


def test_mtp_needs_mtp_layers_and_draft_methods_need_a_model() -> None:
    with pytest.raises(UsageError, match="names none"):
        with_drafter(_spec("meta-llama/Llama-3.1-8B"), MTP2, config=_config("meta-llama/Llama-3.1-8B"))
    with pytest.raises(UsageError, match="needs a draft"):
        SpeculativeSettings(method="eagle", num_speculative_tokens=3)
    with pytest.raises(UsageError, match="not one kvplan plans"):
        SpeculativeSettings(method="medusa", num_speculative_tokens=3)
    with pytest.raises(UsageError, match="at least 1"):
        SpeculativeSettings(method="ngram", num_speculative_tokens=0)


def test_ngram_adds_no_layers_but_mamba_keeps_a_block_per_drafted_token() -> None:
    model = _spec("Qwen/Qwen3-Next-80B-A3B-Thinking")
    ngram = SpeculativeSettings(method="ngram", num_speculative_tokens=3)
    assert with_drafter(model, ngram, config={}).draft_layers == ()
    plain = plan(model, DeploySettings(kv_cache_memory_bytes=GiB, max_model_len=4096))
    spec = plan(model, DeploySettings(kv_cache_memory_bytes=GiB, max_model_len=4096, speculative=ngram))
    # The GDN conv state is 3 rows longer (gated_delta_net_state_shape(..., num_spec), layers/mamba/gdn/
    # qwen_gdn_linear_attn.py get_state_shape, 0.32-0.34): the attention block grows from 544 to 560 tokens.
    assert (plain.kv_cache.block_size, spec.kv_cache.block_size) == (544, 560)
    # 3 GDN groups x 3 more blocks per request
    assert spec.kv_cache.blocks_per_request == plain.kv_cache.blocks_per_request + 3 * 3


def test_eagle_draft_layers_join_the_full_attention_group() -> None:
    target, draft = _spec("meta-llama/Llama-3.1-8B"), _spec("meta-llama/Llama-3.2-1B-Instruct")
    eagle = SpeculativeSettings(method="draft_model", num_speculative_tokens=4, draft_model="x")
    drafted = with_drafter(target, eagle, config={}, draft=draft)
    assert len(drafted.draft_layers) == 16
    _, bpb = _tokens(drafted, DeploySettings(kv_cache_memory_bytes=GiB, max_model_len=4096, speculative=eagle))
    # 32 target layers of 8 x 128 and 16 draft layers of 8 x 64, bf16, 16 tokens: one pool, per-layer pages
    assert bpb == 16 * 2 * 2 * 8 * (32 * 128 + 16 * 64)


def test_draft_layers_sit_on_the_last_pp_stage() -> None:
    model = with_drafter(_spec("deepseek-ai/DeepSeek-R1"), MTP2, config=_config("deepseek-ai/DeepSeek-R1"))
    result = plan(model, DeploySettings(kv_cache_memory_bytes=10 * GiB, max_model_len=8192, pipeline_parallel_size=4,
                                        speculative=MTP2))
    # get_pp_indices(61, 4): [15, 15, 16, 15], and the MTP layer joins the last stage
    assert result.layout.stage_bytes_per_block == tuple(n * 16 * 1152 for n in (15, 15, 16, 16))


@pytest.mark.parametrize(("version", "method", "runner"), [
    ("0.26.0", None, "v2"), ("0.26.0", "ngram", "v1"), ("0.26.0", "mtp", "v2"), ("0.26.0", "draft_model", "v1"),
    ("0.30.0", "draft_model", "v1"), ("0.31.0", "draft_model", "v2"), ("0.31.0", "ngram", "v1"),
    ("0.32.0", "ngram", "v2"), ("0.33.0", "suffix", "v1"), ("0.33.0", "eagle3", "v2"),
])
def test_model_runner_with_speculation(version: str, method: str | None, runner: str) -> None:
    model = _spec("meta-llama/Llama-3.1-8B")
    assert default_model_runner(model, version=version, engine="v1", platform="cuda", quantized=False,
                                speculative_method=method) == runner


def test_capture_sizes_grow_with_the_decode_query_length() -> None:
    model = _spec("meta-llama/Llama-3.1-8B")
    engine = resolve_engine(model, DeploySettings(max_num_seqs=64, max_model_len=4096, speculative=MTP2), None)
    sizes = capture_sizes(engine)
    assert sizes[-1] == 64 * 3 * 2 == 384  # max_num_seqs x (1 + 2) x 2


def test_plan_inputs_keep_the_mtp_weights_an_mtp_drafter_loads(tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "KVPLAN_CACHE_DIR": str(tmp_path / "kvplan")}
    plain = api.plan_inputs("deepseek-ai/DeepSeek-R1", DeploySettings(), revision=None, environ=env)
    mtp = api.plan_inputs("deepseek-ai/DeepSeek-R1", DeploySettings(speculative=MTP2), revision=None, environ=env)
    assert plain.weights is not None and mtp.weights is not None
    assert mtp.weights.total_bytes == 688_472_104_000  # the catalog's count, MTP layer included
    assert plain.weights.total_bytes < mtp.weights.total_bytes and "MTP layers" in plain.weights.source
    assert len(mtp.model.draft_layers) == 1 and not plain.model.draft_layers


def test_nemotron_h_mtp_modules_follow_their_pattern() -> None:
    name = "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8"
    config = _config(name)
    assert config["mtp_hybrid_override_pattern"] == "*E"
    model = _spec(name)
    assert len(with_drafter(model, MTP2, config=config).draft_layers) == 1
    assert len(with_drafter(model, MTP2, config={**config, "mtp_hybrid_override_pattern": "*E*E"}).draft_layers) == 2
    with pytest.raises(UsageError, match="Mamba layers"):
        with_drafter(model, MTP2, config={**config, "mtp_hybrid_override_pattern": "M*E"})


def test_speculation_on_the_v0_engine_is_refused() -> None:
    model = _spec("meta-llama/Llama-3.1-8B")
    ngram = SpeculativeSettings(method="ngram", num_speculative_tokens=3)
    with pytest.raises(UsageError, match="V1 engine only"):
        resolve_engine(model, DeploySettings(vllm_version="0.6.6", speculative=ngram), None)
