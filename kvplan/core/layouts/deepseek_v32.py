"""DeepSeek sparse attention: the MLA latent beside a per-layer indexer key cache (DeepSeek-V3.2, GLM-5.x).

vLLM ``models/deepseek_v32/attention.py`` (0.32-0.34): each layer's MLA caches one latent of
``kv_lora_rank + qk_rope_head_dim`` per token on a sparse backend (``use_sparse=True``), and a layer that
builds its own indexer (``DeepseekV32Indexer``) also registers ``DeepseekV32IndexerCache``
(``model_executor/models/deepseek_v2.py``, 0.34 line 638): an ``MLAAttentionSpec`` of one head,
``head_size = index_head_dim + index_head_dim // 128 * 4`` (fp8 keys plus one float32 scale per 128
values: 132 for ``index_head_dim`` 128), dtype uint8, at the engine's block size. Layers that reuse the
previous indexer's top-k ("shared" / skipped) have no indexer cache.

Which layers skip: 0.34 (``compute_skip_topk_layers``, models/utils.py line 1019) reads ``indexer_types``
("full" / "shared") when the config has it, else ``index_topk_pattern`` ("S" skips) or
``index_topk_freq`` with ``index_skip_topk_offset`` (default 2); 0.32/0.33 read only the latter two. A config
whose two readings differ is refused rather than sized for one release. ``DeepseekV2MLAAttention``
(deepseek_v2.py, GLM-4-MoE-Lite and DeepSeek-V2/V3 configs with ``index_topk``) reads the latter two only.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.model import AttentionLayer

INDEXER_QUANT_BLOCK = 128  # DeepseekV32Indexer.quant_block_size ("TODO: get from config")
INDEXER_KERNEL_BLOCK_TOKENS = 64  # DeepseekV32IndexerBackend.get_supported_kernel_block_sizes on CUDA: [64]


def _freq_skips(cfg: ConfigView, num_layers: int) -> set[int]:
    freq = cfg.get("index_topk_freq", default=1)
    if isinstance(freq, bool) or not isinstance(freq, int) or freq <= 0:
        raise ConfigError(f"index_topk_freq must be a positive whole number, got {freq!r}")
    pattern = cfg.data.get("index_topk_pattern")
    offset = cfg.int_("index_skip_topk_offset", default=2)
    if pattern is not None:
        return {i for i in range(num_layers) if i < len(pattern) and pattern[i] == "S"}
    return {i for i in range(num_layers) if max(i - offset + 1, 0) % freq != 0}


def _indexer_type_skips(cfg: ConfigView, num_layers: int) -> set[int] | None:
    types = cfg.data.get("indexer_types")
    if types is None:
        return None
    if not isinstance(types, list) or len(types) != num_layers:
        raise ConfigError(f"indexer_types must list one entry per hidden layer ({num_layers})")
    unknown = sorted({str(t) for t in types} - {"full", "shared"})
    if unknown:
        raise ConfigError(f"indexer_types only supports 'full' and 'shared', got {unknown}")
    return {i for i, t in enumerate(types) if t == "shared"}


def indexer_head_bytes(cfg: ConfigView) -> int:
    head = cfg.int_("index_head_dim")
    return head + head // INDEXER_QUANT_BLOCK * 4


def sparse_mla_layers(cfg: ConfigView, num_layers: int, skips: set[int]) -> tuple[AttentionLayer, ...]:
    latent = cfg.int_("kv_lora_rank") + cfg.int_("qk_rope_head_dim")
    indexer = indexer_head_bytes(cfg)
    return tuple(AttentionLayer(kind="mla", num_kv_heads=1, head_size=latent, head_size_v=0, sparse_mla=True,
                                indexer_head_bytes=0 if i in skips else indexer,
                                sparse_block_tokens=INDEXER_KERNEL_BLOCK_TOKENS)
                 for i in range(num_layers))


def _notes(layers: tuple[AttentionLayer, ...], cfg: ConfigView) -> tuple[str, ...]:
    with_indexer = sum(1 for layer in layers if layer.indexer_head_bytes)
    return (f"DeepSeek sparse attention: {with_indexer} of {len(layers)} layers also cache an indexer key of "
            f"{indexer_head_bytes(cfg)} B per token (DeepseekV32IndexerCache)",)


@register("deepseek_v32", "deepseek_v32", "glm_moe_dsa")
def deepseek_v32(cfg: ConfigView, dims: BaseDims) -> Layout:
    if cfg.get("kv_lora_rank") is None:
        raise ConfigError(f"{cfg.model_type} config has no kv_lora_rank (vLLM runs it as sparse MLA)")
    freq_skips = _freq_skips(cfg, dims.num_layers)
    typed = _indexer_type_skips(cfg, dims.num_layers)
    if typed is not None and typed != freq_skips:
        raise ConfigError("indexer_types and index_topk_freq/index_skip_topk_offset name different indexer "
                          "layers: vLLM 0.34 reads the first, 0.32/0.33 the second")
    layers = sparse_mla_layers(cfg, dims.num_layers, freq_skips)
    return Layout(layers=layers, notes=_notes(layers, cfg))
