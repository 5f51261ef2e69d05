"""The vision tower of a multimodal checkpoint, as far as vLLM's encoder profile run needs it.

Read from config.json's ``vision_config`` (data only). The processor's image size is not in config.json: each
family takes its publisher's ``preprocessor_config.json`` default (named per family below), which
``--mm-processor-kwargs`` (max_pixels / size.longest_edge) overrides, as vLLM's processor does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The publisher processors' largest image, in pixels (size.longest_edge / max_pixels):
# Qwen2-VL / Qwen2.5-VL preprocessor_config.json: max_pixels 12,845,056 (= 16,384 x 28 x 28);
# Qwen3-VL / Qwen3.5: size.longest_edge 16,777,216 (= 16,384 x 32 x 32), video 25,165,824.
QWEN2_VL_MAX_PIXELS = 12_845_056
QWEN3_VL_MAX_PIXELS = 16_777_216
QWEN3_VL_VIDEO_MAX_PIXELS = 25_165_824
# qwen2_vl.py _MAX_FRAMES_PER_VIDEO (0.33): the dummy video's frame cap for Qwen2-VL / Qwen2.5-VL
QWEN2_VL_MAX_FRAMES = 14
# qwen3_vl.py (vLLM 0.11.0-0.12.0): the dummy video's frame cap, and the factor get_max_video_tokens multiplies
# the video's soft tokens by for the encoder budget (timestamps and vision start / end around each frame)
QWEN3_VL_MAX_FRAMES_0_11 = 24576
QWEN3_VL_VIDEO_TOKEN_FACTOR_0_11 = 12.5

QWEN2_FAMILY = frozenset({"qwen2_vl", "qwen2_5_vl"})
QWEN3_FAMILY = frozenset({"qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe"})
GEMMA3_FAMILY = frozenset({"gemma3"})
LLAMA4_FAMILY = frozenset({"llama4"})
MODELLED_FAMILIES = QWEN2_FAMILY | QWEN3_FAMILY | GEMMA3_FAMILY | LLAMA4_FAMILY
# Llama 4's image processor (Llama4ImageProcessorFast / preprocessor_config.json): at most 16 tiles of
# image_size, plus one global tile whenever an image takes more than one.
LLAMA4_MAX_TILES = 16
# BLIP-2 (model_type "blip-2"): a fixed ViT (224 px in every Salesforce checkpoint) whose Q-Former hands the text
# model num_query_tokens embeddings an image (blip2.py Blip2ProcessingInfo.get_num_image_tokens, 0.32 / 0.33).
BLIP2_FAMILY = frozenset({"blip-2"})
BLIP2_IMAGE_SIZE = 224
BLIP2_QUERY_TOKENS = 32  # Blip2Config.num_query_tokens default
MODELLED_FAMILIES = MODELLED_FAMILIES | BLIP2_FAMILY

# Gemma 4 (gemma4_mm.py, vLLM 0.33 / 0.34): _VIDEO_MAX_FRAMES = 32 frames a video, each at
# _VIDEO_MAX_SOFT_TOKENS = 70 soft tokens; 2 + 6 prompt tokens a frame beside them (boi, eoi, mm:ss);
# the dummy image and frames are 224 x 224 (Gemma4ImageProcessor has no size: get_dummy_mm_data's default).
GEMMA4_FAMILY = frozenset({"gemma4"})
GEMMA4_VIDEO_FRAMES = 32
GEMMA4_VIDEO_SOFT_TOKENS = 70
GEMMA4_FRAME_EXTRA_TOKENS = 2 + 6
GEMMA4_DUMMY_SIDE = 224
GEMMA4_AUDIO_SEQ_LENGTH = 750  # Gemma4Processor's audio_seq_length default (transformers 5.x)
MODELLED_FAMILIES = MODELLED_FAMILIES | GEMMA4_FAMILY  # the families read since (one line each: merges)
# InternVL (InternVLChatModel, internvl.py 0.33 / 0.34): 448 px tiles, up to max_dynamic_patch of them plus a
# thumbnail; video only where ctx_video_token_map names the text model (and its tokenizer has the token: the
# Qwen2.5 / Qwen3 tokenizers InternVL3 ships list <|video_pad|>)
INTERNVL_FAMILY = frozenset({"internvl_chat"})
INTERNVL_VIDEO_TEXT_TYPES = frozenset({"qwen2", "qwen3", "qwen3_moe", "gpt_oss"})
MODELLED_FAMILIES = MODELLED_FAMILIES | INTERNVL_FAMILY
# Kimi-VL (kimi_vl.py, 0.22-0.34): MoonViT on a 1024 x 1024 dummy image (MaxImageTokenMeta); the processor
# (remote KimiVLImageProcessor, preprocessor_config.json) scales images of more than in_token_limit patches
# down: 4,096 in the class and the A3B-Instruct processor, larger in later checkpoints, so both are taken.
KIMI_VL_FAMILY = frozenset({"kimi_vl"})
KIMI_VL_DUMMY_SIDE = 1024
KIMI_VL_IN_TOKEN_LIMITS = (4096, None)  # None: a limit the dummy's 73 x 73 patches stay under
MODELLED_FAMILIES = MODELLED_FAMILIES | KIMI_VL_FAMILY
# Phi-4-multimodal (phi4mm.py, 0.22-0.34): no vision_config; get_navit_vision_model builds a fixed SigLIP
# so400m at 448 px, cut at img_processor.layer_idx (-2: 26 of its 27 layers). The dummy image is 448 wide and
# 448 x dynamic_hd tall (get_image_size_with_most_features); dynamic_hd comes from the processor:
# 36 in Phi-4-multimodal-instruct's preprocessor_config.json.
PHI4MM_FAMILY = frozenset({"phi4mm"})
PHI4MM_SIGLIP: dict[str, Any] = {"hidden_size": 1152, "image_size": 448, "intermediate_size": 4304,
                                 "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14}
PHI4MM_DYNAMIC_HD = 36
MODELLED_FAMILIES = MODELLED_FAMILIES | PHI4MM_FAMILY


@dataclass(frozen=True, kw_only=True)
class VisionTower:
    """One ViT: ``family`` is the checkpoint's top-level model_type (qwen2_5_vl, qwen3_vl, gemma3 ...)."""

    family: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    patch_size: int
    spatial_merge_size: int = 1  # merged patches per output token along each side (Qwen: 2)
    temporal_patch_size: int = 1  # frames per patch (Qwen: 2; an image is repeated to fill them)
    in_channels: int = 3
    gated_mlp: bool = False  # Qwen2.5-VL: SwiGLU gate_up (2I) + act (I); else fc1 (I) + act (I)
    image_size: int = 0  # fixed input side (SigLIP: 896); 0 for dynamic-resolution towers
    tokens_per_image: int = 0  # fixed tokens per image (Gemma 3: mm_tokens_per_image)
    deepstack_layers: int = 0  # Qwen3-VL: extra feature levels kept beside the output
    out_hidden_size: int = 0  # the merger's output width (the text model's hidden size)
    pooling_kernel_size: int = 1  # Gemma 4: k x k patches pooled into one soft token
    audio: bool = False  # the checkpoint also has an audio tower (a non-null audio_config)
    video: bool = False  # InternVL: the text model takes video (ctx_video_token)
    tokens_per_tile: int = 0  # InternVL: tokens one 448 px tile gives after the pixel shuffle (256)
    tile_patches: int = 0  # InternVL: ViT sequence of one tile, class token included (1,025)
    max_tiles: int = 1  # InternVL: tiles of the largest image, thumbnail included (13)
    built_layers: int = 0  # InternVL: ViT layers vLLM builds (num_hidden_layers + select_layer + 1)
    # the vision_config itself (for the weight formulas); no part of equality or hashing
    raw: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def modelled(self) -> bool:
        return self.family in MODELLED_FAMILIES


