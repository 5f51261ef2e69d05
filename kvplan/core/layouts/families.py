"""Imports every layout family module so that each registers its builder (one line per family)."""

from __future__ import annotations

from kvplan.core.layouts import deepseek_v32 as deepseek_v32
from kvplan.core.layouts import gemma3n as gemma3n
from kvplan.core.layouts import gemma4 as gemma4
from kvplan.core.layouts import laguna as laguna
from kvplan.core.layouts import mimo_v2_flash as mimo_v2_flash
from kvplan.core.layouts import minimax_m2 as minimax_m2
from kvplan.core.layouts import minimax_m3 as minimax_m3
from kvplan.core.layouts import mla as mla
from kvplan.core.layouts import muse_glimmer as muse_glimmer
from kvplan.core.layouts import step3p7 as step3p7
