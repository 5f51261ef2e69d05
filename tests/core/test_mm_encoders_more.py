"""Encoder profiles read for Gemma 4, InternVL, Kimi-VL and Phi-4-multimodal (vLLM 0.33 / 0.34 model files), on
the real configs of the models (tests/data/catalog_sources, kvplan's catalog)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.hardware import GpuSpec
from kvplan.core.mm_profile import (
    ERR_MM_ENCODER_FLAT,
    encoder_profile,
    gemma4_encoder_peak_range,
    gemma4_soft_tokens,
    items_per_batch,
    largest_item,
    modalities,
    text_only,
    tower_weight_bytes,
)
from kvplan.core.params import _Cfg, _gemma4_vision, count_params
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB

GPU = GpuSpec(name="H100", total_bytes=80 * GiB, source="catalog")
SOURCES = Path(__file__).resolve().parents[1] / "data" / "catalog_sources"


def _config(name: str) -> dict[str, Any]:
    return json.loads((SOURCES / name / "config.json").read_text())  # type: ignore[no-any-return]


def _engine(model, **settings):  # type: ignore[no-untyped-def]
    return resolve_engine(model, DeploySettings(**settings), GPU)


# ----------------------------------------------------------------------------------------------------- Gemma 4


def test_gemma4_dummy_sizes_follow_compute_num_soft_tokens() -> None:
    """gemma4_mm.py ``_compute_num_soft_tokens`` (0.33 / 0.34) on the 224 x 224 dummy (get_dummy_mm_data: the
    image processor has no size): 280 soft tokens -> 768 x 768 px, 48 x 48 patches, 256 tokens; a video
    frame's 70 -> 384 x 384 px, 24 x 24 patches, 64 tokens (unit 16 x 3 = 48 px)."""
    gemma = model_spec_from_config(_config("google__gemma-4-26B-A4B"))
    assert gemma.vision is not None
    assert gemma4_soft_tokens(gemma.vision, 224, 224, 280) == 256
    assert gemma4_soft_tokens(gemma.vision, 224, 224, 70) == 64
    # an extreme aspect ratio is clamped to max_soft_tokens (the comment in _compute_num_soft_tokens)
    assert gemma4_soft_tokens(gemma.vision, 3, 900, 280) == 280


def test_gemma4_26b_profiles_three_32_frame_videos() -> None:
    """gemma4_mm.py ``get_mm_max_tokens_per_item`` (0.33 / 0.34): image default_output_length = 280, video
    _VIDEO_MAX_FRAMES x (_VIDEO_MAX_SOFT_TOKENS + 2 + 6) = 32 x 78 = 2,496; no audio_config in the 26B, so no
    audio. The video wins; budget max(8192, 2496) // 2496 = 3 videos (encoder_budget.py _get_max_items). The
    processor pads each frame to 70 x 3^2 = 630 patches: 20,160 a video through the ViT; the cache keeps
    32 x 64 = 2,048 rows of the text width 2816."""
    gemma = model_spec_from_config(_config("google__gemma-4-26B-A4B"))
    assert gemma.vision is not None
    engine = _engine(gemma, max_model_len=32768, max_num_batched_tokens=8192)
    assert modalities(gemma.vision) == ("image", "video")
    item = largest_item(gemma.vision, engine)
    assert item is not None and (item.modality, item.tokens, item.patches, item.outputs) == \
        ("video", 2496, 20160, 2048)
    assert items_per_batch(item, engine) == 3
    profile = encoder_profile(gemma, engine)
    # highest peak, every frame in one chunk: 60,480 patches x (fp32 pixels 3 x 16 x 16 x 4 = 3,072 B + the
    # gated MLP (2 x 1152 + 3 x 4304) x 2 B = 30,432 B) = 2,026,321,920 B (1.89 GiB)
    assert profile.peak_bytes == 60480 * (3072 + (2 * 1152 + 3 * 4304) * 2) == 2_026_321_920
    low, high = gemma4_encoder_peak_range(gemma.vision, item, 3, engine)
    # lowest: one 630-patch frame a chunk, the other frames' last hidden states (1152 x 2 B a patch) kept
    assert (low, high) == (60480 * 3072 + 630 * 30432 + (60480 - 630) * 2304, profile.peak_bytes)
    assert profile.error_bytes == high - low  # wider than 50 % of the peak
    # cached: the 2,048 output rows a video, plus the dummy batch's bf16 pixels kept alive (dummy_pixel_bytes)
    assert profile.cached_bytes == 3 * 2048 * 2816 * 2 + 3 * 20160 * 3 * 16 * 16 * 2


