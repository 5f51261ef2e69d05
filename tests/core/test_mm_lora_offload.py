"""Multimodal encoder profile, LoRA slots and --cpu-offload-gb, with figures worked out from vLLM 0.33's source."""

from __future__ import annotations

import pytest

from kvplan.cli.settings_from_flags import deploy_extras, parse_limit_mm, parse_mm_max_pixels
from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.errors import UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.lora_offload import cpu_offload_bytes, estimate_lora, lora_slot_bytes
from kvplan.core.mm_profile import (
    ERR_MM_ENCODER_FLAT,
    encoder_profile,
    items_per_batch,
    largest_item,
    text_only,
)
from kvplan.core.overheads import estimate_activation
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB
from kvplan.sources import catalog

GPU = GpuSpec(name="H100", total_bytes=80 * GiB, source="catalog")


def _model(name: str):  # type: ignore[no-untyped-def]
    return model_spec_from_config(catalog.find(name).config)  # type: ignore[union-attr]


def _engine(model, **settings):  # type: ignore[no-untyped-def]
    return resolve_engine(model, DeploySettings(**settings), GPU)


def test_qwen3_vl_profiles_one_image_of_16384_tokens() -> None:
    """qwen2_vl.py get_image_size_with_most_features (0.33): longest_edge 16,777,216 px // (16 x 2)^2 = 16,384
    tokens = 65,536 patches; the video (qwen3_vl.py get_max_video_tokens: 2 frames at 25,165,824 / 2 px) is
    12,288 tokens, so the image wins; budget max(8192, 16384) // 16384 = 1 item (encoder_budget.py)."""
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    engine = _engine(vl, max_model_len=32768, max_num_batched_tokens=8192)
    item = largest_item(vl.vision, engine)  # type: ignore[arg-type]
    assert item is not None and (item.modality, item.tokens, item.patches) == ("image", 16384, 65536)
    assert items_per_batch(item, engine) == 1
    # Peak: patches x (bf16 pixels of 3 x 2 x 16 x 16 = 1536 values, 3072 B: the processing context casts them,
    # multimodal/processing/context.py _postprocess_one) + the widest block stage: MLP 2 x 1152 + 2 x 4304 =
    # 10,912 values x 2 B = 21,824 B -> 65,536 x 24,896 B = 1.52 GiB
    profile = encoder_profile(vl, engine)
    assert profile.peak_bytes == 65536 * (1536 * 2 + (2 * 1152 + 2 * 4304) * 2)
    # Kept through the text forward: the outputs, 16,384 tokens x 2048 x (1 + 3 deepstack levels) x 2 B = 256 MiB,
    # and the dummy batch's pixels (profile_run holds batched_dummy_mm_inputs), 65,536 x 3,072 B = 192 MiB
    assert profile.cached_bytes == 16384 * 2048 * 4 * 2 + 65536 * 1536 * 2
    assert profile.error_bytes == profile.peak_bytes // 2


def test_image_limit_zero_leaves_the_qwen_video_and_all_zero_drops_the_profile() -> None:
    """MultiModalConfig.get_limit_per_prompt: an unnamed modality keeps 999, so '{"image":0}' still profiles
    the 12,288-token video; every modality 0 (or --language-model-only) runs no encoder (profile_run)."""
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    image_off = _engine(vl, max_model_len=32768, limit_mm_per_prompt=(("image", 0),))
    item = largest_item(vl.vision, image_off)  # type: ignore[arg-type]
    assert item is not None and (item.modality, item.tokens) == ("video", 12288)
    for settings in ({"limit_mm_per_prompt": (("image", 0), ("video", 0))}, {"language_model_only": True}):
        engine = _engine(vl, max_model_len=32768, **settings)
        assert text_only(vl, engine)
        profile = encoder_profile(vl, engine)
        assert profile.peak_bytes == profile.error_bytes == 0 and "text-only" in profile.note


def test_gemma3_text_only_drops_the_encoder_error_and_the_siglip_weights() -> None:
    """Gemma 3 takes images only: '{"image":0}' is text-only; the SigLIP tower (_mark_tower_model, 0.32+)
    is not built: 0.79 GiB for gemma-3-27b-it."""
    from kvplan.core.mm_profile import tower_weight_bytes

    gemma = _model("google/gemma-3-27b-it")
    on = _engine(gemma, max_model_len=8192)
    off = _engine(gemma, max_model_len=8192, limit_mm_per_prompt=(("image", 0),))
    assert estimate_activation(gemma, off).error_bytes < estimate_activation(gemma, on).error_bytes
    assert 0.78 * GiB < tower_weight_bytes(gemma, off) < 0.80 * GiB


