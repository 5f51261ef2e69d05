"""ModelSpec: what the planner needs to know about a model, settled once from its config.

No ``dict[str, Any]`` gets past ``kvplan.core.architectures``; everything downstream reads these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kvplan.core.vision import VisionTower

AttentionKind = Literal["full", "sliding", "chunked", "mla"]
MambaKind = Literal["mamba1", "mamba2", "gdn"]


@dataclass(frozen=True, kw_only=True)
class AttentionLayer:
    """One decoder layer's self-attention, unsharded (total KV heads across TP ranks)."""

    kind: AttentionKind
    num_kv_heads: int
    head_size: int
    head_size_v: int  # MLA: 0 (one latent, no separate V)
    sliding_window: int | None = None
    attention_chunk_size: int | None = None


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
    conv_dtype: str | None = None  # None: the model dtype
    ssm_dtype: str | None = None  # None: the conv dtype (a dtype the config names, e.g. Qwen3.5's float32)
    nemotron_h_ssm_default: bool = False  # NemotronH: vLLM's config hook picks the SSM dtype by release


@dataclass(frozen=True, kw_only=True)
class NoKvLayer:
    """A layer that holds no KV cache (an MLP/MoE-only block of Nemotron-H, say)."""

    kind: Literal["none"] = "none"


LayerSpec = AttentionLayer | MambaLayer | NoKvLayer


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
    config_dtype: str | None  # as written in the config (torch_dtype / dtype), normalised
    max_position_tokens: int  # vLLM's derived max_model_len for this config
    max_position_key: str  # which config key gave it, for vLLM's error wording
    hidden_size: int
    num_attention_heads: int
    vocab_size: int
    quantization: str | None = None  # quant_method from the checkpoint, if any
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

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def attention_layers(self) -> tuple[AttentionLayer, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, AttentionLayer))

    @property
    def mamba_layers(self) -> tuple[MambaLayer, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, MambaLayer))

    @property
    def uses_mla(self) -> bool:
        return self.mla is not None

    @property
    def is_hybrid(self) -> bool:
        """Attention and state-space layers together (vLLM's ``model_config.is_hybrid``)."""
        return bool(self.mamba_layers) and bool(self.attention_layers)

    @property
    def is_attention_free(self) -> bool:
        return not self.attention_layers