def test_gemma4_images_when_video_is_off_and_text_only_when_both_are() -> None:
    """'{"video":0}' leaves the 280-token image (2,520 patches, 256 cached rows on the dummy): 2048 // 280 = 7
    images; image and video both 0 is text-only (get_supported_mm_limits has no audio without audio_config)."""
    gemma = model_spec_from_config(_config("nvidia__Gemma-4-31B-IT-NVFP4"))
    assert gemma.vision is not None
    engine = _engine(gemma, max_model_len=32768, max_num_batched_tokens=2048, limit_mm_per_prompt=(("video", 0),))
    item = largest_item(gemma.vision, engine)
    assert item is not None and (item.modality, item.tokens, item.patches, item.outputs) == ("image", 280, 2520, 256)
    assert items_per_batch(item, engine) == 7
    assert encoder_profile(gemma, engine).cached_bytes == 7 * 256 * 5376 * 2 + 7 * 2520 * 3 * 16 * 16 * 2
    off = _engine(gemma, max_model_len=32768, limit_mm_per_prompt=(("image", 0), ("video", 0)))
    assert text_only(gemma, off)
    image_off = _engine(gemma, max_model_len=32768, limit_mm_per_prompt=(("image", 0),))
    assert not text_only(gemma, image_off)
    assert largest_item(gemma.vision, image_off).modality == "video"  # type: ignore[union-attr]


def test_gemma4_with_an_audio_tower_keeps_the_flat_term_when_audio_is_largest() -> None:
    """With an audio_config (the small Gemma 4s) audio is a modality: its 750 tokens (Gemma4Processor
    audio_seq_length) beat the 280-token image once video is off, and the audio tower is not modelled."""
    config = {**_config("google__gemma-4-26B-A4B"), "audio_config": {"hidden_size": 1024}}
    gemma = model_spec_from_config(config)
    assert gemma.vision is not None and modalities(gemma.vision) == ("image", "audio", "video")
    no_video = _engine(gemma, max_model_len=32768, limit_mm_per_prompt=(("video", 0),))
    assert largest_item(gemma.vision, no_video) is None
    assert encoder_profile(gemma, no_video).error_bytes == ERR_MM_ENCODER_FLAT
    visual_off = _engine(gemma, max_model_len=32768, limit_mm_per_prompt=(("image", 0), ("video", 0)))
    assert not text_only(gemma, visual_off)


def test_gemma4_vision_weights_match_transformers_and_are_not_in_the_weight_count() -> None:
    """transformers 5.19 Gemma4VisionModel on the 26B's vision_config: 569,548,080 parameters (counted on the
    meta device), + std_bias / std_scale 2 x 1152 + the 1152 x 2816 embed_vision projection. The weight count
    (params.py) leaves the Gemma 4 tower out ("vision tower not counted"), so text-only serving subtracts
    nothing for it."""
    config = _config("google__gemma-4-26B-A4B")
    assert _gemma4_vision(_Cfg(config["vision_config"]), 2816) == 569_548_080 + 2 * 1152 + 1152 * 2816
    assert "vision tower not counted" in count_params(config).notes
    gemma = model_spec_from_config(config)
    assert tower_weight_bytes(gemma, _engine(gemma, max_model_len=32768)) == 0


# ----------------------------------------------------------------------------------------------------- InternVL

INTERNVL3_1B = Path(__file__).resolve().parents[1] / "data" / "mm_configs" / "OpenGVLab__InternVL3-1B-Pretrained"


def _internvl_config() -> dict[str, Any]:
    return json.loads((INTERNVL3_1B / "config.json").read_text())  # type: ignore[no-any-return]


