"""Parameter count and checkpoint bytes counted from a Hugging Face ``config.json`` dict.

Pure standard library. Each family builder lists the model's tensors as *linear* matrices (the ones a
quantizer packs) and *plain* tensors (embeddings, norms, biases, SSM vectors: kept in the checkpoint dtype),
so that the same list gives the parameter count and the bytes under bf16, fp8, AWQ/GPTQ or MXFP4.

Counts are exact for the standard architectures (they equal ``sum(p.numel())`` of the transformers model);
quantized byte figures are estimates (scale/zero layouts vary by tool version) and say so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvplan.core.errors import UnsupportedModelError, config_values_checked

SOURCE = "counted from config"

_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "half": 2, "float32": 4, "float": 4, "float64": 8}


@dataclass(frozen=True)
class ParamCount:
    """What :func:`count_params` found. ``bytes`` is the checkpoint size (all ranks together)."""

    param_count: int
    bytes: int
    dtype: str  # "bfloat16", "fp8 block [128, 128]", "awq 4-bit g128" ...
    exact: bool  # False for quantized layouts (scales/zeros estimated) or parts not counted
    source: str = SOURCE
    mtp_param_count: int = 0  # multi-token-prediction layers stored in the checkpoint (vLLM skips them)
    vision_param_count: int = 0  # vision tower + projector, included in param_count
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Lin:
    """``count`` matrices of in_f x out_f; ``kind`` decides whether a quantizer packs them."""

    kind: str  # attn | mlp | expert | shared (experts) | router | ssm | vision | embed | head
    in_f: int
    out_f: int
    count: int = 1
    # The module names these matrices carry in a layer ("k_proj", "v_proj"), for exclusion lists that name
    # single projections; empty where the builder fuses them (then any exclusion in a layer covers it).
    names: tuple[str, ...] = ()


@dataclass
class _Parts:
    lins: list[_Lin] = field(default_factory=list)
    plain: int = 0  # norms, biases, SSM vectors, conv kernels: never quantized
    fp32: int = 0  # tensors stored in float32 whatever the checkpoint dtype (e.g. DeepSeek router bias)
    mtp: int = 0
    vision: int = 0
    notes: list[str] = field(default_factory=list)
    # Decoder layers holding each kind (attn, ssm, mlp, expert, shared), for quantization exclusion lists that
    # name modules layer by layer (``_excluded_fraction``).
    layers_of: dict[str, int] = field(default_factory=dict)

    def holds(self, kind: str, layers: int) -> None:
        self.layers_of[kind] = self.layers_of.get(kind, 0) + layers

    def lin(self, kind: str, in_f: int, out_f: int, count: int = 1, bias: bool = False,
            names: tuple[str, ...] = ()) -> None:
        if count <= 0 or in_f <= 0 or out_f <= 0:
            return
        self.lins.append(_Lin(kind, in_f, out_f, count, names))
        if bias:
            self.plain += out_f * count

    def total(self) -> int:
        return sum(x.in_f * x.out_f * x.count for x in self.lins) + self.plain + self.fp32


# ----------------------------------------------------------------------------------------------- config


class _Cfg:
    """Read a config dict with the alias keys the families use (``n_embd``, ``num_layers``...)."""

    def __init__(self, d: Mapping[str, Any]) -> None:
        self.d = d

    def get(self, *keys: str, default: Any = None) -> Any:
        for k in keys:
            v = self.d.get(k)
            if v is not None:
                return v
        return default

    def num(self, *keys: str, default: int | None = None) -> int:
        v = self.get(*keys, default=default)
        if v is None:
            raise UnsupportedModelError(f"config lacks {keys[0]}; cannot count parameters")
        return int(v)

    @property
    def hidden(self) -> int:
        return self.num("hidden_size", "n_embd", "d_model")

    @property
    def layers(self) -> int:
        return self.num("num_hidden_layers", "num_layers", "n_layer")

    @property
    def heads(self) -> int:
        return self.num("num_attention_heads", "n_head")

    @property
    def kv_heads(self) -> int:
        if self.get("multi_query") is True and self.get("num_kv_heads", "n_head_kv") is None:
            return 1
        if self.get("multi_query_attention") is True:
            return self.num("multi_query_group_num")
        return self.num("num_key_value_heads", "num_kv_heads", "n_head_kv", default=self.heads)

    @property
    def head_dim(self) -> int:
        return self.num("head_dim", "kv_channels", default=self.hidden // self.heads)

    @property
    def vocab(self) -> int:
        return self.num("padded_vocab_size", "vocab_size")

    def tied(self, default: bool) -> bool:
        return bool(self.get("tie_word_embeddings", default=default))


def _embeddings(p: _Parts, c: _Cfg, *, tied_default: bool) -> None:
    """Input embedding (vocab x hidden) plus an lm_head of the same shape unless the weights are tied."""
    p.lin("embed", c.vocab, c.hidden)
    if not c.tied(tied_default):
        p.lin("head", c.hidden, c.vocab)


def _gqa(
    p: _Parts, c: _Cfg, n: int, *, bias: bool = False, o_bias: bool = False, qk_norm: int = 0, q_mult: int = 1
) -> None:
    """q/k/v/o for grouped-query attention: q and o are heads x head_dim wide, k and v kv_heads x head_dim.

    ``qk_norm`` is the width of each of the q/k norms (Qwen3/Gemma3: head_dim, OLMo2: the projection width
    is passed by the caller); ``q_mult`` 2 for Qwen3-Next's gated q_proj (query and gate)."""
    h, d = c.hidden, c.head_dim
    q, kv = c.heads * d, c.kv_heads * d
    p.lin("attn", h, q * q_mult, n, bias, names=("q_proj",))
    p.lin("attn", h, kv, 2 * n, bias, names=("k_proj", "v_proj"))
    p.lin("attn", q, h, n, o_bias, names=("o_proj",))
    p.plain += 2 * qk_norm * n
    p.holds("attn", n)


def _swiglu(p: _Parts, h: int, inter: int, n: int, kind: str = "mlp", bias: bool = False, experts: int = 1) -> None:
    """gate, up (hidden -> inter) and down (inter -> hidden): the Llama-style gated MLP, in ``n`` layers
    (``experts`` of them per layer for routed experts)."""
    p.lin(kind, h, inter, 2 * n * experts, bias, names=("gate_proj", "up_proj") if experts == 1 else ())
    p.lin(kind, inter, h, n * experts, bias, names=("down_proj",) if experts == 1 else ())
    p.holds(kind, n)


# -------------------------------------------------------------------------------------- dense families


def _llama_like(c: _Cfg, mt: str) -> _Parts:
    """Llama, Mistral, Qwen2/3, Phi-3, Gemma 1-3, OLMo 2/3, Granite, EXAONE 4, GLM-4 (hf), Yi...

    Per layer: GQA attention, gated MLP, RMSNorms (2; Gemma2/3, OLMo2/3, GLM-4 and EXAONE4 differ in count).
    Qwen2 has q/k/v biases; Qwen3, Gemma3 and EXAONE4 q/k norms of head_dim; OLMo2/3 q/k norms over the
    whole q and k projections; fused qkv/gate_up (Phi-3, GLM-4) have the same parameter count."""
    p = _Parts()
    h, n = c.hidden, c.layers
    tied_default = mt.startswith("gemma")
    _embeddings(p, c, tied_default=tied_default)
    qkv_bias = bool(c.get("attention_bias", default=mt in ("qwen2", "qwen2_vl_text", "qwen2_5_vl_text")))
    if mt == "glm4":
        qkv_bias = bool(c.get("attention_bias", default=True))
    o_bias = qkv_bias and mt in ("llama", "mistral", "granite", "olmo2", "olmo3", "exaone4", "yi")
    qk_norm = c.head_dim if mt in ("qwen3", "gemma3", "gemma3_text", "exaone4", "qwen3_vl_text") else 0
    _gqa(p, c, n, bias=qkv_bias, o_bias=o_bias, qk_norm=qk_norm)
    if mt in ("olmo2", "olmo3"):
        p.plain += (c.heads + c.kv_heads) * c.head_dim * n
    _swiglu(p, h, c.num("intermediate_size"), n, bias=bool(c.get("mlp_bias", default=False)))
    norms = 4 if mt in ("gemma2", "gemma3", "gemma3_text", "glm4") else 2
    p.plain += norms * h * n + h
    return p


