"""Imports every layout family module so that each registers its builder (one line per family)."""

from __future__ import annotations

from kvplan.core.layouts import bamba as bamba
from kvplan.core.layouts import falcon_h1 as falcon_h1
from kvplan.core.layouts import granite_hybrid as granite_hybrid
from kvplan.core.layouts import kimi_linear as kimi_linear
from kvplan.core.layouts import lfm2 as lfm2
from kvplan.core.layouts import mamba as mamba
from kvplan.core.layouts import minimax_linear as minimax_linear
from kvplan.core.layouts import olmo_hybrid as olmo_hybrid
from kvplan.core.layouts import plamo as plamo
from kvplan.core.layouts import qwen3_next as qwen3_next
from kvplan.core.layouts import zamba2 as zamba2
