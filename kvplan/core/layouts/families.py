"""Imports every layout family module so that each registers its builder (one line per family)."""

from __future__ import annotations

from kvplan.core.layouts import bamba as bamba
from kvplan.core.layouts import cohere2 as cohere2
from kvplan.core.layouts import deepseek_v4 as deepseek_v4
from kvplan.core.layouts import deepseek_v32 as deepseek_v32
from kvplan.core.layouts import exaone_moe as exaone_moe
from kvplan.core.layouts import falcon_h1 as falcon_h1
from kvplan.core.layouts import flint as flint
from kvplan.core.layouts import gemma3n as gemma3n
from kvplan.core.layouts import gemma4 as gemma4
from kvplan.core.layouts import granite_hybrid as granite_hybrid
from kvplan.core.layouts import kimi_linear as kimi_linear
from kvplan.core.layouts import laguna as laguna
from kvplan.core.layouts import layer_types_attention as layer_types_attention
from kvplan.core.layouts import lfm2 as lfm2
from kvplan.core.layouts import lfm3 as lfm3
from kvplan.core.layouts import longcat_flash as longcat_flash
from kvplan.core.layouts import mamba as mamba
from kvplan.core.layouts import mimo_v2_flash as mimo_v2_flash
from kvplan.core.layouts import minicpm3 as minicpm3
from kvplan.core.layouts import minimax_linear as minimax_linear
from kvplan.core.layouts import minimax_m2 as minimax_m2
from kvplan.core.layouts import minimax_m3 as minimax_m3
from kvplan.core.layouts import mla as mla
from kvplan.core.layouts import muse_glimmer as muse_glimmer
from kvplan.core.layouts import olmo_hybrid as olmo_hybrid
from kvplan.core.layouts import plamo as plamo
from kvplan.core.layouts import qwen3_5_unhooked as qwen3_5_unhooked
from kvplan.core.layouts import qwen3_next as qwen3_next
from kvplan.core.layouts import step3_text as step3_text
from kvplan.core.layouts import step3p5 as step3p5
from kvplan.core.layouts import step3p7 as step3p7
from kvplan.core.layouts import zamba2 as zamba2
