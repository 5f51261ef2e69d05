"""vLLM's multimodal encoder profile, the LoRA slots it preallocates and the weights --cpu-offload-gb moves.

Multimodal (``GPUModelRunner.profile_run``, v1/worker/gpu_model_runner.py, 0.33): before the text forward vLLM
runs the encoder once on a dummy batch of the modality with the most tokens per item
(``MultiModalBudget.get_modality_with_max_tokens``), ``max_items_per_batch`` copies of the largest item, and
keeps the outputs in the encoder cache while the text forward and the sampler run. So the profile peak is the
larger of (a) the encoder's own peak and (b) the text peak plus the cached outputs. The budget
(``compute_mm_encoder_budget``, v1/core/encoder_cache_manager.py): ``max(max_num_batched_tokens, largest item)``
tokens (``max_num_encoder_input_tokens`` and ``encoder_cache_size`` both default to max_num_batched_tokens,
config/scheduler.py); ``MultiModalBudget._get_max_items`` (multimodal/encoder_budget.py) gives
``max(1, min(budget // item, max_num_seqs x max(1, min(limit, max_model_len // item))))`` items (without
chunked prefill max_num_seqs is first capped at ``max_num_batched_tokens // item``). Limits of 0 for every
modality, or --language-model-only, skip the encoder profile and (``_mark_tower_model``, 0.32+) the tower's
weights. The encoder's own peak is read from the ViT code, not measured: it carries half its value as error.

vLLM 0.11.0-0.12.0 (``profile_run`` in the 0.11.0, 0.11.2 and 0.12.0 wheels) differs: Qwen3-VL's dummy video
fills max_model_len up to 24,576 frames and counts 12.5 budget tokens per soft token; the outputs shorter than
the encoder budget (0.11) or the item's budget tokens (0.12) are copied into zero tensors that long, the
originals and the dummy pixels staying alive through the text forward (see ``_profile_0_11``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from kvplan.core.engine import EngineConfig
from kvplan.core.model import ModelSpec
from kvplan.core.settings import release, version_tuple
from kvplan.core.units import GiB, MiB, cdiv
from kvplan.core.vision import (
    BLIP2_FAMILY,
    GEMMA3_FAMILY,
    GEMMA4_AUDIO_SEQ_LENGTH,
    GEMMA4_DUMMY_SIDE,
    GEMMA4_FAMILY,
    GEMMA4_FRAME_EXTRA_TOKENS,
    GEMMA4_VIDEO_FRAMES,
    GEMMA4_VIDEO_SOFT_TOKENS,
    INTERNVL_FAMILY,
    KIMI_VL_DUMMY_SIDE,
    KIMI_VL_FAMILY,
    KIMI_VL_IN_TOKEN_LIMITS,
    LLAMA4_FAMILY,
    LLAMA4_MAX_TILES,
    PHI4MM_DYNAMIC_HD,
    PHI4MM_FAMILY,
    QWEN2_FAMILY,
    QWEN2_VL_MAX_FRAMES,
    QWEN2_VL_MAX_PIXELS,
    QWEN3_FAMILY,
    QWEN3_VL_MAX_FRAMES_0_11,
    QWEN3_VL_MAX_PIXELS,
    QWEN3_VL_VIDEO_MAX_PIXELS,
    QWEN3_VL_VIDEO_TOKEN_FACTOR_0_11,
    VisionTower,
)

DEFAULT_MM_LIMIT = 999  # MultiModalConfig.get_limit_per_prompt: an unspecified modality
# The releases whose dummy-item rules and profile_run were read: the V1 GPUModelRunner from 0.22 (0.22, 0.32,
# 0.33 wheels: the same budget, items and encoder run; older releases differ, MODELLED_0_11 below); Model
# Runner V2 profiles no encoder up to 0.26 (profile_run in the 0.22 and 0.26 wheels: text forward and sampler
# only) and does from 0.27 (0.27, 0.28, 0.29, 0.32, 0.33: profile_run calls get_dummy_encoder_profile_inputs and
# EncoderRunner.profile_encoder_cache, the same code in each).
MODELLED_FROM = (0, 22)
# The V1 releases before that whose profile_run, MultiModalBudget, compute_mm_encoder_budget and the Qwen dummy
# rules were read: the 0.11.0, 0.11.2 and 0.12.0 wheels (0.11.1 lies between two identical ones). Outside it the
# code differs: 0.10.2 has no Qwen3-VL and no zero-padded copy of the outputs; 0.13.0 drops the copy and the
# 12.5 factor (its Qwen3-VL video still grows with max_model_len); 0.15.0-0.21.0 take 0.22's two-frame video
# and 0.18.0 / 0.21.0 0.22's encoder_budget.py and profile_run, but their qwen2_vl / qwen2_5_vl / qwen3_vl
# were not compared line by line, so 0.13-0.21 keep the flat term.
# Qwen2-VL / 2.5-VL and Qwen3-VL only: Gemma 3 and Llama 4 have no get_mm_max_tokens_per_item there, so their
# budget counts the placeholder's tokenized length (start / end of image and newlines), not read here.
MODELLED_0_11 = ((0, 11), (0, 12))
V2_NO_ENCODER_UNTIL = (0, 26)
# The releases before MODELLED_FROM that leave a vision tower out when its modalities' limits are all 0 (read in
# the 0.11.0-0.21.0 wheels: qwen2_vl / qwen2_5_vl / qwen3_vl / qwen3_vl_moe ``self.visual = None`` up to 0.14,
# ``_mark_tower_model`` from 0.15; gemma3_mm ``_mark_tower_model(vllm_config, "image")`` from 0.15).
TOWER_SKIPPED_FROM_QWEN = (0, 11)
TOWER_SKIPPED_FROM_GEMMA3 = (0, 15)
V2_ENCODER_FROM = (0, 27)
# The flat term for encoders kvplan does not model: the two multimodal lines of vllm-gpu-logs.jsonl left
# 1.17 GiB (line 14) and 3.81 GiB (line 36, since modelled by _profile_0_11: +0.80 GiB left) unexplained.
ERR_MM_ENCODER_FLAT = 2 * GiB
ERR_MM_ENCODER_FRACTION = 0.5  # the ViT peak is read from the code, not measured
ERR_MM_ENCODER_MIN = 256 * MiB
SUPPORTED_MODALITIES: dict[frozenset[str], tuple[str, ...]] = {
    QWEN2_FAMILY: ("image", "video"),
    QWEN3_FAMILY: ("image", "video"),
    GEMMA3_FAMILY: ("image",),
    LLAMA4_FAMILY: ("image",),
}
SUPPORTED_MODALITIES[BLIP2_FAMILY] = ("image",)


def modalities(tower: VisionTower) -> tuple[str, ...] | None:
    if tower.family in GEMMA4_FAMILY:  # gemma4_mm.py get_supported_mm_limits: audio only with an audio tower
        return ("image", "audio", "video") if tower.audio else ("image", "video")
    if tower.family in PHI4MM_FAMILY:  # phi4mm.py get_supported_mm_limits
        return ("audio", "image")
    if tower.family in KIMI_VL_FAMILY:  # kimi_vl.py get_supported_mm_limits
        return ("image",)
    if tower.family in INTERNVL_FAMILY:  # internvl.py get_supported_mm_limits: video with a ctx_video_token
        return ("image", "video") if tower.video else ("image",)
    for family, names in SUPPORTED_MODALITIES.items():
        if tower.family in family:
            return names
    return None


def mm_limit(engine: EngineConfig, modality: str) -> int:
    settings = engine.settings
    if settings.language_model_only:
        return 0
    return dict(settings.limit_mm_per_prompt or ()).get(modality, DEFAULT_MM_LIMIT)


def text_only(model: ModelSpec, engine: EngineConfig) -> bool:
    """No encoder profile: --language-model-only, or a limit of 0 for every modality the model takes. For a
    family kvplan does not model, whose modalities it does not know, the limits must name image, video and
    audio, all 0 (an unnamed modality keeps vLLM's 999)."""
    if not model.is_multimodal:
        return True
    settings = engine.settings
    if settings.language_model_only:
        return True
    names = modalities(model.vision) if model.vision else None
    if names is None:
        given = dict(settings.limit_mm_per_prompt or ())
        return {"image", "video", "audio"} <= set(given) and all(v == 0 for v in given.values())
    return all(mm_limit(engine, name) == 0 for name in names)


@dataclass(frozen=True, kw_only=True)
class EncoderItem:
    modality: str
    tokens: int  # placeholder tokens the item takes in the prompt (and the encoder cache)
    patches: int  # ViT sequence length for one item
    # the model's own cap on items a prompt (ProcessingInfo.get_supported_mm_limits; allowed_mm_limits takes the
    # smaller of it and --limit-mm-per-prompt, multimodal/processing/context.py 0.32); None: no cap
    max_per_prompt: int | None = None
    # encoder output rows the profiled dummy leaves in the cache, where not ``tokens`` (0: tokens); Qwen3-VL's
    # 0.11-0.12 video budgets 12.5 tokens an output row
    outputs: int = 0


def _qwen_image(tower: VisionTower, max_pixels: int) -> EncoderItem:
    """``get_image_size_with_most_features`` (qwen2_vl.py): max_pixels // unit^2 merged tokens (the closest
    factor pair never loses tokens for these sizes), unit = patch x merge; each token is merge^2 patches."""
    unit = tower.patch_size * tower.spatial_merge_size
    tokens = max_pixels // (unit * unit)
    return EncoderItem(modality="image", tokens=tokens, patches=tokens * tower.spatial_merge_size ** 2)


def largest_item(tower: VisionTower, engine: EngineConfig) -> EncoderItem | None:
    """The dummy item vLLM 0.33 profiles with (``get_mm_max_tokens_per_item``, the larger modality wins, ties
    to the later name), or None when the family is not modelled or every modality is off."""
    if tower.family in BLIP2_FAMILY:
        # blip2.py (0.32, 0.33): one image a prompt (get_supported_mm_limits), num_query_tokens tokens whatever its
        # size; the dummy image is image_size square, the ViT's sequence (image_size / patch)^2 + a class token
        side = tower.image_size // tower.patch_size
        blip = EncoderItem(modality="image", tokens=tower.tokens_per_image, patches=side * side + 1, max_per_prompt=1)
        return blip if mm_limit(engine, "image") > 0 else None
    max_pixels, video_pixels = engine.settings.mm_max_pixels, engine.settings.mm_video_max_pixels
    items: list[EncoderItem] = []
    if tower.family in GEMMA3_FAMILY:
        side = tower.image_size // tower.patch_size
        items.append(EncoderItem(modality="image", tokens=tower.tokens_per_image, patches=side * side))
    elif tower.family in LLAMA4_FAMILY:
        # mllama4.py (0.33): the dummy image is 16 tiles tall (get_image_size_with_most_features, h:w = 16:1), so
        # 16 + 1 global tiles; each tile is (336 / 14)^2 = 576 patches + a class token in the ViT and, after the
        # pixel shuffle (ratio 0.5: 4 patches a token), 144 embeddings (get_patch_per_chunk).
        side = tower.image_size // tower.patch_size
        ratio = float((tower.raw or {}).get("pixel_shuffle_ratio") or 0.5)
        tiles = LLAMA4_MAX_TILES + 1
        per_tile = side * side // round(1 / ratio**2)
        items.append(EncoderItem(modality="image", tokens=tiles * per_tile, patches=tiles * (side * side + 1)))
    elif tower.family in GEMMA4_FAMILY:
        return _gemma4_item(tower, engine)
    elif tower.family in INTERNVL_FAMILY:
        return _internvl_item(tower, engine)
    elif tower.family in PHI4MM_FAMILY:
        return phi4mm_image(tower) if mm_limit(engine, "image") > 0 else None
    elif tower.family in KIMI_VL_FAMILY:
        options = _kimi_vl_items(tower) if mm_limit(engine, "image") > 0 else []
        return max(options, key=lambda item: items_per_batch(item, engine) * item.patches) if options else None
    elif tower.family in QWEN2_FAMILY:
        image = _qwen_image(tower, max_pixels or QWEN2_VL_MAX_PIXELS)
        items.append(image)
        # get_max_video_tokens: the largest image, resized to the videos_kwargs size (smart_resize caps it)
        frame = _qwen_image(tower, min(max_pixels or QWEN2_VL_MAX_PIXELS, video_pixels or QWEN2_VL_MAX_PIXELS))
        # get_num_frames_with_most_features: frames filling max_model_len, at most 14; padded to the temporal
        # patch, grid_t = frames / 2, at the image's size (qwen2_vl.py _get_vision_info, 0.33)
        frames = 1
        while frames < QWEN2_VL_MAX_FRAMES and cdiv(frames + 1, tower.temporal_patch_size) * frame.tokens \
                <= engine.max_model_len:
            frames += 1
        grid_t = cdiv(frames, tower.temporal_patch_size)
        items.append(EncoderItem(modality="video", tokens=grid_t * frame.tokens, patches=grid_t * frame.patches))
    elif tower.family in QWEN3_FAMILY:
        items.append(_qwen_image(tower, max_pixels or QWEN3_VL_MAX_PIXELS))
        # qwen3_vl.py get_max_video_tokens (0.33): two frames (one temporal patch) at video longest_edge / 2
        video = _qwen_image(tower, (video_pixels or QWEN3_VL_VIDEO_MAX_PIXELS) // tower.temporal_patch_size)
        items.append(EncoderItem(modality="video", tokens=video.tokens, patches=video.patches))
    else:
        return None
    live = [item for item in items if mm_limit(engine, item.modality) > 0]
    return max(live, key=lambda item: (item.tokens, item.modality)) if live else None


def encoder_budget_tokens(item: EncoderItem, engine: EngineConfig) -> int:
    """``compute_mm_encoder_budget`` (v1/core/encoder_cache_manager.py, 0.32 / 0.33): the "budget of N tokens"
    profile_run logs ("Encoder cache will be initialized with a budget of ...")."""
    return max(engine.max_num_batched_tokens, item.tokens)


def items_per_batch(item: EncoderItem, engine: EngineConfig) -> int:
    """``MultiModalBudget._get_max_items`` (multimodal/encoder_budget.py, 0.33)."""
    tokens = engine.max_num_batched_tokens
    budget = encoder_budget_tokens(item, engine)
    limit = mm_limit(engine, item.modality)
    if item.max_per_prompt is not None:
        limit = min(limit, item.max_per_prompt)
    per_prompt = max(1, min(limit, engine.max_model_len // item.tokens))
    reqs = engine.max_num_seqs
    if not engine.chunked_prefill:
        reqs = min(reqs, tokens // item.tokens)
    return max(1, min(budget // item.tokens, reqs * per_prompt))


def encoder_peak_bytes(tower: VisionTower, item: EncoderItem, items: int, engine: EngineConfig, *,
                       model_dtype_pixels: bool = False) -> int:
    """The encoder forward's torch peak over ``items`` copies of ``item``, by reading the ViT (qwen2_5_vl.py,
    qwen3_vl.py, siglip.py, 0.33), model dtype a, S patches, width D, MLP width I, TP t:

    * pixel values ``[S, C x T x P x P]``: float32 as the processor makes them and the model-dtype copy the
      encoder casts them to (``.type(self.visual.dtype)``), or, with ``model_dtype_pixels`` (0.11-0.34, where
      the processing context casts them before the runner sees them), the model-dtype tensor alone;
    * the widest block stage: attention keeps residual, norm, fused qkv (3D / t), q/k/v after rotary (3D / t)
      and the output (9D with t = 1); the MLP keeps residual, norm, fc1 (I / t; gate_up 2I / t for Qwen2.5-VL)
      and its activation (I / t).
    With --mm-encoder-tp-mode data each rank runs its share of the items whole (t = 1)."""
    if tower.family in GEMMA4_FAMILY:
        return gemma4_encoder_peak_bytes(tower, item, items, engine)
    a = 2 if engine.model_dtype not in ("float32", "float") else 4
    tp = engine.tensor_parallel_size
    if engine.settings.mm_encoder_tp_mode == "data":
        items, tp = cdiv(items, tp), 1
    d, inter = tower.hidden_size, tower.intermediate_size
    frames = tower.temporal_patch_size
    pixels = tower.in_channels * frames * tower.patch_size ** 2 * (a if model_dtype_pixels else 4 + a)
    attention = 2 * d + 7 * d // tp
    mlp = 2 * d + (3 if tower.gated_mlp else 2) * inter // tp
    return items * item.patches * (pixels + max(attention, mlp) * a)


def dummy_pixel_bytes(tower: VisionTower, item: EncoderItem, items: int, engine: EngineConfig) -> int:
    """The dummy batch's pixel values in the model dtype: C x T x P x P values a patch."""
    a = 2 if engine.model_dtype not in ("float32", "float") else 4
    return items * item.patches * tower.in_channels * tower.temporal_patch_size * tower.patch_size ** 2 * a


def encoder_outputs_bytes(model: ModelSpec, tower: VisionTower, item: EncoderItem, items: int,
                          engine: EngineConfig) -> int:
    """The encoder cache during the text forward: one text-width row per token, plus Qwen3-VL's deepstack
    levels (``embed_multimodal`` returns them concatenated)."""
    a = 2 if engine.model_dtype not in ("float32", "float") else 4
    return items * (item.outputs or item.tokens) * model.hidden_size * (1 + tower.deepstack_layers) * a


def gemma4_soft_tokens(tower: VisionTower, width: int, height: int, max_soft_tokens: int) -> int:
    """``Gemma4ProcessingInfo._compute_num_soft_tokens`` (gemma4_mm.py, 0.33 / 0.34): the image scaled to
    max_soft_tokens x k^2 patches, each side floored to a multiple of patch x k, then pooled k x k."""
    patch, k = tower.patch_size, tower.pooling_kernel_size
    unit = patch * k
    scale = math.sqrt(max_soft_tokens * k * k / ((height / patch) * (width / patch)))
    target_h = max(unit, math.floor(height * scale / unit) * unit)
    target_w = max(unit, math.floor(width * scale / unit) * unit)
    return min((target_h // patch) * (target_w // patch) // (k * k), max_soft_tokens)


def _gemma4_item(tower: VisionTower, engine: EngineConfig) -> EncoderItem | None:
    """Gemma 4 (gemma4_mm.py, 0.33 / 0.34). ``get_mm_max_tokens_per_item``: an image default_output_length
    (280) soft tokens, a video 32 frames x (70 + 8) = 2,496, audio the processor's audio_seq_length (750) when
    the checkpoint has an audio tower. The processor pads every image to max_soft_tokens x k^2 patches (2,520;
    a video frame 630), which is what the ViT runs; the dummy is 224 x 224 (256 soft tokens an image, 64 a
    frame), which is what the cache keeps. Audio as the largest item (video off) is not modelled: None."""
    k2 = tower.pooling_kernel_size ** 2
    side = GEMMA4_DUMMY_SIDE
    # vision_config.default_output_length: 280 in the 26B / 31B configs, and Gemma4VisionConfig's default
    image_soft = int((tower.raw or {}).get("default_output_length") or 280)
    frame_soft = GEMMA4_VIDEO_SOFT_TOKENS
    items = [
        EncoderItem(modality="image", tokens=image_soft, patches=image_soft * k2,
                    outputs=gemma4_soft_tokens(tower, side, side, image_soft)),
        EncoderItem(modality="video", tokens=GEMMA4_VIDEO_FRAMES * (frame_soft + GEMMA4_FRAME_EXTRA_TOKENS),
                    patches=GEMMA4_VIDEO_FRAMES * frame_soft * k2,
                    outputs=GEMMA4_VIDEO_FRAMES * gemma4_soft_tokens(tower, side, side, frame_soft)),
    ]
    if tower.audio:
        items.append(EncoderItem(modality="audio", tokens=GEMMA4_AUDIO_SEQ_LENGTH, patches=0))
    live = [item for item in items if mm_limit(engine, item.modality) > 0]
    best = max(live, key=lambda item: (item.tokens, item.modality)) if live else None
    return None if best is None or best.modality == "audio" else best


def _internvl_item(tower: VisionTower, engine: EngineConfig) -> EncoderItem | None:
    """InternVLChatModel (internvl.py, 0.33 / 0.34). The image: ``get_image_size_with_most_features`` gives
    max_dynamic_patch tiles + the thumbnail (13 x 256 = 3,328 tokens, 13 x 1,025 ViT patches). The video (text
    models in ctx_video_token_map): frames at one tile each (InternVLChatVideoProcessor, max_num=1), as many as
    ``get_num_frames_with_most_features`` fits in max_model_len. InternVL has no get_mm_max_tokens_per_item, so
    the budget's tokens come from a dummy built with mm_counts {image: 1, video: 1} (encoder_budget.py
    get_mm_max_toks_per_item: frames = (max_model_len - 3,328) // 256 while images are on), but the profiled
    dummy with {video: 1} (get_dummy_encoder_profile_inputs): max_model_len // 256 frames."""
    per_tile = tower.tokens_per_tile
    tiles = tower.max_tiles
    image = EncoderItem(modality="image", tokens=tiles * per_tile, patches=tiles * tower.tile_patches)
    items = [image]
    if tower.video and per_tile > 0:
        beside = image.tokens if mm_limit(engine, "image") > 0 else 0
        budget_frames = max((engine.max_model_len - beside) // per_tile, 1)
        frames = max(engine.max_model_len // per_tile, 1)
        items.append(EncoderItem(modality="video", tokens=budget_frames * per_tile,
                                 patches=frames * tower.tile_patches, outputs=frames * per_tile))
    live = [item for item in items if mm_limit(engine, item.modality) > 0]
    return max(live, key=lambda item: (item.tokens, item.modality)) if live else None


def phi4mm_image(tower: VisionTower, dynamic_hd: int = PHI4MM_DYNAMIC_HD) -> EncoderItem:
    """Phi-4-multimodal (phi4mm.py, 0.22-0.34). No get_mm_max_tokens_per_item: the budget takes the dummy's
    tokens. The dummy image (get_image_size_with_most_features) is 448 x (448 x dynamic_hd): dynamic_hd crops
    in one column, no padding; ``_compute_num_image_tokens`` with f = 448 / 14 / 2 = 16: the global crop
    f^2 + f newlines, 1 separator, the HD crops f x (f x dynamic_hd) + f x dynamic_hd newlines -> 10,065 tokens
    for 36. The ViT runs dynamic_hd + 1 crops of 32 x 32 patches (37,888). The audio item
    (_AUDIO_MAX_SOUNDFILE_SIZE 241,000 samples: 1,504 frames / compression_rate 8 = 188 tokens) is smaller,
    and its Conformer is not modelled: with images off the profile keeps the flat term."""
    side = tower.image_size // tower.patch_size
    f = side // 2  # token_compression_factor 2 (VISION_ENCODER_TO_PROCESSING_CONFIG)
    tokens = f * f + f + 1 + f * (f * dynamic_hd) + f * dynamic_hd
    return EncoderItem(modality="image", tokens=tokens, patches=(dynamic_hd + 1) * side * side)


def kimi_vl_grid(tower: VisionTower, side: int, in_token_limit: int | None) -> tuple[int, int]:
    """``KimiVLProcessingInfo.get_num_image_tokens`` (kimi_vl.py, 0.33 / 0.34) on a side x side image:
    scaled by sqrt(limit / patches) when it has more than in_token_limit patches (int() of each side), padded
    to merge x patch, then (ViT patches, tokens after the merge_kernel_size merge)."""
    patch = tower.patch_size
    merge = _kimi_vl_merge(tower)
    if in_token_limit is not None and (side // patch) ** 2 > in_token_limit:
        side = int(side * math.sqrt(in_token_limit / (side // patch) ** 2))
    unit = merge * patch
    padded = side + (unit - side % unit) % unit
    return (padded // patch) ** 2, (padded // unit) ** 2


def _kimi_vl_merge(tower: VisionTower) -> int:
    kernel = (tower.raw or {}).get("merge_kernel_size")  # MoonViTConfig default (2, 2)
    return int(kernel[0]) if isinstance(kernel, (list, tuple)) and kernel and isinstance(kernel[0], int) else 2


def _kimi_vl_items(tower: VisionTower) -> list[EncoderItem]:
    """Kimi-VL has no get_mm_max_tokens_per_item: the budget's tokens are the 1024 x 1024 dummy's (73 x 73 =
    5,329 patches): with in_token_limit 4,096, 897 px -> 924 padded, 66 x 66 = 4,356 patches, 1,089 tokens;
    under a larger limit 1036 padded, 74 x 74 = 5,476 patches, 1,369 tokens."""
    items = []
    for limit in KIMI_VL_IN_TOKEN_LIMITS:
        patches, tokens = kimi_vl_grid(tower, KIMI_VL_DUMMY_SIDE, limit)
        items.append(EncoderItem(modality="image", tokens=tokens, patches=patches))
    return items


def gemma4_encoder_peak_range(tower: VisionTower, item: EncoderItem, items: int,
                              engine: EngineConfig) -> tuple[int, int]:
    """Gemma 4's vision tower (transformers' Gemma4VisionModel, built by AutoModel and replicated on every
    rank: gemma4_mm.py ``recursive_replace_linear(..., "replicate")``), as (lowest, highest) peak.
    ``_process_image_input`` / ``_process_video_input`` (0.33) keep the processor's float32 pixel values
    ``[n, patches, 3 x P x P]`` and run the encoder in chunks of ``min(free / 2, total / 10) // cost`` images
    (frames), ``cost`` = patches x 4 x position_embedding_size x 8 B (``_encoder_chunk``), keeping each chunk's
    last hidden states. kvplan knows neither the free nor the total memory there: the highest peak is one chunk
    of every item, the lowest a chunk of one image (frame) beside the others' kept outputs (D a patch). The
    widest stage is the gated MLP: residual, norm, act(gate), up and their product (2D + 3I), wider than
    attention's q/k/v, norms and rotary copies (2D + 7D) for this ViT. With --mm-encoder-tp-mode data (0.34)
    each rank runs its share of the items."""
    a = 2 if engine.model_dtype not in ("float32", "float") else 4
    if engine.settings.mm_encoder_tp_mode == "data":
        items = cdiv(items, engine.tensor_parallel_size)
    d, inter = tower.hidden_size, tower.intermediate_size
    patches = items * item.patches
    unit = item.patches // GEMMA4_VIDEO_FRAMES if item.modality == "video" else item.patches
    pixels = patches * tower.in_channels * tower.patch_size ** 2 * 4
    stage = max(2 * d + 3 * inter, 9 * d) * a
    return pixels + unit * stage + (patches - unit) * d * a, pixels + patches * stage


def gemma4_encoder_peak_bytes(tower: VisionTower, item: EncoderItem, items: int, engine: EngineConfig) -> int:
    """The highest of ``gemma4_encoder_peak_range`` (a smaller chunk only lowers the peak)."""
    return gemma4_encoder_peak_range(tower, item, items, engine)[1]


def encoder_peak_spread_bytes(tower: VisionTower, item: EncoderItem, items: int, engine: EngineConfig) -> int:
    """How far below the peak kvplan takes vLLM's may lie where it depends on memory kvplan does not know (the
    Gemma 4 chunking); 0 elsewhere."""
    if tower.family in GEMMA4_FAMILY:
        low, high = gemma4_encoder_peak_range(tower, item, items, engine)
        return high - low
    if tower.family in KIMI_VL_FAMILY:  # the in_token_limit kvplan does not know (preprocessor_config.json)
        peaks = [encoder_peak_bytes(tower, other, items_per_batch(other, engine), engine)
                 for other in _kimi_vl_items(tower)]
        return max(peaks) - min(peaks)
    return 0


@dataclass(frozen=True, kw_only=True)
class EncoderProfile:
    """What the multimodal profile adds to the activation term: ``peak_bytes`` replaces the text peak when
    larger, ``cached_bytes`` sits on top of the text peak; ``error_bytes`` joins the activation's error where the
    peak is read and as far as peak + error passes the text side (``estimate_activation``), whole where not read."""

    peak_bytes: int
    cached_bytes: int
    error_bytes: int
    note: str


NO_ENCODER = EncoderProfile(peak_bytes=0, cached_bytes=0, error_bytes=0, note="")


def _smart_side(side: int, unit: int, max_pixels: int, frames: int = 1, temporal: int = 1) -> int:
    """transformers' smart_resize for a square (qwen2_vl image_processing; qwen3_vl video_processing with
    ``frames`` and ``temporal`` = temporal_patch_size): round to the unit, and when t x h x w passes max_pixels
    scale by beta = sqrt(frames x h x w / max_pixels) and floor to the unit, at least one unit. The min_pixels
    branch never applies to the dummy items (their sides are the largest the budget allows)."""
    bar = round(side / unit) * unit
    t_bar = round(frames / temporal) * temporal if temporal > 1 else 1
    if t_bar * bar * bar > max_pixels:
        beta = math.sqrt(frames * side * side / max_pixels)
        return max(unit, math.floor(side / beta / unit) * unit)
    return bar


@lru_cache(maxsize=64)
def _qwen3_video_0_11(patch: int, merge: int, temporal: int, image_pixels: int, video_pixels: int,
                      max_model_len: int) -> tuple[int, int, int]:
    """(budget tokens, soft tokens, ViT patches) of Qwen3-VL's dummy video in vLLM 0.11.0-0.12.0 (qwen3_vl.py
    Qwen3VLProcessingInfo, qwen2_vl.py ``_get_max_video_frames``): frames grow from 2 while the video at the
    largest image's side (``get_image_size_with_most_features``: 9,999,999 px resized to the image's
    longest_edge) still fits max_model_len in soft tokens, at most ``_MAX_FRAMES_PER_VIDEO`` = 24,576; each
    frame count is resized by the video processor (longest_edge over all frames); grid_t = (n + n % T) // T.
    ``get_max_video_tokens`` budgets int(soft tokens x 12.5); the dummy video (``get_dummy_mm_data``, mm_counts
    {video: 1}, seq_len max_model_len) has those frames at that size."""
    unit = patch * merge
    side = _smart_side(9_999_999, unit, image_pixels)

    def grid(frames: int) -> int:  # ViT patches of a video of ``frames`` frames
        frame = _smart_side(side, unit, video_pixels, frames, temporal)
        return max((frames + frames % temporal) // temporal, 1) * (frame // patch) ** 2

    frames = 2
    while frames < QWEN3_VL_MAX_FRAMES_0_11 and grid(frames + 1) // merge**2 <= max_model_len:
        frames += 1
    patches = grid(frames)
    soft = patches // merge**2
    return int(soft * QWEN3_VL_VIDEO_TOKEN_FACTOR_0_11), soft, patches


def largest_item_0_11(tower: VisionTower, engine: EngineConfig) -> EncoderItem | None:
    """The dummy item of vLLM 0.11.0-0.12.0: Qwen2-VL / 2.5-VL's rules are 0.33's (qwen2_vl.py
    ``get_mm_max_tokens_per_item``, ``_get_max_video_frames``, 14 frames: the same code); Qwen3-VL's video is
    ``_qwen3_video_0_11``. None (the flat term) for other families, for processor size overrides (how 0.11's
    processors take them was not read) and for a modality limited to 0 beside one that is not (0.11.2 and 0.12
    budget every modality the processor reports, whatever its limit: not followed here)."""
    settings = engine.settings
    limits = [mm_limit(engine, name) for name in ("image", "video")]
    if settings.mm_max_pixels or settings.mm_video_max_pixels or 0 in limits:
        return None
    if tower.family in QWEN2_FAMILY:
        return largest_item(tower, engine)
    if tower.family not in QWEN3_FAMILY:
        return None
    unit = tower.patch_size * tower.spatial_merge_size
    side = _smart_side(9_999_999, unit, QWEN3_VL_MAX_PIXELS)
    image_patches = (side // tower.patch_size) ** 2
    image = EncoderItem(modality="image", tokens=image_patches // tower.spatial_merge_size**2,
                        patches=image_patches)
    budget, soft, patches = _qwen3_video_0_11(tower.patch_size, tower.spatial_merge_size,
                                              tower.temporal_patch_size, QWEN3_VL_MAX_PIXELS,
                                              QWEN3_VL_VIDEO_MAX_PIXELS, engine.max_model_len)
    video = EncoderItem(modality="video", tokens=budget, patches=patches, outputs=soft)
    # MultiModalBudget.get_modality_with_max_tokens: max() over {image, video}, the first wins a tie
    return video if video.tokens > image.tokens else image


# The Qwen3-VL model types whose vLLM class (Qwen3VLForConditionalGeneration / Qwen3VLMoeForConditionalGeneration)
# keeps deepstack input buffers; Qwen3.5's class reads deepstack_visual_indexes but allocates none (qwen3_5.py 0.33).
QWEN3_VL_DEEPSTACK = frozenset({"qwen3_vl", "qwen3_vl_moe"})
QWEN3_VL_FIRST_RELEASE = (0, 11)  # 0.10.2 has no qwen3_vl.py
# The release whose ViT attention kvplan counts tensor by tensor (``_qwen3_vit_peak_0_11_0``): 0.11.2 reshapes
# q/k before the rotary and 0.12.0 drops the float32 copy, so only 0.11.0 (0.11.1 unread).
QWEN3_VIT_FP32_ROTARY = (0, 11, 0)


def deepstack_buffer_bytes(model: ModelSpec, engine: EngineConfig) -> int:
    """Qwen3-VL's deepstack input buffers: ``__init__`` of Qwen3VLForConditionalGeneration (qwen3_vl.py) and
    Qwen3VLMoeForConditionalGeneration (qwen3_vl_moe.py) allocates ``deepstack_num_level`` zero tensors of
    [max_num_batched_tokens, text hidden_size] in the model dtype on the GPU (read in 0.11.0, 0.11.2, 0.12.0,
    0.13.0, 0.22.0, 0.33.0), inside ``load_model``, so ``Model loading took`` counts them. Not sharded by TP. Not
    built where the tower is not (0.11-0.13: ``self.visual is not None``; 0.22: inside ``_mark_tower_model``;
    0.33: not a StageMissingLayer), i.e. when every modality limit is 0."""
    tower = model.vision
    if tower is None or tower.family not in QWEN3_VL_DEEPSTACK or not tower.deepstack_layers:
        return 0
    if engine.behaviour.engine == "v0" or release(engine.behaviour.version) < QWEN3_VL_FIRST_RELEASE \
            or text_only(model, engine):
        return 0
    a = 2 if engine.model_dtype not in ("float32", "float") else 4
    return tower.deepstack_layers * engine.max_num_batched_tokens * model.hidden_size * a


def _qwen3_vit_peak_0_11_0(model: ModelSpec, tower: VisionTower, item: EncoderItem, items: int,
                           engine: EngineConfig) -> int | None:
    """Qwen3-VL's ViT peak in vLLM 0.11.0, tensor by tensor (``Qwen3_VisionTransformer.forward``, qwen3_vl.py;
    ``Qwen2_5_VisionAttention.forward``, qwen2_5_vl.py; ``apply_rotary_pos_emb_vision``, qwen2_vl.py), S patches
    of width D, model dtype a, one rank holding every head (TP 1 or --mm-encoder-tp-mode data). The attention
    block at the rotary holds: the block input and ``norm1``'s output (an argument, alive through the call), the
    fused qkv output (3D, still bound to ``x``), q/k/v made contiguous (3D), their concatenation ``qk_concat``
    (2D), its float32 copy ``t.float()`` (2D x 4 B, none for an fp32 model), the flash-attn rotary's out-of-place
    float32 output (``apply_rotary_emb(inplace=False)``, 2D x 4 B) and ``.type_as`` back (2D x a, none for
    fp32): 12 D a + 16 D B, against the MLP's (2D + 2I) a. Beside either: ``pos_embeds``
    (``fast_pos_embed_interpolate``, D, a local of forward), ``rotary_pos_emb`` and the rotary's cos / sin
    (3 x head_dim / 2 float32), the pixels (model dtype) and, in the blocks after the last deepstack index,
    every deepstack level ([S / merge^2, out_hidden_size] each). The ViT attention itself is xformers'
    memory-efficient kernel on A100 / H100 (head_dim 72 is not in FlashAttention's list, cuda.py
    ``get_vit_attn_backend``; upstream flash-attn, no dependency of the wheel, where installed): no [heads, S, S]
    matrix. None (the generic count) for another release, TP-split heads (the qkv
    all-gather) or a vision_config without num_heads."""
    if tower.family not in QWEN3_VL_DEEPSTACK or version_tuple(engine.behaviour.version) != QWEN3_VIT_FP32_ROTARY:
        return None
    heads = int((tower.raw or {}).get("num_heads") or 0)
    if not heads or (engine.tensor_parallel_size > 1 and engine.settings.mm_encoder_tp_mode != "data"):
        return None
    a = 2 if engine.model_dtype not in ("float32", "float") else 4
    d, inter = tower.hidden_size, tower.intermediate_size
    fp32_copy = 0 if a == 4 else 2 * d * 4
    cast_back = 0 if a == 4 else 2 * d * a
    attention = 10 * d * a + fp32_copy + 2 * d * 4 + cast_back
    mlp = (2 * d + 2 * inter) * a
    rotary = 3 * (d // heads // 2) * 4
    pixels = tower.in_channels * tower.temporal_patch_size * tower.patch_size ** 2 * a
    patches = items * item.patches
    deepstack = tower.deepstack_layers * (patches // tower.spatial_merge_size ** 2) * tower.out_hidden_size * a
    return patches * (max(attention, mlp) + d * a + rotary + pixels) + deepstack


def _profile_0_11(model: ModelSpec, tower: VisionTower, item: EncoderItem, engine: EngineConfig) -> EncoderProfile:
    """``profile_run`` of vLLM 0.11.0-0.12.0 (v1/worker/gpu_model_runner.py): ``max_items_per_batch`` items of
    the dummy modality (``MultiModalBudget.get_max_items``, v1/worker/utils.py: ``items_per_batch``), encoded
    once; when the first output has fewer rows than the encoder budget (0.11: max(max_num_batched_tokens,
    largest item's budget tokens), ``compute_mm_encoder_budget``) or, in 0.12, than the item's budget tokens,
    each output is copied into ``new_zeros`` that long. Through the text forward and the sampler stay: those
    copies in the encoder cache, the original outputs (the loop variable ``output`` holds a split view of the
    whole concatenated output) and ``batched_dummy_mm_inputs``, the pixels on the GPU in the model dtype
    (multimodal/processing.py ``_postprocess_output`` casts the processor's float32)."""
    a = 2 if engine.model_dtype not in ("float32", "float") else 4
    items = items_per_batch(item, engine)
    rows = item.outputs or item.tokens
    budget = max(engine.max_num_batched_tokens, item.tokens)
    padded_to = budget if release(engine.behaviour.version) < (0, 12) else item.tokens
    width = model.hidden_size * (1 + tower.deepstack_layers)
    outputs = items * rows * width * a
    copies = items * padded_to * width * a if rows < padded_to else 0
    pixels = items * item.patches * tower.in_channels * tower.temporal_patch_size * tower.patch_size**2 * a
    cached = copies + outputs + pixels
    peak = _qwen3_vit_peak_0_11_0(model, tower, item, items, engine) or \
        encoder_peak_bytes(tower, item, items, engine, model_dtype_pixels=True)
    error = max(int(peak * ERR_MM_ENCODER_FRACTION), ERR_MM_ENCODER_MIN)
    padded = f", outputs padded to {padded_to} rows" if copies else ""
    return EncoderProfile(peak_bytes=peak, cached_bytes=cached, error_bytes=error,
                          note=f"; encoder profile (vLLM {engine.behaviour.version}): {items} x {item.modality} of "
                               f"{item.tokens} budget tokens ({rows} rows, {item.patches} patches){padded}, "
                               f"{cached / GiB:.2f} GiB kept through the text forward, encoder peak "
                               f"{peak / GiB:.2f} GiB (read, ± 50 %)")


def encoder_profile(model: ModelSpec, engine: EngineConfig) -> EncoderProfile:
    if not model.is_multimodal:
        return NO_ENCODER
    if text_only(model, engine):
        return EncoderProfile(peak_bytes=0, cached_bytes=0, error_bytes=0,
                              note="; text-only serving: no encoder profile (every modality limit is 0)")
    if engine.settings.skip_mm_profiling:
        # profile_run (0.33): "Skipping memory profiling for multimodal encoder and encoder cache"; the KV
        # cache takes that memory, and the encoder's peak at run time is the user's to leave room for
        return EncoderProfile(peak_bytes=0, cached_bytes=0, error_bytes=0,
                              note="; --skip-mm-profiling: the encoder's peak is not profiled (nor left free)")
    version = release(engine.behaviour.version)
    if engine.model_runner == "v2" and version <= V2_NO_ENCODER_UNTIL:
        return EncoderProfile(peak_bytes=0, cached_bytes=0, error_bytes=0,
                              note=f"; Model Runner V2 in vLLM {engine.behaviour.version} profiles no encoder "
                                   "(its peak is not left free)")
    tower = model.vision
    old = MODELLED_0_11[0] <= version <= MODELLED_0_11[1] and engine.model_runner != "v2"
    read = version >= MODELLED_FROM and (engine.model_runner != "v2" or version >= V2_ENCODER_FROM)
    if tower and old and engine.behaviour.engine != "v0" and (item := largest_item_0_11(tower, engine)):
        return _profile_0_11(model, tower, item, engine)
    item = largest_item(tower, engine) if tower and read else None
    if tower is None or item is None or engine.behaviour.engine == "v0":
        family = tower.family if tower else model.model_type
        return EncoderProfile(peak_bytes=0, cached_bytes=0, error_bytes=ERR_MM_ENCODER_FLAT,
                              note=f"; the {family} encoder's profile run in vLLM {engine.behaviour.version} is not "
                                   "modelled (± 2 GiB)")
    items = items_per_batch(item, engine)
    # The processor's outputs reach the runner in the model dtype (``_postprocess_one`` casts floating tensors,
    # multimodal/processing/context.py 0.22-0.34), and profile_run keeps ``batched_dummy_mm_inputs`` alive
    # through the text forward and the sampler beside the cached outputs (gpu_model_runner.py 0.33).
    peak = encoder_peak_bytes(tower, item, items, engine, model_dtype_pixels=True)
    cached = encoder_outputs_bytes(model, tower, item, items, engine) + dummy_pixel_bytes(tower, item, items, engine)
    error = max(int(peak * ERR_MM_ENCODER_FRACTION), ERR_MM_ENCODER_MIN,
                encoder_peak_spread_bytes(tower, item, items, engine))
    return EncoderProfile(peak_bytes=peak, cached_bytes=cached, error_bytes=error,
                          note=f"; encoder profile: {items} x {item.modality} of {item.tokens} tokens "
                               f"({item.patches} patches), peak {peak / GiB:.2f} GiB (read, ± 50 %)")


def qwen2_vision_params(tower: VisionTower) -> int:
    """Qwen2-VL / Qwen2.5-VL ViT parameters (qwen2_vl.py / qwen2_5_vl.py, 0.33): Conv3d patch embedding without
    bias; per block two norms (LayerNorm w + b in Qwen2-VL, RMSNorm in 2.5), qkv and proj with biases, the MLP
    (fc1 / fc2, or 2.5's gate_up / down, with biases); the merger's norm and 4D -> 4D -> out linears with biases.
    Qwen2.5-VL-7B (D 1280, I 3420, 32 blocks, out 3584): 676,550,144."""
    d, inter, out = tower.hidden_size, tower.intermediate_size, tower.out_hidden_size
    norm = d if tower.gated_mlp else 2 * d
    mlp = (2 * d * inter + 2 * inter + inter * d + d) if tower.gated_mlp else (d * inter + inter + inter * d + d)
    block = 2 * norm + 3 * d * d + 3 * d + d * d + d + mlp
    merged = d * tower.spatial_merge_size ** 2
    patch = tower.in_channels * tower.temporal_patch_size * tower.patch_size ** 2 * d
    return patch + tower.num_layers * block + norm + merged * merged + merged + merged * out + out


def tower_weight_bytes(model: ModelSpec, engine: EngineConfig) -> int:
    """The tower's weights on one rank (Qwen2-VL / Qwen2.5-VL, Qwen3-VL / Qwen3.5 and Gemma 3's SigLIP, the
    last two as ``kvplan.core.params`` counts them): vLLM 0.32+ does not build them when every modality limit is
    0. With --mm-encoder-tp-mode data every rank holds the whole tower. vLLM 0.11.0-0.12.0 already leaves the
    Qwen towers out (qwen2_vl.py, qwen2_5_vl.py, qwen3_vl.py, qwen3_vl_moe.py: ``self.visual = None`` when the
    image and video limits are both 0; ``use_data_parallel`` replicates them), and so do 0.13-0.14 (the same
    ``self.visual = None``) and 0.15-0.21 (``_mark_tower_model(vllm_config, {"image", "video"})``, as 0.22); Gemma
    3's tower is skipped from 0.15 (gemma3_mm.py ``_mark_tower_model(vllm_config, "image")``, read in the 0.15-0.21
    wheels), built whatever the limits before."""
    tower = model.vision
    version = release(engine.behaviour.version)
    early = tower is not None and version < MODELLED_FROM and (
        (tower.family in QWEN2_FAMILY | QWEN3_FAMILY and version >= TOWER_SKIPPED_FROM_QWEN)
        or (tower.family in GEMMA3_FAMILY and version >= TOWER_SKIPPED_FROM_GEMMA3))
    if tower is None or tower.raw is None or (version < MODELLED_FROM and not early):
        return 0
    from kvplan.core.errors import UnsupportedModelError
    from kvplan.core.params import _SIGLIP_DEFAULTS, _Cfg, _qwen3_vision, _siglip  # the weight count's formulas

    a = 2 if engine.model_dtype not in ("float32", "float") else 4
    try:
        if tower.family in QWEN2_FAMILY:
            params = qwen2_vision_params(tower)
        elif tower.family in QWEN3_FAMILY:
            params = _qwen3_vision(_Cfg(dict(tower.raw)))
        elif tower.family in GEMMA3_FAMILY:
            params = _siglip(_Cfg({**_SIGLIP_DEFAULTS, **tower.raw}), model.hidden_size)
        elif tower.family in PHI4MM_FAMILY:
            from kvplan.core.params import _phi4mm_vision

            if text_only(model, engine) and mm_limit(engine, "video") > 0:
                return 0  # _mark_tower_model(vllm_config, {"image", "video"}): built unless both limits are 0
            params = _phi4mm_vision(_Cfg(dict(tower.raw)), tower.num_layers, model.hidden_size)
        elif tower.family in KIMI_VL_FAMILY:
            from kvplan.core.params import _moonvit

            params = _moonvit(_Cfg(dict(tower.raw)), _kimi_vl_merge(tower), model.hidden_size)
        elif tower.family in INTERNVL_FAMILY and tower.tokens_per_tile:
            from kvplan.core.params import _internvl_vision

            if text_only(model, engine) and mm_limit(engine, "video") > 0:
                return 0  # _mark_tower_model(vllm_config, {"image", "video"}): built unless both limits are 0
            merge = (tower.tile_patches - 1) // tower.tokens_per_tile
            params = _internvl_vision(_Cfg(dict(tower.raw)), tower.built_layers, merge, model.hidden_size)
        else:
            return 0
    except UnsupportedModelError:  # a vision_config without the keys the formula needs
        return 0
    tp = engine.tensor_parallel_size if engine.settings.mm_encoder_tp_mode == "weights" else 1
    return params * a // tp
