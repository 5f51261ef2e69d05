"""Defaults of transformers' config classes for the keys the planner reads.

vLLM reads a config after transformers' config class filled in its defaults; kvplan plans without importing
transformers, so it carries those defaults as data. Checked against transformers in
tests/core/test_config_defaults.py.
"""

from __future__ import annotations

from typing import Any

# Defaults of transformers' config classes for the keys the planner reads, where real configs omit them
# (gemma-3-4b-it's text_config lists neither heads nor head_dim). Checked in tests/core/test_config_defaults.py.
CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3_text": {
        "num_hidden_layers": 26, "hidden_size": 2304, "num_attention_heads": 8, "num_key_value_heads": 4,
        "head_dim": 256, "max_position_embeddings": 131072, "sliding_window": 4096, "vocab_size": 262208,
        "sliding_window_pattern": 6,
    },
    "gemma2": {
        "num_hidden_layers": 26, "hidden_size": 2304, "num_attention_heads": 8, "num_key_value_heads": 4,
        "head_dim": 256, "max_position_embeddings": 8192, "sliding_window": 4096, "vocab_size": 256000,
    },
    "llama4_text": {
        "num_hidden_layers": 48, "hidden_size": 5120, "num_attention_heads": 40, "num_key_value_heads": 8,
        "head_dim": 128, "max_position_embeddings": 131072, "attention_chunk_size": 8192, "vocab_size": 202048,
        "no_rope_layer_interval": 4,
    },
    "gpt_oss": {"sliding_window": 128, "head_dim": 64, "num_key_value_heads": 8},
    "jamba": {"attn_layer_period": 8, "attn_layer_offset": 4, "mamba_d_state": 16, "mamba_d_conv": 4,
              "mamba_expand": 2, "num_key_value_heads": 8},
    "qwen3_next": {"full_attention_interval": 4, "linear_num_key_heads": 16, "linear_key_head_dim": 128,
                   "linear_num_value_heads": 32, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
                   "head_dim": 256, "num_key_value_heads": 2},
    "nemotron_h": {"mamba_num_heads": 128, "mamba_head_dim": 64, "ssm_state_size": 128, "n_groups": 8,
                   "conv_kernel": 4, "head_dim": 128, "num_key_value_heads": 8},
    "falcon": {"num_attention_heads": 71, "num_hidden_layers": 32, "hidden_size": 4544},
}
