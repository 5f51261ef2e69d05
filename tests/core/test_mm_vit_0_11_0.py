"""What vLLM 0.11.0's profile run keeps or allocates for Qwen3-VL beyond the encoder cache, worked out from the
0.11.0 wheel (models/qwen3_vl.py, qwen3_vl_moe.py, qwen2_5_vl.py, qwen2_vl.py, platforms/cuda.py,
vllm_flash_attn/layers/rotary.py) and the publisher config of Qwen/Qwen3-VL-30B-A3B-Instruct (vision: depth 27,
hidden 1152, 16 heads, intermediate 4304, patch 16, merge 2, temporal 2, deepstack [8, 16, 24], out 2048; text
hidden 2048). No figure here is fitted to a log."""

from __future__ import annotations

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.mm_profile import deepstack_buffer_bytes, encoder_profile
from kvplan.core.overheads import estimate_overheads
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB, MiB
from kvplan.sources import catalog

GPU = GpuSpec(name="A100 80GB", total_bytes=80 * GiB, source="catalog")
S = 49152  # fixture line 36's dummy video: 12,288 x 2 x 2 patches (tests/core/test_mm_profile_0_11.py)
D = 1152


def _vl():  # type: ignore[no-untyped-def]
    return model_spec_from_config(catalog.find("Qwen/Qwen3-VL-30B-A3B-Instruct").config)  # type: ignore[union-attr]


def _engine(model, **settings):  # type: ignore[no-untyped-def]
    base = {"max_model_len": 262144, "max_num_batched_tokens": 2048, "max_num_seqs": 256, "vllm_version": "0.11.0"}
    return resolve_engine(model, DeploySettings(**{**base, **settings}), GPU)


def test_deepstack_buffers_are_three_max_batched_rows_of_the_text_width() -> None:
    """Qwen3VLMoeForConditionalGeneration.__init__: 3 levels x torch.zeros(max_num_batched_tokens, 2048) in bf16
    on the GPU = 24 MiB at 2,048 tokens, counted by ``Model loading took``; none when the tower is not built."""
    vl = _vl()
    assert deepstack_buffer_bytes(vl, _engine(vl)) == 3 * 2048 * 2048 * 2 == 24 * MiB
    assert deepstack_buffer_bytes(vl, _engine(vl, max_num_batched_tokens=8192, vllm_version="0.33.0")) == 96 * MiB
    off = (("image", 0), ("video", 0))
    assert deepstack_buffer_bytes(vl, _engine(vl, limit_mm_per_prompt=off)) == 0
    logged = Estimate(value_bytes=58 * GiB, error_bytes=0, source="checkpoint")
    counted = estimate_overheads(vl, _engine(vl), logged, enforce_eager=False)
    loaded = estimate_overheads(vl, _engine(vl), logged, enforce_eager=False, weights_include_buffers=True)
    assert "deepstack input buffers (24 MiB)" in counted.weights.source
    assert "deepstack" not in loaded.weights.source  # a logged load already holds them


def test_0_11_0_vit_peak_is_the_attention_block_at_its_float32_rotary() -> None:
    """Qwen2_5_VisionAttention.forward (0.11.0) at ``apply_rotary_pos_emb_vision``: block input + norm1 output +
    qkv (3D) + contiguous q/k/v (3D) + qk_concat (2D) + its .type_as result (2D), bf16: 12D x 2 B; the float32
    copy and the rotary's out-of-place float32 output: 2 x 2D x 4 B. That is 40 D B against the MLP's
    (2 x 1152 + 2 x 4304) x 2 = 21,824 B. Beside it pos_embeds (D bf16), rotary_pos_emb / cos / sin
    (3 x 36 fp32), the bf16 pixels (1,536 values) and, in blocks 25-26, the three deepstack levels."""
    vl = _vl()
    profile = encoder_profile(vl, _engine(vl))
    per_patch = 40 * D + 2 * D + 3 * 36 * 4 + 1536 * 2
    assert profile.peak_bytes == S * per_patch + 3 * 12288 * 2048 * 2 == 2_701_393_920  # 2.52 GiB
    # still below the text side (sampler 1.41 GiB + 2.67 GiB cached): the encoder does not set the peak here
    assert profile.peak_bytes < profile.cached_bytes


def test_other_releases_and_tp_split_heads_keep_the_generic_vit_count() -> None:
    """0.11.2 (q/k reshaped first) and 0.12.0 (no float32 copy) are not counted tensor by tensor; nor TP 2 with
    the heads split (the qkv all-gather); --mm-encoder-tp-mode data runs whole heads on every rank."""
    vl = _vl()
    generic = S * (1536 * 2 + (2 * D + 2 * 4304) * 2)
    for version in ("0.11.2", "0.12.0"):
        assert encoder_profile(vl, _engine(vl, vllm_version=version)).peak_bytes == generic
    split = encoder_profile(vl, _engine(vl, tensor_parallel_size=2))
    whole = encoder_profile(vl, _engine(vl, tensor_parallel_size=2, mm_encoder_tp_mode="data"))
    assert split.peak_bytes < whole.peak_bytes == S * (40 * D + 2 * D + 3 * 36 * 4 + 1536 * 2) + 3 * 12288 * 2048 * 2


def test_an_encoder_peak_below_the_text_side_adds_none_of_its_error() -> None:
    """estimate_activation takes max(text peak + cached outputs, encoder peak); the encoder's +- 50 % moves that
    max only as far as peak + error passes the text side. Line 36's deployment: 2.52 + 1.26 GiB < 1.41 + 2.67, so
    the activation carries the text side's error alone (the same as with --skip-mm-profiling)."""
    from kvplan.core.overheads import estimate_activation

    vl = _vl()
    profile = encoder_profile(vl, _engine(vl))
    activation = estimate_activation(vl, _engine(vl))
    assert profile.peak_bytes + profile.error_bytes < activation.value_bytes
    assert activation.error_bytes == estimate_activation(vl, _engine(vl, skip_mm_profiling=True)).error_bytes


def test_a_binding_or_reaching_encoder_peak_keeps_its_error() -> None:
    """Qwen2.5-VL-7B on 0.33: at 2,048 batched tokens the encoder (3.42 GiB) sets the peak and keeps its whole
    +- 1.71 GiB; at 32,768 the text side (4.63) is higher but the encoder's upper end (5.13) passes it by 0.50,
    which joins the text side's error in quadrature."""
    from kvplan.core.overheads import estimate_activation
    from tests.core.test_mm_lora_offload import QWEN25_VL_7B

    vl = model_spec_from_config(QWEN25_VL_7B)
    binding = _engine(vl, max_model_len=32768, vllm_version="0.33.0")
    profile = encoder_profile(vl, binding)
    assert estimate_activation(vl, binding).error_bytes >= profile.error_bytes
    reaching = _engine(vl, max_model_len=32768, max_num_batched_tokens=32768, vllm_version="0.33.0")
    profile = encoder_profile(vl, reaching)
    activation = estimate_activation(vl, reaching)
    text_error = estimate_activation(vl, _engine(vl, max_model_len=32768, max_num_batched_tokens=32768,
                                                 vllm_version="0.33.0", skip_mm_profiling=True)).error_bytes
    reach = profile.peak_bytes + profile.error_bytes - activation.value_bytes
    assert 0 < reach < profile.error_bytes
    assert abs(activation.error_bytes - int((text_error**2 + reach**2) ** 0.5)) <= 1