def test_gemma3_profiles_as_many_256_token_images_as_the_budget_takes() -> None:
    """gemma3_mm.py: mm_tokens_per_image 256, 896 / 14 = 64 x 64 = 4096 patches; 8192 // 256 = 32 items."""
    gemma = _model("google/gemma-3-27b-it")
    engine = _engine(gemma, max_model_len=8192, max_num_batched_tokens=8192)
    item = largest_item(gemma.vision, engine)  # type: ignore[arg-type]
    assert item is not None and (item.tokens, item.patches) == (256, 4096)
    assert items_per_batch(item, engine) == 32


def test_releases_not_read_keep_the_flat_named_term() -> None:
    """0.13-0.21 were not read (0.11.0-0.12.0 are: tests/core/test_mm_profile_0_11.py)."""
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    profile = encoder_profile(vl, _engine(vl, max_model_len=32768, vllm_version="0.16.0"))
    assert profile.error_bytes == ERR_MM_ENCODER_FLAT and "not modelled" in profile.note


def test_lora_slot_bytes_for_llama_3_1_8b() -> None:
    """lora/layers base_linear.py / column_parallel_linear.py / vocab_parallel_embedding.py /
    logits_processor.py (0.33), rank 64, TP 1, bf16, per slot and layer: qkv A 3 x 64 x 4096 + B 64 x 6144,
    o_proj A 64 x 4096 + B 4096 x 64, gate_up A 2 x 64 x 4096 + B 2 x 14336 x 64, down A 64 x 14336 + B
    4096 x 64 = 64 x 81,920; 32 layers, plus embed_tokens (128,256 + 4096) x 64 and lm_head (4096 + 128,256)
    x 64: 184,713,216 values = 369,426,432 B."""
    llama = _model("meta-llama/Llama-3.1-8B")
    engine = _engine(llama, max_model_len=8192, enable_lora=True, max_loras=4, max_lora_rank=64)
    assert lora_slot_bytes(llama, engine) == 2 * (32 * 64 * 81920 + 2 * 64 * (128256 + 4096))
    assert estimate_lora(llama, engine).value_bytes == 4 * 369_426_432
    # TP 2 halves the sharded side only (column B, row A) and lm_head's B
    tp2 = _engine(llama, max_model_len=8192, enable_lora=True, max_lora_rank=64, tensor_parallel_size=2)
    per_layer = 64 * (3 * 4096 + 2048 + 2 * 512) + 64 * (2048 + 4096) + 64 * (2 * 4096 + 3 * 7168 + 4096)
    assert lora_slot_bytes(llama, tp2) == 2 * (32 * per_layer + 64 * (128256 + 4096) + 64 * (4096 + 64128))


def test_lora_refuses_mla_by_name() -> None:
    mla = _model("deepseek-ai/DeepSeek-V3")
    with pytest.raises(UsageError, match="enable-lora"):
        lora_slot_bytes(mla, _engine(mla, max_model_len=8192, enable_lora=True, tensor_parallel_size=8))


def test_cpu_offload_moves_at_most_the_decoder_layers() -> None:
    """offloader/uva.py: whole decoder-layer parameters until the limit is reached; embeddings stay."""
    llama = _model("meta-llama/Llama-3.1-8B")
    engine = _engine(llama, max_model_len=8192, cpu_offload_gb=4)
    moved, error = cpu_offload_bytes(16 * GiB, llama, engine)
    assert moved == 4 * GiB and 0 < error < GiB
    everything = _engine(llama, max_model_len=8192, cpu_offload_gb=100)
    tables = 2 * 128256 * 4096 * 2
    assert cpu_offload_bytes(16 * GiB, llama, everything) == (16 * GiB - tables, 0)


