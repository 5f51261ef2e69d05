"""DeepSeek-V4 compressed sparse attention: per-layer compress ratios, each layer several caches.

vLLM ``models/deepseek_v4/attention.py`` (0.32-0.34): a layer's compress ratio is ``max(1, ratio)``. 0.32 reads
``config.compress_ratios[layer]`` itself (its own ``DeepseekV4Config``, transformers_utils/configs/deepseek_v4.py,
passes the key through); 0.33/0.34 read ``compress_rates.get(layer_types[layer], 0)`` (0.34 line 240) from
transformers' ``DeepseekV4Config``, which maps a legacy ``compress_ratios`` list to layer types (0 sliding, 4
compressed_sparse, 128 heavily_compressed; ``compress_rates`` default 4 / 128). Every layer has a sliding-window
cache (``DeepseekV4SWACache``); a layer of ratio 4 or 128 also caches the compressed latent (an
``MLAAttentionSpec`` with ``tokens_per_state`` = ratio) and its compressor's state; a ratio-4 layer has an
indexer too (its key cache and its compressor's state). The page arithmetic is in engine.deepseek_v4_specs.
"""

from __future__ import annotations

from kvplan.core.config_view import ConfigView
from kvplan.core.errors import ConfigError
from kvplan.core.layouts import BaseDims, Layout, register
from kvplan.core.model import AttentionLayer

LAYER_TYPE_RATIOS = {"sliding_attention": 0, "compressed_sparse_attention": 4, "heavily_compressed_attention": 128}
RATIO_LAYER_TYPES = {ratio: name for name, ratio in LAYER_TYPE_RATIOS.items()}
# fp8_ds_mla's 584-byte entry (448 NoPE + 64 bf16 RoPE + 8 scale bytes) is written for this head only
HEAD_DIM, ROPE_DIM = 512, 64


def _ratios_032(cfg: ConfigView, num_layers: int) -> list[int] | None:
    """0.32: ``max(1, config.compress_ratios[layer])``; None where the config has no such list."""
    ratios = cfg.data.get("compress_ratios")
    if ratios is None:
        return None
    if not isinstance(ratios, list) or len(ratios) < num_layers or not all(
            isinstance(r, int) and not isinstance(r, bool) for r in ratios):
        raise ConfigError(f"compress_ratios must list a whole number for each of the {num_layers} layers")
    return [max(1, r) for r in ratios[:num_layers]]


def _ratios_033(cfg: ConfigView, num_layers: int) -> list[int]:
    """0.33/0.34: transformers' DeepseekV4Config.__post_init__ (layer_types, else compress_ratios, else the
    V4-Pro default of two heavily compressed layers then alternating), then ``compress_rates``."""
    rates = dict(cfg.data.get("compress_rates") or {"compressed_sparse_attention": 4,
                                                     "heavily_compressed_attention": 128})
    for key, name in (("compress_rate_csa", "compressed_sparse_attention"),
                      ("compress_rate_hca", "heavily_compressed_attention")):
        if cfg.data.get(key) is not None:
            rates[name] = cfg.data[key]
    types = cfg.data.get("layer_types")
    legacy = cfg.data.get("compress_ratios")
    if types is None and isinstance(legacy, list):
        unknown = sorted({str(r) for r in legacy if r not in RATIO_LAYER_TYPES})
        if unknown:
            raise ConfigError(f"compress_ratios holds {unknown}: transformers' DeepseekV4Config maps only 0, 4 "
                              "and 128 to layer types")
        types = [RATIO_LAYER_TYPES[r] for r in legacy]
    if types is None:
        types = (["heavily_compressed_attention"] * min(num_layers, 2)
                 + ["compressed_sparse_attention" if i % 2 else "heavily_compressed_attention"
                    for i in range(max(num_layers - 2, 0))])
    if not isinstance(types, list) or len(types) < num_layers:
        raise ConfigError(f"layer_types must name each of the {num_layers} layers")
    unknown = sorted({str(t) for t in types} - set(LAYER_TYPE_RATIOS))
    if unknown:
        raise ConfigError(f"layer_types entries must be one of {sorted(LAYER_TYPE_RATIOS)}; got {unknown}")
    out = []
    for name in types[:num_layers]:
        rate = rates.get(name, 0)
        if isinstance(rate, bool) or not isinstance(rate, int):
            raise ConfigError(f"compress_rates[{name!r}] must be a whole number, got {rate!r}")
        out.append(max(1, rate))
    return out


@register("deepseek_v4", "deepseek_v4")
def deepseek_v4(cfg: ConfigView, dims: BaseDims) -> Layout:
    head = cfg.int_("head_dim", default=HEAD_DIM)
    rope = cfg.int_("qk_rope_head_dim", default=ROPE_DIM)
    if (head, rope) != (HEAD_DIM, ROPE_DIM):
        raise ConfigError(f"DeepSeek-V4 with head_dim {head} and qk_rope_head_dim {rope}: vLLM's fp8_ds_mla "
                          f"entry (584 bytes) is laid out for {HEAD_DIM} and {ROPE_DIM} only")
    window = cfg.int_("sliding_window", default=128)
    index_head = cfg.int_("index_head_dim", default=128)
    if window <= 0 or index_head <= 0 or index_head % 128:
        raise ConfigError(f"sliding_window {window} and index_head_dim {index_head}: both must be positive, "
                          "the indexer's a multiple of 128 (its fp8 quant block)")
    old = _ratios_032(cfg, dims.num_layers)
    new = _ratios_033(cfg, dims.num_layers)
    requires = None
    if old is None:
        requires = ("0.33.0", "vLLM 0.32 reads DeepSeek-V4's compress_ratios, which this config does not have")
    elif old != new:
        raise ConfigError("compress_ratios and layer_types/compress_rates give different compress ratios: vLLM "
                          "0.32 reads the first, 0.33/0.34 the second")
    unsupported = sorted({r for r in new if r not in (1, 4, 128)})
    if unsupported:
        raise ConfigError(f"compress ratio {unsupported}: vLLM's DeepSeek-V4 compressor takes 4 and 128 only")
    layers = tuple(AttentionLayer(kind="mla", num_kv_heads=1, head_size=HEAD_DIM, head_size_v=0, sparse_mla=True,
                                  sliding_window=window, compress_ratio=ratio,
                                  indexer_head_bytes=index_head + index_head // 128 * 4 if ratio == 4 else 0,
                                  indexer_head_dim=index_head if ratio == 4 else 0, sparse_block_tokens=256)
                   for ratio in new)
    counts = {r: new.count(r) for r in (1, 4, 128)}
    notes = (f"DeepSeek-V4 compressed sparse attention: {counts[4]} layers compress 4:1 (with an indexer), "
             f"{counts[128]} compress 128:1, {counts[1]} keep only the {window}-token sliding window; every layer "
             "also caches the window (fp8_ds_mla, 584 B a token)",)
    return Layout(layers=layers, notes=notes, requires_release=requires or (
        "0.32.0", "kvplan reads DeepSeek-V4's caches from vLLM 0.32-0.34 only"))
