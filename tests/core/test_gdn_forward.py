"""Qwen's gated delta net in the V1 profile run (overheads.gdn_profile_values_per_token), read from
layers/mamba/gdn/qwen_gdn_linear_attn.py (0.22, 0.24.0, 0.33.0) and models/qwen3_next.py (0.11.0-0.18), and the
NVFP4 experts' kernels those checkpoints run on (Marlin for W4A16, FlashInfer CUTLASS for W4A4 on SM120)."""

from __future__ import annotations

from typing import Any

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.hardware import GpuSpec
from kvplan.core.overheads import (
    ERR_MIXER_FORWARD_FRACTION,
    _moe_workspace_bytes,
    estimate_activation,
    flashinfer_nvfp4_moe_bytes_per_token,
    forward_bytes_per_token,
    gdn_profile_values_per_token,
    mixer_profile_values_per_token,
)
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB
from kvplan.sources import catalog

GPU = GpuSpec(name="test 80 GiB", total_bytes=80 * GiB)


def _config(name: str) -> dict[str, Any]:
    entry = catalog.find(name)
    assert entry is not None
    return dict(entry.config)


def _engine(model: Any, version: str, **extra: Any) -> Any:
    return resolve_engine(model, DeploySettings(vllm_version=version, entrypoint="llm", **extra), GPU)


# Qwen3-Next-80B-A3B-Instruct's config.json (the shapes that matter here): interleaved q/k/v/z checkpoint layout.
QWEN3_NEXT_80B = {
    "architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "hidden_size": 2048,
    "intermediate_size": 5120, "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 2,
    "head_dim": 256, "full_attention_interval": 4, "linear_num_key_heads": 16, "linear_num_value_heads": 32,
    "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4, "num_experts": 512,
    "num_experts_per_tok": 10, "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "vocab_size": 151936, "max_position_embeddings": 262144,
    "rope_theta": 10000000, "partial_rotary_factor": 0.25, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
}


def test_qwen36_35b_gdn_values_on_0_24() -> None:
    """hidden 2,048, keys 16 x 128, values 32 x 128: residual, input and preallocated output (3 x 2,048), out_proj's
    output (2,048), in_proj_qkvz 2 x 2,048 + 2 x 4,096, in_proj_ba and its b, a copies 4 x 32, core_attn_out, the
    norm's z copy and output 3 x 4,096 = 32,896, level with the MoE layer's 2 x 2,048 + 8 x (3 x 512 + 2,048)."""
    model = model_spec_from_config(_config("nvidia/Qwen3.6-35B-A3B-NVFP4"))
    engine = _engine(model, "0.24.0")
    assert gdn_profile_values_per_token(model, engine) == 4 * 2048 + 2 * 2048 + 2 * 4096 + 4 * 32 + 3 * 4096
    assert gdn_profile_values_per_token(model, engine) == 32_896
    assert mixer_profile_values_per_token(model, engine) == 32_896
    assert forward_bytes_per_token(model, engine) == 32_896 * 2


def test_gdn_values_follow_the_release() -> None:
    """Up to 0.11.0 the mixer's projections sit inside the op that returns in the profile; from 0.26 the decoder
    layer no longer preallocates the output."""
    model = model_spec_from_config(_config("nvidia/Qwen3.6-35B-A3B-NVFP4"))
    assert gdn_profile_values_per_token(model, _engine(model, "0.11.0")) == 0
    assert gdn_profile_values_per_token(model, _engine(model, "0.11.1")) == 32_896
    assert gdn_profile_values_per_token(model, _engine(model, "0.34.0")) == 32_896 - 2048