def test_internvl3_tiles_and_the_video_that_fills_max_model_len() -> None:
    """internvl.py (0.33 / 0.34) on InternVL3-1B (force_image_size 448, patch 14, downsample_ratio 0.5,
    max_dynamic_patch 12, use_thumbnail, a Qwen2 text model so ctx_video_token_map gives <|video_pad|>):
    num_image_token (448 / 14)^2 x 0.25 = 256 a tile; the largest image 12 tiles + thumbnail = 3,328 tokens,
    13 x 1,025 ViT patches. No get_mm_max_tokens_per_item: the budget's video (mm_counts {image: 1, video: 1},
    get_num_frames_with_most_features) is (32768 - 3328) // 256 = 115 frames = 29,440 tokens, so the video wins;
    the profiled dummy (mm_counts {video: 1}) has 32768 // 256 = 128 frames of one tile: 131,200 patches and
    32,768 cached rows. Budget max(8192, 29440) // 29440 = 1 item."""
    vl = model_spec_from_config(_internvl_config())
    assert vl.vision is not None and modalities(vl.vision) == ("image", "video")
    engine = _engine(vl, max_model_len=32768, max_num_batched_tokens=8192)
    item = largest_item(vl.vision, engine)
    assert item is not None and (item.modality, item.tokens, item.patches, item.outputs) == \
        ("video", 29440, 131200, 32768)
    assert items_per_batch(item, engine) == 1
    profile = encoder_profile(vl, engine)
    # InternViT (intern_vit.py): bf16 pixels of 3 x 14 x 14 (1,176 B a patch: the processing context casts them,
    # multimodal/processing/context.py) + the widest stage, the MLP (residual, norm, fc1, act: 2 x 1024 +
    # 2 x 4096 = 10,240 values x 2 B) -> 131,200 x 21,656 B = 2.65 GiB
    assert profile.peak_bytes == 131200 * (3 * 14 * 14 * 2 + (2 * 1024 + 2 * 4096) * 2) == 2_841_267_200
    assert profile.cached_bytes == 32768 * 896 * 2 + 131200 * 3 * 14 * 14 * 2  # outputs + the dummy's pixels
    assert profile.error_bytes == profile.peak_bytes // 2


def test_internvl3_images_without_video_and_the_tower_without_both() -> None:
    """'{"video":0}': the 3,328-token image, 8192 // 3328 = 2 of them; image and video 0: text-only, and
    _mark_tower_model(vllm_config, {"image", "video"}) skips InternViT + mlp1 (308,495,104 parameters, bf16)."""
    vl = model_spec_from_config(_internvl_config())
    assert vl.vision is not None
    engine = _engine(vl, max_model_len=32768, max_num_batched_tokens=8192, limit_mm_per_prompt=(("video", 0),))
    item = largest_item(vl.vision, engine)
    assert item is not None and (item.modality, item.tokens, item.patches) == ("image", 3328, 13325)
    assert items_per_batch(item, engine) == 2
    assert encoder_profile(vl, engine).peak_bytes == 2 * 13325 * (1176 + 20480)
    off = _engine(vl, max_model_len=32768, limit_mm_per_prompt=(("image", 0), ("video", 0)))
    assert text_only(vl, off)
    assert tower_weight_bytes(vl, off) == 308_495_104 * 2
    assert tower_weight_bytes(vl, engine) == 308_495_104 * 2


def test_internvit_300m_count_matches_transformers() -> None:
    """transformers 5.19 InternVLVisionModel (hidden 1024, I 4096, 24 layers, 448 px, patch 14, LayerNorm, qkv
    bias) counts 304,014,336 on the meta device, its final layernorm (2 x 1024) included, which vLLM's
    InternVisionModel does not build; mlp1 adds LayerNorm(4096) and 4096 x 896 + 896 x 896 with biases."""
    from kvplan.core.params import _internvl_vision

    config = _internvl_config()
    vit = 304_014_336 - 2 * 1024
    mlp1 = 2 * 4096 + 4096 * 896 + 896 + 896 * 896 + 896
    assert _internvl_vision(_Cfg(config["vision_config"]), 24, 4, 896) == vit + mlp1 == 308_495_104


def test_internvl_with_an_internlm2_text_model_takes_images_only() -> None:
    """ctx_video_token_map has no internlm2 (InternVL2.5 with InternLM2): image only, so '{"image":0}' is
    text-only for the encoder profile, but the tower is still built (its video limit stays 999); without
    dynamic_image_size (InternVLChatConfig's default False) an image is one 256-token tile."""
    config = _internvl_config()
    internlm2 = {"model_type": "internlm2", "architectures": ["InternLM2ForCausalLM"]}
    config["llm_config"] = {**config["llm_config"], **internlm2}
    vl = model_spec_from_config(config)
    assert vl.vision is not None and modalities(vl.vision) == ("image",)
    image_off = _engine(vl, max_model_len=32768, limit_mm_per_prompt=(("image", 0),))
    assert text_only(vl, image_off) and encoder_profile(vl, image_off).error_bytes == 0
    assert tower_weight_bytes(vl, image_off) == 0
    del config["dynamic_image_size"]
    single = model_spec_from_config(config)
    item = largest_item(single.vision, _engine(single, max_model_len=32768))  # type: ignore[arg-type]
    assert item is not None and (item.modality, item.tokens, item.patches) == ("image", 256, 1025)


