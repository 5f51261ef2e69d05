"""Facts shared by every renderer: layers by kind, per-group pages. Pure, no formatting."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kvplan.core.groups import KVCacheGroup
from kvplan.core.kv_spec import ChunkedLocalAttentionSpec, MambaSpec, PackedStateSpec, SlidingWindowSpec
from kvplan.core.model import AttentionLayer, MambaLayer, ModelSpec, NoKvLayer, ParallelLayer
from kvplan.core.plan import PlanResult
from kvplan.core.settings import DeploySettings


def _flat_layers(model: ModelSpec) -> list[AttentionLayer | MambaLayer | NoKvLayer]:
    """Each layer, a Falcon-H1 layer as its attention and its mixer (counted once under each kind)."""
    out: list[AttentionLayer | MambaLayer | NoKvLayer] = []
    for layer in model.layers:
        out += [layer.attention, layer.mamba] if isinstance(layer, ParallelLayer) else [layer]
    return out


def layers_by_kind(model: ModelSpec) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for layer in _flat_layers(model):
        if isinstance(layer, AttentionLayer):
            counts[{"full": "full_attention", "sliding": "sliding_window", "chunked": "chunked_local",
                    "mla": "mla"}[layer.kind]] += 1
        elif isinstance(layer, MambaLayer):
            counts[layer.kind] += 1
        else:
            counts["no_kv"] += 1
    return dict(counts)


def _packed_specs(result: PlanResult, group: KVCacheGroup) -> list[PackedStateSpec]:
    from kvplan.core.engine import deepseek_v4_specs

    layers = result.model.layers
    key = group.spec.bucket_key() if isinstance(group.spec, PackedStateSpec) else None
    found: list[PackedStateSpec] = []
    for index in set(group.layer_indices):
        layer = layers[index] if index < len(layers) else None
        if isinstance(layer, AttentionLayer) and layer.compress_ratio:
            found += [s for s in deepseek_v4_specs(layer, result.engine.block_size)
                      if s.bucket_key() == key]
    return found


def group_rows(result: PlanResult) -> list[dict[str, Any]]:
    shape = result.engine.request_shape()
    rows: list[dict[str, Any]] = []
    for group in result.layout.groups:
        spec = group.spec
        row: dict[str, Any] = {
            "kind": spec.kind,
            "num_layers": group.num_layers,
            "block_size": spec.block_size,
            "page_size_bytes": spec.page_size_bytes,
            "blocks_per_request": spec.blocks_per_request(shape),
        }
        if len(group.page_sizes_bytes) > 1:  # layers of one kind but two shapes: page_size_bytes is the first's
            row["layer_page_sizes_bytes"] = list(group.page_sizes_bytes)
        if isinstance(spec, SlidingWindowSpec):
            row["sliding_window"] = spec.sliding_window
        if isinstance(spec, ChunkedLocalAttentionSpec):
            row["attention_chunk_size"] = spec.attention_chunk_size
        if isinstance(spec, MambaSpec):
            row["state_bytes"] = spec.state_bytes
            row["state_shapes"] = [list(s) for s in spec.shapes]
        elif isinstance(spec, PackedStateSpec):
            # DeepSeek-V4: a group packs caches of several page sizes; its block costs their sum
            row["roles"] = sorted({s_.role for s_ in _packed_specs(result, group)})
            row["tokens_per_state"] = spec.tokens_per_state
            row["group_page_bytes"] = group.page_sum_bytes()
            if spec.sliding_window:
                row["sliding_window"] = spec.sliding_window
        else:
            row["num_kv_heads_per_rank"] = spec.num_kv_heads
            row["head_size"] = spec.head_size
        rows.append(row)
    return rows


def speculative_object(settings: DeploySettings) -> dict[str, Any] | None:
    """``--speculative-config`` as the JSON outputs show it (None without one)."""
    spec = settings.speculative
    if spec is None:
        return None
    return {"method": spec.method, "num_speculative_tokens": spec.num_speculative_tokens,
            "draft_model": spec.draft_model}
