"""Imports every layout family module so that each registers its builder (one line per family)."""

from __future__ import annotations
