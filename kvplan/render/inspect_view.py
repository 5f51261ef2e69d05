"""Rendering for `kvplan inspect`: why a KV number is what it is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvplan.core.capacity import KvLayout
from kvplan.core.model import ModelSpec
from kvplan.render.summary import layers_by_kind
from kvplan.sources.types import ResolvedModel

if TYPE_CHECKING:
    from rich.console import Console


def inspect_object(source: ResolvedModel, model: ModelSpec, layout: KvLayout) -> dict[str, Any]:
    engine = layout.engine
    shape = engine.request_shape()
    bpr = layout.blocks_per_request(engine.max_model_len)
    return {
        "model": {"ref": source.ref, "source": source.config_source, "model_type": model.model_type,
                  "num_layers": model.num_layers, "layers_by_kind": layers_by_kind(model),
                  "max_position_tokens": model.max_position_tokens, "dtype": engine.model_dtype},
        "engine": {"vllm_version": engine.behaviour.version, "kv_cache_dtype": engine.kv_cache_dtype,
                   "block_size": engine.block_size, "block_size_note": engine.block_size_note,
                   "max_model_len": engine.max_model_len, "inflight_tokens": engine.inflight_tokens,
                   "tensor_parallel_size": engine.tensor_parallel_size,
                   "pipeline_parallel_size": engine.pipeline_parallel_size,
                   "hybrid_kv_cache_manager": engine.hybrid_manager, "mamba_align_mode": engine.mamba_align_mode},
        "groups": [
            {"kind": g.spec.kind, "num_layers": g.num_layers, "layers": list(g.layer_indices),
             "block_size": g.spec.block_size, "page_size_bytes": g.spec.page_size_bytes,
             "blocks_per_request": g.spec.blocks_per_request(shape),
             **({"layer_page_sizes_bytes": list(g.page_sizes_bytes)} if len(g.page_sizes_bytes) > 1 else {})}
            for g in layout.groups
        ],
        "bytes_per_block": layout.bytes_per_block,
        "stage_bytes_per_block": list(layout.stage_bytes_per_block),
        "blocks_per_request": bpr,
        "bytes_per_request": layout.bytes_per_block * bpr,
        "min_kv_cache_bytes": layout.bytes_per_block * (bpr + 1),
    }


def print_inspect(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    model, engine = data["model"], data["engine"]
    kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in model["layers_by_kind"].items())
    console.print(f"[bold]{model['ref']}[/] ({model['source']}) · {model['model_type']} · {model['num_layers']} "
                  f"layers: {kinds}")
    console.print(f"vLLM {engine['vllm_version']} · KV {engine['kv_cache_dtype']} · block {engine['block_size']}"
                  f" · max_model_len {engine['max_model_len']:,} · in-flight tokens {engine['inflight_tokens']:,}"
                  f" · tp {engine['tensor_parallel_size']} · pp {engine['pipeline_parallel_size']}")
    if engine["block_size_note"]:
        console.print(f"[dim]block size: {engine['block_size_note']}[/]")
    table = Table(show_edge=False)
    for column in ("group", "kind", "layers", "block", "page bytes", "blocks/request"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for i, g in enumerate(data["groups"]):
        pages = " / ".join(f"{p:,}" for p in g.get("layer_page_sizes_bytes") or [g["page_size_bytes"]])
        table.add_row(str(i), g["kind"], str(g["num_layers"]), str(g["block_size"]), pages,
                      f"{g['blocks_per_request']:,}")
    console.print(table)
    console.print(f"bytes per block (all groups share one pool): {data['bytes_per_block']:,} · "
                  f"blocks per request: {data['blocks_per_request']:,} · one full request: "
                  f"{data['bytes_per_request'] / 2**30:.2f} GiB · smallest KV cache that starts: "
                  f"{data['min_kv_cache_bytes'] / 2**30:.2f} GiB (null block included)")
