"""Which engine vLLM 0.8-0.10.2 runs a deployment on: ``EngineArgs._is_v1_supported_oracle`` as read in the wheels.

V1 is the default from 0.8.0, but until V0 was removed (0.11.0) vLLM fell back to it, while VLLM_USE_V1 was unset,
for what V1 did not run yet. The fallback changes the whole plan (V0 profiles and sizes its KV cache differently),
so each rule is pinned here at the releases where it changes.
"""

from __future__ import annotations

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.errors import UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import ModelSpec
from kvplan.core.model_runner import engine_for_model
from kvplan.core.settings import DeploySettings, SpeculativeSettings
from kvplan.core.units import GiB
from kvplan.sources import catalog

A100, L40S, H100, B200 = (8, 0), (8, 9), (9, 0), (10, 0)


def _spec(name: str) -> ModelSpec:
    entry = catalog.find(name)
    assert entry is not None
    return model_spec_from_config(entry.config)


def _engine(model: ModelSpec, capability: tuple[int, int] | None, **settings: object) -> tuple[str, str | None]:
    behaviour, note = engine_for_model(model, DeploySettings(**settings),  # type: ignore[arg-type]
                                       model_dtype=None, compute_capability=capability)
    return behaviour.engine, note


@pytest.mark.parametrize(("version", "capability", "engine"), [
    ("0.8.0", H100, "v0"), ("0.8.1", H100, "v0"),  # any --kv-cache-dtype: V0
    ("0.8.2", H100, "v1"), ("0.8.2", A100, "v0"), ("0.9.2", L40S, "v0"), ("0.9.2", B200, "v0"),
    ("0.10.0", B200, "v1"), ("0.10.1", H100, "v1"), ("0.10.1", A100, "v0"),
    ("0.10.2", L40S, "v0"), ("0.10.2", H100, "v1"), ("0.11.0", L40S, "v1"), ("0.7.3", H100, "v0"),
])
def test_fp8_kv_cache_runs_on_v1_only_with_flash_attention_3_or_blackwell(
        version: str, capability: tuple[int, int], engine: str) -> None:
    got, note = _engine(_spec("meta-llama/Llama-3.1-8B"), capability, vllm_version=version, kv_cache_dtype="fp8")
    assert got == engine
    if engine == "v0" and version != "0.7.3":
        assert note is not None and "--kv-cache-dtype fp8" in note


def test_fp8_kv_cache_on_an_unknown_gpu_keeps_v1_and_says_why() -> None:
    engine, note = _engine(_spec("meta-llama/Llama-3.1-8B"), None, vllm_version="0.10.1", kv_cache_dtype="fp8")
    assert engine == "v1" and note is not None and "--gpu" in note and "B200" in note
    assert "B200" not in str(_engine(_spec("meta-llama/Llama-3.1-8B"), None, vllm_version="0.9.2",
                                     kv_cache_dtype="fp8")[1])
    # 0.10.2 keeps MLA models on V1 whatever the GPU: nothing to say.
    assert _engine(_spec("deepseek-ai/DeepSeek-R1"), None, vllm_version="0.10.2", kv_cache_dtype="fp8") == ("v1", None)


def test_mla_models_take_fp8_kv_on_v1_in_0_10_2() -> None:
    """0.10.2's ``is_kv_cache_dtype_supported`` sends MLA models to FlashMLA / CUTLASS MLA, which take fp8."""
    r1 = _spec("deepseek-ai/DeepSeek-R1")
    assert _engine(r1, A100, vllm_version="0.10.2", kv_cache_dtype="fp8")[0] == "v1"
    assert _engine(r1, A100, vllm_version="0.10.1", kv_cache_dtype="fp8")[0] == "v0"


@pytest.mark.parametrize(("version", "engine"), [("0.8.5", "v0"), ("0.9.1", "v0"), ("0.9.2", "v1")])
def test_float32_models_fall_back_up_to_0_9_1(version: str, engine: str) -> None:
    llama = _spec("meta-llama/Llama-3.1-8B")
    behaviour, _ = engine_for_model(llama, DeploySettings(vllm_version=version, dtype="float32"),
                                    model_dtype="float32", compute_capability=A100)
    assert behaviour.engine == engine
    gpu = GpuSpec(name="A100", total_bytes=80 * GiB, compute_capability=A100)
    assert resolve_engine(llama, DeploySettings(vllm_version=version, dtype="float32"), gpu).behaviour.engine == engine