def test_flags_parse_as_vllm_takes_them() -> None:
    assert parse_limit_mm('{"image": 0, "video": {"count": 2}}') == (("image", 0), ("video", 2))
    assert parse_mm_max_pixels('{"max_pixels": 1003520}') == 1003520
    assert parse_mm_max_pixels('{"images_kwargs": {"size": {"longest_edge": 50176}}}') == 50176
    with pytest.raises(UsageError, match="does not model do_pan_and_scan"):
        parse_mm_max_pixels('{"do_pan_and_scan": true}')
    with pytest.raises(UsageError, match="max_cpu_loras"):
        DeploySettings(**deploy_extras(enable_lora=True, max_loras=4, max_cpu_loras=2))
    with pytest.raises(UsageError, match="max-lora-rank"):
        DeploySettings(max_lora_rank=24)


def test_v1_sampler_before_0_11_1_is_flashinfer_or_pytorch_sort() -> None:
    """topk_topp_sampler.py (0.9.2, 0.10.2, 0.11.0): FlashInfer only when it imports, and flashinfer-python is no
    dependency of the wheel there (METADATA: absent in 0.9.2, the extra vllm[flashinfer] in 0.10.2 / 0.11.0):
    kvplan states the pip default, PyTorch's sort (38.6 B per logits element), and half the gap to FlashInfer's
    in-place 14 B as error. gpt-oss-120b, 1,024 rows x 201,088 padded vocab: 12.3 B x 205.9 M = 2.36 GiB."""
    from kvplan.core.overheads import (
        CAL_SAMPLER_SORT_BYTES,
        flashinfer_sampler_unknown,
        in_place_sampler_bytes,
        sampler_bytes_per_element,
    )

    gpt = _model("openai/gpt-oss-120b")
    old = _engine(gpt, max_model_len=8192, vllm_version="0.10.1.1", max_num_seqs=1024)
    assert flashinfer_sampler_unknown(old)
    assert sampler_bytes_per_element(old) == CAL_SAMPLER_SORT_BYTES
    assert in_place_sampler_bytes(old) == 14
    spread = 1024 * 201088 * (CAL_SAMPLER_SORT_BYTES - 14) / 2
    assert estimate_activation(gpt, old).error_bytes >= int(spread)
    assert "no dependency" in estimate_activation(gpt, old).source
    for version in ("0.11.1", "0.24.0"):
        assert not flashinfer_sampler_unknown(_engine(gpt, max_model_len=8192, vllm_version=version))


def test_lora_doubles_the_cuda_graph_sets() -> None:
    """cudagraph_dispatcher.py _get_lora_cases / v1/worker/gpu/lora_utils.py (0.33): with LoRA on, graphs are
    captured without adapters and with max_loras + 1 active: twice the sets."""
    from kvplan.core.lora_offload import lora_capture_cases
    from kvplan.core.overheads import estimate_cudagraph

    llama = _model("meta-llama/Llama-3.1-8B")
    plain = _engine(llama, max_model_len=8192)
    lora = _engine(llama, max_model_len=8192, enable_lora=True)
    assert (lora_capture_cases(plain), lora_capture_cases(lora)) == (1, 2)
    once = estimate_cudagraph(llama, plain, enforce_eager=False).value_bytes
    assert estimate_cudagraph(llama, lora, enforce_eager=False).value_bytes == 2 * once
    assert estimate_lora(llama, _engine(llama, max_model_len=8192, enable_lora=True,
                                        vllm_version="0.20.0")).error_bytes > 0


# Qwen2.5-VL-7B-Instruct's config.json as published (text fields at the top level, the ViT in vision_config).
QWEN25_VL_7B = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_size": 3584,
    "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
    "max_position_embeddings": 128000, "vocab_size": 152064, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "torch_dtype": "bfloat16", "tie_word_embeddings": False,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420,
                      "num_heads": 16, "in_chans": 3, "out_hidden_size": 3584, "patch_size": 14,
                      "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
                      "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2, "temporal_patch_size": 2},
}