# ----------------------------------------------------------------------------------------------------- Kimi-VL

# No Kimi-VL config.json is reachable offline: the vision_config is MoonViTConfig's defaults (vLLM 0.33
# transformers_utils/configs/moonvit.py), which equal the vision_config of moonshotai/MoonViT-SO-400M as vendored
# in mlx-community/LocateAnything-3B-4bit; the text model is a stand-in (DeepSeek-V2-Lite's real config, the
# DeepseekV2 text model kimi_vl.py builds; only its hidden size, 2048, enters the encoder figures).
MOONVIT = {"hidden_size": 1152, "init_pos_emb_height": 64, "init_pos_emb_width": 64, "intermediate_size": 4304,
           "merge_kernel_size": [2, 2], "model_type": "moonvit", "num_attention_heads": 16,
           "num_hidden_layers": 27, "patch_size": 14}


def _kimi_vl():  # type: ignore[no-untyped-def]
    return model_spec_from_config({"architectures": ["KimiVLForConditionalGeneration"], "model_type": "kimi_vl",
                                   "media_placeholder_token_id": 163605, "vision_config": MOONVIT,
                                   "text_config": _config("deepseek-ai__DeepSeek-V2-Lite")})


def test_kimi_vl_dummy_image_under_both_token_limits() -> None:
    """kimi_vl.py (0.33 / 0.34): the dummy is MaxImageTokenMeta's 1024 x 1024 (73 x 73 = 5,329 patches of 14);
    get_num_image_tokens with in_token_limit 4,096 scales it by sqrt(4096 / 5329) to 897 px, pads to 28 ->
    924: 66 x 66 = 4,356 patches, 33 x 33 = 1,089 tokens; a limit above 5,329 pads 1024 -> 1036: 5,476 patches,
    1,369 tokens. At 8,192 batched tokens that is 7 or 5 images (encoder_budget.py _get_max_items); kvplan
    takes the larger ViT batch (7 x 4,356) and carries the other in the error."""
    from kvplan.core.mm_profile import kimi_vl_grid

    kimi = _kimi_vl()
    assert kimi.vision is not None and modalities(kimi.vision) == ("image",)
    assert kimi_vl_grid(kimi.vision, 1024, 4096) == (4356, 1089)
    assert kimi_vl_grid(kimi.vision, 1024, None) == (5476, 1369)
    engine = _engine(kimi, max_model_len=32768, max_num_batched_tokens=8192)
    item = largest_item(kimi.vision, engine)
    assert item is not None and (item.tokens, item.patches) == (1089, 4356)
    assert items_per_batch(item, engine) == 7
    profile = encoder_profile(kimi, engine)
    # MoonViT (moonvit.py): bf16 pixels 3 x 14 x 14 x 2 B = 1,176 B a patch; the MLP (2 x 1152 + 2 x 4304
    # = 10,912 values) outweighs attention (9 x 1152): x 2 B = 21,824 B -> 30,492 x 23,000 B = 0.65 GiB
    assert profile.peak_bytes == 7 * 4356 * (1176 + 10912 * 2) == 701_316_000
    assert profile.cached_bytes == 7 * 1089 * 2048 * 2 + 7 * 4356 * 1176
    assert profile.error_bytes == profile.peak_bytes // 2  # wider than the 4,096-or-not spread (5 x 5,476)
    off = _engine(kimi, max_model_len=32768, limit_mm_per_prompt=(("image", 0),))
    assert text_only(kimi, off) and encoder_profile(kimi, off).error_bytes == 0


