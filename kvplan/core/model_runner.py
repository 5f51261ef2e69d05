"""Which GPU model runner vLLM picks for a model: the V1 ``GPUModelRunner`` or Model Runner V2.

The two runners profile memory differently (see ``overheads``), so the estimates depend on the choice.
Rules read in the official wheels, ``config/vllm.py`` ``use_v2_model_runner`` and
``_is_default_v2_model_runner_model`` (no speculative decoding, no ``VLLM_USE_V2_MODEL_RUNNER`` set):

* up to 0.21: V1 always (V2 only on request).
* 0.22: Qwen3ForCausalLM, when neither MoE nor quantized.
* 0.23: Llama, Mistral and Qwen3 ``ForCausalLM``, when neither MoE nor quantized.
* 0.24: those three, and DeepseekV2 / Qwen2Moe / GraniteMoe ``ForCausalLM``, quantized or not.
* 0.25-0.26: every model that is not MoE, plus the MoE architectures listed below; never hybrid
  (attention + Mamba) or attention-free models.
* 0.27-0.28: as 0.25, but a hybrid in the list may use V2.
* 0.29 and later: every model (speculative methods V2 did not run yet stay on V1 to 0.33).
* 0.34: Model Runner V1 is gone; V2 runs everything.

Only CUDA: the CPU build has its own runner.

Before that choice comes the engine's: 0.8.0-0.10.2 default to V1, but ``EngineArgs._is_v1_supported_oracle``
falls back to V0 while ``VLLM_USE_V1`` is unset for what V1 did not run yet (``v0_fallback``: Mamba models,
pre-Ampere GPUs, fp8 KV off Hopper, float32, bitsandbytes/GGUF, most speculative decoding, pipeline parallelism);
0.11.0 removed V0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kvplan.core.errors import UsageError
from kvplan.core.model import ModelSpec
from kvplan.core.settings import DeploySettings, VllmBehaviour, release, v0_behaviour, version_tuple

ModelRunner = Literal["v1", "v2"]

_V2_022 = frozenset({"Qwen3ForCausalLM"})
_V2_023 = _V2_022 | {"LlamaForCausalLM", "MistralForCausalLM"}
_V2_024 = _V2_023 | {"DeepseekV2ForCausalLM", "Qwen2MoeForCausalLM", "GraniteMoeForCausalLM"}
# DEFAULT_V2_MODEL_RUNNER_ARCHITECTURES: the MoE (and, from 0.27, hybrid) architectures that default to V2.
_V2_MOE_025 = frozenset({"DeepseekV2ForCausalLM", "Qwen2MoeForCausalLM", "GraniteMoeForCausalLM"})
_V2_MOE_026 = _V2_MOE_025 | {"InklingForCausalLM", "InklingForConditionalGeneration",
                             "LongcatFlashNgramForCausalLM"}
_V2_MOE_027 = _V2_MOE_026 | {"KimiK3ForConditionalGeneration"}
_V2_MOE_028 = _V2_MOE_027 | {"DeepseekV4ForCausalLM"}


def engine_for_model(model: ModelSpec, settings: DeploySettings, *, model_dtype: str | None = None,
                     compute_capability: tuple[int, int] | None = None) -> tuple[VllmBehaviour, str | None]:
    """The engine vLLM runs this deployment on (on a GPU of ``compute_capability``, when known), and a note
    when it is not the release's default. ``settings.use_v1`` is ``VLLM_USE_V1`` (None: unset)."""
    behaviour = settings.behaviour
    v = version_tuple(behaviour.version)
    if settings.use_v1 is not None:
        return _forced_engine(model, settings, behaviour, model_dtype, compute_capability)
    if behaviour.engine != "v1" or v >= (0, 11, 0) or settings.platform != "cuda":
        return behaviour, None
    fallback = v0_fallback(model, settings, model_dtype=model_dtype, compute_capability=compute_capability)
    if fallback is not None:
        return v0_behaviour(behaviour.version), (
            f"vLLM {behaviour.version} runs {fallback.reason} on the V0 engine (its fallback while VLLM_USE_V1 is "
            "unset)")
    return behaviour, _unknown_gpu_kv_note(model, settings, compute_capability)


@dataclass(frozen=True)
class V0Fallback:
    reason: str  # what vLLM names, worded for "vLLM X runs <reason> on the V0 engine"
    opt_in: bool  # an "experimental" V1 feature (``_warn_or_fallback``): VLLM_USE_V1=1 keeps V1