def test_qwen2_5_vl_profiles_the_video_that_fills_max_model_len() -> None:
    """qwen2_vl.py (0.33): the image is 12,845,056 px // 28^2 = 16,384 tokens; the dummy video takes as many
    frames (at most 14) as max_model_len holds: at 32,768, 4 frames = 2 temporal patches = 32,768 tokens and
    131,072 patches, so the video is profiled, one item (budget max(8192, 32768) // 32768)."""
    from kvplan.core.mm_profile import qwen2_vision_params

    vl = model_spec_from_config(QWEN25_VL_7B)
    engine = _engine(vl, max_model_len=32768, max_num_batched_tokens=8192)
    item = largest_item(vl.vision, engine)  # type: ignore[arg-type]
    assert item is not None and (item.modality, item.tokens, item.patches) == ("video", 32768, 131072)
    assert items_per_batch(item, engine) == 1
    image_only = _engine(vl, max_model_len=32768, limit_mm_per_prompt=(("video", 0),))
    assert largest_item(vl.vision, image_only).tokens == 16384  # type: ignore[arg-type, union-attr]
    # ViT parameters (patch embed, 32 blocks with SwiGLU, merger): Qwen2.5-VL-7B's 676,550,144
    assert qwen2_vision_params(vl.vision) == 676_550_144  # type: ignore[arg-type]


def test_encoder_data_parallel_keeps_the_whole_tower_on_every_rank() -> None:
    """--mm-encoder-tp-mode data (config/multimodal.py, 0.33): the tower's linears are built with disable_tp,
    so each of 2 ranks holds all of it instead of half; the encoder's own peak then is per rank's items."""
    from kvplan.core.estimate import Estimate
    from kvplan.core.mm_profile import tower_weight_bytes
    from kvplan.core.overheads import _weights_with_extras

    gemma = _model("google/gemma-3-27b-it")
    weights = Estimate(value_bytes=30 * GiB, error_bytes=0, source="test")
    split = _engine(gemma, max_model_len=8192, tensor_parallel_size=2)
    data = _engine(gemma, max_model_len=8192, tensor_parallel_size=2, mm_encoder_tp_mode="data")
    tower = tower_weight_bytes(gemma, data)
    assert tower == 2 * tower_weight_bytes(gemma, split)
    assert _weights_with_extras(gemma, split, weights).value_bytes == 30 * GiB
    assert _weights_with_extras(gemma, data, weights).value_bytes == 30 * GiB + tower - tower // 2


def test_llama4_profiles_17_tiles_of_144_embeddings() -> None:
    """mllama4.py (0.33): the dummy image is 16 tiles tall (max_patches 16) plus the global tile; a 336-px tile
    is 24 x 24 = 576 patches (+ 1 class token) and, after the 0.5 pixel shuffle, 144 embeddings: 2,448 tokens,
    9,809 ViT positions; 8192 // 2448 = 3 images fill the encoder budget."""
    scout = _model("meta-llama/Llama-4-Scout-17B-16E-Instruct")
    engine = _engine(scout, max_model_len=32768, max_num_batched_tokens=8192, tensor_parallel_size=4)
    item = largest_item(scout.vision, engine)  # type: ignore[arg-type]
    assert item is not None and (item.modality, item.tokens, item.patches) == ("image", 2448, 9809)
    assert items_per_batch(item, engine) == 3
    assert encoder_profile(scout, engine).error_bytes < ERR_MM_ENCODER_FLAT


def test_processor_kwargs_size_the_profiled_items() -> None:
    """config/multimodal.py _merge_mm_processor_scope: flat max_pixels apply to images and videos, scoped ones to
    their modality. Qwen3-VL with max_pixels 1,003,520 (= 980 x 32^2): images 980 tokens, the two-frame video
    1,003,520 // 2 // 32^2 = 490 tokens, so the image is profiled; with a videos_kwargs size only, the image
    keeps its 16,384 tokens."""
    assert parse_mm_max_pixels('{"videos_kwargs": {"max_pixels": 50176}}', "videos_kwargs") == 50176
    assert parse_mm_max_pixels('{"videos_kwargs": {"max_pixels": 50176}}') is None
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    flat = _engine(vl, max_model_len=32768, **deploy_extras(mm_processor_kwargs='{"max_pixels": 1003520}'))
    assert largest_item(vl.vision, flat).tokens == 980  # type: ignore[arg-type, union-attr]
    no_image = _engine(vl, max_model_len=32768, limit_mm_per_prompt=(("image", 0),),
                       **{k: v for k, v in deploy_extras(mm_processor_kwargs='{"max_pixels": 1003520}').items()
                          if k.startswith("mm_")})
    assert largest_item(vl.vision, no_image).tokens == 490  # type: ignore[arg-type, union-attr]


