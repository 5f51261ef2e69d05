"""Which releases leave a vision tower out of the weights when every modality limit is 0 (read in the vLLM
0.11.0-0.21.0 wheels), on the catalog's real configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.hardware import GpuSpec
from kvplan.core.mm_profile import qwen2_vision_params, tower_weight_bytes
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB

GPU = GpuSpec(name="H100", total_bytes=80 * GiB, source="catalog")
SOURCES = Path(__file__).resolve().parents[1] / "data" / "catalog_sources"


def _config(name: str) -> dict[str, Any]:
    return json.loads((SOURCES / name / "config.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["0.11.0", "0.12.0", "0.13.0", "0.14.0", "0.15.0", "0.19.0", "0.21.0",
                                     "0.22.0", "0.34.0"])
def test_qwen25_vl_tower_left_out_text_only_from_0_11(version: str) -> None:
    """qwen2_5_vl.py sets ``self.visual = None`` when the image and video limits are 0 (0.11-0.14) and wraps it
    in ``_mark_tower_model(vllm_config, {"image", "video"})`` from 0.15: the 7B's 676,550,144-parameter ViT
    (bf16, 1.26 GiB) is not in the weights in any of these releases (0.13-0.21 used to keep it)."""
    vl = model_spec_from_config(_config("Qwen__Qwen2.5-VL-7B-Instruct"))
    off = resolve_engine(vl, DeploySettings(vllm_version=version, limit_mm_per_prompt=(("image", 0), ("video", 0))),
                         GPU)
    assert vl.vision is not None and qwen2_vision_params(vl.vision) == 676_550_144
    assert tower_weight_bytes(vl, off) == 676_550_144 * 2


@pytest.mark.parametrize(("version", "skipped"), [("0.11.0", False), ("0.14.0", False), ("0.15.0", True),
                                                  ("0.19.0", True), ("0.22.0", True)])
def test_gemma3_tower_left_out_text_only_from_0_15(version: str, skipped: bool) -> None:
    """gemma3_mm.py builds SigLIP + the projector whatever the limits up to 0.14 and inside
    ``_mark_tower_model(vllm_config, "image")`` from 0.15: '{"image":0}' drops 0.78 GiB from gemma-3-4b-it."""
    gemma = model_spec_from_config(_config("google__gemma-3-4b-it"))
    off = resolve_engine(gemma, DeploySettings(vllm_version=version, limit_mm_per_prompt=(("image", 0),)), GPU)
    tower = tower_weight_bytes(gemma, off)
    assert (tower > 0) is skipped
    if skipped:
        assert round(tower / GiB, 2) == 0.78