def v0_fallback(model: ModelSpec, settings: DeploySettings, *, model_dtype: str | None,
                compute_capability: tuple[int, int] | None) -> V0Fallback | None:
    """What makes ``EngineArgs._is_v1_supported_oracle`` pick V0 on CUDA, in its order, or None for V1.

    Read in the 0.8.0-0.8.5, 0.9.0-0.9.2, 0.10.0, 0.10.1, 0.10.1.1 and 0.10.2 wheels (0.11.0 has no V0):

    * compute capability below 8.0: 0.8.0-0.10.1.1;
    * ``--kv-cache-dtype`` other than auto: always up to 0.8.1; from 0.8.2 V1 only with FlashAttention 3's fp8
      (``flash_attn_supports_fp8``: SM 9.x); 0.10.0-0.10.2 also on SM 10.0 (``is_kv_cache_dtype_supported``);
      0.10.2 never for MLA models (FlashMLA / CUTLASS MLA take fp8);
    * a float32 model: 0.8.0-0.9.1 (``V1_SUPPORTED_DTYPES``);
    * bitsandbytes up to 0.8.2, GGUF up to 0.8.5 (``V1_UNSUPPORTED_QUANT``);
    * Mamba layers (inner state): 0.8.0-0.10.1.1;
    * speculative decoding: any up to 0.8.5 (ngram and EAGLE were opt-in); from 0.9.0 all but ngram, EAGLE,
      EAGLE3 and DeepSeek MTP (0.9.2 adds Medusa; 0.10.x keeps V1 for all);
    * pipeline parallelism on the default multiprocessing executor: 0.8.0-0.8.5.

    Experimental features (``_warn_or_fallback``; VLLM_USE_V1=1 keeps V1): Mamba from 0.9.2, ngram up to 0.8.5,
    EAGLE 0.8.3-0.8.5, pipeline parallelism up to 0.8.2. The rest raise under VLLM_USE_V1=1.
    """
    v = version_tuple(settings.behaviour.version)
    if not (0, 8, 0) <= v < (0, 11, 0):
        return None
    cc = compute_capability
    if v <= (0, 10, 1) and cc is not None and cc[0] < 8:
        return V0Fallback(f"on GPUs of compute capability {cc[0]}.{cc[1]}", opt_in=False)
    kv = settings.kv_cache_dtype.lower()
    if kv != "auto" and not _v1_takes_kv_dtype(kv, model, v, cc):
        return V0Fallback(f"--kv-cache-dtype {kv} on this GPU (V1 took it through FlashAttention 3's fp8 on Hopper"
                          f"{', or on B200' if v >= (0, 10, 0) else ''})", opt_in=False)
    if v < (0, 9, 2) and model_dtype is not None and model_dtype not in ("float16", "bfloat16"):
        return V0Fallback(f"{model_dtype} models", opt_in=False)
    quant = settings.quantization or model.quantization
    if (quant == "bitsandbytes" and v < (0, 8, 3)) or (quant == "gguf" and v < (0, 9, 0)):
        return V0Fallback(f"{quant} checkpoints", opt_in=False)
    if model.mamba_layers and v <= (0, 10, 1):
        return V0Fallback("models with Mamba layers (Mamba state in a cache of its own, KV blocks for attention "
                          "only)", opt_in=v >= (0, 9, 2))
    method = settings.speculative.method if settings.speculative else None
    if method is not None and v < (0, 10, 0) and not _v1_takes_speculation(method, v):
        opt_in = v < (0, 9, 0) and (method == "ngram" or (method in ("eagle", "eagle3") and v >= (0, 8, 3)))
        return V0Fallback(f"speculative decoding ({method})", opt_in=opt_in)
    if settings.pipeline_parallel_size > 1 and v < (0, 9, 0):
        return V0Fallback("pipeline parallelism on the default executor (Ray's would keep V1)", opt_in=v < (0, 8, 3))
    return None


def _v1_takes_kv_dtype(kv: str, model: ModelSpec, v: tuple[int, int, int], cc: tuple[int, int] | None) -> bool:
    if v < (0, 8, 2):
        return False
    if v >= (0, 10, 2) and model.uses_mla:
        return True
    if cc is None:
        return True  # cannot tell: the release default (see _unknown_gpu_kv_note)
    if v >= (0, 10, 0) and cc == (10, 0):
        return True
    return kv.startswith("fp8") and cc[0] == 9


def _v1_takes_speculation(method: str, v: tuple[int, int, int]) -> bool:
    if v < (0, 9, 0):
        return False
    return method in ("ngram", "eagle", "eagle3", "mtp")


