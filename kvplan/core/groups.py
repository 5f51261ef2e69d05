"""KV cache groups, as vLLM's hybrid allocator forms them (kv_cache_utils.py get_kv_cache_groups, 0.32).

Layers with equal specs share a block table. Hybrid models (windows, chunked local, Mamba) get their pages
unified, then are split into groups of equal layer count; every group draws block ids from one shared pool,
so a block costs the largest group's page sum and a request costs the sum of its groups' blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from kvplan.core.errors import UnsupportedModelError
from kvplan.core.kv_spec import FullAttentionSpec, KVCacheSpec, MambaSpec, PackedStateSpec, RequestShape
from kvplan.core.units import cdiv


@dataclass(frozen=True, kw_only=True)
class KVCacheGroup:
    spec: KVCacheSpec  # the group's spec (for a uniform-type group: the first layer's)
    layer_indices: tuple[int, ...]  # model layer indices (over all PP stages)
    layer_page_bytes: tuple[int, ...] = ()  # per layer, when layers differ in shape (UniformTypeKVCacheSpecs)

    @property
    def num_layers(self) -> int:
        return len(self.layer_indices)

    @property
    def page_sizes_bytes(self) -> tuple[int, ...]:
        """The distinct page sizes, largest first: one unless the group's layers differ in shape (DeepSeek-V3.2's
        MLA latent beside its indexer keys: 73,728 and 8,448 B at block 64)."""
        return tuple(sorted(set(self.layer_page_bytes) or {self.spec.page_size_bytes}, reverse=True))

    def page_sum_bytes(self, stage_layers: range | None = None) -> int:
        pages = self.layer_page_bytes or (self.spec.page_size_bytes,) * len(self.layer_indices)
        return sum(p for i, p in zip(self.layer_indices, pages, strict=True)
                   if stage_layers is None or i in stage_layers)


def unify_page_sizes(specs: Sequence[KVCacheSpec]) -> list[KVCacheSpec]:
    """``unify_kv_cache_spec_page_size``: grow smaller attention pages by block size, else pad them."""
    max_page = max(spec.page_size_bytes for spec in specs)
    unified: list[KVCacheSpec] = []
    for spec in specs:
        page = spec.page_size_bytes
        if page == max_page:
            unified.append(spec)
        elif isinstance(spec, MambaSpec):
            unified.append(replace(spec, page_size_padded=max_page))
        elif isinstance(spec, PackedStateSpec):
            raise UnsupportedModelError("compressed sparse attention is grouped by packing only")
        elif max_page % page == 0:
            unified.append(spec.with_block_size(spec.block_size * (max_page // page)))
        elif not spec.mla:
            unified.append(replace(spec, page_size_padded=max_page))
        else:
            raise UnsupportedModelError(
                "MLA layers whose page does not divide the largest page cannot be grouped (vLLM falls back "
                "to full allocation here, which kvplan does not model)"
            )
    return unified


def _mergeable(a: KVCacheSpec, b: KVCacheSpec) -> bool:
    """vLLM merges buckets whose specs ``merge`` accepts: plain full-attention specs with equal layout."""
    return type(a) is FullAttentionSpec and type(b) is FullAttentionSpec and a == b


def form_groups(layer_specs: Sequence[tuple[int, KVCacheSpec]]) -> list[KVCacheGroup]:
    """Group the KV-holding layers of the whole model (all PP stages), as vLLM does before projecting."""
    if not layer_specs:
        return []
    if any(isinstance(spec, PackedStateSpec) for _, spec in layer_specs):
        return form_packed_groups(layer_specs)
    distinct = {spec for _, spec in layer_specs}
    if len(distinct) == 1:
        spec = next(iter(distinct))
        return [KVCacheGroup(spec=spec, layer_indices=tuple(i for i, _ in layer_specs))]
    if all(type(spec) is FullAttentionSpec for spec in distinct) or all(
        isinstance(spec, MambaSpec) for spec in distinct
    ):
        # UniformTypeKVCacheSpecs: same type, different shapes (Nemotron-NAS KV heads per block) -> one group;
        # a block costs the sum of the layers' pages, a request cdiv(L, block_size) blocks.
        return [KVCacheGroup(spec=layer_specs[0][1], layer_indices=tuple(i for i, _ in layer_specs),
                             layer_page_bytes=tuple(spec.page_size_bytes for _, spec in layer_specs))]

    originals = [spec for _, spec in layer_specs]
    unified = unify_page_sizes(originals)
    buckets: dict[KVCacheSpec, list[int]] = {}
    for (index, _), spec in zip(layer_specs, unified, strict=True):
        buckets.setdefault(spec, []).append(index)
    merged: list[tuple[KVCacheSpec, list[int]]] = []
    for spec, indices in buckets.items():
        for existing in merged:
            if _mergeable(existing[0], spec):
                existing[1].extend(indices)
                break
        else:
            merged.append((spec, list(indices)))

    sizes = [len(indices) for _, indices in merged]
    group_size = min(sizes)
    if max(sizes) < group_size * 1.5:
        group_size = max(sizes)  # fewer padding layers, e.g. gpt-oss + EAGLE (12 sw + 13 full)
    groups: list[KVCacheGroup] = []
    for spec, indices in merged:
        num_groups = cdiv(len(indices), group_size)
        for i in range(num_groups):
            # layers[i::num_groups], so that PP stages split groups evenly
            groups.append(KVCacheGroup(spec=spec, layer_indices=tuple(indices[i::num_groups])))
    return groups


def approximate_gcd(values: Sequence[int], lower_bound: int) -> int:
    """``_approximate_gcd``: the chunk d in [lower_bound, max] whose round-ups pad least; ties to the larger d."""
    best_d, best_pad = lower_bound, -1
    for d in range(max(1, lower_bound), max(values) + 1):
        pad = sum((d - x % d) % d for x in values)
        if best_pad < 0 or pad <= best_pad:
            best_d, best_pad = d, pad
    return best_d


def form_packed_groups(layer_specs: Sequence[tuple[int, KVCacheSpec]]) -> list[KVCacheGroup]:
    """``_get_packed_kv_cache_groups`` (v1/core/kv_cache_utils.py 0.32, v1/core/kv_cache_planning.py 0.33/0.34,
    the same code): the block-outermost (BLHNC) layout DeepSeek-V4's backends require. Layers are bucketed by
    block size and window (``is_uniform_type``); a bucket whose page sizes each hold the same number of layers is
    "balanced", a repeating pattern. The repeats per group are ``_approximate_gcd`` of the balanced buckets'
    layer counts, no fewer than the largest mixed balanced bucket's; a balanced bucket splits into
    ``cdiv(count, repeats)`` groups (repeats ``i::n``), any other stays whole. A block costs the widest group's
    page sum (no block-stride alignment on these specs), a request the sum of every group's blocks."""
    packed: list[tuple[int, PackedStateSpec]] = []
    for index, spec in layer_specs:
        if not isinstance(spec, PackedStateSpec):
            raise UnsupportedModelError("compressed sparse attention beside other KV cache kinds: vLLM's packed "
                                        "grouping of such a mix is not modelled")
        packed.append((index, spec))
    if len({spec.page_size_bytes for _, spec in packed}) <= 1:
        raise UnsupportedModelError("compressed sparse attention whose caches share one page size: vLLM groups "
                                    "these without packing, which kvplan does not model")
    buckets: dict[tuple[int, int | None], dict[int, list[tuple[int, PackedStateSpec]]]] = {}
    for index, spec in packed:
        buckets.setdefault(spec.bucket_key(), {}).setdefault(spec.page_size_bytes, []).append((index, spec))
    bucketed = [(pages, len({len(v) for v in pages.values()}) == 1, max(len(v) for v in pages.values()))
                for pages in buckets.values()]
    min_repeats = max((most for pages, balanced, most in bucketed if balanced and len(pages) > 1), default=0)
    repeats = (approximate_gcd([most for _, balanced, most in bucketed if balanced], min_repeats)
               if min_repeats else None)

    def num_groups_for(balanced: bool, most: int) -> int:
        return cdiv(most, repeats) if balanced and repeats is not None else 1

    def is_state_bucket(pages: dict[int, list[tuple[int, PackedStateSpec]]]) -> bool:
        first = next(iter(pages.values()))[0][1]
        return repeats is None and first.sliding_window is not None

    def widest(pages: dict[int, list[tuple[int, PackedStateSpec]]], n: int) -> int:
        return sum(cdiv(len(names), n) * page for page, names in pages.items())

    anchor = max(widest(pages, sum(map(len, pages.values())) if is_state_bucket(pages)
                        else num_groups_for(balanced, most)) for pages, balanced, most in bucketed)
    groups: list[KVCacheGroup] = []
    for pages, balanced, most in bucketed:
        layers = [entry for entries in pages.values() for entry in entries]
        num_groups = num_groups_for(balanced, most)
        if anchor and is_state_bucket(pages):
            num_groups = max(num_groups, cdiv(len(layers), max(anchor // layers[0][1].page_size_bytes, 1)))
        if num_groups == 1:
            chosen = [layers]
        else:
            pattern = list(zip(*pages.values(), strict=False))
            chosen = [[entry for repeat in pattern[i::num_groups] for entry in repeat] for i in range(num_groups)]
        for members in chosen:
            groups.append(KVCacheGroup(spec=members[0][1], layer_indices=tuple(i for i, _ in members),
                                       layer_page_bytes=tuple(spec.page_size_bytes for _, spec in members)))
    return groups


def bytes_per_block(groups: Sequence[KVCacheGroup], stage_layers: range | None = None) -> int:
    """Largest group's page sum on one worker (``_get_kv_cache_bytes_per_block``, layer-outer layout)."""
    return max((group.page_sum_bytes(stage_layers) for group in groups), default=0)


def blocks_per_request(groups: Sequence[KVCacheGroup], shape: RequestShape) -> int:
    """Sum over groups of the blocks one request of ``max_model_len`` needs (all groups share the pool)."""
    return sum(group.spec.blocks_per_request(shape) for group in groups)