def _qwen1(c: _Cfg) -> _Parts:
    """Qwen (v1, remote code): fused c_attn with bias (3 x hidden), c_proj, w1/w2/c_proj MLP whose
    intermediate_size counts both halves (each is intermediate/2), untied lm_head."""
    p, h, n = _Parts(), c.hidden, c.layers
    p.lin("embed", c.vocab, h)
    p.lin("head", h, c.vocab)
    p.lin("attn", h, 3 * h, n, bias=True)
    p.lin("attn", h, h, n, bias=bool(not c.get("no_bias", default=True)))
    p.holds("attn", n)
    _swiglu(p, h, c.num("intermediate_size", "ffn_hidden_size") // 2, n)
    p.plain += 2 * h * n + h
    return p


def _chatglm(c: _Cfg) -> _Parts:
    """ChatGLM2/3 and GLM-4 (remote code): fused qkv (q + 2 x groups x kv_channels) with bias when
    add_qkv_bias, dense without bias, dense_h_to_4h (2 x ffn: gate+up) and dense_4h_to_h, untied output."""
    p, h, n = _Parts(), c.hidden, c.layers
    d = c.num("kv_channels", default=h // c.heads)
    kv = c.num("multi_query_group_num") if c.get("multi_query_attention") else c.heads
    p.lin("embed", c.vocab, h)
    if not c.tied(False):
        p.lin("head", h, c.vocab)
    p.lin("attn", h, c.heads * d + 2 * kv * d, n, bias=bool(c.get("add_qkv_bias", default=False)))
    p.lin("attn", c.heads * d, h, n, bias=bool(c.get("add_bias_linear", default=False)))
    p.holds("attn", n)
    _swiglu(p, h, c.num("ffn_hidden_size"), n, bias=bool(c.get("add_bias_linear", default=False)))
    p.plain += 2 * h * n + h
    return p


def _falcon(c: _Cfg) -> _Parts:
    """Falcon (RefinedWebModel / falcon): fused query_key_value, ungated 4h MLP, LayerNorms with bias,
    tied embeddings. new_decoder_architecture (40B/180B) has two LayerNorms per layer and kv groups."""
    p, h, n = _Parts(), c.hidden, c.layers
    d = c.head_dim
    new_arch = bool(c.get("new_decoder_architecture", default=False))
    kv = c.num("num_kv_heads", "n_head_kv", default=1) if new_arch else c.kv_heads
    bias = bool(c.get("bias", default=False))
    _embeddings(p, c, tied_default=True)
    p.lin("attn", h, c.heads * d + 2 * kv * d, n, bias)
    p.lin("attn", c.heads * d, h, n, bias)
    p.holds("attn", n)
    inter = c.num("ffn_hidden_size", default=4 * h)
    p.lin("mlp", h, inter, n, bias)
    p.lin("mlp", inter, h, n, bias)
    p.holds("mlp", n)
    parallel_one_ln = not new_arch and bool(c.get("parallel_attn", default=True))
    p.plain += (1 if parallel_one_ln else 2) * 2 * h * n + 2 * h
    return p


# ---------------------------------------------------------------------------------------- MoE families


def _moe_layers(c: _Cfg, n: int) -> list[bool]:
    """Which layers are sparse: ``mlp_only_layers`` and ``decoder_sparse_step`` (Qwen2/3-MoE)."""
    step = c.num("decoder_sparse_step", default=1)
    dense = set(c.get("mlp_only_layers", default=[]) or [])
    return [i not in dense and step > 0 and (i + 1) % step == 0 for i in range(n)]


def _qwen_moe(c: _Cfg, mt: str) -> _Parts:
    """Qwen2-MoE / Qwen3-MoE (and their VL text towers): attention as Qwen2/Qwen3, and on sparse layers a
    router (hidden x experts), experts x gated MLP of moe_intermediate_size, plus for Qwen2-MoE a shared
    expert with its sigmoid gate (hidden x 1)."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    qwen2 = mt == "qwen2_moe"
    _gqa(p, c, n, bias=bool(c.get("qkv_bias", "attention_bias", default=qwen2)), qk_norm=0 if qwen2 else c.head_dim)
    _qwen_moe_mlps(p, c, n)
    p.plain += 2 * h * n + h
    return p


def _qwen_moe_mlps(p: _Parts, c: _Cfg, n: int) -> None:
    h = c.hidden
    e, mi = c.num("num_experts"), c.num("moe_intermediate_size")
    shared = c.num("shared_expert_intermediate_size", default=0)
    sparse_n = sum(_moe_layers(c, n))
    p.lin("router", h, e, sparse_n)
    _swiglu(p, h, mi, sparse_n, kind="expert", experts=e)
    if shared and sparse_n:
        _swiglu(p, h, shared, sparse_n, kind="shared")
        p.lin("router", h, 1, sparse_n)
    if n - sparse_n:
        _swiglu(p, h, c.num("intermediate_size"), n - sparse_n)


def _mixtral(c: _Cfg) -> _Parts:
    """Mixtral / PhiMoE: every layer sparse, router hidden x experts, experts x gated MLP of
    intermediate_size. PhiMoE uses LayerNorm (weight+bias) and q/k/v/o biases."""
    p, h, n = _Parts(), c.hidden, c.layers
    phimoe = c.get("model_type") == "phimoe"
    _embeddings(p, c, tied_default=False)
    _gqa(p, c, n, bias=phimoe, o_bias=phimoe)
    e = c.num("num_local_experts")
    p.lin("router", h, e, n)
    _swiglu(p, h, c.num("intermediate_size"), n, kind="expert", experts=e)
    p.plain += (2 if phimoe else 1) * (2 * h * n + h)
    return p


def _mla(p: _Parts, c: _Cfg, n: int) -> None:
    """Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2): q via a low-rank q_a (hidden -> q_lora, norm)
    and q_b (q_lora -> heads x (nope+rope)) or a plain q_proj when q_lora_rank is null; kv_a_proj_with_mqa
    (hidden -> kv_lora + rope), its norm, kv_b (kv_lora -> heads x (nope+v)); o (heads x v -> hidden)."""
    h, nh = c.hidden, c.heads
    nope, rope, v = c.num("qk_nope_head_dim"), c.num("qk_rope_head_dim"), c.num("v_head_dim")
    q_lora, kv_lora = c.get("q_lora_rank"), c.num("kv_lora_rank")
    bias = bool(c.get("attention_bias", default=False))
    if q_lora:
        p.lin("attn", h, int(q_lora), n, bias, names=("q_a_proj",))
        p.plain += int(q_lora) * n
        p.lin("attn", int(q_lora), nh * (nope + rope), n, names=("q_b_proj",))
    else:
        p.lin("attn", h, nh * (nope + rope), n, names=("q_proj",))
    p.lin("attn", h, kv_lora + rope, n, bias, names=("kv_a_proj_with_mqa",))
    p.plain += kv_lora * n
    p.lin("attn", kv_lora, nh * (nope + v), n, names=("kv_b_proj",))
    p.lin("attn", nh * v, h, n, bias, names=("o_proj",))
    p.holds("attn", n)


def _deepseek_layer(p: _Parts, c: _Cfg, n: int, sparse: bool, v3: bool) -> None:
    h = c.hidden
    _mla(p, c, n)
    p.plain += 2 * h * n
    if not sparse:
        _swiglu(p, h, c.num("intermediate_size"), n)
        return
    e, mi = c.num("n_routed_experts"), c.num("moe_intermediate_size")
    p.lin("router", h, e, n)
    if v3:
        p.fp32 += e * n  # e_score_correction_bias, stored float32
    _swiglu(p, h, mi, n, kind="expert", experts=e)
    _swiglu(p, h, mi * c.num("n_shared_experts", default=0), n, kind="shared")


def _deepseek(c: _Cfg, mt: str) -> _Parts:
    """DeepSeek-V2/V3/V3.2, GLM-5, Kimi-K2: MLA attention (V3.2 and GLM-5 add the DSA indexer); the first
    ``first_k_dense_replace`` layers dense, the rest
    (every ``moe_layer_freq``) routed experts + shared experts (one MLP n_shared x moe_intermediate wide).
    V3 adds a float32 router bias (noaux_tc). ``num_nextn_predict_layers`` MTP layers are in the
    checkpoint: each one decoder layer + enorm/hnorm + eh_proj (2h -> h) + its own embedding, norm and head."""
    p, h, n = _Parts(), c.hidden, c.layers
    v3 = mt in ("deepseek_v3", "deepseek_v32", "glm_moe_dsa", "kimi_k2") or c.get("topk_method") == "noaux_tc"
    _embeddings(p, c, tied_default=False)
    k, freq = c.num("first_k_dense_replace", default=0), c.num("moe_layer_freq", default=1)
    sparse_n = sum(1 for i in range(n) if i >= k and i % freq == 0)
    _deepseek_layer(p, c, n - sparse_n, False, v3)
    _deepseek_layer(p, c, sparse_n, True, v3)
    _dsa_indexers(p, c, sum(1 for i in range(n) if not _skips_topk(c, i)))
    p.plain += h
    mtp_n = c.num("num_nextn_predict_layers", default=0)
    if mtp_n:
        before, holding = p.total(), dict(p.layers_of)  # MTP layers sit past num_hidden_layers
        _deepseek_layer(p, c, mtp_n, True, v3)
        _dsa_indexers(p, c, mtp_n)  # MTP layers always build a full indexer
        p.lin("attn", 2 * h, h, mtp_n, names=("eh_proj",))
        if mt != "glm_moe_dsa":  # GLM-5's MTP layer holds eh_proj, enorm, hnorm, shared_head.norm only:
            p.lin("embed", c.vocab, h, mtp_n)  # it reuses the main embedding and LM head
            p.lin("head", h, c.vocab, mtp_n)
        p.plain += 3 * h * mtp_n  # enorm, hnorm, shared_head.norm
        p.mtp = p.total() - before
        p.layers_of = holding
        if mt == "glm_moe_dsa":
            p.notes.append("GLM-5 MTP layer taken to reuse the main embedding and LM head (no index seen)")
    return p


def _skips_topk(c: _Cfg, layer: int) -> bool:
    """Whether decoder layer ``layer`` of a DSA model reuses another layer's top-k and so has no indexer
    (IndexCache: vLLM 0.34 ``DeepseekV2MLAAttention.__init__`` in model_executor/models/deepseek_v2.py builds
    an Indexer only where ``_skip_topk`` is False; ``index_topk_pattern`` "S" marks a skipping layer, else
    ``max(layer - index_skip_topk_offset + 1, 0) % index_topk_freq != 0``)."""
    if c.get("index_topk") is None:
        return True
    pattern = c.get("index_topk_pattern")
    if isinstance(pattern, (list, str)) and pattern:
        return 0 <= layer < len(pattern) and pattern[layer] == "S"
    freq, offset = c.num("index_topk_freq", default=1), c.num("index_skip_topk_offset", default=2)
    return max(layer - offset + 1, 0) % max(freq, 1) != 0


def _dsa_indexers(p: _Parts, c: _Cfg, n: int) -> None:
    """DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2, GLM-5 ``glm_moe_dsa``), on the ``n``
    layers that build one (vLLM 0.34 ``Indexer`` in deepseek_v2.py): ``wq_b`` (q_lora_rank -> index_n_heads x
    index_head_dim, quantized with the model) and ``wk`` (hidden -> index_head_dim; fp8 in the checkpoints,
    vLLM upcasts it to fuse with weights_proj), ``weights_proj`` (hidden -> index_n_heads, bf16, built without
    a quant config) and ``k_norm`` (a LayerNorm of index_head_dim: weight and bias). Nothing when the config
    has no ``index_topk`` (plain V3: vLLM's ``is_v32`` is False)."""
    if c.get("index_topk") is None or n <= 0:
        return
    heads, dim = c.num("index_n_heads"), c.num("index_head_dim")
    p.lin("attn", c.num("q_lora_rank"), heads * dim, n, names=("wq_b",))
    p.lin("attn", c.hidden, dim, n, names=("wk",))
    p.lin("router", c.hidden, heads, n)
    p.plain += 2 * dim * n


def _gpt_oss(c: _Cfg) -> _Parts:
    """gpt-oss: attention with biases on q/k/v/o and one learned sink per head; every layer MoE with a
    biased router and experts whose fused gate_up (hidden -> 2 x inter) and down projections carry biases."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    _gqa(p, c, n, bias=True, o_bias=True)
    p.plain += c.heads * n  # sinks
    e, inter = c.num("num_local_experts"), c.num("intermediate_size")
    p.lin("router", h, e, n, bias=True)
    p.lin("expert", h, 2 * inter, e * n, bias=True)
    p.lin("expert", inter, h, e * n, bias=True)
    p.holds("expert", n)
    p.plain += 2 * h * n + h
    return p


def _llama4_text(c: _Cfg) -> _Parts:
    """Llama 4 text: GQA (its qk norm is parameter-free L2), MoE every ``interleave_moe_layer_step`` layers
    (router, experts x gated MLP of intermediate_size, one shared expert of the same width); other layers a
    dense gated MLP of ``intermediate_size_mlp``; untied lm_head."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    _gqa(p, c, n, bias=bool(c.get("attention_bias", default=False)))
    step = c.num("interleave_moe_layer_step", default=1)
    moe = c.get("moe_layers") or list(range(step - 1, n, step))
    e, inter = c.num("num_local_experts"), c.num("intermediate_size")
    m = len(moe)
    p.lin("router", h, e, m)
    _swiglu(p, h, inter, m, kind="expert", experts=e)
    _swiglu(p, h, inter, m, kind="shared")
    _swiglu(p, h, c.num("intermediate_size_mlp"), n - m)
    p.plain += 2 * h * n + h
    return p


# ----------------------------------------------------------------------------------- hybrid (SSM) families


def _jamba(c: _Cfg) -> _Parts:
    """Jamba: attention every ``attn_layer_period`` from ``attn_layer_offset``, Mamba-1 elsewhere
    (in_proj h -> 2 x d_inner, depthwise conv with bias, x_proj d_inner -> dt_rank + 2 x d_state, dt_proj
    with bias, A_log d_inner x d_state, D, dt/B/C RMSNorms, out_proj); MoE every ``expert_layer_period``
    from ``expert_layer_offset`` (router + experts x gated MLP), dense gated MLP elsewhere."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    a_per, a_off = c.num("attn_layer_period"), c.num("attn_layer_offset")
    e_per, e_off = c.num("expert_layer_period"), c.num("expert_layer_offset")
    n_attn = sum(1 for i in range(n) if i % a_per == a_off)
    n_moe = sum(1 for i in range(n) if i % e_per == e_off)
    _gqa(p, c, n_attn)
    m = n - n_attn
    di = c.num("mamba_expand") * h
    ds, conv = c.num("mamba_d_state"), c.num("mamba_d_conv")
    dt = c.num("mamba_dt_rank", default=math.ceil(h / 16))
    pb = bool(c.get("mamba_proj_bias", default=False))
    p.lin("ssm", h, 2 * di, m, pb)
    p.plain += (di * conv + (di if c.get("mamba_conv_bias", default=True) else 0)) * m
    p.lin("ssm", di, dt + 2 * ds, m)
    p.lin("ssm", dt, di, m, bias=True)
    p.plain += (di * ds + di + dt + 2 * ds) * m
    p.lin("ssm", di, h, m, pb)
    p.holds("ssm", m)
    e, inter = c.num("num_experts"), c.num("intermediate_size")
    p.lin("router", h, e, n_moe)
    _swiglu(p, h, inter, n_moe, kind="expert", experts=e)
    _swiglu(p, h, inter, n - n_moe)
    p.plain += 2 * h * n + h
    return p


def _mamba2(p: _Parts, c: _Cfg, m: int) -> None:
    """Mamba-2 mixer (Nemotron-H): in_proj h -> d_inner (z) + conv_dim (x, B, C) + heads (dt), depthwise
    conv over conv_dim = d_inner + 2 x groups x state, dt_bias/A_log/D per head, gated RMSNorm, out_proj."""
    h = c.hidden
    nh, hd = c.num("mamba_num_heads"), c.num("mamba_head_dim")
    di = nh * hd
    conv_dim = di + 2 * c.num("n_groups") * c.num("ssm_state_size")
    bias = bool(c.get("use_bias", default=False))
    p.lin("ssm", h, di + conv_dim + nh, m, bias, names=("in_proj",))
    p.plain += (conv_dim * c.num("conv_kernel") + (conv_dim if c.get("use_conv_bias", default=True) else 0)) * m
    p.plain += (3 * nh + di) * m
    p.lin("ssm", di, h, m, bias, names=("out_proj",))
    p.holds("ssm", m)


def _mamba2_mixer(p: _Parts, h: int, m: int, *, heads: int, head_dim: int, groups: int, state: int, kernel: int,
                  bias: bool, conv_bias: bool, inner: int | None = None, gated_norm: bool = True) -> None:
    """``m`` Mamba-2 mixers (vLLM 0.34 layers/mamba/mamba_mixer2.py ``MambaMixer2``) with explicit shapes:
    in_proj hidden -> inner + conv_dim + heads, conv1d over conv_dim = inner + 2 x groups x state, dt_bias,
    A_log and D per head, the gated RMSNorm of inner (``use_rms_norm``), out_proj inner -> hidden."""
    di = heads * head_dim if inner is None else inner
    conv_dim = di + 2 * groups * state
    p.lin("ssm", h, di + conv_dim + heads, m, bias, names=("in_proj",))
    p.plain += (conv_dim * kernel + (conv_dim if conv_bias else 0) + 3 * heads + (di if gated_norm else 0)) * m
    p.lin("ssm", di, h, m, bias, names=("out_proj",))
    p.holds("ssm", m)


def _mamba(c: _Cfg, mt: str) -> _Parts:
    """Mamba-1 / FalconMamba (vLLM 0.34 mamba.py, layers/mamba/mamba_mixer.py ``MambaMixer``): per layer an
    RMSNorm and a mixer: in_proj hidden -> 2 x intermediate (bias ``use_bias``), depthwise conv1d
    (intermediate x conv_kernel, bias ``use_conv_bias``), x_proj intermediate -> time_step_rank + 2 x
    state_size, dt_proj time_step_rank -> intermediate with bias, A_log (intermediate x state) and D,
    out_proj; FalconMamba's extra dt/B/C RMSNorms carry no weight. Embeddings tied unless the config says
    otherwise; final norm_f."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=True)
    di = c.num("intermediate_size", default=2 * h)
    ds, kernel = c.num("state_size"), c.num("conv_kernel", default=4)
    rank = c.get("time_step_rank", default="auto")
    dt = math.ceil(h / 16) if rank == "auto" else int(rank)
    bias = bool(c.get("use_bias", default=False))
    p.lin("ssm", h, 2 * di, n, bias, names=("in_proj",))
    p.plain += (di * kernel + (di if c.get("use_conv_bias", default=True) else 0)) * n
    p.lin("ssm", di, dt + 2 * ds, n, names=("x_proj",))
    p.lin("ssm", dt, di, n, bias=True, names=("dt_proj",))
    p.plain += (di * ds + di) * n
    p.lin("ssm", di, h, n, bias, names=("out_proj",))
    p.holds("ssm", n)
    p.plain += h * n + h
    return p


def _mamba2_model(c: _Cfg) -> _Parts:
    """Mamba-2 (vLLM 0.34 mamba2.py): per layer an RMSNorm and a :func:`_mamba2_mixer` of num_heads x
    head_dim (intermediate_size, or expand x hidden), n_groups, state_size, conv_kernel; final norm_f;
    embeddings tied when ``tie_word_embeddings``."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    inner = c.num("intermediate_size", default=c.num("expand", default=2) * h)
    _mamba2_mixer(p, h, n, heads=c.num("num_heads"), head_dim=c.num("head_dim"), groups=c.num("n_groups", default=1),
                  state=c.num("state_size"), kernel=c.num("conv_kernel", default=4),
                  bias=bool(c.get("use_bias", default=False)), conv_bias=bool(c.get("use_conv_bias", default=True)),
                  inner=inner)
    p.plain += h * n + h
    return p


def _falcon_h1(c: _Cfg) -> _Parts:
    """Falcon-H1 (vLLM 0.34 falcon_h1.py): every layer runs attention (GQA, no bias) and a Mamba-2 mixer
    side by side (d_ssm = mamba_d_ssm or mamba_expand x hidden, mamba_n_heads x mamba_d_head, mamba_n_groups,
    mamba_d_state, mamba_d_conv; gated norm when ``mamba_rms_norm``), then a gated MLP of intermediate_size
    (bias ``mlp_bias``); input_layernorm and pre_ff_layernorm; final_layernorm."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    _gqa(p, c, n)
    d_ssm = c.get("mamba_d_ssm")
    inner = int(d_ssm) if d_ssm is not None else int(c.num("mamba_expand", default=2) * h)
    heads = c.num("mamba_n_heads")
    head_dim = c.get("mamba_d_head")
    head_dim = inner // heads if head_dim in (None, "auto") else int(head_dim)
    _mamba2_mixer(p, h, n, heads=heads, head_dim=head_dim, groups=c.num("mamba_n_groups", default=1),
                  state=c.num("mamba_d_state"), kernel=c.num("mamba_d_conv", default=4),
                  bias=bool(c.get("mamba_proj_bias", default=False)),
                  conv_bias=bool(c.get("mamba_conv_bias", default=True)), inner=inner,
                  gated_norm=bool(c.get("mamba_rms_norm", default=False)))
    _swiglu(p, h, c.num("intermediate_size"), n, bias=bool(c.get("mlp_bias", default=False)))
    p.plain += 2 * h * n + h
    return p


def _granite_hybrid(c: _Cfg) -> _Parts:
    """Granite-4.0-H (``granitemoehybrid``; vLLM 0.34 granitemoehybrid.py): ``layer_types`` "mamba" layers a
    Mamba-2 mixer (mamba_n_heads x mamba_d_head, mamba_n_groups, mamba_d_state, mamba_d_conv, inner
    mamba_expand x hidden), "attention" layers GQA (o_proj hidden -> hidden, bias ``attention_bias``); every
    layer a MoE when num_local_experts > 0 (router, experts input_linear hidden -> 2 x intermediate_size and
    output_linear) and a shared MLP of shared_intermediate_size; two RMSNorms per layer; tied embeddings."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=True)
    types = c.get("layer_types") or ["mamba"] * n
    n_attn = sum(1 for t in types[:n] if str(t) == "attention")
    bias = bool(c.get("attention_bias", default=False))
    _gqa(p, c, n_attn, bias=bias, o_bias=bias)
    _mamba2_mixer(p, h, n - n_attn, heads=c.num("mamba_n_heads"), head_dim=c.num("mamba_d_head"),
                  groups=c.num("mamba_n_groups", default=1), state=c.num("mamba_d_state"),
                  kernel=c.num("mamba_d_conv", default=4), bias=bool(c.get("mamba_proj_bias", default=False)),
                  conv_bias=bool(c.get("mamba_conv_bias", default=True)),
                  inner=c.num("mamba_expand", default=2) * h)
    e = c.num("num_local_experts", default=0)
    if e:
        p.lin("router", h, e, n)
        _swiglu(p, h, c.num("intermediate_size"), n, kind="expert", experts=e)
    shared = c.num("shared_intermediate_size", default=0)
    if shared:
        _swiglu(p, h, shared, n, kind="shared" if e else "mlp")
    p.plain += 2 * h * n + h
    return p


def _lfm2(c: _Cfg) -> _Parts:
    """LFM2 (vLLM 0.34 lfm2.py, layers/mamba/short_conv.py): ``layer_types`` "full_attention" layers GQA with
    q/k layernorms of head_dim, the others a short convolution (in_proj hidden -> 3 x hidden, depthwise conv of
    conv_L_cache, out_proj; bias ``conv_bias``); every layer a gated MLP whose width, with
    ``block_auto_adjust_ff_dim``, is int(2 x ff / 3), times block_ffn_dim_multiplier, rounded up to
    block_multiple_of; operator_norm and ffn_norm per layer, a final embedding_norm; tied embeddings."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=True)
    types = c.get("layer_types") or []
    n_attn = sum(1 for t in types[:n] if str(t) == "full_attention")
    _gqa(p, c, n_attn, qk_norm=c.head_dim)
    conv_n = n - n_attn
    bias = bool(c.get("conv_bias", default=False))
    p.lin("ssm", h, 3 * h, conv_n, bias, names=("in_proj",))
    p.plain += (h * c.num("conv_L_cache") + (h if bias else 0)) * conv_n
    p.lin("ssm", h, h, conv_n, bias, names=("out_proj",))
    p.holds("ssm", conv_n)
    inter = c.num("intermediate_size", "block_ff_dim")
    if c.get("block_auto_adjust_ff_dim", default=False):
        inter = int(2 * inter / 3)
        mult = c.get("block_ffn_dim_multiplier")
        if mult is not None:
            inter = int(float(mult) * inter)
        of = c.num("block_multiple_of", default=1)
        inter = of * ((inter + of - 1) // of)
    _swiglu(p, h, inter, n)
    p.plain += 2 * h * n + h
    return p


def _zamba2(c: _Cfg) -> _Parts:
    """Zamba2 (vLLM 0.34 zamba2.py): every layer of ``layers_block_type`` holds a Mamba-2 mixer (n_mamba_heads,
    inner mamba_expand x hidden, mamba_ngroups, mamba_d_state, mamba_d_conv; bias ``add_bias_linear``) and its
    RMSNorm; "hybrid" layers add a hidden x hidden ``linear`` and run one of ``num_mem_blocks`` shared
    transformer blocks, counted once each: a 2 x hidden input norm, MHA over attention_hidden_size (q/k/v A x A,
    o A -> hidden), pre-FF norm, a gated GELU MLP of intermediate_size. Each hybrid layer owns LoRA adapters in
    its block: gate_up (hidden -> adapter_rank -> 2 x intermediate) and, with ``use_shared_attention_adapter``,
    q/k/v (A -> rank -> A). Tied embeddings by default; final_layernorm."""
    p, h = _Parts(), c.hidden
    types = c.get("layers_block_type")
    if not isinstance(types, list) or not types:
        raise UnsupportedModelError("zamba2 config without layers_block_type")
    n = len(types)
    _embeddings(p, c, tied_default=True)
    heads = c.num("n_mamba_heads")
    inner = c.num("mamba_expand", default=2) * h
    _mamba2_mixer(p, h, n, heads=heads, head_dim=inner // heads, groups=c.num("mamba_ngroups", default=1),
                  state=c.num("mamba_d_state"), kernel=c.num("mamba_d_conv", default=4),
                  bias=bool(c.get("add_bias_linear", default=False)),
                  conv_bias=bool(c.get("use_conv_bias", default=True)), inner=inner)
    p.plain += h * n
    hybrid = sum(1 for t in types if str(t) == "hybrid")
    p.lin("mlp", h, h, hybrid, names=("linear",))
    blocks = c.num("num_mem_blocks", default=1)
    a = c.num("attention_hidden_size", default=2 * h)
    inter, rank = c.num("intermediate_size"), c.num("adapter_rank", default=0)
    p.lin("attn", a, a, 3 * blocks, names=("q_proj", "k_proj", "v_proj"))
    p.lin("attn", a, h, blocks, names=("o_proj",))
    p.holds("attn", blocks)
    _swiglu(p, h, inter, blocks)
    p.plain += (2 * h + h) * blocks
    if rank:
        p.lin("mlp", h, rank, hybrid)
        p.lin("mlp", rank, 2 * inter, hybrid)
        if c.get("use_shared_attention_adapter", default=False):
            p.lin("attn", a, rank, 3 * hybrid)
            p.lin("attn", rank, a, 3 * hybrid)
    p.plain += h
    return p


def _nemotron_h(c: _Cfg) -> _Parts:
    """Nemotron-H / Nemotron-3: one mixer per layer by ``hybrid_override_pattern`` (M Mamba-2, * attention,
    - squared-ReLU MLP up/down, E MoE: router with float32 correction bias, experts up/down of
    moe_intermediate_size, shared expert of moe_shared_expert_intermediate_size), each with one RMSNorm.
    ``layers_block_type`` (newer files) spells the same pattern as words; ``moe_latent_size`` puts the
    experts in a latent space with one hidden->latent and one latent->hidden projection per MoE layer."""
    p, h = _Parts(), c.hidden
    blocks = c.get("layers_block_type")
    if isinstance(blocks, list):
        pat = "".join(_NEMOTRON_BLOCKS.get(str(b), "?") for b in blocks)
    else:
        pat = str(c.get("hybrid_override_pattern", default=""))
    if not pat or set(pat) - set("M*-E"):
        raise UnsupportedModelError("nemotron_h config without a readable hybrid_override_pattern")
    _embeddings(p, c, tied_default=False)
    _gqa(
        p,
        c,
        pat.count("*"),
        bias=bool(c.get("attention_bias", default=False)),
        o_bias=bool(c.get("attention_bias", default=False)),
    )
    _mamba2(p, c, pat.count("M"))
    mb = bool(c.get("mlp_bias", default=False))
    mlp_n = pat.count("-")
    p.lin("mlp", h, c.num("intermediate_size"), mlp_n, mb, names=("up_proj",))
    p.lin("mlp", c.num("intermediate_size"), h, mlp_n, mb, names=("down_proj",))
    p.holds("mlp", mlp_n)
    moe_n = pat.count("E")
    if moe_n:
        e, mi = c.num("n_routed_experts"), c.num("moe_intermediate_size")
        lat = c.num("moe_latent_size", default=h)
        p.lin("router", h, e, moe_n)
        p.fp32 += e * moe_n
        if lat != h:  # latent MoE: experts work in a narrower space, projected in and out once per layer
            p.lin("mlp", h, lat, moe_n, mb)
            p.lin("mlp", lat, h, moe_n, mb)
        p.lin("expert", lat, mi, e * moe_n, mb)
        p.lin("expert", mi, lat, e * moe_n, mb)
        p.holds("expert", moe_n)
        s = c.num("moe_shared_expert_intermediate_size", default=0) * c.num("n_shared_experts", default=1)
        p.lin("shared", h, s, moe_n, mb, names=("up_proj",))
        p.lin("shared", s, h, moe_n, mb, names=("down_proj",))
        p.holds("shared", moe_n)
    p.plain += h * len(pat) + h
    if c.get("num_nextn_predict_layers"):
        p.notes.append("MTP weights shipped in the checkpoint are not counted")
    return p


_NEMOTRON_BLOCKS = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}


def _qwen3_next(c: _Cfg) -> _Parts:
    """Qwen3-Next: every ``full_attention_interval``-th layer gated full attention (q_proj twice wide for the
    output gate, q/k norms), the others Gated DeltaNet (in_proj_qkvz h -> 2 x key_dim + 2 x value_dim,
    in_proj_ba h -> 2 x v_heads, depthwise conv over 2 x key_dim + value_dim without bias, dt_bias and A_log
    per v_head, gated norm of v_head_dim, out_proj); MoE as Qwen2-MoE (shared expert + its gate). MTP
    weights shipped in the checkpoint (``mtp.*``) are not counted (the config does not size them)."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    interval = c.num("full_attention_interval", default=4)
    layer_types = c.get("layer_types")
    if layer_types:
        n_full = sum(1 for t in layer_types if t == "full_attention")
    else:
        n_full = sum(1 for i in range(n) if (i + 1) % interval == 0)
    _gqa(p, c, n_full, qk_norm=c.head_dim, q_mult=2)
    lin_n = n - n_full
    nk, dk = c.num("linear_num_key_heads"), c.num("linear_key_head_dim")
    nv, dv = c.num("linear_num_value_heads"), c.num("linear_value_head_dim")
    key_dim, value_dim = nk * dk, nv * dv
    p.lin("ssm", h, 2 * key_dim + 2 * value_dim, lin_n)
    p.lin("ssm", h, 2 * nv, lin_n)
    p.plain += ((2 * key_dim + value_dim) * c.num("linear_conv_kernel_dim") + 2 * nv + dv) * lin_n
    p.lin("ssm", value_dim, h, lin_n)
    p.holds("ssm", lin_n)
    if c.get("num_experts") is None:  # Qwen3.5 dense
        _swiglu(p, h, c.num("intermediate_size"), n)
    else:
        _qwen_moe_mlps(p, c, n)
    p.plain += 2 * h * n + h
    p.notes.append("MTP weights shipped in the checkpoint are not counted")
    return p


# -------------------------------------------------------------------------------- newer MoE / MTP families


def _mimo(c: _Cfg) -> _Parts:
    """MiMo-7B: a Qwen2 decoder (q/k/v biases) plus ``num_nextn_predict_layers`` MTP layers stored as
    ``model.mtp_layers.N`` (vLLM 0.34 mimo_mtp.py ``MiMoMultiTokenPredictorLayer``): token_layernorm,
    hidden_layernorm, input_proj (2h -> h, no bias), one Qwen2 decoder layer, final_layernorm. The main
    model's loader drops them (mimo.py maps ``model.mtp_layers.`` to None)."""
    p = _llama_like(c, "qwen2")
    mtp_n = c.num("num_nextn_predict_layers", default=0)
    if mtp_n:
        h = c.hidden
        before, holding = p.total(), dict(p.layers_of)
        _gqa(p, c, mtp_n, bias=bool(c.get("attention_bias", default=True)))
        _swiglu(p, h, c.num("intermediate_size"), mtp_n)
        p.lin("attn", 2 * h, h, mtp_n, names=("input_proj",))
        p.plain += 5 * h * mtp_n  # input/post-attention norms of the block + token/hidden/final norms
        p.mtp = p.total() - before
        p.layers_of = holding
    return p


def _minimax_m2(c: _Cfg) -> _Parts:
    """MiniMax-M2 / M2.x (vLLM 0.34 minimax_m2.py): GQA attention with per-layer q/k RMSNorms over the whole
    q (heads x head_dim) and k (kv_heads x head_dim) projections (``qk_norm_type`` per_layer; per_head: one
    head_dim norm each); every layer MoE: router (hidden -> experts), float32 ``e_score_correction_bias``
    when ``use_routing_bias``, experts w1/w3/w2 of ``intermediate_size``; no shared expert. The
    ``num_mtp_modules`` MTP layers the loader skips are not counted (their shapes are not in the config)."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    per_head = str(c.get("qk_norm_type", default="per_layer")) == "per_head"
    qk = 0
    if c.get("use_qk_norm", default=True):
        qk = 2 * c.head_dim if per_head else (c.heads + c.kv_heads) * c.head_dim
    _gqa(p, c, n)
    p.plain += qk * n
    e = c.num("num_local_experts")
    p.lin("router", h, e, n)
    if c.get("use_routing_bias", default=False):
        p.fp32 += e * n
    _swiglu(p, h, c.num("intermediate_size"), n, kind="expert", experts=e)
    p.plain += 2 * h * n + h
    if c.get("num_mtp_modules") or c.get("use_mtp"):
        p.notes.append("MTP weights shipped in the checkpoint are not counted")
    return p


def _v4_compress_ratios(c: _Cfg, n: int) -> list[int]:
    """Per-layer compress ratios of DeepSeek-V4 (0: sliding window only), as vLLM 0.34
    transformers_utils/deepseek_v4_utils.py ``get_compress_ratios`` reads them: the legacy
    ``compress_ratios`` list, else ``compress_rates`` by ``layer_types``."""
    ratios = c.get("compress_ratios")
    if not isinstance(ratios, list):
        rates, types = c.get("compress_rates"), c.get("layer_types")
        if not isinstance(rates, Mapping) or not isinstance(types, list):
            raise UnsupportedModelError("DeepSeek-V4 config without compress_ratios or compress_rates")
        ratios = [int(rates.get(t, 0)) for t in types]
    return [int(r) for r in ratios[:n]] + [0] * max(0, n - len(ratios))


def _v4_block(p: _Parts, c: _Cfg, ratios: list[int], hash_layers: int) -> None:
    """DeepSeek-V4 decoder layers, one per entry of ``ratios`` (vLLM 0.34 models/deepseek_v4: attention.py,
    compressor.py, nvidia/model.py). Attention: wq_a (hidden -> q_lora) and wkv (hidden -> head_dim), their
    q_norm / kv_norm, wq_b (q_lora -> heads x head_dim), grouped wo_a (o_groups blocks of
    heads x head_dim / o_groups -> o_lora), wo_b (o_groups x o_lora -> hidden), a float32 sink per head.
    Compressed layers (ratio > 1) add a compressor: wkv and wgate (hidden -> coff x head_dim, coff 2 when the
    ratio is 4), its norm and a float32 ``ape`` (ratio x coff x head_dim); ratio-4 layers also an indexer:
    wq_b (q_lora -> index heads x index_head_dim), weights_proj (hidden -> index heads, unquantized) and its
    own ratio-4 compressor of index_head_dim. MoE: router, float32 bias (hash layers hold an int32
    vocab x top-k ``tid2eid`` table instead), routed experts and shared experts of moe_intermediate_size.
    Hyper-connections (hc_mult streams): hc_attn/hc_ffn fn ((2 + m) m x m hidden), base and scale, float32."""
    h, nh, hd = c.hidden, c.heads, c.head_dim
    ql, ol, g = c.num("q_lora_rank"), c.num("o_lora_rank"), c.num("o_groups", default=1)
    m = c.num("hc_mult", default=1)
    e, mi = c.num("n_routed_experts"), c.num("moe_intermediate_size")
    n = len(ratios)
    p.lin("attn", h, ql + hd, n, names=("fused_wqa_wkv",))
    p.lin("attn", ql, nh * hd, n, names=("wq_b",))
    p.lin("attn", nh * hd // g, g * ol, n, names=("wo_a",))
    p.lin("attn", g * ol, h, n, names=("wo_b",))
    p.holds("attn", n)
    p.plain += (ql + hd) * n
    p.fp32 += nh * n
    idx_heads, idx_dim = c.num("index_n_heads", default=0), c.num("index_head_dim", default=0)
    for r in ratios:
        if r > 1:
            coff = 2 if r == 4 else 1
            p.lin("attn", h, 2 * coff * hd, 1, names=("compressor",))
            p.plain += hd
            p.fp32 += r * coff * hd
        if r == 4 and idx_heads:
            p.lin("attn", ql, idx_heads * idx_dim, 1, names=("indexer",))
            p.lin("router", h, idx_heads, 1)
            p.lin("attn", h, 2 * 2 * idx_dim, 1, names=("indexer",))
            p.plain += idx_dim
            p.fp32 += 4 * 2 * idx_dim
    p.lin("router", h, e, n)
    hashed = min(hash_layers, n)
    p.fp32 += e * (n - hashed) + c.vocab * c.num("num_experts_per_tok") * hashed
    _swiglu(p, h, mi, n, kind="expert", experts=e)
    _swiglu(p, h, mi * c.num("n_shared_experts", default=1), n, kind="shared")
    mix = (2 + m) * m
    p.fp32 += (2 * mix * m * h + 2 * mix + 2 * 3) * n
    p.plain += 2 * h * n


def _deepseek_v4(c: _Cfg) -> _Parts:
    """DeepSeek-V4 (``deepseek_v4``; sgl-project's ``deepseek_ref`` spells the same config): embedding,
    :func:`_v4_block` layers, final norm, LM head and the hyper-connection head (hc_head fn m x m hidden,
    base m, scale 1: float32). The ``num_nextn_predict_layers`` MTP layers (vLLM nvidia/mtp.py) are one
    uncompressed block each plus e_proj and h_proj (hidden -> hidden), enorm, hnorm, shared_head.norm and
    their own hc head; they share the main embedding and head (not counted twice: an assumption, the
    checkpoint index was not seen)."""
    p, h, n = _Parts(), c.hidden, c.layers
    m = c.num("hc_mult", default=1)
    _embeddings(p, c, tied_default=False)
    _v4_block(p, c, _v4_compress_ratios(c, n), c.num("num_hash_layers", default=0))
    p.plain += h
    p.fp32 += m * m * h + m + 1
    mtp_n = c.num("num_nextn_predict_layers", default=0)
    if mtp_n:
        before, holding = p.total(), dict(p.layers_of)
        _v4_block(p, c, [0] * mtp_n, 0)
        p.lin("attn", h, h, 2 * mtp_n, names=("e_proj", "h_proj"))
        p.plain += 3 * h * mtp_n
        p.fp32 += (m * m * h + m + 1) * mtp_n
        p.mtp = p.total() - before
        p.layers_of = holding
    p.notes.append("DeepSeek-V4 layout counted from vLLM's modules; MTP layers assumed to share the embedding")
    return p


def _gemma4_text(c: _Cfg) -> _Parts:
    """Gemma 4 text tower (vLLM 0.34 gemma4.py ``Gemma4DecoderLayer``): sliding layers use head_dim and
    num_key_value_heads, full-attention layers global_head_dim and num_global_key_value_heads, with K only
    (no v_proj) when ``attention_k_eq_v``; q_norm and k_norm of the head width (v_norm has no weight); a
    gated GELU MLP of intermediate_size on every layer (twice as wide on KV-shared layers with
    ``use_double_wide_mlp``), KV-shared layers (the last ``num_kv_shared_layers``) hold q/o only; four
    RMSNorms per layer. With ``num_experts`` each layer adds a MoE block: router (scale of hidden,
    per-expert scale, hidden -> experts projection), experts gate_up/down of moe_intermediate_size and three
    more norms. Tied embeddings; per-layer-input embeddings when ``hidden_size_per_layer_input``."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=True)
    types = c.get("layer_types") or ["sliding_attention"] * n
    k_eq_v = bool(c.get("attention_k_eq_v", default=False))
    shared_from = n - c.num("num_kv_shared_layers", default=0)
    inter = c.num("intermediate_size")
    for i in range(n):
        full = str(types[i]) == "full_attention"
        d = c.num("global_head_dim", default=c.head_dim) if full else c.head_dim
        kv = c.num("num_global_key_value_heads", default=c.kv_heads) if full else c.kv_heads
        shared = i >= shared_from > 0
        p.lin("attn", h, c.heads * d, 1, names=("q_proj",))
        if not shared:
            p.lin("attn", h, kv * d, 1 if (k_eq_v and full) else 2, names=("k_proj", "v_proj"))
            p.plain += d
        p.lin("attn", c.heads * d, h, 1, names=("o_proj",))
        p.plain += d
        wide = 2 if (shared and c.get("use_double_wide_mlp")) else 1
        p.lin("mlp", h, inter * wide, 2, names=("gate_proj", "up_proj"))
        p.lin("mlp", inter * wide, h, 1, names=("down_proj",))
    p.holds("attn", n)
    p.holds("mlp", n)
    p.plain += 4 * h * n + h
    e = c.get("num_experts")
    if e:
        e = int(e)
        mi = c.num("moe_intermediate_size", "expert_intermediate_size")
        p.lin("router", h, e, n)
        p.plain += (h + e + 3 * h) * n
        _swiglu(p, h, mi, n, kind="expert", experts=e)
    per_layer = c.num("hidden_size_per_layer_input", default=0)
    if per_layer:
        p.lin("embed", c.num("vocab_size_per_layer_input", default=c.vocab), n * per_layer)
        p.lin("mlp", h, n * per_layer, 1)
        p.plain += per_layer
        p.lin("mlp", h, per_layer, 2 * n)
        p.plain += h * n
    return p


def _attn_layer(p: _Parts, h: int, heads: int, kv: int, d: int, *, v_dim: int | None = None, qk_norm: bool = False,
                gate_out: int = 0, sinks: bool = False) -> None:
    """One attention layer of a model whose layers differ: q (heads x d), k (kv x d), v (kv x v_dim), o
    (heads x v_dim -> hidden), optional q/k norms of d, an output-gate projection (hidden -> gate_out) and
    one sink per head."""
    v = d if v_dim is None else v_dim
    p.lin("attn", h, heads * d, 1, names=("q_proj",))
    p.lin("attn", h, kv * d, 1, names=("k_proj",))
    p.lin("attn", h, kv * v, 1, names=("v_proj",))
    p.lin("attn", heads * v, h, 1, names=("o_proj",))
    if gate_out:
        p.lin("attn", h, gate_out, 1, names=("g_proj",))
    p.plain += (2 * d if qk_norm else 0) + (heads if sinks else 0)


def _sparse_mlp(p: _Parts, c: _Cfg, n: int, experts: int, inter: int, shared: int) -> None:
    """``n`` MoE layers: router (hidden -> experts) with a float32 score-correction bias, experts x gated
    MLP of ``inter``, a shared gated MLP of ``shared`` (none when 0)."""
    h = c.hidden
    p.lin("router", h, experts, n)
    p.fp32 += experts * n
    _swiglu(p, h, inter, n, kind="expert", experts=experts)
    if shared:
        _swiglu(p, h, shared, n, kind="shared")


def _step3p5(c: _Cfg) -> _Parts:
    """Step-3.5 / Step-3.7 Flash text (vLLM 0.34 step3p5.py): GQA with num_attention_groups (or
    num_key_value_heads) KV heads, Gemma-style q/k norms of head_dim, a head-wise output gate (hidden ->
    heads) when ``use_head_wise_attn_gate``; the first ``first_k_dense_replace`` layers (or
    ``mlp_layer_types`` "dense" / outside ``moe_layers_enum``) a dense gated MLP, the others a MoE with a
    float32 ``router_bias``, experts of moe_intermediate_size and a ``share_expert`` of share_expert_dim.
    The ``num_nextn_predict_layers`` MTP layers shipped in the checkpoint are not counted."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    kv = c.num("num_attention_groups", "num_key_value_heads")
    gate = c.heads if c.get("use_head_wise_attn_gate") else 0
    for _ in range(n):
        _attn_layer(p, h, c.heads, kv, c.head_dim, qk_norm=True, gate_out=gate)
    p.holds("attn", n)
    types, enum = c.get("mlp_layer_types"), c.get("moe_layers_enum")
    if isinstance(types, list):
        sparse = [str(t) == "sparse" for t in types[:n]]
    elif isinstance(enum, str):
        ids = {int(i) for i in enum.strip().split(",") if i.strip()}
        sparse = [i in ids for i in range(n)]
    else:
        sparse = [i >= c.num("first_k_dense_replace", default=0) for i in range(n)]
    sn = sum(sparse)
    _sparse_mlp(p, c, sn, c.num("num_experts", "moe_num_experts"), c.num("moe_intermediate_size"),
                c.num("share_expert_dim", default=0) * c.num("n_shared_experts", default=1))
    _swiglu(p, h, c.num("intermediate_size"), n - sn)
    p.plain += 2 * h * n + h
    if c.get("num_nextn_predict_layers"):
        p.notes.append("MTP weights shipped in the checkpoint are not counted")
    return p


def _laguna(c: _Cfg) -> _Parts:
    """Laguna (vLLM 0.34 laguna.py): per-layer query head counts (``num_attention_heads_per_layer``), GQA
    with q/k norms of head_dim, a softplus output gate (``gating``: per head, hidden -> heads; per element,
    hidden -> heads x head_dim); ``mlp_layer_types`` dense layers a gated MLP of intermediate_size, sparse
    ones a sigmoid-routed MoE (float32 score-correction bias, experts of moe_intermediate_size, a shared
    expert of shared_expert_intermediate_size)."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    per_layer = c.get("num_attention_heads_per_layer") or [c.heads] * n
    gating = c.get("gating", default=False)
    for i in range(n):
        heads = int(per_layer[i])
        gate = 0 if not gating else heads if gating is True or gating == "per-head" else heads * c.head_dim
        _attn_layer(p, h, heads, c.kv_heads, c.head_dim, qk_norm=True, gate_out=gate)
    p.holds("attn", n)
    types = c.get("mlp_layer_types") or ["sparse"] * n
    sn = sum(1 for t in types[:n] if str(t) == "sparse")
    _sparse_mlp(p, c, sn, c.num("num_experts"), c.num("moe_intermediate_size"),
                c.num("shared_expert_intermediate_size", default=0))
    _swiglu(p, h, c.num("intermediate_size"), n - sn)
    p.plain += 2 * h * n + h
    return p


def _mimo_v2(c: _Cfg) -> _Parts:
    """MiMo-V2-Flash (vLLM 0.34 mimo_v2.py): ``hybrid_layer_pattern`` 1 marks sliding-window layers
    (swa_num_attention_heads, swa_num_key_value_heads, swa_head_dim, swa_v_head_dim and, with
    ``add_swa_attention_sink_bias``, one sink per head), 0 full-attention layers (head_dim, v_head_dim,
    ``add_full_attention_sink_bias``); ``moe_layer_freq`` 1 marks MoE layers (router with float32
    correction bias, experts of moe_intermediate_size, no shared expert), the rest a dense gated MLP. MTP
    weights shipped in the checkpoint are not counted."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    pattern = c.get("hybrid_layer_pattern") or [0] * n
    for i in range(n):
        if int(pattern[i]) == 1:
            _attn_layer(p, h, c.num("swa_num_attention_heads"), c.num("swa_num_key_value_heads"),
                        c.num("swa_head_dim"), v_dim=c.num("swa_v_head_dim", "swa_head_dim"),
                        sinks=bool(c.get("add_swa_attention_sink_bias")))
        else:
            _attn_layer(p, h, c.heads, c.kv_heads, c.head_dim, v_dim=c.num("v_head_dim", "head_dim"),
                        sinks=bool(c.get("add_full_attention_sink_bias")))
    p.holds("attn", n)
    freq = c.get("moe_layer_freq")
    sparse = [bool(x) for x in freq[:n]] if isinstance(freq, list) else [True] * n
    sn = sum(sparse)
    _sparse_mlp(p, c, sn, c.num("n_routed_experts"), c.num("moe_intermediate_size"), 0)
    _swiglu(p, h, c.num("intermediate_size"), n - sn)
    p.plain += 2 * h * n + h
    p.notes.append("MTP weights shipped in the checkpoint are not counted")
    return p


def _nemotron_nas(c: _Cfg) -> _Parts:
    """Nemotron-NAS / DeciLM (Llama-3.x-Nemotron Super/Ultra; vLLM 0.34 nemotron_nas.py
    ``DeciLMDecoderLayer``): one ``block_configs`` entry per layer. Attention, unless ``no_op``: q/o of
    heads x head_dim, k/v of heads / n_heads_in_group KV heads, and its input RMSNorm; ``replace_with_linear``
    (transformers' DeciLM): one hidden x hidden matrix instead. FFN, unless ``no_op``: a gated MLP of
    ``_ffn_mult_to_intermediate_size`` (int(2 x ffn_mult x hidden / 3) rounded up to 256, or the block's
    intermediate_size) and its RMSNorm; ``replace_with_linear``: hidden x hidden."""
    p, h = _Parts(), c.hidden
    blocks = c.get("block_configs")
    if not isinstance(blocks, list) or not blocks:
        raise UnsupportedModelError("nemotron-nas config without block_configs")
    _embeddings(p, c, tied_default=False)
    d = c.head_dim
    bias = bool(c.get("attention_bias", default=False))
    for block in blocks:
        attn, ffn = block.get("attention") or {}, block.get("ffn") or {}
        if attn.get("replace_with_linear"):
            p.lin("attn", h, h, 1)
            p.plain += h
        elif not attn.get("no_op"):
            kv = c.heads // int(attn["n_heads_in_group"])
            p.lin("attn", h, c.heads * d, 1, bias, names=("q_proj",))
            p.lin("attn", h, kv * d, 2, bias, names=("k_proj", "v_proj"))
            p.lin("attn", c.heads * d, h, 1, bias, names=("o_proj",))
            p.holds("attn", 1)
            p.plain += h
        if ffn.get("replace_with_linear"):
            p.lin("mlp", h, h, 1)
            p.plain += h
        elif not ffn.get("no_op"):
            if ffn.get("ffn_mult") is not None:
                inter = int(2 * float(ffn["ffn_mult"]) * h / 3)
                inter += (-inter) % 256
            else:
                inter = int(ffn["intermediate_size"])
            _swiglu(p, h, inter, 1, bias=bool(c.get("mlp_bias", default=False)))
            p.plain += h
    p.plain += h
    return p


def _muse_glimmer_text(c: _Cfg) -> _Parts:
    """Muse-Glimmer text tower (vLLM 0.34 muse_glimmer.py ``MuseGlimmerDecoderLayer``): GQA q/k/v/o without
    bias, weightless q/k norm, an output gate (hidden -> heads x head_dim), a gated MLP of intermediate_size,
    four Gemma RMSNorms per layer; weightless embedding norm, final norm, untied LM head."""
    p, h, n = _Parts(), c.hidden, c.layers
    _embeddings(p, c, tied_default=False)
    _gqa(p, c, n)
    p.lin("attn", h, c.heads * c.head_dim, n, names=("output_gate_proj",))
    _swiglu(p, h, c.num("intermediate_size"), n)
    p.plain += 4 * h * n + h
    return p


def _muse_glimmer_vision(config: Mapping[str, Any], text_hidden: int) -> int:
    """Muse-Glimmer vision encoder + adapter + projection (vLLM 0.34 muse_glimmer.py): conv1_linear
    (patch_temporal x 3 x patch^2 -> d, no bias), learned positions (pos_emb_height x width x d), ln_pre and
    ln_post LayerNorms; per block two LayerNorms, qkv and o with biases, c_fc/c_proj with biases; the adapter
    c_fc (out_hidden -> projector_hidden) and c_proj (projector_hidden^2) and vision_projection
    (projector_hidden -> text hidden), all without bias."""
    vc = _Cfg(config["vision_config"])
    d, inter, n = vc.hidden, vc.num("intermediate_size"), vc.layers
    patch_dim = vc.num("patch_temporal", default=1) * 3 * vc.num("patch_size") ** 2
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * inter + inter) + (inter * d + d)
    out, proj = int(config["out_hidden_size"]), int(config["projector_hidden_size"])
    return (patch_dim * d + vc.num("pos_emb_height") * vc.num("pos_emb_width") * d + 4 * d + n * block
            + out * proj + proj * proj + proj * text_hidden)


def _kimi_linear(c: _Cfg) -> _Parts:
    """Kimi-Linear and Kimi-K3's text tower (``kimi_linear``; vLLM 0.34 models/kimi_k3/nvidia:
    model.py, kda.py, mla.py). KDA layers (``linear_attn_config.kda_layers``, 1-based): in_proj_qkvgfab hidden
    -> 4 x P + head_dim + heads (P = heads x head_dim), f_b_proj head_dim -> P, float32 dt_bias (P) and A_log
    (heads), a depthwise conv over q/k/v (3 P x short_conv_kernel_size), o_norm of head_dim, o_proj. Other
    layers MLA (:func:`_mla`) plus, with ``mla_use_output_gate``, g_proj hidden -> heads x v_head_dim. The
    first ``first_k_dense_replace`` layers a gated MLP of intermediate_size; MoE layers a router with a float32
    bias, with ``routed_expert_hidden_size`` a latent down projection (+ RMSNorm when latent_moe_use_norm) and
    up projection around experts of moe_intermediate_size, and num_shared_experts x moe_intermediate_size
    shared experts. ``attn_res_block_size``: two RMSNorms and two hidden -> 1 projections per layer, one more
    of each on the output. Kimi-Linear's low-rank gate (vLLM layers/mamba/gdn/kimi_gdn_linear_attn.py):
    in_proj hidden -> 3 P + heads + head_dim, g_a_proj hidden -> head_dim, g_b_proj head_dim -> P. DSA layers
    (``dsa_config``) are refused."""
    p, h, n = _Parts(), c.hidden, c.layers
    lin_cfg = c.get("linear_attn_config") or {}
    if not isinstance(lin_cfg, Mapping) or not lin_cfg.get("num_heads"):
        raise UnsupportedModelError("kimi_linear config without linear_attn_config: no parameter formula")
    if c.get("dsa_config"):
        raise UnsupportedModelError("kimi_linear with DSA layers: no parameter formula")
    _embeddings(p, c, tied_default=False)
    kda = {int(i) for i in lin_cfg.get("kda_layers") or []}
    kda_n = sum(1 for i in range(n) if i + 1 in kda)
    heads, hd = int(lin_cfg["num_heads"]), int(lin_cfg["head_dim"])
    proj = heads * hd
    if lin_cfg.get("use_full_rank_gate"):
        p.lin("attn", h, 4 * proj + hd + heads, kda_n, names=("in_proj_qkvgfab",))
    else:  # Kimi-Linear: q/k/v + b + f_a, and a low-rank output gate g_a (hidden -> head_dim), g_b (-> P)
        p.lin("attn", h, 3 * proj + heads + hd, kda_n, names=("in_proj_qkvgfab",))
        p.lin("attn", h, hd, kda_n, names=("g_a_proj",))
        p.lin("attn", hd, proj, kda_n, names=("g_b_proj",))
    p.lin("attn", hd, proj, kda_n, names=("f_b_proj",))
    p.lin("attn", proj, h, kda_n, names=("o_proj",))
    p.fp32 += (proj + heads) * kda_n
    p.plain += (3 * proj * int(lin_cfg.get("short_conv_kernel_size", 4)) + hd) * kda_n
    p.holds("attn", kda_n)
    mla_n = n - kda_n
    _mla(p, c, mla_n)
    if c.get("mla_use_output_gate"):
        p.lin("attn", h, c.heads * c.num("v_head_dim"), mla_n, names=("g_proj",))
    k, freq = c.num("first_k_dense_replace", default=0), c.num("moe_layer_freq", default=1)
    moe_n = sum(1 for i in range(n) if i >= k and i % freq == 0)
    _swiglu(p, h, c.num("intermediate_size"), n - moe_n)
    e, mi = c.num("num_experts"), c.num("moe_intermediate_size")
    p.lin("router", h, e, moe_n)
    p.fp32 += e * moe_n
    latent = c.get("routed_expert_hidden_size")
    width = int(latent) if latent is not None else h
    if latent is not None:
        p.lin("expert", h, width, moe_n)
        p.lin("expert", width, h, moe_n)
        if c.get("latent_moe_use_norm", default=False):
            p.plain += width * moe_n
    _swiglu(p, width, mi, moe_n, kind="expert", experts=e)
    _swiglu(p, h, mi * c.num("num_shared_experts", default=0), moe_n, kind="shared")
    p.plain += 2 * h * n + h
    if c.get("attn_res_block_size") is not None:
        p.plain += 2 * h * n + h
        p.lin("router", h, 1, 2 * n + 1)
    if c.get("num_nextn_predict_layers"):
        p.notes.append("MTP weights shipped in the checkpoint are not counted")
    return p


# ------------------------------------------------------------------------------------------ vision towers


def _siglip(vc: _Cfg, text_hidden: int) -> int:
    """SigLIP encoder (Gemma 3): conv patch embedding with bias, learned positions per patch, per layer
    two LayerNorms (weight+bias), q/k/v/o and fc1/fc2 all with biases, post LayerNorm; the Gemma 3
    projector is one vision_hidden x text_hidden matrix plus an RMSNorm of vision_hidden."""
    d, inter, n = vc.hidden, vc.num("intermediate_size"), vc.layers
    patch, size = vc.num("patch_size"), vc.num("image_size")
    ch = vc.num("num_channels", default=3)
    layer = 4 * (d * d + d) + (d * inter + inter) + (inter * d + d) + 4 * d
    return ch * patch * patch * d + d + (size // patch) ** 2 * d + n * layer + 2 * d + d * text_hidden + d


def _qwen3_vision(vc: _Cfg) -> int:
    """Qwen3-VL / Qwen3.5 vision tower (vLLM's Qwen3_VisionTransformer): Conv3d patch embedding with bias,
    learned positions, per block two LayerNorms, fused qkv and proj with biases, a GELU MLP with biases; the
    patch merger (LayerNorm over the vision width, then 4d -> 4d -> out) and one more merger per deepstack
    layer (its LayerNorm over 4d). Equal to transformers' Qwen3VL*/Qwen3_5*VisionModel parameter counts."""
    d, inter, n = vc.hidden, vc.num("intermediate_size"), vc.num("depth")
    patch, temporal = vc.num("patch_size"), vc.num("temporal_patch_size", default=2)
    ch, out = vc.num("in_channels", default=3), vc.num("out_hidden_size")
    merged = d * vc.num("spatial_merge_size", default=2) ** 2
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * inter + inter) + (inter * d + d)
    merger_linears = (merged * merged + merged) + (merged * out + out)
    deepstack = vc.get("deepstack_visual_indexes", default=[])
    return (ch * temporal * patch * patch * d + d + vc.num("num_position_embeddings") * d + n * block
            + 2 * d + merger_linears + len(deepstack) * (2 * merged + merger_linears))


def _gemma4_vision(vc: _Cfg, text_hidden: int) -> int:
    """Gemma 4 vision tower (transformers' Gemma4VisionModel, which vLLM's gemma4_mm.py builds with AutoModel)
    and its embedder: a bias-free patch projection of 3 x P x P, a (2, position_embedding_size, D) position
    table; per layer q/k/v/o of heads x head_dim (no biases), q/k norms of head_dim, four RMSNorms of D and a
    gated MLP (gate, up, down; no biases); std_bias / std_scale (D each) when standardize; the embedder's
    D x text_hidden projection (its pre-norm has no weight). Gemma-4-26B-A4B's vision_config: 569,548,080
    parameters as transformers 5.19 builds them, 572,794,416 with the buffers and the projection."""
    d, inter, n = vc.hidden, vc.num("intermediate_size"), vc.layers
    heads, head_dim = vc.heads, vc.num("head_dim")
    kv = vc.num("num_key_value_heads", default=heads)
    patch, table = vc.num("patch_size"), vc.num("position_embedding_size")
    attn = d * heads * head_dim * 2 + d * kv * head_dim * 2 + 2 * head_dim
    layer = attn + 3 * d * inter + 4 * d
    std = 2 * d if vc.get("standardize", default=False) else 0
    return 3 * patch * patch * d + 2 * table * d + n * layer + std + d * text_hidden


def _internvl_vision(vc: _Cfg, layers: int, merge: int, text_hidden: int) -> int:
    """InternVLChatModel's InternViT and mlp1 (vLLM 0.33 / 0.34 intern_vit.py, internvl.py): class embedding,
    Conv2d patch embedding with bias, (image_size / patch)^2 + 1 positions; per built layer two norms
    (LayerNorm w + b, or RMSNorm), qkv (with bias when qkv_bias), q/k RMSNorms when qk_normalization, proj and
    fc1 / fc2 with biases, ls1 / ls2; mlp1 = LayerNorm(merge x D), Linear(merge x D, text), Linear(text,
    text), with biases. InternVL3-1B (D 1024, I 4096, 24 layers, text 896): 304,012,288 + 4,482,944."""
    d, inter = vc.hidden, vc.num("intermediate_size")
    patch, size = vc.num("patch_size"), vc.num("image_size")
    norm = 2 * d if vc.get("norm_type", default="rms_norm") == "layer_norm" else d
    qkv = 3 * d * d + (3 * d if vc.get("qkv_bias", default=True) else 0)
    qk_norm = 2 * d if vc.get("qk_normalization", default=False) else 0
    layer = 2 * norm + qkv + qk_norm + d * d + d + d * inter + inter + inter * d + d + 2 * d
    embed = d + 3 * patch * patch * d + d + ((size // patch) ** 2 + 1) * d
    wide = merge * d
    return embed + layers * layer + 2 * wide + wide * text_hidden + text_hidden + text_hidden**2 + text_hidden


def _moonvit(vc: _Cfg, merge: int, text_hidden: int) -> int:
    """Kimi-VL's MoonViT and projector (vLLM 0.33 / 0.34 moonvit.py, kimi_vl.py): Conv2d patch embedding with
    bias, a learnable init_pos_emb_height x init_pos_emb_width x D position table; per layer two LayerNorms,
    wqkv and wo with biases (attn_bias True), fc0 / fc1 with biases; the final LayerNorm; the projector's
    LayerNorm(D), Linear(m^2 D, m^2 D) and Linear(m^2 D, text) with biases. MoonViTConfig's defaults (D 1152,
    I 4304, 27 layers, 64 x 64 positions): 416,866,032 for the ViT."""
    d, inter, n = vc.hidden, vc.num("intermediate_size"), vc.layers
    patch = vc.num("patch_size")
    table = vc.num("init_pos_emb_height", default=64) * vc.num("init_pos_emb_width", default=64)
    layer = 4 * d + 3 * d * d + 3 * d + d * d + d + d * inter + inter + inter * d + d
    wide = merge * merge * d
    projector = 2 * d + wide * wide + wide + wide * text_hidden + text_hidden
    return 3 * patch * patch * d + d + table * d + n * layer + 2 * d + projector


def _phi4mm_vision(vc: _Cfg, layers: int, text_hidden: int) -> int:
    """Phi4MMImageEncoder (vLLM 0.33 / 0.34 phi4mm.py, idefics2_vision_model.py): the SigLIP's Conv2d patch
    embedding with bias and (image_size / patch)^2 positions, ``layers`` encoder layers (two LayerNorms, q/k/v/o
    and fc1 / fc2 with biases; no post-LayerNorm: require_post_norm False), glb_GN and sub_GN (D each) and
    img_projection Linear(D, text) + GELU + Linear(text, text) with biases. Phi-4-multimodal (26 layers, text
    3072): 398,085,280 + 2,304 + 12,982,272 (transformers 5.19 SiglipVisionModel of 26 layers: 398,087,584 with
    its post-LayerNorm)."""
    d, inter = vc.hidden, vc.num("intermediate_size")
    patch, size = vc.num("patch_size"), vc.num("image_size")
    layer = 4 * (d * d + d) + (d * inter + inter) + (inter * d + d) + 4 * d
    embed = 3 * patch * patch * d + d + (size // patch) ** 2 * d
    return embed + layers * layer + 2 * d + d * text_hidden + text_hidden + text_hidden**2 + text_hidden


_QWEN3_VISION_TYPES = frozenset({"qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe"})

# ------------------------------------------------------------------------------------------- dispatcher

_LLAMA_LIKE = {
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "phi3",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "olmo2",
    "olmo3",
    "granite",
    "exaone4",
    "glm4",
    "yi",
    "internlm2",
    "mistral3",
    "ministral",
}
_FAMILIES: dict[str, Callable[[_Cfg, str], _Parts]] = {
    **dict.fromkeys(_LLAMA_LIKE, _llama_like),
    "qwen": lambda c, mt: _qwen1(c),
    "chatglm": lambda c, mt: _chatglm(c),
    "falcon": lambda c, mt: _falcon(c),
    "RefinedWebModel": lambda c, mt: _falcon(c),
    "RefinedWeb": lambda c, mt: _falcon(c),
    "qwen2_moe": _qwen_moe,
    "qwen3_moe": _qwen_moe,
    "mixtral": lambda c, mt: _mixtral(c),
    "phimoe": lambda c, mt: _mixtral(c),
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "deepseek_v32": _deepseek,
    "glm_moe_dsa": _deepseek,
    "kimi_k2": _deepseek,
    "gpt_oss": lambda c, mt: _gpt_oss(c),
    "kimi_linear": lambda c, mt: _kimi_linear(c),
    "mamba": _mamba,
    "falcon_mamba": _mamba,
    "mamba2": lambda c, mt: _mamba2_model(c),
    "falcon_h1": lambda c, mt: _falcon_h1(c),
    "granitemoehybrid": lambda c, mt: _granite_hybrid(c),
    "lfm2": lambda c, mt: _lfm2(c),
    "zamba2": lambda c, mt: _zamba2(c),
    "muse_glimmer_text": lambda c, mt: _muse_glimmer_text(c),
    "qwen3_omni_moe_text": _qwen_moe,
    "nemotron-nas": lambda c, mt: _nemotron_nas(c),
    "step3p5": lambda c, mt: _step3p5(c),
    "step3p7": lambda c, mt: _step3p5(c),
    "laguna": lambda c, mt: _laguna(c),
    "mimo_v2_flash": lambda c, mt: _mimo_v2(c),
    "gemma4_text": lambda c, mt: _gemma4_text(c),
    "deepseek_v4": lambda c, mt: _deepseek_v4(c),
    "deepseek_ref": lambda c, mt: _deepseek_v4(c),
    "mimo": lambda c, mt: _mimo(c),
    "minimax_m2": lambda c, mt: _minimax_m2(c),
    "llama4_text": lambda c, mt: _llama4_text(c),
    "jamba": lambda c, mt: _jamba(c),
    "nemotron_h": lambda c, mt: _nemotron_h(c),
    "qwen3_next": lambda c, mt: _qwen3_next(c),
    "qwen3_5_text": lambda c, mt: _qwen3_next(c),
    "qwen3_5_moe_text": lambda c, mt: _qwen3_next(c),
    "qwen3_vl_text": lambda c, mt: _llama_like(c, "qwen3"),
    "qwen3_vl_moe_text": _qwen_moe,
    "qwen2_vl_text": _llama_like,
    "qwen2_5_vl_text": _llama_like,
}
_TEXT_OF = {
    "gemma3": "gemma3_text",
    "kimi_k3": "kimi_linear",
    "muse_glimmer": "muse_glimmer_text",
    "gemma4": "gemma4_text",
    "kimi_k25": "kimi_k2",
    "llama4": "llama4_text",
    "qwen3_vl": "qwen3_vl_text",
    "qwen3_vl_moe": "qwen3_vl_moe_text",
    "qwen3_5": "qwen3_5_text",
    "qwen3_5_moe": "qwen3_5_moe_text",
    "qwen2_vl": "qwen2_vl_text",
    "qwen2_5_vl": "qwen2_5_vl_text",
}


def _qwen2_vl_vision(config: Mapping[str, Any]) -> int:
    """Qwen2-VL / Qwen2.5-VL ViT and merger, as kvplan.core.mm_profile.qwen2_vision_params counts them."""
    from kvplan.core.mm_profile import qwen2_vision_params
    from kvplan.core.vision import vision_tower

    tower = vision_tower(config)
    if tower is None:
        raise UnsupportedModelError("no vision_config to count the Qwen2-VL tower from")
    return qwen2_vision_params(tower)


def _internvl_parts(config: Mapping[str, Any]) -> _Parts:
    """InternVLChatModel: the llm_config's model (its own model_type) plus InternViT and mlp1 (``_internvl_vision``,
    the layers vLLM builds up to select_layer; merge = 1 / downsample_ratio^2 patches a token)."""
    from kvplan.core.vision import vision_tower

    llm = config.get("llm_config")
    if not isinstance(llm, dict):
        raise UnsupportedModelError("internvl_chat without an llm_config")
    parts = _model_parts(llm)
    tower = vision_tower(config)
    vision = config.get("vision_config")
    if tower is None or not isinstance(vision, dict) or not tower.tokens_per_tile:
        parts.notes.append("vision tower not counted")
        return parts
    merge = (tower.tile_patches - 1) // tower.tokens_per_tile
    parts.vision = _internvl_vision(_Cfg(dict(vision)), tower.built_layers, merge, _Cfg(dict(llm)).hidden)
    parts.plain += parts.vision
    return parts


def _model_parts(config: Mapping[str, Any]) -> _Parts:
    mt = str(config.get("model_type", ""))
    thinker = config.get("thinker_config")
    if mt == "qwen3_omni_moe" and isinstance(thinker, dict):
        # vLLM 0.34 qwen3_omni_moe_thinker.py loads the thinker only ("talker." and "code2wav." map to None)
        parts = _model_parts({**thinker, "model_type": "qwen3_vl_moe"})
        parts.notes.append("audio encoder not counted; the talker and code2wav weights vLLM skips are left out")
        return parts
    text = config.get("text_config")
    if isinstance(text, dict) and mt in _TEXT_OF:
        inner = dict(text)
        inner.setdefault("model_type", _TEXT_OF[mt])
        if "tie_word_embeddings" in config:
            inner["tie_word_embeddings"] = config["tie_word_embeddings"]
        if mt == "gemma3":
            for k, v in _GEMMA3_TEXT_DEFAULTS.items():
                inner.setdefault(k, v)
        parts = _FAMILIES[_TEXT_OF[mt]](_Cfg(inner), _TEXT_OF[mt])
        vision = config.get("vision_config")
        if mt == "gemma3" and isinstance(vision, dict):
            vc = dict(_SIGLIP_DEFAULTS)
            vc.update(vision)
            parts.vision = _siglip(_Cfg(vc), _Cfg(inner).hidden)
            parts.plain += parts.vision
        elif mt == "muse_glimmer" and isinstance(vision, dict):
            parts.vision = _muse_glimmer_vision(config, _Cfg(inner).hidden)
            parts.plain += parts.vision
            parts.notes.append("vision tower counted from vLLM's modules, not checked against a checkpoint")
        elif mt in _QWEN3_VISION_TYPES and isinstance(vision, dict):
            parts.vision = _qwen3_vision(_Cfg(vision))
            parts.plain += parts.vision
        elif mt in ("qwen2_vl", "qwen2_5_vl") and isinstance(vision, dict):
            parts.vision = _qwen2_vl_vision(config)
            parts.plain += parts.vision
        elif isinstance(vision, dict):
            parts.notes.append("vision tower not counted")
        return parts
    if mt in ("qwen2_vl", "qwen2_5_vl"):
        # the transformers 4.x spelling: the text model's fields at the top level beside vision_config
        parts = _llama_like(_Cfg({k: v for k, v in config.items() if k != "vision_config"}), f"{mt}_text")
        parts.vision = _qwen2_vl_vision(config)
        parts.plain += parts.vision
        return parts
    if mt == "internvl_chat":
        return _internvl_parts(config)
    if mt == "gemma3_text":
        config = {**_GEMMA3_TEXT_DEFAULTS, **config}
    builder = _FAMILIES.get(mt)
    if builder is None:
        raise UnsupportedModelError(f"no parameter formula for model_type {mt or '(none)'!r}")
    return builder(_Cfg(config), mt)


_GEMMA3_TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262208,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "tie_word_embeddings": True,
}
_SIGLIP_DEFAULTS: dict[str, Any] = {
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 896,
    "num_channels": 3,
}


# ------------------------------------------------------------------------------------------------- bytes


def _dtype(config: Mapping[str, Any]) -> str:
    for d in (config, config.get("text_config") or {}):
        for k in ("torch_dtype", "dtype", "params_dtype"):
            v = d.get(k) if isinstance(d, dict) else None
            if isinstance(v, str):
                return v.replace("torch.", "")
    if config.get("fp16") is True:
        return "float16"
    return "bfloat16"  # gpt-oss and Qwen-1 leave it out; both ship bf16 tensors


def _quant_config(config: Mapping[str, Any]) -> dict[str, Any] | None:
    for d in (config, config.get("text_config") or {}):
        q = d.get("quantization_config") if isinstance(d, dict) else None
        if isinstance(q, dict):
            return q
    return None


def _modelopt(hf_quant: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """ModelOpt keeps its quantization in ``hf_quant_config.json``: ``{"quantization": {"quant_algo": ...}}``."""
    if not hf_quant:
        return None
    inner = hf_quant.get("quantization", hf_quant)
    algo = inner.get("quant_algo") if isinstance(inner, Mapping) else None
    if not algo:
        return None
    out: dict[str, Any] = {"quant_method": "modelopt", "quant_algo": str(algo)}
    if isinstance(inner.get("quantized_layers"), Mapping):
        out["quantized_layers"] = dict(inner["quantized_layers"])
    if isinstance(inner.get("exclude_modules"), list):
        out["exclude_modules"] = list(inner["exclude_modules"])
    return out


_QUANTIZED_KINDS = {"attn", "mlp", "shared", "expert", "ssm"}


def _lin_bytes(x: _Lin, q: dict[str, Any] | None, w: int) -> tuple[int, str]:
    """Bytes of ``x`` in the checkpoint and a label of the layout: unquantized ``w`` bytes per element;
    fp8 block: 1 byte + one float32 scale per block; AWQ/GPTQ int4: half a byte, fp16 scales and packed
    zeros per group (GPTQ adds an int32 g_idx per input row); MXFP4: half a byte + one byte scale per 32."""
    n = x.in_f * x.out_f
    method = str(q.get("quant_method", "")) if q is not None else ""
    mixed = method == "modelopt" and str(q.get("quant_algo", "")).upper() == "MIXED_PRECISION" if q else False
    # A MIXED_PRECISION checkpoint may list its LM head among the quantized layers (Nemotron-3.5-Lightning).
    if q is None or (x.kind not in _QUANTIZED_KINDS and not (mixed and x.kind == "head")):
        return n * w * x.count, ""
    if method == "mxfp4":
        if x.kind != "expert":
            return n * w * x.count, ""
        return (n // 2 + n // 32) * x.count, "mxfp4 experts"
    if method == "fp8" and x.kind == "expert" and q.get("expert_dtype") == "fp4":
        return (n // 2 + n // 32) * x.count, "fp4 experts (ue8m0 scale per 32)"
    if method == "fp8" and not mixed:
        blk = q.get("weight_block_size") or [x.out_f, x.in_f]
        blocks = math.ceil(x.out_f / blk[0]) * math.ceil(x.in_f / blk[1])
        return (n + 4 * blocks) * x.count, f"fp8 block {list(blk)}"
    if method in ("awq", "gptq"):
        bits = int(q.get("bits", q.get("w_bit", 4)))
        g = int(q.get("group_size", q.get("q_group_size", 128)))
        g = x.in_f if g <= 0 else g
        groups = math.ceil(x.in_f / g)
        per = n * bits // 8 + groups * x.out_f * 2 + groups * x.out_f * bits // 8
        if method == "gptq":
            per += 4 * x.in_f
        return per * x.count, f"{method} {bits}-bit g{g}"
    if method == "compressed-tensors":
        return _compressed_tensors_bytes(x, q, n, w)
    if mixed:
        width = _mixed_precision_bits(q).get(x.kind)
        if width == 4:
            return (n // 2 + n // 16 + 8) * x.count, "modelopt mixed nvfp4"
        if width == 8:
            return (n + 8) * x.count, "modelopt mixed fp8"
        return n * w * x.count, ""
    if method == "modelopt" and "FP4" in str(q.get("quant_algo", "")).upper():
        return (n // 2 + n // 16 + 8) * x.count, "modelopt nvfp4"
    if method == "modelopt":
        return (n + 8) * x.count, "modelopt fp8 per-tensor"
    if method == "fbgemm_fp8":
        return (n + 4 * x.out_f) * x.count, "fp8 per-channel"
    return n * w * x.count, ""


# The lists in which quantizers name the modules they leave unquantized.
EXCLUSION_KEYS = ("exclude_modules", "ignore", "modules_to_not_convert")
# Module name -> the _Lin kind it is (first match), for exclusion lists and mixed-precision maps ("shared_experts"
# are shared before they are experts; a Nemotron-H "mixer" is Mamba unless it is an attention projection); None
# for parts kvplan never quantizes.
_MODULE_KINDS = (
    (re.compile(r"shared_expert"), "shared"),
    (re.compile(r"experts"), "expert"),
    (re.compile(r"lm_head"), "head"),
    (re.compile(r"embed|norm|(^|\.)gate$|router|conv|vision|visual|mm_projector|mtp"), None),
    (re.compile(r"linear_attn|\.mixer\.(in|out)_proj"), "ssm"),
    (re.compile(r"self_attn|attention|(^|\.)(q|k|v|o|qkv|q_a|q_b|kv_a|kv_b)_proj|kv_a_proj_with_mqa"), "attn"),
    (re.compile(r"mlp|feed_forward"), "mlp"),
    (re.compile(r"mixer"), "ssm"),
)
_LAYER_INDEX = re.compile(r"layers\.(\d+)(?:\.|\*|$)")


def module_kind(name: str) -> str | None:
    """The kind of linear layer a quantization-config module name (or glob, or ``re:`` pattern) refers to."""
    return next((kind for pattern, kind in _MODULE_KINDS if pattern.search(name)), None)


# quantized_layers' quant_algo -> stored weight bits.
_MIXED_ALGO_BITS = {"FP8": 8, "FP8_PB_WO": 8, "FP8_BLOCK": 8, "MXFP8": 8, "NVFP4": 4, "W4A16_NVFP4": 4}


def _mixed_precision_bits(q: Mapping[str, Any]) -> dict[str, int]:
    """ModelOpt MIXED_PRECISION: which weight width each kind of linear layer is stored in.

    Two layouts: ``config_groups`` listing module-name targets per weight width (nvidia/Qwen3.6-*-NVFP4), and
    ``quantized_layers`` mapping each module to its ``quant_algo`` (hf_quant_config.json of
    nvidia/Nemotron-3.5-Lightning: NVFP4 experts and LM head, FP8 Mamba projections, bf16 attention). A
    kind takes the width of the first entry naming it."""
    bits: dict[str, int] = {}
    for group in (q.get("config_groups") or {}).values():
        if not isinstance(group, Mapping):
            continue
        width = (group.get("weights") or {}).get("num_bits")
        for target in group.get("targets") or ():
            kind = module_kind(str(target))
            if kind is not None and isinstance(width, int):
                bits.setdefault(kind, width)
    for name, recipe in (q.get("quantized_layers") or {}).items():
        width = _MIXED_ALGO_BITS.get(str((recipe or {}).get("quant_algo", "")).upper())
        kind = module_kind(str(name))
        if kind is not None and width is not None:
            bits.setdefault(kind, width)
    return bits


# Module names a compressed-tensors ``re:`` target is tried on, per kind of linear layer: the Hugging Face
# spellings and DeepSeek-V4's reference ones (``attn.wq_b``, ``ffn.experts.N.w1`` / ``gate_proj``).
_TARGET_PROBES = {
    "attn": ("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.o_proj", "layers.0.attn.wq_b",
             "layers.0.attn.fused_wqa_wkv", "layers.0.attn.wo_b"),
    "mlp": ("model.layers.0.mlp.gate_proj", "model.layers.0.mlp.down_proj", "layers.0.ffn.gate_proj"),
    "expert": ("model.layers.0.mlp.experts.0.gate_proj", "model.layers.0.mlp.experts.0.down_proj",
               "layers.0.ffn.experts.0.gate_proj", "layers.0.ffn.experts.0.down_proj"),
    "shared": ("model.layers.0.mlp.shared_experts.gate_proj", "model.layers.0.mlp.shared_experts.down_proj",
               "layers.0.ffn.shared_experts.gate_proj", "layers.0.ffn.shared_experts.down_proj"),
    "ssm": ("model.layers.0.mixer.in_proj", "model.layers.0.linear_attn.in_proj_qkvz"),
}


def _targets_kind(targets: Any, kind: str) -> bool:
    """Whether a compressed-tensors config group's ``targets`` take linear layers of ``kind``: "Linear" takes
    all; an ``re:`` pattern is tried on the usual module names of the kind; a plain name must be one of them."""
    for target in targets if isinstance(targets, list) else [targets]:
        t = str(target)
        if t == "Linear":
            return True
        probes = _TARGET_PROBES.get(kind, ())
        if t.startswith("re:") and any(re.search(t[3:], probe) for probe in probes):
            return True
        if t in probes:
            return True
    return False


def _compressed_tensors_bytes(x: _Lin, q: dict[str, Any], n: int, w: int) -> tuple[int, str]:
    """compressed-tensors: the first config group whose ``targets`` take ``x``'s kind sets its layout (none:
    kept in the model dtype). Float-quantized 8-bit weights carry one scale per output channel, per block
    (``block`` strategy, ``block_structure``) or per group; 4-bit packs (int, NVFP4 ``tensor_group``, MXFP4)
    half a byte plus a scale per group. Scales take the model dtype unless ``scale_dtype`` names a one-byte
    type (MXFP4's uint8 e8m0, NVFP4's float8)."""
    groups = q.get("config_groups") or {}
    wq: dict[str, Any] = {}
    for gcfg in groups.values():
        if isinstance(gcfg, dict) and isinstance(gcfg.get("weights"), dict) and _targets_kind(
                gcfg.get("targets", ["Linear"]), x.kind):
            wq = gcfg["weights"]
            break
    bits = int(wq.get("num_bits", 16) or 16)
    if bits >= 16:
        return n * w * x.count, ""
    strategy = wq.get("strategy")
    block = wq.get("block_structure")
    if strategy == "block" and isinstance(block, list) and len(block) == 2:
        scales = math.ceil(x.out_f / int(block[0])) * math.ceil(x.in_f / int(block[1]))
    elif strategy in ("group", "tensor_group"):
        scales = x.out_f * math.ceil(x.in_f / int(wq.get("group_size") or x.in_f))
    else:
        scales = x.out_f
    dtype = str(wq.get("scale_dtype") or "")
    scale_bytes = 1 if ("uint8" in dtype or "float8" in dtype) else w
    return (n * bits // 8 + scales * scale_bytes) * x.count, f"compressed-tensors {wq.get('type', 'int')}{bits}"


def _excluded_layers(q: Mapping[str, Any] | None) -> dict[str, dict[int | None, list[str]]]:
    """Kind -> layer index (None: a name without one, i.e. every layer) -> the excluded module names there."""
    out: dict[str, dict[int | None, list[str]]] = {}
    for key in EXCLUSION_KEYS:
        names = q.get(key) if q else None
        if not isinstance(names, list):
            continue
        for name in map(str, names):
            kind = module_kind(name)
            if kind is None:
                continue
            index = _LAYER_INDEX.search(name)
            out.setdefault(kind, {}).setdefault(int(index.group(1)) if index else None, []).append(name)
    return out


def _excluded_fraction(excluded: Mapping[str, Mapping[int | None, list[str]]], lin: _Lin, kind_layers: int,
                       layers: int) -> float:
    """Share of ``lin``'s matrices a quantizer left in the model dtype.

    Per named decoder layer (MTP layers past ``layers`` do not count), the share of ``lin``'s projections the
    names cover: a name that ends in a projection covers that one (DeepSeek NVFP4 keeps q_a/q_b/kv_a/kv_b in
    bf16 but quantizes o_proj); a block name (``self_attn*``, ``linear_attn*``) covers all of it. Over the
    layers holding the kind; exact when those layers are alike, as they are in the checkpoints seen."""
    by_layer = excluded.get(lin.kind)
    if not by_layer or not kind_layers:
        return 0.0
    tokens = lin.names or ("",)
    hits = 0
    for layer, names in by_layer.items():
        if layer is not None and layer >= layers:
            continue
        covered = sum(1 for token in tokens if any(_covers(name, token) for name in names))
        hits += covered * (kind_layers if layer is None else 1)
    return min(1.0, hits / (kind_layers * len(tokens)))


_PROJECTION_END = re.compile(r"(proj|_mqa|gate)\*?$")


def _covers(name: str, token: str) -> bool:
    """Whether an excluded module name covers the projection ``token`` ("" for a fused or unnamed one)."""
    if not token or not _PROJECTION_END.search(name):
        return True  # a block (self_attn*, mlp.shared_experts*) or a matrix the builder does not split
    return re.search(rf"(^|\.){re.escape(token)}(\*|$)", name) is not None


def _decoder_fields(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The level of ``config`` that sizes the decoder: ``text_config`` when it gives num_hidden_layers."""
    text = config.get("text_config")
    return text if isinstance(text, Mapping) and text.get("num_hidden_layers") is not None else config


def _num_layers(config: Mapping[str, Any]) -> int:
    value = _decoder_fields(config).get("num_hidden_layers")
    return int(value) if isinstance(value, int) else 1 << 30


@config_values_checked
def mtp_layer_indices(config: Mapping[str, Any]) -> range:
    """The layer numbers a checkpoint gives its MTP layers: ``num_hidden_layers ... + num_nextn_predict_layers
    - 1`` (vLLM's ``get_spec_layer_idx_from_weight_name``); empty when the config names none."""
    fields = _decoder_fields(config)
    base, extra = fields.get("num_hidden_layers"), fields.get("num_nextn_predict_layers") or 0
    return range(base, base + extra) if isinstance(base, int) and isinstance(extra, int) else range(0)


@config_values_checked
def count_params(config: Mapping[str, Any], *, hf_quant_config: Mapping[str, Any] | None = None) -> ParamCount:
    """Parameters and checkpoint bytes of the model ``config`` describes (Hub ``config.json`` as a dict).

    ``hf_quant_config`` is ModelOpt's ``hf_quant_config.json`` beside the config, when there is one.
    Raises :class:`UnsupportedModelError` for a family without a formula (callers then treat the weights
    as unknown)."""
    parts = _model_parts(config)
    dt = _dtype(config)
    w = _DTYPE_BYTES.get(dt, 2)
    q = _quant_config(config)
    if (q is None or not q.get("quant_method")) and hf_quant_config:
        q = _modelopt(hf_quant_config)
    if q is not None and config.get("expert_dtype") == "fp4" and q.get("quant_method") == "fp8":
        # DeepSeek-V4 ships its routed experts in FP4 (MXFP4 layout: ue8m0 scale per 32) beside fp8 blocks
        q = {**q, "expert_dtype": "fp4"}
    total_bytes = (parts.plain) * w + parts.fp32 * 4
    labels: set[str] = set()
    excluded = _excluded_layers(q)
    layers = _num_layers(config)
    for x in parts.lins:
        b, label = _lin_bytes(x, q, w)
        kept = _excluded_fraction(excluded, x, parts.layers_of.get(x.kind, 0), layers) if label else 0.0
        if kept:  # modules the quantizer left in the model dtype
            b = round((1 - kept) * b + kept * x.in_f * x.out_f * w * x.count)
        total_bytes += b
        if label:
            labels.add(label)
    notes = list(parts.notes)
    exact = not labels and not notes
    if q is not None and not labels:
        notes.append(f"quantization {q.get('quant_method')!r} not modelled: bytes at {dt}")
        exact = False
    dtype = ", ".join(sorted(labels)) if labels else dt
    if labels:
        notes.append("quantized layout: bytes are an estimate")
    return ParamCount(
        param_count=parts.total(),
        bytes=total_bytes,
        dtype=dtype,
        exact=exact,
        mtp_param_count=parts.mtp,
        vision_param_count=parts.vision,
        notes=tuple(notes),
    )


@config_values_checked
def attention_weight_layout(config: Mapping[str, Any], *, hf_quant_config: Mapping[str, Any] | None = None,
                            ) -> tuple[str | None, tuple[int, int] | None]:
    """How the checkpoint stores its attention projections, by the same rules as :func:`count_params`:
    ``(None, None)`` unquantized; ``("fp8", block)`` for 8-bit float weights (``block`` the fp8
    ``weight_block_size``, None for per-tensor or per-channel scales); ``(label, None)`` for another packed
    layout (AWQ, GPTQ, NVFP4 ...)."""
    q = _quant_config(config)
    if (q is None or not q.get("quant_method")) and hf_quant_config:
        q = _modelopt(hf_quant_config)
    _, label = _lin_bytes(_Lin("attn", 128, 128), q, 2)
    if not label:
        return None, None
    if "fp8" in label or "float8" in label:
        block = q.get("weight_block_size") if q and q.get("quant_method") == "fp8" else None
        if isinstance(block, list) and len(block) == 2:
            return "fp8", (int(block[0]), int(block[1]))
        return "fp8", None
    return label, None


@config_values_checked
def online_fp8_saving_bytes(config: Mapping[str, Any]) -> int:
    """Bytes that ``--quantization fp8`` saves on an unquantized checkpoint of ``config``.

    vLLM's ``Fp8Config`` with ``is_checkpoint_fp8_serialized=False`` quantizes every ``LinearBase`` built with
    the quant config (attention, dense and expert MLPs, Mamba / linear-attention projections) to fp8 with a
    per-tensor float32 scale once the bf16 weights are loaded; embeddings, the LM head, norms and routers built
    without a quant config stay in the model dtype. Vision towers are counted here as kept (a slight
    overestimate where a model passes its quant config to the tower)."""
    plain = count_params(config)
    online = count_params({**config, "quantization_config": {"quant_method": "fp8", "activation_scheme": "dynamic"}})
    return max(0, plain.bytes - online.bytes)


@config_values_checked
def without_mtp_layers(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as the main model sees it: vLLM's DeepSeek-family ``load_weights`` skips the checkpoint's MTP
    layers (``get_spec_layer_idx_from_weight_name``: layers num_hidden_layers ... + num_nextn_predict_layers)
    unless an MTP drafter loads them."""
    out = dict(config)
    if out.get("num_nextn_predict_layers"):
        out["num_nextn_predict_layers"] = 0
    return out


def mtp_layer_bytes(config: Mapping[str, Any], *, hf_quant_config: Mapping[str, Any] | None = None) -> int:
    """Checkpoint bytes of the MTP layers kvplan can count (DeepSeek family: a full MoE decoder layer, eh_proj,
    its own embedding and head, norms); 0 where the config names none or the family has no formula."""
    if not config.get("num_nextn_predict_layers"):
        return 0
    try:
        whole = count_params(config, hf_quant_config=hf_quant_config).bytes
        main = count_params(without_mtp_layers(config), hf_quant_config=hf_quant_config).bytes
    except UnsupportedModelError:
        return 0
    return max(0, whole - main)
