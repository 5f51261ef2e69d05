"""Calibration store (placeholder until the probe lands): no records, no change to estimates."""

from __future__ import annotations

from collections.abc import Mapping

from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.settings import DeploySettings


def lookup_overhead(model_ref: str, revision: str | None, gpu: GpuSpec, settings: DeploySettings,
                    environ: Mapping[str, str]) -> tuple[Estimate | None, str | None]:
    return None, None
