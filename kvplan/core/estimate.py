"""A labelled estimate: a value, its error bar, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Estimate:
    value_bytes: int
    error_bytes: int
    source: str  # e.g. "estimate: activation model v1 (calibrated on 20 GPU logs)", "measured: probe 2026-11-26"
    exact: bool = False

    @classmethod
    def exact_value(cls, value_bytes: int, source: str) -> Estimate:
        return cls(value_bytes=value_bytes, error_bytes=0, source=source, exact=True)

    @classmethod
    def zero(cls, source: str) -> Estimate:
        return cls(value_bytes=0, error_bytes=0, source=source, exact=True)
