"""ModelSpec: what the planner needs to know about a model, settled once from its config.

No ``dict[str, Any]`` gets past ``kvplan.core.architectures``; everything downstream reads these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from kvplan.core.vision import VisionTower

AttentionKind = Literal["full", "sliding", "chunked", "mla"]
# short_conv: LFM2 ShortConv (one conv state); kda: Kimi delta attention (conv + fp32 recurrent state);
# linear: MiniMax-Text-01's lightning attention, one (heads, head_dim, head_dim) state
MambaKind = Literal["mamba1", "mamba2", "gdn", "short_conv", "kda", "linear"]


@dataclass(frozen=True, kw_only=True)
class AttentionLayer:
    """One decoder layer's self-attention, unsharded (total KV heads across TP ranks)."""

    kind: AttentionKind
    num_kv_heads: int
    head_size: int
    head_size_v: int  # MLA: 0 (one latent, no separate V)
    sliding_window: int | None = None
    attention_chunk_size: int | None = None
    # Sparse attention with a lightning indexer (DeepSeek-V3.2, GLM-5, MiniMax-M3): a layer with its own indexer
    # also caches one key of ``indexer_head_bytes`` per token (DeepseekV32IndexerCache: 132 B uint8;
    # MiniMaxM3IndexerCache: 128 bf16), and the sparse kernels take blocks of a multiple of
    # ``sparse_block_tokens``. ``sparse_mla``: the MLA latent itself sits on a sparse backend (fp8_ds_mla).
    sparse_mla: bool = False
    indexer_head_bytes: int = 0
    sparse_block_tokens: int = 0
    # DeepSeek-V4 compressed sparse attention (layouts/deepseek_v4.py): vLLM's ``max(1, ratio)`` for the layer
    # (1: the sliding-window cache only; 4 or 128: a compressed latent, a compressor state and, at 4, an indexer);
    # 0: not such a layer. ``indexer_head_dim``: the indexer key width before fp8 packing (its compressor state).
    compress_ratio: int = 0
    indexer_head_dim: int = 0


@dataclass(frozen=True, kw_only=True)
class MambaLayer:
    """One state-space / linear-attention layer; shapes follow vLLM's MambaStateShapeCalculator."""

    kind: MambaKind
    conv_kernel: int
    intermediate_size: int = 0  # mamba1 / mamba2 (d_inner)
    state_size: int = 0  # d_state
    n_groups: int = 1  # mamba2
    num_heads: int = 0  # mamba2 heads
    head_dim: int = 0  # mamba2 head dim
    num_k_heads: int = 0  # gated delta net
    num_v_heads: int = 0
    head_k_dim: int = 0
    head_v_dim: int = 0
    conv_dim: int = 0  # short_conv: the conv width (LFM2's conv_dim)
    conv_dtype: str | None = None  # None: the model dtype
    ssm_dtype: str | None = None  # None: the conv dtype (a dtype the config names, e.g. Qwen3.5's float32)
    nemotron_h_ssm_default: bool = False  # NemotronH: vLLM's config hook picks the SSM dtype by release
    # Qwen's gated delta net (not OLMo's): FlashInfer's GDN prefill keeps a prefill checkpoint block (0.33+)
    flashinfer_gdn: bool = False


@dataclass(frozen=True, kw_only=True)
class NoKvLayer:
    """A layer that holds no KV cache (an MLP/MoE-only block of Nemotron-H, say)."""

    kind: Literal["none"] = "none"


@dataclass(frozen=True, kw_only=True)
class ParallelLayer:
    """One decoder layer holding attention and a Mamba mixer side by side (Falcon-H1): two KV cache specs.

    vLLM registers them as two layers (the mixer named ``layers.{num_hidden_layers + i}``), each in its own
    KV cache group; both sit on the PP stage of decoder layer i."""

    attention: AttentionLayer
    mamba: MambaLayer
    kind: Literal["parallel"] = "parallel"


LayerSpec = AttentionLayer | MambaLayer | NoKvLayer | ParallelLayer


