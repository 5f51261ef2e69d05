"""The multimodal encoder profile of vLLM 0.11.0-0.12.0, with figures worked out from those releases' source
(v1/worker/gpu_model_runner.py ``profile_run``, v1/worker/utils.py ``MultiModalBudget``,
v1/core/encoder_cache_manager.py ``compute_mm_encoder_budget``, models/qwen2_vl.py and qwen3_vl.py, read in the
0.11.0, 0.11.2 and 0.12.0 wheels) and the publisher configs; no figure here is fitted to a log."""

from __future__ import annotations

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.hardware import GpuSpec
from kvplan.core.mm_profile import (
    ERR_MM_ENCODER_FLAT,
    encoder_profile,
    items_per_batch,
    largest_item_0_11,
)
from kvplan.core.overheads import estimate_activation
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB
from kvplan.sources import catalog
from tests.core.test_mm_lora_offload import QWEN25_VL_7B

GPU = GpuSpec(name="A100 80GB", total_bytes=80 * GiB, source="catalog")
WIDTH = 2048 * (1 + 3)  # Qwen3-VL-30B-A3B: out_hidden_size 2048, main output + 3 deepstack levels
PIXEL_VALUES = 3 * 2 * 16 * 16  # in_channels x temporal_patch_size x patch^2 per ViT patch


def _model(name: str):  # type: ignore[no-untyped-def]
    return model_spec_from_config(catalog.find(name).config)  # type: ignore[union-attr]


def _engine(model, **settings):  # type: ignore[no-untyped-def]
    return resolve_engine(model, DeploySettings(**settings), GPU)


def test_qwen3_vl_0_11_video_of_24576_frames_padded_to_the_encoder_budget() -> None:
    """Fixture line 36's deployment (max_model_len 262,144, `vllm serve` on an A100: 2,048 batched tokens, 256
    sequences). The largest image: 9,999,999 px squared resized to longest_edge 16,777,216 = 4096 x 4096. The
    dummy video takes frames while they fit max_model_len, capped at 24,576: at 24,576 frames the video
    processor's beta = sqrt(24,576 x 4096^2 / 25,165,824) = 128, so 32 x 32 px frames, grid 12,288 x 2 x 2 =
    49,152 patches, 12,288 soft tokens, budgeted at 12,288 x 12.5 = 153,600. The video beats the image's 16,384;
    budget max(2048, 153,600) // 153,600 = 1 item. Its 12,288-row output is copied into a 153,600-row zero tensor
    (0.11: the encoder budget); the original and the bf16 pixels stay alive through the text forward."""
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    engine = _engine(vl, max_model_len=262144, max_num_batched_tokens=2048, max_num_seqs=256,
                     vllm_version="0.11.0")
    item = largest_item_0_11(vl.vision, engine)  # type: ignore[arg-type]
    assert item is not None and (item.modality, item.tokens, item.outputs, item.patches) == \
        ("video", 153600, 12288, 49152)
    assert items_per_batch(item, engine) == 1
    profile = encoder_profile(vl, engine)
    assert profile.cached_bytes == 153600 * WIDTH * 2 + 12288 * WIDTH * 2 + 49152 * PIXEL_VALUES * 2
    assert profile.cached_bytes == 2_868_903_936  # 2.67 GiB
    # the ViT's peak (0.11.0, tests/core/test_mm_vit_0_11_0.py): bf16 pixels (one copy: _postprocess_output cast
    # them) + the attention block at its float32 rotary (12 x 1152 bf16 + 2 x 2 x 1152 fp32) + pos_embeds (1152)
    # + rotary tables (3 x 36 fp32), and the three deepstack levels of 12,288 x 2048
    assert profile.peak_bytes == 49152 * (PIXEL_VALUES * 2 + (12 * 1152 * 2 + 16 * 1152) + 1152 * 2 + 3 * 36 * 4) \
        + 3 * 12288 * 2048 * 2
    assert profile.error_bytes == profile.peak_bytes // 2 < ERR_MM_ENCODER_FLAT
    assert "153600 budget tokens" in profile.note
    activation = estimate_activation(vl, engine)
    assert activation.value_bytes > profile.cached_bytes  # kept on top of the text peak


def test_qwen3_vl_0_11_short_context_still_budgets_a_two_frame_video() -> None:
    """max_model_len 4,096: three frames would be 16,200 soft tokens, so two; two 4096-px frames resized to
    25,165,824 px in all: beta = sqrt(2 x 4096^2 / 25,165,824) = 1.1547, 4096 / 1.1547 = 3547 -> 3520 px,
    220 x 220 = 48,400 patches, 12,100 soft tokens, budgeted int(12,100 x 12.5) = 151,250."""
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    engine = _engine(vl, max_model_len=4096, max_num_batched_tokens=2048, vllm_version="0.11.0")
    item = largest_item_0_11(vl.vision, engine)  # type: ignore[arg-type]
    assert item is not None and (item.tokens, item.outputs, item.patches) == (151250, 12100, 48400)