def _int(config: Mapping[str, Any], *keys: str, default: int = 0) -> int:
    for key in keys:
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return int(value)
    return default


def vision_tower(config: Mapping[str, Any]) -> VisionTower | None:
    """The tower of a multimodal config.json, or None for a text-only one. A family kvplan does not model
    still gets a VisionTower (``modelled`` False): its encoder profile keeps the flat error term."""
    vision = config.get("vision_config")
    family = str(config.get("model_type") or "")
    if family in PHI4MM_FAMILY and not isinstance(vision, Mapping):
        return _phi4mm_tower(config)
    if not isinstance(vision, Mapping):
        return None
    hidden = _int(vision, "hidden_size", "embed_dim", "vt_hidden_size")
    if family == "qwen2_vl":
        # Qwen2-VL's vision_config: embed_dim is the ViT width, hidden_size the text width it projects to
        hidden = _int(vision, "embed_dim", default=hidden)
        inter = hidden * _int(vision, "mlp_ratio", default=4)
    else:
        inter = _int(vision, "intermediate_size", "vt_intermediate_size")
    deepstack = vision.get("deepstack_visual_indexes")
    return VisionTower(
        family=family,
        hidden_size=hidden,
        intermediate_size=inter,
        num_layers=_int(vision, "depth", "num_hidden_layers", "vt_num_hidden_layers"),
        patch_size=_int(vision, "patch_size", default=14),
        spatial_merge_size=_int(vision, "spatial_merge_size", default=2 if family in QWEN2_FAMILY | QWEN3_FAMILY
                                else 1),
        temporal_patch_size=_int(vision, "temporal_patch_size", default=2 if family in QWEN2_FAMILY | QWEN3_FAMILY
                                 else 1),
        in_channels=_int(vision, "in_channels", "in_chans", "num_channels", default=3),
        gated_mlp=family == "qwen2_5_vl",
        image_size=_int(vision, "image_size", default=896 if family == "gemma3" else 336 if family == "llama4"
                        else BLIP2_IMAGE_SIZE if family in BLIP2_FAMILY else 0),
        tokens_per_image=_int(config, "num_query_tokens", default=BLIP2_QUERY_TOKENS) if family in BLIP2_FAMILY
        else _int(config, "mm_tokens_per_image", default=256 if family == "gemma3" else 0),
        deepstack_layers=len(deepstack) if isinstance(deepstack, list) else 0,
        out_hidden_size=_int(vision, "out_hidden_size", "hidden_size") if family == "qwen2_vl"
        else _int(vision, "out_hidden_size"),
        raw=dict(vision),
        **_gemma4_fields(config, vision),
        **_internvl_fields(config, vision),
    )