@dataclass(frozen=True, kw_only=True)
class MlaProjections:
    """An MLA model's projection shapes (DeepSeek-V2/V3, Kimi-K2), unsharded, and how the checkpoint stores
    them: vLLM builds bf16/fp8 copies of some of them at load (``overheads.mla_load_copies_bytes``)."""

    q_lora_rank: int  # 0: a plain q_proj (hidden -> heads x (nope + rope)), as in DeepSeek-V2-Lite
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    # How the checkpoint stores the attention projections: None unquantized, "fp8" (8-bit float weights),
    # or another packed layout's label ("awq 4-bit g128", ...).
    attention_weights: str | None = None
    fp8_block: tuple[int, int] | None = None  # fp8 block quantization [rows, cols]; None per-tensor / channel


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    model_type: str
    architecture: str
    layers: tuple[LayerSpec, ...]
    # config.json's ``architectures``, in order: vLLM serves the first its registry holds (empty: none listed)
    architectures: tuple[str, ...] = ()
    config_dtype: str | None  # as written in the config (torch_dtype / dtype), normalised
    max_position_tokens: int  # vLLM's derived max_model_len for this config
    max_position_key: str  # which config key gave it, for vLLM's error wording
    hidden_size: int
    num_attention_heads: int
    vocab_size: int
    quantization: str | None = None  # quant_method from the checkpoint, if any
    # ModelOpt's quant_algo for the routed experts ("NVFP4", "W4A16_NVFP4", "FP8" ...; the top-level algo, or the
    # experts' entry of a MIXED_PRECISION ``quantized_layers``): vLLM picks the experts' kernel by it
    moe_experts_quant_algo: str | None = None
    checkpoint_kv_cache_dtype: str | None = None  # a KV scheme in the checkpoint's quant config
    mla: MlaProjections | None = None  # set when vLLM runs the attention as MLA (``uses_mla``)
    is_multimodal: bool = False
    vision: VisionTower | None = None  # the vision tower vLLM profiles (kvplan.core.vision)
    # For the memory estimates (activation peak, weight shards, rope cache); 0 / None when the config lacks them.
    intermediate_size: int = 0
    moe_intermediate_size: int = 0
    num_experts_per_tok: int = 0
    tie_word_embeddings: bool = False
    rotary_dim: int = 0
    rope_cache_positions: int = 0
    local_rope_cache_positions: int = 0  # a second cache for sliding layers with their own rope (Gemma 3)
    num_experts: int = 0  # routed experts per MoE layer
    num_moe_layers: int = 0
    notes: tuple[str, ...] = ()
    # A speculative drafter's attention layers, hosted beside the model's (speculative.with_drafter): they
    # hold KV like the model's own and sit on the last PP stage.
    draft_layers: tuple[AttentionLayer, ...] = ()
    # (first vLLM release that loads this config, why older ones do not), from the layout builder
    requires_release: tuple[str, str] | None = None

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @cached_property  # read many times a plan; the model is frozen (the cache is no field: eq/hash ignore it)
    def attention_layers(self) -> tuple[AttentionLayer, ...]:
        return tuple(layer.attention if isinstance(layer, ParallelLayer) else layer
                     for layer in self.layers if isinstance(layer, (AttentionLayer, ParallelLayer)))

    @cached_property
    def mamba_layers(self) -> tuple[MambaLayer, ...]:
        return tuple(layer.mamba if isinstance(layer, ParallelLayer) else layer
                     for layer in self.layers if isinstance(layer, (MambaLayer, ParallelLayer)))

    @property
    def uses_mla(self) -> bool:
        return self.mla is not None

    @property
    def is_hybrid(self) -> bool:
        """Attention and state-space layers together (vLLM's ``model_config.is_hybrid``)."""
        return bool(self.mamba_layers) and bool(self.attention_layers)

    @property
    def uses_sparse_mla(self) -> bool:
        """DeepSeek sparse attention (an indexer beside the MLA latent): block 64 on CUDA, refused on CPU."""
        return any(layer.sparse_mla for layer in self.attention_layers)

    @property
    def uses_compressed_mla(self) -> bool:
        """DeepSeek-V4's compressed sparse attention (per-layer compress ratios, packed block-outermost pages)."""
        return any(layer.compress_ratio for layer in self.attention_layers)

    @property
    def sparse_block_tokens(self) -> int:
        """Block granularity the sparse-attention kernels need (0: no sparse attention)."""
        return max((layer.sparse_block_tokens for layer in self.attention_layers), default=0)

    @property
    def is_attention_free(self) -> bool:
        return not self.attention_layers