@pytest.mark.parametrize(("quantization", "version", "engine"), [
    ("bitsandbytes", "0.8.2", "v0"), ("bitsandbytes", "0.8.3", "v1"), ("gguf", "0.8.5", "v0"), ("gguf", "0.9.0", "v1"),
])
def test_bitsandbytes_and_gguf_fall_back(quantization: str, version: str, engine: str) -> None:
    got, _ = _engine(_spec("meta-llama/Llama-3.1-8B"), A100, vllm_version=version, quantization=quantization)
    assert got == engine


@pytest.mark.parametrize(("method", "version", "engine"), [
    ("eagle", "0.8.5", "v0"), ("ngram", "0.8.5", "v0"), ("eagle", "0.9.0", "v1"), ("ngram", "0.9.0", "v1"),
    ("mtp", "0.9.1", "v1"), ("draft_model", "0.9.2", "v0"), ("draft_model", "0.10.1", "v1"),
])
def test_speculative_decoding_falls_back_until_v1_runs_the_method(method: str, version: str, engine: str) -> None:
    draft = None if method in ("ngram", "mtp") else "yuhuili/EAGLE-LLaMA3.1-Instruct-8B"
    spec = SpeculativeSettings(method=method, num_speculative_tokens=2, draft_model=draft)
    got, _ = _engine(_spec("meta-llama/Llama-3.1-8B"), H100, vllm_version=version, speculative=spec)
    assert got == engine


def test_speculation_that_falls_back_to_v0_is_refused_with_the_reason() -> None:
    spec = SpeculativeSettings(method="eagle", num_speculative_tokens=2,
                               draft_model="yuhuili/EAGLE-LLaMA3.1-Instruct-8B")
    gpu = GpuSpec(name="H100", total_bytes=80 * GiB, compute_capability=H100)
    with pytest.raises(UsageError, match=r"runs this deployment on V0 .*speculative decoding \(eagle\)"):
        resolve_engine(_spec("meta-llama/Llama-3.1-8B"), DeploySettings(vllm_version="0.8.5", speculative=spec), gpu)


@pytest.mark.parametrize(("version", "engine"), [("0.8.0", "v0"), ("0.8.5", "v0"), ("0.9.0", "v1")])
def test_pipeline_parallelism_on_the_default_executor_falls_back_up_to_0_8_5(version: str, engine: str) -> None:
    got, _ = _engine(_spec("meta-llama/Llama-3.1-8B"), H100, vllm_version=version, pipeline_parallel_size=2)
    assert got == engine


def test_vllm_use_v1_0_takes_v0_where_the_release_has_it() -> None:
    llama = _spec("meta-llama/Llama-3.1-8B")
    engine, note = _engine(llama, H100, vllm_version="0.9.2", use_v1=False)
    assert engine == "v0" and note == "VLLM_USE_V1=0: the V0 engine"
    assert _engine(llama, H100, vllm_version="0.10.2", use_v1=False)[0] == "v0"
    with pytest.raises(UsageError, match="no V0 engine"):
        _engine(llama, H100, vllm_version="0.11.0", use_v1=False)


def test_vllm_use_v1_1_keeps_v1_for_experimental_features_only() -> None:
    nano = _spec("nvidia/NVIDIA-Nemotron-Nano-9B-v2")
    assert _engine(nano, H100, vllm_version="0.9.2", use_v1=True) == ("v1", "VLLM_USE_V1=1: the V1 engine")
    with pytest.raises(UsageError, match="refuses V1 for models with Mamba layers"):
        _engine(nano, H100, vllm_version="0.9.1", use_v1=True)  # SupportsV0Only then: raised, not opted in
    llama = _spec("meta-llama/Llama-3.1-8B")
    with pytest.raises(UsageError, match=r"compute capability 7\.5"):
        _engine(llama, (7, 5), vllm_version="0.9.2", use_v1=True)
    assert _engine(llama, H100, vllm_version="0.8.2", use_v1=True, pipeline_parallel_size=2)[0] == "v1"
    with pytest.raises(UsageError, match=r"from vLLM 0\.8\.0"):
        _engine(llama, H100, vllm_version="0.7.3", use_v1=True)