def test_0_12_pads_to_the_items_budget_tokens_not_the_encoder_budget() -> None:
    """0.12.0's profile_run pads to max_tokens_by_modality[dummy] (153,600), 0.11 to the encoder budget:
    with 200,000 batched tokens that is 200,000 rows."""
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    rest = 12288 * WIDTH * 2 + 49152 * PIXEL_VALUES * 2
    for version, rows in (("0.11.2", 200000), ("0.12.0", 153600)):
        engine = _engine(vl, max_model_len=262144, max_num_batched_tokens=200000, vllm_version=version)
        assert encoder_profile(vl, engine).cached_bytes == rows * WIDTH * 2 + rest


def test_qwen2_5_vl_0_11_pads_the_outputs_to_the_budget() -> None:
    """Qwen2.5-VL-7B on 0.11.0 (qwen2_vl.py rules as in 0.33): max_model_len 16,384 takes 2 frames, one temporal
    patch of 16,384 tokens (65,536 patches), tied with the image; budget max(32,768, 16,384) // 16,384 = 2 items,
    each output padded to 32,768 rows of 3,584; pixels 2 x 65,536 x (3 x 2 x 14^2) bf16. 0.12 pads to the
    item's 16,384 tokens: nothing to pad."""
    vl = model_spec_from_config(QWEN25_VL_7B)
    outputs, pixels = 2 * 16384 * 3584 * 2, 2 * 65536 * 1176 * 2
    engine = _engine(vl, max_model_len=16384, max_num_batched_tokens=32768, vllm_version="0.11.0")
    item = largest_item_0_11(vl.vision, engine)  # type: ignore[arg-type]
    assert item is not None and (item.tokens, item.patches) == (16384, 65536)
    assert items_per_batch(item, engine) == 2
    assert encoder_profile(vl, engine).cached_bytes == 2 * 32768 * 3584 * 2 + outputs + pixels
    newer = _engine(vl, max_model_len=16384, max_num_batched_tokens=32768, vllm_version="0.12.0")
    assert encoder_profile(vl, newer).cached_bytes == outputs + pixels


def test_what_0_11_reading_does_not_cover_keeps_the_flat_term() -> None:
    """Gemma 3 / Llama 4 (budget from the tokenized placeholder, not read), a modality limited to 0 beside one
    that is not (0.11.2 / 0.12 budget it anyway), processor size overrides, 0.10 (no zero-padded copies)."""
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    gemma = _model("google/gemma-3-27b-it")
    cases = [(gemma, {"max_model_len": 8192, "vllm_version": "0.11.0"}),
             (vl, {"max_model_len": 32768, "vllm_version": "0.11.0", "limit_mm_per_prompt": (("video", 0),)}),
             (vl, {"max_model_len": 32768, "vllm_version": "0.11.0", "mm_max_pixels": 1003520}),
             (model_spec_from_config(QWEN25_VL_7B), {"max_model_len": 32768, "vllm_version": "0.10.2"})]
    for model, settings in cases:
        profile = encoder_profile(model, _engine(model, **settings))
        assert profile.error_bytes == ERR_MM_ENCODER_FLAT and "not modelled" in profile.note, settings


def test_0_11_text_only_qwen_leaves_the_tower_out_gemma_keeps_it() -> None:
    """qwen3_vl_moe.py (0.11.0-0.12.0): ``self.visual = None`` when the image and video limits are both 0; the
    Qwen3-VL-30B-A3B ViT (27 blocks of 1152, patch embed, position table, merger and 3 deepstack mergers) is
    538,631,408 parameters, 1,077,262,816 B in bf16. gemma3_mm.py builds SigLIP whatever the limits."""
    from kvplan.core.mm_profile import tower_weight_bytes

    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    off = (("image", 0), ("video", 0))
    for version in ("0.11.0", "0.12.0"):
        engine = _engine(vl, max_model_len=32768, vllm_version=version, limit_mm_per_prompt=off)
        assert tower_weight_bytes(vl, engine) == 538_631_408 * 2
    assert tower_weight_bytes(vl, _engine(vl, max_model_len=32768, vllm_version="0.10.2",
                                          limit_mm_per_prompt=off)) == 0  # not read
    gemma = _model("google/gemma-3-27b-it")
    assert tower_weight_bytes(gemma, _engine(gemma, max_model_len=8192, vllm_version="0.11.0",
                                             limit_mm_per_prompt=(("image", 0),))) == 0
