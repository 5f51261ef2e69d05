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
* 0.29 and later: every model.

Only CUDA: the CPU build has its own runner.

Before that choice comes the engine's: 0.8.0-0.10.1.1 default to V1, but ``EngineArgs._is_v1_supported_oracle``
falls back to V0 (unless ``VLLM_USE_V1=1`` is set) for models with inner state (Mamba and hybrid models: "V1
mamba models are unoptimized") and on CUDA GPUs of compute capability below 8.0 (V100, T4, RTX 20xx: "Compute
Capability < 8.0"); 0.10.2 dropped both (read in the 0.8.0, 0.9.2, 0.10.0-0.10.2 wheels).
"""

from __future__ import annotations

from typing import Literal

from kvplan.core.model import ModelSpec
from kvplan.core.settings import VllmBehaviour, release, v0_behaviour, version_tuple

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


def engine_for_model(model: ModelSpec, behaviour: VllmBehaviour, *, platform: str = "cuda",
                     compute_capability: tuple[int, int] | None = None) -> tuple[VllmBehaviour, str | None]:
    """The engine vLLM runs ``model`` on (on a GPU of ``compute_capability``, when known), and a note when it
    is not the release's default."""
    if behaviour.engine != "v1" or version_tuple(behaviour.version) >= (0, 10, 2):
        return behaviour, None
    fallback = "(its V1 fallback; VLLM_USE_V1=1 would keep V1)"
    if model.mamba_layers:
        return v0_behaviour(behaviour.version), (
            f"vLLM {behaviour.version} runs models with Mamba layers on the V0 engine {fallback}: Mamba state "
            "in a cache of its own, KV blocks for attention only")
    if platform == "cuda" and compute_capability is not None and compute_capability[0] < 8:
        cc = ".".join(str(x) for x in compute_capability)
        return v0_behaviour(behaviour.version), (
            f"vLLM {behaviour.version} runs on the V0 engine on GPUs of compute capability {cc} {fallback}")
    return behaviour, None


# ``_get_v2_model_runner_unsupported_features``: speculative methods Model Runner V2 cannot run, by release
# (0.22-0.29 list the ones it can: eagle, eagle3, mtp).
_V2_SPEC_UNSUPPORTED = {(0, 30): {"ngram", "ngram_gpu", "draft_model", "suffix"},
                        (0, 31): {"ngram", "ngram_gpu", "suffix"}, (0, 32): {"suffix"}}


def _v2_runs_speculation(method: str | None, minor: tuple[int, int]) -> bool:
    if method is None:
        return True
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
