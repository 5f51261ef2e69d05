"""Parameter counts of the Qwen2-VL-style and InternVL catalog configs (the text model + its vision tower), so that
`check` plans them without --kv-cache-memory.

Qwen2.5-VL-7B-Instruct: Qwen2.5-7B's 7,615,616,512 + the ViT and merger's 676,550,144
(kvplan.core.mm_profile.qwen2_vision_params, read in qwen2_5_vl.py 0.33) = 8,292,166,656, the Hub's "8.29B
params"; Qwen2.5-VL-3B: 3.75B; InternVL3-8B: Qwen2.5-7B + InternViT-300M (24 layers, D 1024) + mlp1 (4,096 ->
3,584 -> 3,584) = 7.94B, the Hub's figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvplan.core.params import count_params

SOURCES = Path(__file__).resolve().parent.parent / "data" / "catalog_sources"


def _config(name: str) -> dict[str, object]:
    return dict(json.loads((SOURCES / name / "config.json").read_text()))


@pytest.mark.parametrize(("name", "total", "vision"), [
    ("Qwen__Qwen2.5-VL-7B-Instruct", 8_292_166_656, 676_550_144),
    ("Qwen__Qwen2.5-VL-3B-Instruct", 3_754_622_976, 668_684_288),
    ("OpenGVLab__InternVL3-8B", 7_944_373_760, 331_552_768),
])
def test_vl_configs_count_text_model_and_tower(name: str, total: int, vision: int) -> None:
    count = count_params(_config(name))
    assert (count.param_count, count.vision_param_count) == (total, vision)
    assert count.bytes == 2 * total  # bfloat16 checkpoints


def test_qwen2_5_vl_text_config_spelling_counts_the_same() -> None:
    """transformers 5 re-saves Qwen2.5-VL with a text_config (model_type qwen2_5_vl_text): the same count."""
    flat = _config("Qwen__Qwen2.5-VL-7B-Instruct")
    text = {k: v for k, v in flat.items() if k not in ("vision_config", "architectures", "model_type")}
    nested = {"model_type": "qwen2_5_vl", "architectures": flat["architectures"], "vision_config":
              flat["vision_config"], "text_config": text, "tie_word_embeddings": flat["tie_word_embeddings"]}
    assert count_params(nested).param_count == 8_292_166_656
