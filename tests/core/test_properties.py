"""Invariants of the KV arithmetic, over random dense and hybrid models."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.model import ModelSpec
from kvplan.core.plan import plan
from kvplan.core.settings import DeploySettings, version_tuple
from kvplan.core.units import MiB


@st.composite
def models(draw: st.DrawFn) -> ModelSpec:
    layers = draw(st.integers(1, 48))
    heads = draw(st.sampled_from([4, 8, 16, 32]))
    kv = draw(st.sampled_from([h for h in (1, 2, 4, 8) if heads % h == 0]))
    config: dict[str, object] = {
        "model_type": draw(st.sampled_from(["llama", "gemma2", "mistral"])),
        "num_hidden_layers": layers, "hidden_size": heads * 64, "num_attention_heads": heads,
        "num_key_value_heads": kv, "head_dim": draw(st.sampled_from([64, 128])),
        "max_position_embeddings": draw(st.sampled_from([4096, 32768])), "torch_dtype": "bfloat16",
        "sliding_window": draw(st.sampled_from([None, 512, 4096])),
    }
    return model_spec_from_config(config)


@settings(max_examples=60, deadline=None)
@given(model=models(), kv_mib=st.integers(64, 8192), extra_mib=st.integers(1, 4096),
       length=st.integers(1, 4096), entry=st.sampled_from(["serve", "llm"]))
def test_more_memory_never_means_fewer_tokens(model: ModelSpec, kv_mib: int, extra_mib: int, length: int,
                                              entry: str) -> None:
    def at(mib: int) -> tuple[int, int, bool]:
        r = plan(model, DeploySettings(max_model_len=length, kv_cache_memory_bytes=mib * MiB,
                                       entrypoint=entry))  # type: ignore[arg-type]
        return r.kv_cache.tokens, r.kv_cache.max_model_len_fit, r.kv_cache.fits

    small, large = at(kv_mib), at(kv_mib + extra_mib)
    assert large[0] >= small[0]
    assert large[1] >= small[1]
    assert large[2] or not small[2]


@settings(max_examples=60, deadline=None)
@given(model=models(), kv_mib=st.integers(16, 4096), length=st.integers(1, 4096))
def test_fit_is_exactly_the_largest_length_that_passes(model: ModelSpec, kv_mib: int, length: int) -> None:
    result = plan(model, DeploySettings(max_model_len=length, kv_cache_memory_bytes=kv_mib * MiB))
    fit = result.kv_cache.max_model_len_fit
    if result.kv_cache.fits:
        assert fit >= length
    else:
        assert fit < length
        if fit > 0:
            assert plan(model, DeploySettings(max_model_len=fit, kv_cache_memory_bytes=kv_mib * MiB)).kv_cache.fits


@settings(max_examples=40, deadline=None)
@given(model=models(), kv_mib=st.integers(64, 4096), length=st.integers(16, 4096))
def test_fp8_kv_never_holds_fewer_tokens(model: ModelSpec, kv_mib: int, length: int) -> None:
    base = plan(model, DeploySettings(max_model_len=length, kv_cache_memory_bytes=kv_mib * MiB))
    fp8 = plan(model, DeploySettings(max_model_len=length, kv_cache_memory_bytes=kv_mib * MiB, kv_cache_dtype="fp8"))
    assert fp8.kv_cache.num_blocks >= base.kv_cache.num_blocks


@st.composite
def nemotron_h_hybrids(draw: st.DrawFn) -> ModelSpec:
    """Random Nemotron-H patterns of Mamba-2 ('M'), attention ('*') and MLP ('-') layers; M and * both present."""
    pattern = draw(st.lists(st.sampled_from("M*-"), min_size=2, max_size=24).filter(
        lambda p: "M" in p and "*" in p))
    hidden = draw(st.sampled_from([512, 1024, 2048]))
    heads = draw(st.sampled_from([8, 16]))
    config: dict[str, object] = {
        "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "torch_dtype": "bfloat16",
        "num_hidden_layers": len(pattern), "hybrid_override_pattern": "".join(pattern),
        "hidden_size": hidden, "intermediate_size": 4 * hidden, "num_attention_heads": heads,
        "num_key_value_heads": draw(st.sampled_from([2, 4, 8])), "head_dim": 128, "vocab_size": 32000,
        "max_position_embeddings": 32768, "mamba_num_heads": draw(st.sampled_from([16, 32, 64])),
        "mamba_head_dim": 64, "n_groups": draw(st.sampled_from([1, 4, 8])),
        "ssm_state_size": draw(st.sampled_from([64, 128])), "conv_kernel": 4, "expand": 2,
    }
    return model_spec_from_config(config)


@settings(max_examples=40, deadline=None)
@given(model=nemotron_h_hybrids(), kv_mib=st.integers(64, 4096), length=st.integers(1, 16384),
       version=st.sampled_from(["0.26.0", "0.28.0", "0.31.0", "0.33.0"]))
def test_prefix_caching_off_never_holds_fewer_tokens(model: ModelSpec, kv_mib: int, length: int,
                                                      version: str) -> None:
    """Without prefix caching a Mamba group keeps one state block a request, never more than in "align" mode."""
    def at(prefix: bool | None) -> tuple[int, int, float]:
        r = plan(model, DeploySettings(vllm_version=version, max_model_len=length, kv_cache_memory_bytes=kv_mib * MiB,
                                       enable_prefix_caching=prefix))
        return r.kv_cache.tokens, r.kv_cache.max_model_len_fit, r.kv_cache.max_concurrency

    off, default = at(False), at(None)
    assert off[0] >= default[0] and off[1] >= default[1] and off[2] >= default[2]
    if version_tuple(version) < (0, 28, 0):
        assert off == default  # vLLM keeps it off for hybrids before 0.28
    else:
        # on from 0.28: off takes fewer blocks a request, so strictly more requests fit (the token count, which
        # vLLM derives from the concurrency at max_model_len, can round to the same whole number)
        assert off[2] > default[2] or default[2] == 0