def test_moonvit_and_projector_weights() -> None:
    """moonvit.py / kimi_vl.py (0.33): ViT 416,866,032 parameters (MoonViT-SO-400M), projector LayerNorm(1152) +
    Linear(4608, 4608) + Linear(4608, 2048) with biases = 30,679,808; dropped with '{"image":0}'
    (_mark_tower_model(vllm_config, "image"))."""
    kimi = _kimi_vl()
    off = _engine(kimi, max_model_len=32768, limit_mm_per_prompt=(("image", 0),))
    assert tower_weight_bytes(kimi, off) == (416_866_032 + 30_679_808) * 2


# ------------------------------------------------------------------------------------------- Phi-4-multimodal

PHI4MM = Path(__file__).resolve().parents[1] / "data" / "mm_configs" / "microsoft__Phi-4-multimodal-instruct"


def _phi4mm():  # type: ignore[no-untyped-def]
    return model_spec_from_config(json.loads((PHI4MM / "config.json").read_text()))


def test_phi4mm_is_multimodal_without_a_vision_config() -> None:
    """phi4mm.py (0.33 / 0.34) builds get_navit_vision_model's SigLIP (1152 wide, 4304 MLP, patch 14, 448 px)
    cut at layer_idx -2: 26 layers; image and audio (get_supported_mm_limits)."""
    phi = _phi4mm()
    assert phi.is_multimodal and phi.vision is not None
    assert (phi.vision.family, phi.vision.num_layers, phi.vision.hidden_size) == ("phi4mm", 26, 1152)
    assert modalities(phi.vision) == ("audio", "image")


def test_phi4mm_profiles_one_36_crop_image() -> None:
    """get_image_size_with_most_features: 448 x (448 x 36) with dynamic_hd 36; _compute_num_image_tokens:
    crops (1, 36), no padding, f = 16: 256 + 16 + 1 + 16 x 576 + 576 = 10,065 tokens; the ViT runs 37 crops of
    32 x 32 = 37,888 patches; max(8192, 10065) // 10065 = 1 image. Peak: 37,888 x (3,528 B of fp32 + bf16
    pixels + the MLP's (2 x 1152 + 2 x 4304) x 2 B) = 0.89 GiB; the cache keeps 10,065 x 3072 x 2 B."""
    from kvplan.core.mm_profile import phi4mm_image

    phi = _phi4mm()
    assert phi.vision is not None
    engine = _engine(phi, max_model_len=32768, max_num_batched_tokens=8192)
    item = largest_item(phi.vision, engine)
    assert item is not None and (item.modality, item.tokens, item.patches) == ("image", 10065, 37888)
    assert phi4mm_image(phi.vision, dynamic_hd=1).tokens == 256 + 16 + 1 + 16 * 16 + 16
    assert items_per_batch(item, engine) == 1
    profile = encoder_profile(phi, engine)
    assert profile.peak_bytes == 37888 * (1176 + (2 * 1152 + 2 * 4304) * 2) == 871_424_000  # bf16 pixels
    assert profile.cached_bytes == 10065 * 3072 * 2 + 37888 * 1176
    assert profile.error_bytes == profile.peak_bytes // 2


def test_phi4mm_audio_alone_keeps_the_flat_term_and_both_off_is_text_only() -> None:
    """'{"image":0}' leaves the audio dummy (241,000 samples, 188 tokens) for the Conformer kvplan does not
    model: the flat ± 2 GiB; image and audio 0: no encoder profile. The SigLIP + projector (398,085,280 +
    2 x 1152 + 1152 x 3072 + 3072 + 3072^2 + 3072 parameters) is skipped only when video is 0 as well
    (_mark_tower_model(vllm_config, {"image", "video"}))."""
    phi = _phi4mm()
    assert phi.vision is not None
    audio = _engine(phi, max_model_len=32768, limit_mm_per_prompt=(("image", 0),))
    assert largest_item(phi.vision, audio) is None
    assert encoder_profile(phi, audio).error_bytes == ERR_MM_ENCODER_FLAT
    off = _engine(phi, max_model_len=32768, limit_mm_per_prompt=(("audio", 0), ("image", 0)))
    assert text_only(phi, off) and tower_weight_bytes(phi, off) == 0
    all_off = _engine(phi, max_model_len=32768, limit_mm_per_prompt=(("audio", 0), ("image", 0), ("video", 0)))
    tower = 398_085_280 + 2 * 1152 + 1152 * 3072 + 3072 + 3072 * 3072 + 3072
    assert tower_weight_bytes(phi, all_off) == tower * 2