def test_gdn_values_per_rank_under_tensor_parallel() -> None:
    """keys 1,024, values 2,048 and 16 v-heads a rank at TP 2; hidden stays whole."""
    model = model_spec_from_config(_config("Qwen/Qwen3.5-27B"))
    engine = _engine(model, "0.24.0", tensor_parallel_size=2)
    # hidden 5,120; keys 16 x 128 / 2, values 48 x 128 / 2, 24 v-heads
    assert gdn_profile_values_per_token(model, engine) == 4 * 5120 + 2 * 1024 + 2 * 3072 + 4 * 24 + 3 * 3072
    # the dense MLP (3 x 5,120 + 3 x 17,408 / 2) stays wider
    assert forward_bytes_per_token(model, engine) == (3 * 5120 + 3 * 17408 // 2) * 2


def test_qwen3_next_interleaved_layout_adds_the_concatenated_qkv() -> None:
    """Qwen3-Next builds mixed_qkv by torch.cat ([T, 2 x 2,048 + 4,096]) beside the projection; its MoE layer
    (2 x 2,048 + 10 x (3 x 512 + 2,048) = 39,936) is then narrower than the mixer (32,896 + 8,192 = 41,088)."""
    model = model_spec_from_config(QWEN3_NEXT_80B)
    engine = _engine(model, "0.24.0", max_num_seqs=1)
    assert gdn_profile_values_per_token(model, engine) == 32_896 + 2 * 2048 + 4096 == 41_088
    assert forward_bytes_per_token(model, engine) == 41_088 * 2
    # with fp8 experts (no TritonExperts workspace counted) the forward sets the peak, read
    fp8 = _engine(model, "0.24.0", max_num_seqs=1, quantization="fp8")
    activation = estimate_activation(model, fp8)
    assert fp8.max_num_batched_tokens == 16_384  # the LLM class default on 0.24 (H100-class GPU)
    assert activation.value_bytes == 16_384 * 41_088 * 2
    assert activation.error_bytes == int(activation.value_bytes * ERR_MIXER_FORWARD_FRACTION)


def _gpu(capability: tuple[int, int] | None) -> GpuSpec:
    return GpuSpec(name="test 96 GiB", total_bytes=96 * GiB, compute_capability=capability)


def test_the_routed_experts_quant_algo_is_read_from_modelopt_configs() -> None:
    """MIXED_PRECISION: the ``quantized_layers`` entry of ``mlp.experts`` (not the shared expert's)."""
    assert model_spec_from_config(_config("nvidia/Qwen3.6-35B-A3B-NVFP4")).moe_experts_quant_algo == "W4A16_NVFP4"
    assert model_spec_from_config(_config("nvidia/Qwen3.5-122B-A10B-NVFP4")).moe_experts_quant_algo == "NVFP4"
    assert model_spec_from_config(_config("Qwen/Qwen3.6-35B-A3B")).moe_experts_quant_algo is None


def test_w4a16_nvfp4_experts_keep_marlins_workspace() -> None:
    """MarlinExperts (0.22+) holds TritonExperts' elements: 8,192 x 8 x 2,048 + 8,192 x 8 x max(1,024, 2,048)
    bf16 = 0.5 GiB, kept through the dummy sampler; 0.19 had no W4A16 NVFP4 MoE path, and from 0.32 Humming goes
    first on SM90."""
    model = model_spec_from_config(_config("nvidia/Qwen3.6-35B-A3B-NVFP4"))

    def engine(version: str, capability: tuple[int, int] | None) -> Any:
        settings = DeploySettings(vllm_version=version, entrypoint="llm", max_num_seqs=1,
                                  max_num_batched_tokens=8192, quantization="modelopt")
        return resolve_engine(model, settings, _gpu(capability))

    assert _moe_workspace_bytes(model, engine("0.24.0", (12, 0))) == 2 * 8192 * 8 * 2048 * 2 == GiB // 2
    assert _moe_workspace_bytes(model, engine("0.24.0", (9, 0))) == GiB // 2
    assert _moe_workspace_bytes(model, engine("0.33.0", (12, 0))) == GiB // 2
    assert _moe_workspace_bytes(model, engine("0.33.0", (9, 0))) == 0
    assert _moe_workspace_bytes(model, engine("0.19.0", (12, 0))) == 0


def test_nvfp4_experts_on_sm120_take_flashinfer_cutlass_workspace() -> None:
    """Qwen3.5-122B-A10B-NVFP4 (H 3,072, top-8 of 256 experts 1,024 wide) on an SM120 GPU, 0.24: 2 x 8 x 3,072
    (fc2 result) + 2 x 8 x 3,072 (the wider of fc1's 4 x 8 x 1,024 and fc2) + 8 x 3,072 / 16 scales + 4 x 256
    + 16 x 8 maps, beside 3 x 3,072 bf16 rows and the fp4 input (1,536 + 192) = 121,152 B a token; SM100 runs
    FlashInfer TRT-LLM first (not read), SM90 cannot run W4A4 NVFP4 on it: the GDN mixer's 57,600 values there."""
    model = model_spec_from_config(_config("nvidia/Qwen3.5-122B-A10B-NVFP4"))

    def engine(capability: tuple[int, int] | None) -> Any:
        settings = DeploySettings(vllm_version="0.24.0", entrypoint="llm", max_num_seqs=1,
                                  max_num_batched_tokens=8192)
        return resolve_engine(model, settings, _gpu(capability))

    workspace = 2 * 8 * 3072 * 2 + 8 * 3072 // 16 + 4 * 256 + 16 * 8
    assert flashinfer_nvfp4_moe_bytes_per_token(model, engine((12, 0))) == workspace + 3 * 3072 * 2 + 1536 + 192
    assert forward_bytes_per_token(model, engine((12, 0))) == 121_152
    for capability in ((10, 0), (9, 0), None):
        assert flashinfer_nvfp4_moe_bytes_per_token(model, engine(capability)) == 0
        assert forward_bytes_per_token(model, engine(capability)) == 57_600 * 2
