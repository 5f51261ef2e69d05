"""The exact part: available KV bytes -> blocks -> tokens, vLLM's max-model-len check and its estimate.

V1 (0.31+): kv_cache_utils.py ``get_kv_cache_configs``, ``_check_enough_kv_cache_memory``,
``_estimate_max_model_len_from_groups``, ``get_max_concurrency_for_kv_cache_config``,
``get_kv_cache_capacity``. V0: worker/cache_engine.py ``get_cache_block_size`` and
``raise_if_cache_size_invalid`` (no null block, windows allocated in full).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kvplan.core.engine import EngineConfig, pp_stage_ranges
from kvplan.core.groups import KVCacheGroup, blocks_per_request, bytes_per_block
from kvplan.core.settings import version_tuple
from kvplan.core.units import cdiv, largest_where

LOGGED_TOKENS_FROM_CONCURRENCY = (0, 21, 0)  # "KV cache size" = max_concurrency x max_model_len from 0.21


@dataclass(frozen=True, kw_only=True)
class KvLayout:
    """Groups and the per-worker block bytes; everything the capacity arithmetic needs."""

    groups: tuple[KVCacheGroup, ...]
    stage_bytes_per_block: tuple[int, ...]  # one per PP stage (TP ranks are alike)
    engine: EngineConfig

    @property
    def bytes_per_block(self) -> int:
        """Largest over workers: the binding one for blocks and the check."""
        return max(self.stage_bytes_per_block) if self.stage_bytes_per_block else 0

    def blocks_per_request(self, max_model_len: int) -> int:
        return blocks_per_request(self.groups, self.engine.request_shape(max_model_len))

    def needed_bytes(self, max_model_len: int, stage: int) -> int:
        return self.stage_bytes_per_block[stage] * self.blocks_per_request(max_model_len)


def build_layout(groups: Sequence[KVCacheGroup], num_layers: int, engine: EngineConfig,
                 hosted_draft_layers: int = 0) -> KvLayout:
    stages = pp_stage_ranges(num_layers, engine.pipeline_parallel_size)
    if hosted_draft_layers:  # the drafter runs on the last PP rank, after the model's own layers
        stages[-1] = range(stages[-1].start, num_layers + hosted_draft_layers)
    per_stage = tuple(bytes_per_block(groups, stage) if len(stages) > 1 else bytes_per_block(groups)
                      for stage in stages)
    return KvLayout(groups=tuple(groups), stage_bytes_per_block=per_stage, engine=engine)


@dataclass(frozen=True, kw_only=True)
class Capacity:
    num_blocks: int  # includes the permanent null block, as vLLM logs it
    tokens: int  # "KV cache size: N tokens"
    max_concurrency: float  # "Maximum concurrency for L tokens per request: Cx"
    blocks_per_request: int


def num_blocks(layout: KvLayout, available_bytes: int) -> int:
    """``available // bytes_per_block`` per worker, then the minimum over workers."""
    if not layout.groups:
        return 1
    return min(available_bytes // bpb for bpb in layout.stage_bytes_per_block if bpb > 0)


def capacity(layout: KvLayout, blocks: int, max_model_len: int) -> Capacity:
    if layout.engine.behaviour.engine == "v0":
        # 0.6.6: Maximum concurrency = num_gpu_blocks * block_size / max_model_len; no null block.
        tokens = blocks * layout.engine.block_size
        return Capacity(num_blocks=blocks, tokens=tokens, max_concurrency=tokens / max_model_len,
                        blocks_per_request=layout.blocks_per_request(max_model_len))
    bpr = layout.blocks_per_request(max_model_len)
    concurrency = blocks / bpr
    if version_tuple(layout.engine.behaviour.version) < LOGGED_TOKENS_FROM_CONCURRENCY and layout.groups:
        # V1 up to 0.20 logs "GPU KV cache size" as num_blocks // groups x the smallest block size
        # (_report_kv_cache_config, kv_cache_utils.py 0.11.0-0.20.0; 0.10.2: num_blocks x block_size with one
        # group, the same); from 0.21 it is the group-aware capacity, max_concurrency x max_model_len
        # (get_kv_cache_capacity; 0.21.0, 0.22.0, 0.32.0). The two differ for hybrids and windows.
        tokens = blocks // len(layout.groups) * min(group.spec.block_size for group in layout.groups)
        return Capacity(num_blocks=blocks, tokens=tokens, max_concurrency=concurrency, blocks_per_request=bpr)
    return Capacity(num_blocks=blocks, tokens=int(concurrency * max_model_len), max_concurrency=concurrency,
                    blocks_per_request=bpr)


def check_bytes(layout: KvLayout, available_bytes: int, stage: int) -> int:
    """What the check compares with: 0.31+ holds back the null block."""
    if layout.engine.behaviour.null_block_in_check:
        return available_bytes - layout.stage_bytes_per_block[stage]
    return available_bytes


def fits(layout: KvLayout, available_bytes: int, max_model_len: int) -> bool:
    if not layout.groups:
        return True
    if layout.engine.behaviour.engine == "v0":
        blocks = available_bytes // layout.bytes_per_block
        return blocks > 0 and blocks * layout.engine.block_size >= max_model_len
    blocks = layout.blocks_per_request(max_model_len)  # the same on every stage: counted once, not per stage
    for stage, stage_bytes in enumerate(layout.stage_bytes_per_block):
        check = check_bytes(layout, available_bytes, stage)
        if check <= 0 or stage_bytes * blocks > check:
            return False
    return True


def max_model_len_fit(layout: KvLayout, available_bytes: int, upper: int) -> int:
    """Largest L <= upper that fits (vLLM's binary search; 0 when not even one token fits)."""
    if not layout.groups:
        return upper
    if layout.engine.behaviour.engine == "v0":
        blocks = max(0, available_bytes // layout.bytes_per_block)
        return min(upper, blocks * layout.engine.block_size)
    if not fits(layout, available_bytes, 1):
        return 0
    return largest_where(lambda length: fits(layout, available_bytes, length), 1, upper)


def min_available_for(layout: KvLayout, max_model_len: int) -> int:
    """Smallest KV memory with which ``max_model_len`` passes the check (per worker, binding stage)."""
    if not layout.groups:
        return 0
    if layout.engine.behaviour.engine == "v0":
        return cdiv(max_model_len, layout.engine.block_size) * layout.bytes_per_block
    extra = 1 if layout.engine.behaviour.null_block_in_check else 0
    return max(bpb * (layout.blocks_per_request(max_model_len) + extra) for bpb in layout.stage_bytes_per_block)