def test_skip_mm_profiling_leaves_the_encoder_out() -> None:
    """gpu_model_runner.py profile_run (0.33): with skip_mm_profiling only the text model is profiled."""
    vl = _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    profile = encoder_profile(vl, _engine(vl, max_model_len=32768, skip_mm_profiling=True))
    assert (profile.peak_bytes, profile.cached_bytes, profile.error_bytes) == (0, 0, 0)
    assert "--skip-mm-profiling" in profile.note


def test_lora_refuses_a_vocabulary_vllm_refuses() -> None:
    """lora/layers/logits_processor.py (0.33): 'When using LoRA, vocab size must be <= 258048' (Gemma 3: 262,208)."""
    gemma = _model("google/gemma-3-27b-it")
    with pytest.raises(UsageError, match="vocab size must be <= 258048"):
        lora_slot_bytes(gemma, _engine(gemma, max_model_len=8192, enable_lora=True))


def test_recommended_launch_line_carries_the_new_flags() -> None:
    from kvplan.core.lora_offload import extra_engine_args

    settings = DeploySettings(**deploy_extras(limit_mm_per_prompt='{"video": 0}', enable_lora=True, max_loras=2,
                                              cpu_offload_gb=4, mm_processor_kwargs='{"max_pixels": 1003520}'))
    assert extra_engine_args(settings) == [
        ("limit_mm_per_prompt", {"video": 0}),
        ("mm_processor_kwargs", {"images_kwargs": {"max_pixels": 1003520}, "videos_kwargs": {"max_pixels": 1003520}}),
        ("enable_lora", True), ("max_loras", 2), ("max_lora_rank", 16), ("cpu_offload_gb", 4)]
    assert extra_engine_args(DeploySettings()) == []


def test_an_unmodelled_family_is_text_only_only_when_every_modality_is_named() -> None:
    """Gemma 4 takes images, video and audio (gemma4_mm.py get_supported_mm_limits): '{"image": 0}' leaves the
    others at 999, so the flat encoder term stays; all three at 0, or --language-model-only, drop it. (A text
    spec with a Gemma 4 tower stands in: kvplan refuses Gemma 4's own layout.)"""
    from dataclasses import replace

    from kvplan.core.vision import VisionTower

    tower = VisionTower(family="gemma4", hidden_size=1152, intermediate_size=4304, num_layers=27, patch_size=16)
    gemma4 = replace(_model("meta-llama/Llama-3.1-8B"), is_multimodal=True, vision=tower)
    assert not text_only(gemma4, _engine(gemma4, max_model_len=8192, limit_mm_per_prompt=(("image", 0),)))
    every = (("audio", 0), ("image", 0), ("video", 0))
    assert text_only(gemma4, _engine(gemma4, max_model_len=8192, limit_mm_per_prompt=every))
    assert text_only(gemma4, _engine(gemma4, max_model_len=8192, language_model_only=True))


def test_which_runner_profiles_the_encoder_by_release() -> None:
    """profile_run: the V1 GPUModelRunner runs the encoder from 0.22 on (0.22, 0.32, 0.33 wheels); Model Runner
    V2 runs only the text forward and sampler up to 0.26 (0.22, 0.26 wheels) and the encoder from 0.27 (0.27,
    0.28, 0.29 wheels: get_dummy_encoder_profile_inputs + EncoderRunner.profile_encoder_cache).
    Qwen3-VL-8B (dense) runs on V2 from 0.25; Qwen3-VL-30B-A3B (MoE) stays on V1 before 0.29."""
    dense, moe = _model("Qwen/Qwen3-VL-8B-Instruct"), _model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    v2_026 = _engine(dense, max_model_len=32768, vllm_version="0.26.0")
    assert v2_026.model_runner == "v2"
    profile = encoder_profile(dense, v2_026)
    assert (profile.peak_bytes, profile.error_bytes) == (0, 0) and "profiles no encoder" in profile.note
    for version in ("0.27.0", "0.28.0"):
        assert encoder_profile(dense, _engine(dense, max_model_len=32768, vllm_version=version)).peak_bytes > 0
    assert encoder_profile(dense, _engine(dense, max_model_len=32768, vllm_version="0.29.0")).peak_bytes > 0
    v1_024 = _engine(moe, max_model_len=32768, vllm_version="0.24.0")
    assert v1_024.model_runner == "v1" and encoder_profile(moe, v1_024).peak_bytes > 0