def _unknown_gpu_kv_note(model: ModelSpec, settings: DeploySettings,
                         compute_capability: tuple[int, int] | None) -> str | None:
    """Where the KV-dtype rule needs the GPU and it is not known, say that V1 was assumed."""
    v = version_tuple(settings.behaviour.version)
    if compute_capability is not None or settings.kv_cache_dtype.lower() == "auto" or not (0, 8, 2) <= v < (0, 11, 0):
        return None
    if v >= (0, 10, 2) and model.uses_mla:
        return None  # MLA keeps V1 whatever the GPU
    where = "Hopper (fp8 with FlashAttention 3) or B200" if v >= (0, 10, 0) else "Hopper (fp8 with FlashAttention 3)"
    return (f"vLLM {settings.behaviour.version} keeps --kv-cache-dtype {settings.kv_cache_dtype} on V1 only on "
            f"{where}, else it falls back to V0; the GPU is not known, so V1 is assumed (name the GPU with --gpu)")


def _forced_engine(model: ModelSpec, settings: DeploySettings, behaviour: VllmBehaviour, model_dtype: str | None,
                   compute_capability: tuple[int, int] | None) -> tuple[VllmBehaviour, str | None]:
    """``VLLM_USE_V1`` set: 0 takes V0 where the release still has it; 1 keeps V1 for experimental features and
    makes vLLM refuse unsupported ones (``_raise_or_fallback``), which kvplan reports the same way."""
    v = version_tuple(behaviour.version)
    if not settings.use_v1:
        if v >= (0, 11, 0):
            raise UsageError(f"--vllm-use-v1 0: vLLM {behaviour.version} has no V0 engine (removed in 0.11.0)")
        return v0_behaviour(behaviour.version), "VLLM_USE_V1=0: the V0 engine"
    if v < (0, 8, 0):
        raise UsageError(f"--vllm-use-v1 1: kvplan plans the V1 engine from vLLM 0.8.0 (its default from then); "
                         f"{behaviour.version} is planned as V0")
    if v >= (0, 11, 0) or settings.platform != "cuda":
        return behaviour, None
    fallback = v0_fallback(model, settings, model_dtype=model_dtype, compute_capability=compute_capability)
    if fallback is not None and not fallback.opt_in:
        raise UsageError(f"vLLM {behaviour.version} refuses V1 for {fallback.reason} (VLLM_USE_V1=1)",
                         hint="Leave VLLM_USE_V1 unset to plan vLLM's V0 fallback")
    return behaviour, "VLLM_USE_V1=1: the V1 engine" if fallback else None


# ``_get_v2_model_runner_unsupported_features``: speculative methods Model Runner V2 cannot run, by release
# (0.22-0.29 list the ones it can: eagle, eagle3, mtp).
_V2_SPEC_UNSUPPORTED = {(0, 30): {"ngram", "ngram_gpu", "draft_model", "suffix"},
                        (0, 31): {"ngram", "ngram_gpu", "suffix"}, (0, 32): {"suffix"}}


def _v2_runs_speculation(method: str | None, minor: tuple[int, int]) -> bool:
    if method is None or minor >= (0, 34):
        return True  # 0.34 removed Model Runner V1 (platforms/interface.py validate_environ): V2 runs everything
    if minor <= (0, 29):
        return method in ("eagle", "eagle3", "mtp")
    return method not in _V2_SPEC_UNSUPPORTED.get(minor, {"suffix"})


def default_model_runner(model: ModelSpec, *, version: str, engine: str, platform: str,
                         quantized: bool, speculative_method: str | None = None) -> ModelRunner:
    """The runner vLLM ``version`` uses for ``model`` by default (``quantized``: a checkpoint or flag quant)."""
    if engine != "v1" or platform != "cuda":
        return "v1"
    minor = release(version)
    if not _v2_runs_speculation(speculative_method, minor):
        return "v1"
    arch = model.architecture
    is_moe = model.num_experts > 0
    if minor <= (0, 21):
        return "v1"
    if minor <= (0, 23):
        allowed = _V2_022 if minor == (0, 22) else _V2_023
        return "v2" if arch in allowed and not is_moe and not quantized else "v1"
    if minor == (0, 24):
        return "v2" if arch in _V2_024 else "v1"
    if minor >= (0, 29):
        return "v2"
    listed = arch in {(0, 25): _V2_MOE_025, (0, 26): _V2_MOE_026, (0, 27): _V2_MOE_027}.get(minor, _V2_MOE_028)
    if model.is_attention_free or (model.is_hybrid and (minor <= (0, 26) or not listed)):
        return "v1"
    return "v2" if listed or not is_moe else "v1"
