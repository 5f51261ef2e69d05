"""MiniMax-M3: GQA attention on every layer, and on the sparse layers a lightning indexer with its own key cache.

vLLM ``models/minimax_m3/nvidia/model.py`` (0.32-0.34): ``_sparse_attention_layer_ids`` takes the layers whose
``sparse_attention_config["sparse_attention_freq"]`` entry is not 0; those build ``MiniMaxM3SparseAttention``,
the others the generic ``Attention``. Both cache K and V of ``num_key_value_heads`` heads of ``head_dim``
(``MiniMaxM3SparseAttention.get_kv_cache_spec``: FullAttentionSpec). A sparse layer also owns a
``MiniMaxM3IndexerCache`` (models/minimax_m3/common/indexer.py ``get_kv_cache_spec``): an MLAAttentionSpec of
one head of ``sparse_index_dim``, in bfloat16 (``attention_config.resolve_indexer_kv_dtype("bf16")``; kvplan
does not read ``--attention-config indexer_kv_dtype``). The sparse backend and the indexer backend take
128-token kernel blocks only (``get_supported_kernel_block_sizes`` -> [128]).

vLLM serves the checkpoint as ``MiniMaxM3SparseForCausalLM`` / ``...ForConditionalGeneration`` with its own
config class (transformers_utils/configs/minimax_m3.py, text model type "minimax_m3_text"); a flat
"minimax_m3" config is read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.model import AttentionLayer

SPARSE_KERNEL_BLOCK_TOKENS = 128
INDEXER_DTYPE_BYTES = 2  # bf16


@register("minimax_m3", "minimax_m3", "minimax_m3_text", "minimax_m3_vl_text")
def minimax_m3(cfg: ConfigView, dims: BaseDims) -> Layout:
    sparse_cfg = cfg.data.get("sparse_attention_config")
    if not isinstance(sparse_cfg, Mapping):
        raise ConfigError(f"{cfg.model_type} config has no sparse_attention_config (vLLM's MiniMaxM3TextConfig "
                          "would put its own 60-layer default there)")
    freq = sparse_cfg.get("sparse_attention_freq")
    sparse = {i for i, f in enumerate(freq) if f != 0} if isinstance(freq, list) else set()
    index_dim = int(sparse_cfg.get("sparse_index_dim") or 0)
    if sparse and index_dim <= 0:
        raise ConfigError("sparse_attention_config has sparse layers but no sparse_index_dim")
    layers = tuple(
        AttentionLayer(kind="full", num_kv_heads=dims.num_kv_heads, head_size=dims.head_size,
                       head_size_v=dims.head_size, indexer_head_bytes=index_dim * INDEXER_DTYPE_BYTES,
                       sparse_block_tokens=SPARSE_KERNEL_BLOCK_TOKENS)
        if i in sparse else
        AttentionLayer(kind="full", num_kv_heads=dims.num_kv_heads, head_size=dims.head_size,
                       head_size_v=dims.head_size)
        for i in range(dims.num_layers)
    )
    notes: tuple[str, ...] = ()
    if sparse:
        notes = (f"MiniMax sparse attention: {len(sparse & set(range(dims.num_layers)))} of {dims.num_layers} layers "
                 f"also cache an indexer key of {index_dim * INDEXER_DTYPE_BYTES} B per token",)
    return Layout(layers=layers, notes=notes)
