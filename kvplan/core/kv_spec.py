"""Per-layer KV cache specs, as vLLM builds them (vllm/v1/kv_cache_interface.py, 0.32/0.33).

A spec is one layer's cache on one worker (TP rank of a PP stage). ``page_size_bytes`` is one block of that
layer; ``blocks_per_request`` is ``cdiv(max_memory_usage_bytes, page_size_bytes)`` for a request of
``max_model_len`` tokens. Specs are frozen and hashable so that grouping can key on them, as vLLM's do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod

from kvplan.core.units import cdiv


@dataclass(frozen=True, kw_only=True)
class RequestShape:
    """What a request's block count depends on besides the spec."""

    max_model_len: int
    inflight_tokens: int  # VllmConfig.max_in_flight_tokens
    mamba_align_mode: bool  # mamba_cache_mode == "align" (prefix caching on a hybrid)


@dataclass(frozen=True, kw_only=True)
class FullAttentionSpec:
    """Full attention: a block for every ``block_size`` tokens of the request. MLA is the case head_size_v=0."""

    block_size: int
    num_kv_heads: int  # per rank
    head_size: int
    head_size_v: int
    dtype_bytes: int
    page_size_padded: int | None = None
    mla: bool = False

    @property
    def unpadded_page_size_bytes(self) -> int:
        return self.block_size * self.num_kv_heads * (self.head_size + self.head_size_v) * self.dtype_bytes

    @property
    def page_size_bytes(self) -> int:
        return self.page_size_padded or self.unpadded_page_size_bytes

    @property
    def kind(self) -> str:
        return "mla" if self.mla else "full"

    def blocks_per_request(self, shape: RequestShape) -> int:
        return cdiv(shape.max_model_len, self.block_size)

    def with_block_size(self, block_size: int) -> FullAttentionSpec:
        return replace(self, block_size=block_size)


@dataclass(frozen=True, kw_only=True)
class SlidingWindowSpec(FullAttentionSpec):
    """Holds the last ``W - 1`` tokens plus the in-flight ones; +1 block as the window may start mid-block."""

    sliding_window: int

    @property
    def kind(self) -> str:
        return "sliding_window"

    def blocks_per_request(self, shape: RequestShape) -> int:
        tokens = min(self.sliding_window - 1 + shape.inflight_tokens, shape.max_model_len)
        return cdiv(tokens, self.block_size) + 1


@dataclass(frozen=True, kw_only=True)
class ChunkedLocalAttentionSpec(FullAttentionSpec):
    """Llama 4 local attention: one chunk plus the in-flight tokens."""

    attention_chunk_size: int

    @property
    def kind(self) -> str:
        return "chunked_local"

    def blocks_per_request(self, shape: RequestShape) -> int:
        tokens = min(self.attention_chunk_size + shape.inflight_tokens, shape.max_model_len)
        return cdiv(tokens, self.block_size)


@dataclass(frozen=True, kw_only=True)
class MambaSpec:
    """Per-request state of a Mamba / linear-attention layer: fixed bytes, padded to the attention page."""

    shapes: tuple[tuple[int, ...], ...]
    dtype_bytes: tuple[int, ...]
    block_size: int
    page_size_padded: int | None = None
    num_prefill_checkpoint_blocks: int = 0  # mamba2 mixers keep one in align mode
    num_speculative_blocks: int = 0

    @property
    def state_bytes(self) -> int:
        return sum(prod(shape) * size for shape, size in zip(self.shapes, self.dtype_bytes, strict=True))

    @property
    def page_size_bytes(self) -> int:
        return self.page_size_padded or self.state_bytes

    @property
    def kind(self) -> str:
        return "mamba"

    def blocks_per_request(self, shape: RequestShape) -> int:
        if shape.mamba_align_mode:
            return 2 + self.num_speculative_blocks + self.num_prefill_checkpoint_blocks
        return 1 + self.num_speculative_blocks

    def with_block_size(self, block_size: int) -> MambaSpec:
        return replace(self, block_size=block_size)


@dataclass(frozen=True, kw_only=True)
class PackedStateSpec:
    """DeepSeek-V4's caches (vllm/v1/kv_cache_interface.py ``MLAAttentionSpec`` / ``SlidingWindowMLASpec`` with
    ``tokens_per_state``, ``state_content_bytes`` and ``alignment``, 0.32-0.34): a block of ``block_size`` tokens
    holds ``block_size // tokens_per_state`` states of ``state_bytes`` each, the page rounded up to ``alignment``
    (``_apply_alignment_padding``). With ``sliding_window`` it is a window spec (``max_admission_blocks_per_request``:
    ``cdiv(min(W - 1 + in-flight, L), block_size) + 1``), else one block per ``block_size`` tokens. ``role`` only
    names the cache (swa, compressed, compressor_state, indexer, indexer_state) for the notes."""

    block_size: int
    tokens_per_state: int
    state_bytes: int
    alignment: int
    sliding_window: int | None = None
    role: str = ""

    @property
    def page_size_bytes(self) -> int:
        unpadded = self.block_size // self.tokens_per_state * self.state_bytes
        return cdiv(unpadded, self.alignment) * self.alignment

    @property
    def kind(self) -> str:
        return "sliding_window" if self.sliding_window else "mla"

    def blocks_per_request(self, shape: RequestShape) -> int:
        if self.sliding_window is None:
            return cdiv(shape.max_model_len, self.block_size)
        tokens = min(self.sliding_window - 1 + shape.inflight_tokens, shape.max_model_len)
        return cdiv(tokens, self.block_size) + 1

    def bucket_key(self) -> tuple[int, int | None]:
        """``UniformTypeKVCacheSpecs.is_uniform_type``: one block size, and one window (sliding) or none (full)."""
        return self.block_size, self.sliding_window


KVCacheSpec = FullAttentionSpec | MambaSpec | PackedStateSpec