def _gemma4_fields(config: Mapping[str, Any], vision: Mapping[str, Any]) -> dict[str, Any]:
    """Gemma 4's vision_config (transformers Gemma4VisionConfig): k x k patches pooled into one soft token,
    pooling_kernel_size (3), and whether an audio tower is built beside it (audio_config not null)."""
    if str(config.get("model_type") or "") not in GEMMA4_FAMILY:
        return {}
    return {
        "pooling_kernel_size": _int(vision, "pooling_kernel_size", default=3),
        "audio": isinstance(config.get("audio_config"), Mapping),
    }


def _internvl_fields(config: Mapping[str, Any], vision: Mapping[str, Any]) -> dict[str, Any]:
    """InternVLChatModel (internvl.py, 0.33 / 0.34): ``num_image_token`` = (image_size // patch)^2 x
    downsample_ratio^2 with image_size = force_image_size or vision_config.image_size; the largest image
    (``get_image_size_with_most_features`` over ``resolve_internvl_min_max_num``) takes max_dynamic_patch tiles
    plus the thumbnail when use_thumbnail and more than one tile (one tile without dynamic_image_size)."""
    if str(config.get("model_type") or "") not in INTERNVL_FAMILY:
        return {}
    side = _int(config, "force_image_size", default=_int(vision, "image_size", default=448))
    patch = _int(vision, "patch_size", default=14)
    ratio = config.get("downsample_ratio")
    ratio = float(ratio) if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and ratio > 0 else 0.5
    # InternVLChatConfig's defaults (OpenGVLab's configuration_internvl_chat.py): dynamic_image_size False,
    # use_thumbnail False, max_dynamic_patch 6; the InternVL2.5 / 3 configs set True, True, 12
    tiles = _int(config, "max_dynamic_patch", default=6) if config.get("dynamic_image_size") else 1
    if config.get("use_thumbnail") and tiles != 1:
        tiles += 1
    text = config.get("llm_config") if isinstance(config.get("llm_config"), Mapping) else config.get("text_config")
    text_type = str(text.get("model_type") or "") if isinstance(text, Mapping) else ""
    select = config.get("select_layer", -1)
    select = int(select) if isinstance(select, int) and not isinstance(select, bool) else -1
    layers = _int(vision, "num_hidden_layers")
    return {
        "built_layers": layers + select + 1 if select < 0 else select + 1,
        "video": text_type in INTERNVL_VIDEO_TEXT_TYPES,
        "tokens_per_tile": int((side // patch) ** 2 * ratio**2),
        "tile_patches": (side // patch) ** 2 + 1,
        "max_tiles": tiles,
    }


def _phi4mm_tower(config: Mapping[str, Any]) -> VisionTower:
    """Phi4MMImageEncoder (phi4mm.py, 0.33 / 0.34): the SigLIP of PHI4MM_SIGLIP with
    num_hidden_layers + layer_idx + 1 layers (img_processor.layer_idx, -2 when img_processor is not a dict);
    the audio tower beside it (embd_layer.audio_embd_layer)."""
    processor = config.get("img_processor")
    layer_idx = processor.get("layer_idx", -2) if isinstance(processor, Mapping) else -2
    layer_idx = int(layer_idx) if isinstance(layer_idx, int) and not isinstance(layer_idx, bool) else -2
    total = int(PHI4MM_SIGLIP["num_hidden_layers"])
    embd = config.get("embd_layer")
    return VisionTower(
        family="phi4mm",
        hidden_size=int(PHI4MM_SIGLIP["hidden_size"]),
        intermediate_size=int(PHI4MM_SIGLIP["intermediate_size"]),
        num_layers=total + layer_idx + 1 if layer_idx < 0 else layer_idx + 1,
        patch_size=int(PHI4MM_SIGLIP["patch_size"]),
        image_size=int(PHI4MM_SIGLIP["image_size"]),
        audio=isinstance(embd, Mapping) and isinstance(embd.get("audio_embd_layer"), Mapping),
        raw=dict(PHI4MM_SIGLIP),
    )
