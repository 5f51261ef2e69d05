"""Non-KV memory vLLM takes before sizing the KV cache on a GPU [estimates, except the checkpoint bytes].

vLLM measures these at start-up (profile run); kvplan derives them from the model and settings the way vLLM
allocates them (VLLM-MEMORY.md §2.3-2.5, §8), with a few global constants calibrated on the whole of
``vllm-gpu-logs.jsonl`` (named ``CAL_*`` below; ``benchmarks/accuracy.py`` re-measures them). Terms:

* weights: the rank's checkpoint shard as vLLM shards it, plus the buffers vLLM creates while loading and
  counts in ``Model loading took``: the rotary cos/sin cache (``[max_position, rotary_dim]`` in the model
  dtype, one per model), the vocab padding to 64 rows (``VocabParallelEmbedding``) and, for MLA models, the
  projection copies ``process_weights_after_loading`` builds (``mla_load_copies_bytes``). Llama-3.1-8B:
  16,060,522,496 checkpoint bytes + 131,072 x 128 x 2 B = 32 MiB rope cache = 14.9888 GiB, as logged.
* activation: the profile run's transient torch peak: the dummy forward of ``max_num_batched_tokens``
  tokens, or the sampler over ``min(max_num_batched_tokens, max_num_seqs)`` rows of padded-vocab logits on
  the last PP rank, whichever is larger. The sampler's top-k/top-p path follows the release
  (``V1_SAMPLER_PATHS``: PyTorch's sort, FlashInfer or Triton); from 0.13 the fused-MoE workspace the forward
  grew is still held while it runs; PP ranks after the first also hold the intermediate-tensor buffers.
  State-space and linear-attention mixers (Mamba-2, Qwen's gated delta net) and NVFP4 experts on FlashInfer's
  CUTLASS MoE (SM12x) are read from vLLM per token and join the forward's max (``mixer_profile_values_per_token``,
  ``flashinfer_nvfp4_moe_bytes_per_token``); W4A16 NVFP4 experts keep Marlin's workspace like TritonExperts'.
* non-torch: allocator, workspaces and kernels loaded after vLLM's memory snapshot (a calibrated constant).
* CUDA graphs: vLLM's estimate, the larger first capture of the two modes (they share a pool) plus
  ``(n - 1) * max(second, 1 MiB)`` per mode; 0 with enforce_eager or when the version does not count graphs
  before sizing the KV cache.
* Mamba state cache [exact], V0 only: ``MambaCacheManager`` allocates one conv + SSM state per sequence slot
  and Mamba layer on the profile run's first forward, so vLLM counts it in the activation peak it logs.

Model Runner V2 (``model_runner``; vLLM's default for dense models from 0.25) profiles differently, measured
with vLLM 0.26.0 on an H100 (benchmarks/gpu-runs/): its dummy sampler run works in place, so the forward
pass sets the peak, or, under torch.compile up to 0.26, one embedding table plus two hidden rows per token;
up to 0.26 it counts neither its persistent buffers nor CUDA graphs before sizing the KV cache
(``profile_cudagraph_memory`` returns 0 up to 0.28); from 0.29 it captures the graphs to measure them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from kvplan.core import non_torch
from kvplan.core.engine import EngineConfig, mamba_state_bytes, pp_stage_ranges
from kvplan.core.estimate import Estimate
from kvplan.core.lora_offload import cpu_offload_bytes, estimate_lora, lora_capture_cases
from kvplan.core.mm_profile import (
    ERR_MM_ENCODER_FLAT,
    deepstack_buffer_bytes,
    encoder_profile,
    text_only,
    tower_weight_bytes,
)
from kvplan.core.model import AttentionLayer, LayerSpec, MambaLayer, ModelSpec, ParallelLayer
from kvplan.core.mxfp4_backend import Mxfp4MoeBuffers, mxfp4_moe_buffers
from kvplan.core.settings import release, version_tuple
from kvplan.core.units import GiB, MiB, cdiv, dtype_bytes, round_up

VOCAB_PADDING = 64  # vocab_parallel_embedding.py DEFAULT_VOCAB_PADDING_SIZE

# Calibrated on vllm-gpu-logs.jsonl (whole file, not per case); see benchmarks/accuracy.py.
# PyTorch sort top-k/top-p peak per (row x padded vocab) element: 1.40 GiB over 256 x 151,936 (Qwen3-30B-A3B,
# Qwen2.5-Math-1.5B), 1.16 GiB over 320 x 100,352 (Phi-4), all V0: 38.4-38.8 B. V1's ``apply_top_k_top_p`` up to
# 0.16 is the same algorithm (sort, gather, masked softmax/cumsum, out-of-place scatter); held-out check: the
# llm-d 0.11.0 H100 report (public-issues.jsonl lines 0-4, 7, 8) logged 38.3-38.6 B on five models.
CAL_SAMPLER_SORT_BYTES = 38.6
# The in-place paths, by reading (not fitted): the model-dtype logits ``_dummy_sampler_run`` holds, their fp32
# copy (``Sampler.forward``: ``logits.to(torch.float32)``, no copy when already fp32), then either FlashInfer's
# ``top_k_top_p_sampling_from_logits`` (top_k_mask_logits' fp32 output + its softmax) or the Triton top-k/top-p
# kernel (in place) followed by ``random_sample``'s softmax probs and exponential ``q``: two fp32 buffers either
# way. bf16: 2 + 4 + 4 + 4 = 14 B; fp32: 12 B. See ``in_place_sampler_bytes``.
SAMPLER_FP32_BUFFERS = 2
# apply_top_k_top_p_triton (v1/sample/ops/topk_topp_triton.py, 0.17-0.34) keeps one fp32 vocab row per Triton
# program, min(next_power_of_2(rows), SMs) of them (_TRITON_BUFFER_CACHE), allocated during the dummy run. The
# GPU's SM count is not in kvplan's GPU model: an H100 SXM's 132 (A100 108, L40S 142, B200 148; < 0.03 GiB apart
# at a 256k vocab).
TRITON_TOPK_PROGRAMS = 132
# The Triton path takes 8 rows or more (apply_top_k_top_p, 0.17-0.31); below, the PyTorch sort (in place).
TRITON_TOPK_MIN_ROWS = 8
CAL_NON_TORCH_V1 = 0.67 * GiB  # V1: allocator slack, runner buffers, kernel modules, workspaces
# V0's non-torch growth as its profile printed it ("non_torch_memory takes ..."): 0.01-0.09 GiB at TP 1 in the seven
# logs of 0.7.1-0.9.3 (vllm-gpu-logs.jsonl lines 28, 29, 37, 38, 43; public-issues.jsonl lines 9, 10), so
# 0.05 +- 0.05; with more than one GPU 0.2 (TP 4: lines 27, 33) and 0.3 GiB (TP 2: public-issues line 11), where
# NCCL's communicators and the custom all-reduce buffers join: 0.10 more beside the 0.02 per extra rank (0.17 at
# TP 2, 0.21 at TP 4, as before this split), +- 0.15.
CAL_NON_TORCH_V0 = 0.05 * GiB
CAL_NON_TORCH_V0_MULTI_GPU = 0.10 * GiB
# vLLM 0.6.4 (worker.py determine_num_available_blocks in the 0.6.4 and 0.6.4.post1 wheels; not 0.6.3, 0.6.5 or
# later) takes ``non_torch_allocations = (total - free) - torch allocated`` after the profile: all the memory
# outside torch on the GPU, its CUDA context included, counts against the KV cache, where other releases count
# what grew since vLLM's own snapshot. Measured as its profile line printed it in six public logs of 0.6.4.post1
# (and one 0.6.4.post2 dev build), at TP 1: 0.47, 0.44, 0.43 and 0.15 GiB on a GTX 1080 (search index ids
# 19400629813, 19513493048, 19719842090), 0.73 on an H200 (54021851790), 0.44 on a Radeon PRO W7900 (43538788302):
# 0.44 +- 0.29 GiB in place of the growth above. vllm-gpu-logs.jsonl lines 39 and 40 (RTX 3090, 0.35) set nothing.
ABSOLUTE_NON_TORCH_RELEASE = (0, 6, 4)  # 0.6.4 and 0.6.4.post1 (version_tuple drops the post)
MEASURED_NON_TORCH_0_6_4 = 0.44 * GiB
CAL_NON_TORCH_PER_EXTRA_RANK = 0.02 * GiB  # NCCL / custom all-reduce buffers grow with the group
# NCCL NVLink SHARP (NVLS) buffers. On NVSwitch systems of Hopper and later (GpuSpec.nvswitch) NCCL sets up NVLS for
# a communicator of more than 2 GPUs (NCCL_NVLS_ENABLE unset or 1; "NVLS is only enabled for n > 2 GPUs, in H100
# and above platforms", vllm-project/vllm#9699). NCCL 2.19-2.2x ``ncclNvlsSetup`` (src/transport/nvls.cc) binds
# nvlsTotalSize = nChannels x 2 x (buffSize + memSize) x nHeads of device memory per rank, buffSize the SIMPLE
# protocol's 4 MiB (NCCL_BUFFSIZE), memSize NVLS_MEM_ALIGN_SIZE 2 MiB, nHeads the ranks on the node. The log in
# vllm#9699 (8 x H200): "nHeads 8 buffSize 4194304 memSize 2097152 nvlsPerRankSize 301989888 nvlsTotalSize
# 2415919104", i.e. 24 channels, 288 MiB a rank, 2.25 GiB per communicator. vLLM holds two communicators on each
# group (pynccl's and torch.distributed's ProcessGroupNCCL): 4.5 GiB at TP 8, as measured twice: vllm#9699,
# Llama-3.1-405B -tp 8 on 8 x H200 lost 17,595 vs ~22,7xx GPU blocks of 1,032,192 B (4.91-5.00 GiB) to NVLS;
# vllm PR #25359, "NCCL buffers (~4.5 GiB for tensor parallelism)", free 78.59 vs 74.07 GiB before / after the
# NCCL init. Not known per deployment: the NCCL release (newer ones size NVLS by nvlsChunkSize x NCCL_STEPS instead,
# and NCCL_NVLS_NCHANNELS / the GPU set the channels: 16 on some H100 builds gives 2/3 of this), hence +- a third:
# 3.0-6.0 GiB at TP 8 holds both measurements (4.5 and 4.91-5.00 GiB) and the 16-channel builds.
NVLS_CHANNELS = 24
NVLS_BUFF_BYTES = 4 * MiB
NVLS_MEM_ALIGN_BYTES = 2 * MiB
NVLS_COMMUNICATORS_PER_GROUP = 2
NVLS_MIN_RANKS = 3
ERR_NVLS_FRACTION = 1 / 3
# vLLM counts the NCCL buffers before sizing the KV cache while it takes its memory snapshot before creating the
# communicators: V0 (worker.py init_device: baseline_snapshot, then init_worker_distributed_environment; 0.7.3)
# and V1 up to 0.10 (gpu_worker.py, 0.7.3: init_gpu_memory, then the distributed init). From 0.11.0 (vllm PR
# #25359) V1 creates them first ("Initialize the distributed environment BEFORE taking memory snapshot",
# gpu_worker.py 0.11-0.34): the buffers only lower the free memory vLLM's start check sees.
NVLS_OUTSIDE_KV_FROM = (0, 11, 0)
# NCCL's other device buffers on the same groups (ring / tree / P2P channels over NVLink, NCCL_BUFFSIZE per peer and
# protocol) are not modelled. vllm#9699's 405B run bounds them: with NCCL_NVLS_ENABLE=0, kvplan's plan of that run
# (vLLM 0.6.3, -tp 8, --max-num-seqs 1024 --max-num-batched-tokens 1024) gives 27,309 GPU blocks where vLLM logged
# ~22,7xx: 4.34-4.43 GiB more non-KV memory than kvplan counts. Up to 4.43 GiB at 8 ranks, taken as its midpoint,
# 2.2 +- 2.2 GiB, scaled by the ranks like the NVLS buffers; on the GPUs and releases where NVLS counts (the only
# ones measured), with or without NVLS. Fixture line 25 (DeepSeek-R1, 0.7.3 V0, 8 x H200) sets nothing: it is the
# held-out check.
NCCL_OTHER_BOUND_BYTES_8_RANKS = (27_309 - 22_700) * 1_032_192  # blocks x bytes per block: 4.43 GiB
# Model Runner V2, vLLM 0.22-0.26 accounting (weights + torch peak increase + non-torch increase): "0.22 GiB for
# non-torch memory" in all five H100 runs (three set it; the two held-out runs gave the same).
MEASURED_NON_TORCH_V2 = 0.22 * GiB
# From 0.27 vLLM's profile counts all memory taken since start-up (``total_consumed``, utils/mem_utils.py
# memory_profiling in the 0.27-0.34 wheels: free memory at the snapshot less free memory after the profile, plus
# the transient peak): besides the weights and the peak, the torch buffers the runner allocates before the
# profile, and the allocator's state after it, now count. Model Runner V2's one such buffer that matters is read
# (``v2_request_state_bytes``: its penalty state, max_num_seqs x vocab); the rest is 0.26's measured non-torch
# memory, and the profile peak keeps the compiled-embedding floor measured on 0.26 (``_compiled_embedding_bytes``).
# Nothing is fitted on a 0.27+ log. Tested on the seven 0.28 lines of vllm-gpu-logs.jsonl (Qwen3-14B on an L40S /
# L4, lines 15-21): logged less planned -0.09 to +0.08 GiB on lines 15-19, +0.15 on line 20 (PP 2), +1.21 on
# line 21, which logged 10.33 GiB where the same deployment on line 18 logged 9.10 (-0.02 here). A calibrated
# total (1.15 GiB +- 0.92) stood in its place before the floor was seen to carry over. No run of 0.27+ was possible
# here (its wheels need torch 2.13).
# The GPUs where those terms were measured (0.26: H100) or tested at 0.27+ (0.28: L40S, L4). Elsewhere the three
# 0.27.1 lines of benchmarks/gpu-runs/public-issues-recent.jsonl (Qwen3-32B, RTX PRO 6000 Blackwell, 1,024
# sequences, 8,192 tokens) logged -1.44 (TP 1), -0.01 (TP 2) and -0.79 GiB (PP 2) against the plan: they set
# ERR_NON_TORCH_V2_UNMEASURED_GPU below, and are no test of it.
V2_SINCE_START_UP_MEASURED_GPUS = ((8, 9), (9, 0))
PRE_PROFILE_COUNTED_FROM = (0, 27)  # total_consumed: what the runner allocated before the profile counts
# Model Runner V2 CUDA graph capture, "Graph capturing finished ..., took N GiB" for 51 sizes in
# FULL_AND_PIECEWISE (102 captures) on an H100 with vLLM 0.26: 0.98 GiB (Llama-3.1-8B, 32 layers), 1.01 GiB
# (Qwen3-8B, 36), 0.89 GiB (Qwen2.5-7B, 28), 0.37 GiB (Llama-3.2-1B, 16): 0.29 MiB per layer and capture.
# A "layer" here is one that splits the piecewise graph (attention, Mamba, linear attention): all of a dense
# model's, not Nemotron-H's MLP/MoE-only blocks (estimate_cudagraph).
MEASURED_V2_CAPTURE_BYTES_PER_LAYER = int(0.29 * MiB)
# 0.33's dummy sampler adds a pass with every sampling feature on (SamplingParams.for_sampler_warmup): fp32
# logits, log-softmax for logprobs and Triton top-k/top-p over [rows, vocab]: ~14 B per element by reading
# v1/worker/gpu/model_runner.py; not measured. Before 0.33 the pass works in place (4 B: one fp32 copy).
V2_SAMPLER_WARMUP_BYTES = 14

# Error bars (1 sigma-ish, from the spread of the residuals of the whole file; see the report).
ERR_ACTIVATION_FRACTION = 0.15
ERR_ACTIVATION_MIN = 64 * MiB
# A Mamba-2 mixer's profile-run peak is read from mamba_mixer2.py, not measured on its own (the gated norm's and
# the SSD warm-up's temporaries are not counted): +- 25 %. Nemotron-Nano-9B-v2 on an H100 (0.26): 2.16 read, 2.45
# logged. Qwen's gated delta net (gdn_profile_values_per_token) is read the same way, never measured: the same
# +- 25 % (torch.compile's fusions and the quantized projections' input copies are not counted).
ERR_MIXER_FORWARD_FRACTION = 0.25
# Model Runner V2: the H100 runs peaked up to 0.08 GiB above the estimate at 16,384 tokens; Llama-3.2-1B at
# 2,048 tokens peaked at 0.51 GiB, which the compiled-embedding term (0.50) now explains. The floor stays: one
# release measured.
ERR_ACTIVATION_MIN_V2 = int(0.4 * GiB)
# Multimodal encoders kvplan does not model (kvplan.core.mm_profile names the rest) keep a flat ± 2 GiB.
ERR_MM_ENCODER_PROFILE = ERR_MM_ENCODER_FLAT
ERR_NON_TORCH_V1 = int(0.30 * GiB)
ERR_NON_TORCH_V0 = int(0.05 * GiB)
ERR_NON_TORCH_V0_MULTI_GPU = int(0.15 * GiB)
ERR_NON_TORCH_0_6_4 = int(0.29 * GiB)
ERR_NON_TORCH_V2 = int(0.10 * GiB)
# Model Runner V2 from 0.27 on a GPU other than V2_SINCE_START_UP_MEASURED_GPUS: the largest residual of the
# 0.27.1 RTX PRO 6000 lines, rounded up.
ERR_NON_TORCH_V2_UNMEASURED_GPU = int(1.45 * GiB)
ERR_CUDAGRAPH_FRACTION = 0.5
# The V1 runner's CUDA-graph estimate for a Mamba hybrid: vLLM 0.26 estimated 0.56 GiB for Nemotron-Nano-9B-v2 on
# an H100 where the formula gives 0.17 (benchmarks/gpu-runs/h100-vllm-0.26.0.jsonl line 5, which sets this: no
# test of it). Hybrids carry at least the 0.39 GiB gap, rounded up.
ERR_CUDAGRAPH_HYBRID_MIN = int(0.4 * GiB)


NO_MAMBA_CACHE = Estimate.zero("no V0 Mamba state cache")


@dataclass(frozen=True, kw_only=True)
class Overheads:
    weights: Estimate
    activation: Estimate
    non_torch: Estimate
    cudagraph: Estimate
    mamba_cache: Estimate = NO_MAMBA_CACHE

    @property
    def terms(self) -> tuple[Estimate, ...]:
        return self.weights, self.activation, self.non_torch, self.cudagraph, self.mamba_cache

    @property
    def total_bytes(self) -> int:
        return sum(e.value_bytes for e in self.terms)

    @property
    def resident_bytes(self) -> int:
        """What stays allocated beside the KV cache: the profile's activation peak is freed before it."""
        return sum(e.value_bytes for e in (self.weights, self.non_torch, self.cudagraph, self.mamba_cache))

    @property
    def error_bytes(self) -> int:
        # Independent errors: root of the sum of squares, rounded up.
        squares = sum(e.error_bytes**2 for e in self.terms)
        return int(squares**0.5) + 1 if squares else 0


def _int_attr(model: ModelSpec, name: str) -> int | None:
    """Optional ModelSpec fields (``intermediate_size`` ...) that older ModelSpecs do not carry."""
    value = getattr(model, name, None)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def _model_dtype_bytes(engine: EngineConfig) -> int:
    return dtype_bytes(engine.model_dtype) if engine.model_dtype in ("float32", "float") else 2


def _rotary_dim(model: ModelSpec) -> int:
    explicit = _int_attr(model, "rotary_dim")
    if explicit:
        return explicit
    if model.uses_mla:
        return 64  # qk_rope_head_dim of DeepSeek-V2/V3, Kimi-K2
    heads = model.attention_layers
    return heads[0].head_size if heads else 0


def runtime_buffers_bytes(model: ModelSpec, engine: EngineConfig, *, first_stage: bool = True,
                          last_stage: bool = True) -> int:
    """Buffers vLLM allocates at load beyond the checkpoint shard: rope cos/sin cache, vocab padding rows and
    MXFP4 expert padding (MLA weight copies: ``mla_load_copies_bytes``)."""
    dtype = _model_dtype_bytes(engine)
    positions = (_int_attr(model, "rope_cache_positions") or model.max_position_tokens) + \
        (_int_attr(model, "local_rope_cache_positions") or 0)
    rope = positions * _rotary_dim(model) * dtype if model.attention_layers else 0
    vocab = model.vocab_size
    pad_rows = round_up(vocab, VOCAB_PADDING) - vocab if vocab else 0
    tp = engine.tensor_parallel_size
    tied = bool(getattr(model, "tie_word_embeddings", False))
    matrices = int(first_stage) + int(last_stage and not tied)
    # MXFP4 experts: padding, float32 biases and swizzled copies of the backend vLLM picks (mxfp4_backend.py)
    mxfp4 = mxfp4_moe_buffers_for(model, engine)
    padding = mxfp4.value_bytes if mxfp4 else 0
    return rope + matrices * pad_rows * model.hidden_size * dtype // tp + padding


def mxfp4_moe_buffers_for(model: ModelSpec, engine: EngineConfig) -> Mxfp4MoeBuffers | None:
    """The MXFP4 MoE load-time buffers of the largest PP stage's rank (None: no MXFP4 experts on CUDA)."""
    if model.quantization != "mxfp4" or not model.num_moe_layers or not engine_platform_is_cuda(engine):
        return None
    return mxfp4_moe_buffers(
        version=version_tuple(engine.behaviour.version), compute_capability=engine.compute_capability,
        num_experts=model.num_experts, moe_layers=model.num_moe_layers // engine.pipeline_parallel_size,
        hidden_size=model.hidden_size, intermediate_size=model.intermediate_size or model.hidden_size,
        tp=engine.tensor_parallel_size, lora=engine.settings.enable_lora)


def mla_load_copies_bytes(model: ModelSpec, engine: EngineConfig) -> int:
    """Bytes the MLA layers of the largest PP stage create at load, beside the checkpoint shard, on one rank.

    vLLM counts them in ``Model loading took`` (``process_weights_after_loading`` runs inside the measured
    load). N = heads / TP, L = kv_lora_rank, P / R / V = nope / rope / v head dims, Q = q_lora_rank (or the
    hidden size H with a plain q_proj), a = model-dtype bytes.

    * 0.8.0 on (V0 and V1 ``MLACommonImpl``; ``split_kv_b_proj`` in 0.33): W_UK_T and W_UV are views of
      ``get_and_maybe_dequant_weights(kv_b_proj)``: no copy when kv_b_proj is unquantized, else a dequantized
      ``L x N x (P + V)`` copy in the model dtype. DeepSeek-R1 fp8 at TP 8: 4 MiB a layer, 244 MiB in all.
    * 0.7.1-0.7.3 (V0 ``attention/backends/mla/utils.py``, VLLM_MLA_PERFORM_MATRIX_ABSORPTION=1 by default):
      that dequantized kv_b_proj, W_QR ``Q x N x R`` in the model dtype, and the absorbed W_Q_UK ``Q x N x L``
      and W_UV_O ``N x L x H``, re-quantized to fp8 (1 B + one float32 scale per weight block) when the
      checkpoint is fp8, else in the model dtype; the raw q/kv_b/o projections stay for prefill.
      DeepSeek-R1 fp8 at TP 8: 75.0 MiB a layer, 4.47 GiB over 61 layers.

    Only CUDA: the CPU backend may pack these differently (AMX)."""
    mla = model.mla
    v = version_tuple(engine.behaviour.version)
    if mla is None or engine.platform != "cuda" or v < (0, 7, 1):
        return 0
    stages = pp_stage_ranges(model.num_layers, engine.pipeline_parallel_size)
    per_stage = [sum(1 for i in stage if isinstance(layer := model.layers[i], AttentionLayer)
                     and layer.kind == "mla") for stage in stages]
    per_stage[-1] += sum(1 for layer in model.draft_layers if layer.kind == "mla")
    layers = max(per_stage)
    heads = model.num_attention_heads // engine.tensor_parallel_size
    act = _model_dtype_bytes(engine)
    weights = mla.attention_weights
    if weights is None and engine.settings.quantization == "fp8":
        weights = "fp8"  # --quantization fp8 quantizes the projections online, per tensor
    latent, nope, rope, v_dim = mla.kv_lora_rank, mla.qk_nope_head_dim, mla.qk_rope_head_dim, mla.v_head_dim
    kv_b_copy = latent * heads * (nope + v_dim) * act if weights is not None else 0
    if v >= (0, 8, 0):
        return layers * kv_b_copy
    q_in = mla.q_lora_rank or model.hidden_size
    w_qr = q_in * heads * rope * act

    def absorbed(rows: int, cols: int) -> int:
        if weights != "fp8":
            return rows * cols * act
        block = mla.fp8_block
        scales = cdiv(rows, block[0]) * cdiv(cols, block[1]) if block else 1
        return rows * cols + 4 * scales

    w_q_uk = absorbed(q_in, heads * latent)
    w_uv_o = absorbed(heads * latent, model.hidden_size)
    return layers * (kv_b_copy + w_qr + w_q_uk + w_uv_o)


def engine_platform_is_cuda(engine: EngineConfig) -> bool:
    return engine.platform == "cuda"


def weights_per_gpu(total_weights_bytes: int, engine: EngineConfig, model: ModelSpec | None = None) -> int:
    """The largest rank's checkpoint shard (buffers not included; see ``runtime_buffers_bytes``).

    Without the model: ``total / (tp * pp)``. With it, as vLLM shards: the vocab-parallel embedding and the
    lm_head split over TP on the first / last PP stage, norms replicated on every rank, the decoder layers
    split by ``get_pp_indices`` and over TP.
    """
    tp, pp = engine.tensor_parallel_size, engine.pipeline_parallel_size
    if model is None or not model.hidden_size:
        return total_weights_bytes // (tp * pp)
    dtype = _model_dtype_bytes(engine)
    hidden, layers = model.hidden_size, model.num_layers
    embed = model.vocab_size * hidden * dtype
    tied = bool(getattr(model, "tie_word_embeddings", False))
    head = 0 if tied else embed
    norms_per_layer = 2 * hidden * dtype
    body = max(0, total_weights_bytes - embed - head - norms_per_layer * layers - hidden * dtype)
    best = 0
    stages = pp_stage_ranges(layers, pp)
    for index, stage in enumerate(stages):
        first, last = index == 0, index == len(stages) - 1
        share = body * len(stage) // (layers * tp) + norms_per_layer * len(stage)
        share += (embed // tp if first else 0) + ((head // tp + hidden * dtype) if last else 0)
        best = max(best, share)
    return best


def forward_bytes_per_token(model: ModelSpec, engine: EngineConfig) -> int:
    """Live activations per token at the MLP of a decoder layer (the forward's peak).

    Residual, norm output and down-projection output (3 x hidden) plus gate_up (2 x I) and its activation
    (I), I per TP rank. MoE: fused_moe's caches ``[T, top_k, 2I + I + hidden]`` when the top-k is known.
    Without ``intermediate_size`` on the ModelSpec, I = 3.5 x hidden (Llama's ratio) and a wider error.
    """
    dtype = _model_dtype_bytes(engine)
    tp = engine.tensor_parallel_size
    hidden = model.hidden_size
    inter = _int_attr(model, "intermediate_size") or int(3.5 * hidden)
    dense = 3 * hidden + 3 * inter // tp
    top_k = _int_attr(model, "num_experts_per_tok")
    # Mixtral, gpt-oss, Llama 4: no moe_intermediate_size, the experts' width is intermediate_size
    # (MixtralMoE / FusedMoE(intermediate_size=config.intermediate_size) in their vLLM model files)
    moe_inter = _int_attr(model, "moe_intermediate_size") or (inter if _int_attr(model, "num_experts") else None)
    if top_k and moe_inter:
        dense = max(dense, 2 * hidden + top_k * (3 * moe_inter // tp + hidden))
    return max(max(dense, mixer_profile_values_per_token(model, engine)) * dtype,
               flashinfer_nvfp4_moe_bytes_per_token(model, engine))


# W4A4 NVFP4 experts (ModelOpt quant_algo "NVFP4") on SM12x GPUs (RTX 50xx, RTX PRO 6000 Blackwell, DGX Spark's
# SM121): ``select_nvfp4_moe_backend`` (fused_moe/oracle/nvfp4.py, 0.24.0, 0.26.0, 0.33.0) tries FlashInfer TRT-LLM
# and the two CuteDSL kernels (SM100 family only), then FlashInferExperts (FlashInfer CUTLASS: SM90, SM100, SM120
# families; NVFP4 needs capability >= 10.0), whose flashinfer-python is a dependency of these wheels. Read from 0.24.
NVFP4_FLASHINFER_CUTLASS_FROM = (0, 24, 0)
NVFP4_FLASHINFER_CUTLASS_MAJOR = 12
# FlashInfer CUTLASS stores the permuted fp4 activations' block scales one byte per 16 values.
NVFP4_SCALE_BLOCK = 16


def flashinfer_nvfp4_moe_bytes_per_token(model: ModelSpec, engine: EngineConfig) -> int:
    """Bytes per token live in a MoE layer whose NVFP4 experts run on FlashInfer's CUTLASS MoE [read, not measured].

    ``FusedMoeRunner.getWorkspaceInfo`` (flashinfer-python 0.6.12, the pin of vLLM 0.24.0,
    csrc/fused_moe/cutlass_backend/flashinfer_cutlass_fused_moe_binding.cu) allocates on every call, through
    tvm-ffi's environment allocator (PyTorch's caching allocator when called from torch: assumed, not read), the
    TRT-LLM MoE workspace ``getWorkspaceDeviceBufferSizes`` sizes (cutlass_fused_moe_kernels.cuh) for M tokens,
    top-k k, hidden H, the experts' width I per rank and E local experts: the overlapped GEMM inputs max(fp4
    permuted rows k H / 2, bf16 fc2 result 2 k H) = 2 k H; the overlapped outputs max(bf16 gated fc1 result 4 k I,
    2 k H); the fp4 activation scales k H / 16; ``blocked_row_to_unpermuted_row`` 4 E and four 4-byte maps of k.
    Beside it: the layer's input, residual and the experts' output rows (3 H in the model dtype) and the quantized
    input (H / 2 + H / 16). The per-expert padding of the scales (128 rows an expert) and the router logits are
    left out. Qwen3.5-122B-A10B-NVFP4 (H 3,072, k 8, I 1,024, E 256) in bf16: 121,152 B a token, where the
    Triton-shaped MoE figure gives 110,592."""
    if (model.moe_experts_quant_algo != "NVFP4" or not engine_platform_is_cuda(engine)
            or engine.behaviour.engine == "v0" or engine.compute_capability is None
            or engine.compute_capability[0] != NVFP4_FLASHINFER_CUTLASS_MAJOR
            or version_tuple(engine.behaviour.version) < NVFP4_FLASHINFER_CUTLASS_FROM):
        return 0
    top_k = _int_attr(model, "num_experts_per_tok")
    width = _int_attr(model, "moe_intermediate_size") or _int_attr(model, "intermediate_size")
    experts = _int_attr(model, "num_experts")
    if not top_k or not width or not experts:
        return 0
    hidden = model.hidden_size
    width //= engine.tensor_parallel_size
    bf16 = 2
    workspace = (top_k * hidden * bf16 + max(2 * top_k * width * bf16, top_k * hidden * bf16)
                 + top_k * hidden // NVFP4_SCALE_BLOCK + 4 * experts + 4 * 4 * top_k)
    return workspace + 3 * hidden * _model_dtype_bytes(engine) + hidden // 2 + hidden // NVFP4_SCALE_BLOCK


def mixer_profile_values_per_token(model: ModelSpec, engine: EngineConfig) -> int:
    """The widest state-space / linear-attention mixer's profile-run values per token (Mamba-2, Qwen's gated
    delta net); 0 for models without one. Read from vLLM, not measured alone: ERR_MIXER_FORWARD_FRACTION."""
    return max(mamba2_profile_values_per_token(model, engine), gdn_profile_values_per_token(model, engine))


def mamba2_profile_values_per_token(model: ModelSpec, engine: EngineConfig) -> int:
    """Values per token live at a Mamba-2 mixer's peak in the V1 profile run [read, not measured].

    ``MambaMixer2.forward`` / ``conv_ssm_forward`` with no attention metadata (mamba_mixer2.py, 0.11.0, 0.19.0,
    0.26.0, 0.33.0): ``in_proj`` gives ``[T, I + C + heads]`` (z, xBC, dt per rank; C = I + 2 x groups x
    d_state), ``ssm_output`` ``[T, I]`` is allocated, and the profile branch copies xBC twice
    (``transpose(0, 1).clone().transpose(0, 1)`` then ``.contiguous()``), beside the layer's hidden, residual and
    input rows (3 x hidden). Nemotron-Nano-9B-v2 (I 10,240, 8 x 128 state, 128 heads, hidden 4,480): 70,912
    values a token, 2.16 GiB at 16,384 tokens in bf16, where vLLM 0.26 logged a 2.45 GiB peak on an H100
    (benchmarks/gpu-runs, not fitted). V0's profile runs the mixer with its own cache (not modelled here)."""
    if engine.behaviour.engine == "v0":
        return 0
    tp = engine.tensor_parallel_size
    best = 0
    for layer in model.mamba_layers:
        if layer.kind != "mamba2" or not layer.intermediate_size:
            continue
        inner = layer.intermediate_size // tp
        groups = layer.n_groups // tp if layer.n_groups % tp == 0 else layer.n_groups  # replicated otherwise
        conv = inner + 2 * groups * layer.state_size
        heads = max(1, layer.num_heads // tp)
        best = max(best, 3 * model.hidden_size + (inner + conv + heads) + inner + 2 * conv)
    return best


# Qwen's gated delta net (Qwen3-Next, Qwen3.5 / 3.6) runs its input projections outside the attention custom op
# from 0.11.1 (qwen3_next.py ``Qwen3NextGatedDeltaNet.forward``, 0.11.1-0.21; layers/mamba/gdn/qwen_gdn_linear_attn.py
# ``QwenGatedDeltaNetAttention.forward_cuda``, 0.22-0.34); up to 0.11.0 the whole mixer sat inside
# ``torch.ops.vllm.gdn_attention``, whose ``_forward`` returns at once in the profile run ("V1 profile run").
GDN_PROJECTIONS_OUTSIDE_OP_FROM = (0, 11, 1)
# The decoder layer preallocates the mixer's output (``self_attention_output = torch.empty_like(hidden_states)``,
# Qwen3NextDecoderLayer.forward, 0.10.2-0.24); from 0.26 the mixer returns ``out_proj``'s output instead (0.25 not
# read: taken as 0.24).
GDN_OUTPUT_BUFFER_BEFORE = (0, 26, 0)


def gdn_profile_values_per_token(model: ModelSpec, engine: EngineConfig) -> int:
    """Values per token live at a Qwen gated-delta-net mixer's peak in the V1 profile run [read, not measured].

    ``QwenGatedDeltaNetAttention.forward_cuda`` (layers/mamba/gdn/qwen_gdn_linear_attn.py, 0.22, 0.24.0, 0.33.0;
    ``Qwen3NextGatedDeltaNet.forward`` in qwen3_next.py, 0.11.1-0.18): with no attention metadata the core op
    (conv1d + the chunked delta rule, ``_forward_core``) returns at once (from 0.2x after a T = 64 kernel warm-up
    whose tensors it frees and ``empty_cache``s), so none of the FLA kernels' fp32 per-chunk intermediates
    ([chunks, heads, 64, 64] A, [chunks, heads, K, V] states) is alive in the profile. What is: the layer's input
    and residual (2 x hidden) and, up to 0.24, the preallocated output (hidden); ``in_proj_qkvz``'s
    ``[T, 2 key_dim + 2 value_dim]`` (per rank) and ``in_proj_ba``'s ``[T, 2 v_heads]`` with the contiguous b, a
    copies; ``core_attn_out`` zeros ``[T, v_heads, v_dim]``; the gated norm's z copy (``z.reshape(-1, head_v_dim)``
    of a strided view) and its output; and ``out_proj``'s output (hidden) at the peak. Qwen3-Next's interleaved
    layout (``gqa_interleaved_layout``) also builds ``mixed_qkv`` by ``torch.cat`` ([T, 2 key_dim + value_dim]);
    counted as torch.compile (the default) materialises it, not eager's extra per-tensor copies.

    Qwen3.6-35B-A3B (hidden 2,048; 16 x 128 keys, 32 x 128 values) on 0.24: 4 x 2,048 + 2 x 2,048 + 5 x 4,096 +
    4 x 32 = 32,896 values a token, level with its MoE layer's 32,768. OLMo's and Kimi's GDN (no
    ``flashinfer_gdn``), KDA and linear attention: 0 (not read)."""
    if engine.behaviour.engine == "v0" or version_tuple(engine.behaviour.version) < GDN_PROJECTIONS_OUTSIDE_OP_FROM:
        return 0
    tp = engine.tensor_parallel_size
    hidden = model.hidden_size
    rows = 3 if version_tuple(engine.behaviour.version) < GDN_OUTPUT_BUFFER_BEFORE else 2
    interleaved = model.model_type == "qwen3_next"
    best = 0
    for layer in model.mamba_layers:
        if layer.kind != "gdn" or not layer.flashinfer_gdn:
            continue
        key = layer.num_k_heads * layer.head_k_dim // tp
        value = layer.num_v_heads * layer.head_v_dim // tp
        heads = max(1, layer.num_v_heads // tp)
        values = (rows + 1) * hidden + (2 * key + 2 * value) + 4 * heads + 3 * value
        if interleaved:
            values += 2 * key + value
        best = max(best, values)
    return best


# V1 GPUModelRunner's dummy sampler run on CUDA (``_dummy_sampler_run``, v1/worker/gpu_model_runner.py: rows x
# padded vocab of random logits, temperature 0.5, top-k vocab - 1, top-p 0.9, no logprobs, no penalties), which
# top-k/top-p path it takes, by release: (first release, path). Read in each wheel's
# v1/sample/ops/topk_topp_sampler.py (TopKTopPSampler.__init__, apply_top_k_top_p), envs.py
# (VLLM_USE_FLASHINFER_SAMPLER) and METADATA (Requires-Dist: flashinfer-python); pinned in
# tests/core/test_sampler_paths.py.
V1_SAMPLER_PATHS: tuple[tuple[tuple[int, int, int], str], ...] = (
    # 0.8-0.11.0: FlashInfer whenever ``flashinfer.sampling`` imports and VLLM_USE_FLASHINFER_SAMPLER is not 0
    # (None means on in V1), else forward_native's sort. flashinfer-python is no dependency of the wheel (0.9.2:
    # absent; 0.10.2, 0.11.0: the optional extra vllm[flashinfer]): a plain pip install sorts.
    ((0, 0, 0), "sort_unless_flashinfer_installed"),
    # 0.11.1-0.16: flashinfer-python a hard dependency, but the FlashInfer sampler opt-in
    # (``if envs.VLLM_USE_FLASHINFER_SAMPLER:``, default None): forward_native, sort + out-of-place scatter.
    ((0, 11, 1), "sort"),
    # 0.17-0.20: still opt-in; forward_native's apply_top_k_top_p goes to apply_top_k_top_p_triton for >= 8 rows.
    ((0, 17, 0), "triton"),
    # 0.21+: VLLM_USE_FLASHINFER_SAMPLER defaults to True (FlashInfer on GPUs its backend supports), and the dummy
    # run samples twice, the second time with a per-request generator, which forward_cuda hands to forward_native:
    # Triton (>= 8 rows; any row count from 0.32). Both passes are in place.
    ((0, 21, 0), "flashinfer_then_triton"),
)


def v1_sampler_path(engine: EngineConfig) -> str:
    """The V1 runner's top-k/top-p path in the profile's dummy sampler run (``V1_SAMPLER_PATHS``); "sort" for
    V0 and other platforms than CUDA (forward_native / forward_cpu sort there as far as kvplan models them)."""
    behaviour = engine.behaviour
    if behaviour.engine == "v0" or not engine_platform_is_cuda(engine):
        return "sort"
    v = version_tuple(behaviour.version)
    path = V1_SAMPLER_PATHS[0][1]
    for first, name in V1_SAMPLER_PATHS:
        if v >= first:
            path = name
    rows = min(engine.max_num_batched_tokens, engine.max_num_seqs)
    if path in ("triton", "flashinfer_then_triton") and rows < TRITON_TOPK_MIN_ROWS and v < (0, 32, 0):
        return "sort"  # (the 0.21+ generator pass sorts below 8 rows)
    return path


def flashinfer_sampler_unknown(engine: EngineConfig) -> bool:
    """V1 before 0.11.1: ``TopKTopPSampler`` uses FlashInfer only when the package imports, and flashinfer-python
    is no dependency of the wheel there (``V1_SAMPLER_PATHS``): a plain pip install sorts, an image with
    flashinfer does not. kvplan states the sort (the pip default) and half the gap as error."""
    return engine.model_runner != "v2" and v1_sampler_path(engine) == "sort_unless_flashinfer_installed"


def in_place_sampler_bytes(engine: EngineConfig) -> int:
    """Bytes per logits element of the FlashInfer and Triton paths: the model-dtype logits, their fp32 copy
    (none for an fp32 model) and two fp32 buffers (``SAMPLER_FP32_BUFFERS``)."""
    dtype = _model_dtype_bytes(engine)
    return dtype + (0 if dtype == 4 else 4) + 4 * SAMPLER_FP32_BUFFERS


def sampler_bytes_per_element(engine: EngineConfig) -> float:
    """Sampler peak per logits element on the path ``v1_sampler_path`` names: the calibrated sort figure, or
    the in-place paths' read one."""
    if v1_sampler_path(engine) in ("sort", "sort_unless_flashinfer_installed"):
        return CAL_SAMPLER_SORT_BYTES
    return in_place_sampler_bytes(engine)


def _triton_buffer_bytes(engine: EngineConfig, rows: int, vocab: int) -> int:
    """apply_top_k_top_p_triton's cached per-program fp32 rows (``TRITON_TOPK_PROGRAMS``)."""
    if v1_sampler_path(engine) not in ("triton", "flashinfer_then_triton"):
        return 0
    programs = min(rows, TRITON_TOPK_PROGRAMS)
    return min(1 << (programs - 1).bit_length(), TRITON_TOPK_PROGRAMS) * vocab * 4


def _sampler_bytes(model: ModelSpec, engine: EngineConfig, rows: int) -> int:
    """The dummy sampler run's peak over [rows, padded vocab] logits.

    V1: the per-element cost of its top-k/top-p path (``sampler_bytes_per_element``), the Triton kernel's
    buffer and the gathered hidden states. Model Runner V2 samples in place (Gumbel-max in Triton, no
    top-k/top-p in the profile): one fp32 copy.
    """
    vocab = round_up(model.vocab_size, VOCAB_PADDING)
    elements = rows * vocab
    if engine.model_runner == "v2":
        return elements * (V2_SAMPLER_WARMUP_BYTES if release(engine.behaviour.version) >= (0, 33) else 4)
    tokens = engine.max_num_batched_tokens
    return (int(elements * sampler_bytes_per_element(engine)) + _triton_buffer_bytes(engine, rows, vocab)
            + tokens * model.hidden_size * _model_dtype_bytes(engine))


# The fused-MoE modular kernel's scratch comes from the worker's WorkspaceManager (v1/worker/workspace.py, from
# 0.13): grown on the profile's forward and kept, so it is still held when the dummy sampler runs.
MOE_WORKSPACE_FROM = (0, 13, 0)
# 0.13-0.17 chunk the experts' tokens (FusedMoEModularKernel._chunk_info: VLLM_FUSED_MOE_CHUNK_SIZE, 16,384); 0.18+
# size the scratch for all of them (M_chunk = M_full).
MOE_CHUNK_TOKENS_BEFORE_0_18 = 16 * 1024


# ModelOpt W4A16_NVFP4 experts (fp4 weights, bf16 activations; nvidia/Qwen3.6-35B-A3B-NVFP4): from 0.22
# ``ModelOptNvFp4FusedMoE`` asks for activation key None, which every W4A4 backend refuses: MarlinExperts
# (quantization/modelopt.py, 0.22, 0.24.0, 0.26.0, 0.33.0). From 0.32 ``prioritize_humming`` puts the Humming kernel
# ahead of Marlin on SM90 (quantization/utils/humming/priority.py, 0.33.0: Humming's workspace not read, not counted).
MARLIN_W4A16_NVFP4_FROM = (0, 22, 0)
HUMMING_AHEAD_ON_SM90_FROM = (0, 32, 0)


def marlin_w4a16_nvfp4_experts(model: ModelSpec, engine: EngineConfig) -> bool:
    """W4A16 NVFP4 experts on MarlinExperts, whose ``workspace_shapes`` (experts/marlin_moe.py, 0.22-0.34:
    (M x top_k, max(I, K)), (M x top_k x max(2I, K),), output (M, K), I = ``marlin_moe_intermediate_size``, the
    experts' width per rank) hold the same elements as TritonExperts'."""
    if model.moe_experts_quant_algo != "W4A16_NVFP4":
        return False
    version = version_tuple(engine.behaviour.version)
    if version < MARLIN_W4A16_NVFP4_FROM:
        return False
    return version < HUMMING_AHEAD_ON_SM90_FROM or engine.compute_capability not in (None, (9, 0))


def _moe_workspace_bytes(model: ModelSpec, engine: EngineConfig) -> int:
    """TritonExperts' workspace (the unquantized MoE path on CUDA; fused_moe.py 0.13-0.19, experts/triton_moe.py
    0.22-0.32): ``_allocate_buffers`` takes ``get_simultaneous`` of max(M x top_k x max(I, K), M x K) and
    M x top_k x max(2I, K) elements in the activation dtype (M tokens, I the experts' width per TP rank, K hidden).
    MarlinExperts for W4A16 NVFP4 experts takes the same (``marlin_w4a16_nvfp4_experts``). Other quantized
    checkpoints take other expert kernels (OAI Triton for mxfp4, CUTLASS / DeepGEMM for fp8, FlashInfer for W4A4
    NVFP4...) whose persistent workspaces kvplan has not read: 0 there."""
    top_k = _int_attr(model, "num_experts_per_tok")
    quantized = bool(model.quantization or engine.settings.quantization)
    if (not top_k or not _int_attr(model, "num_experts")
            or (quantized and not marlin_w4a16_nvfp4_experts(model, engine)) or engine.behaviour.engine == "v0"
            or not engine_platform_is_cuda(engine)
            or version_tuple(engine.behaviour.version) < MOE_WORKSPACE_FROM):
        return 0
    tp = engine.tensor_parallel_size
    width = (_int_attr(model, "moe_intermediate_size") or _int_attr(model, "intermediate_size") or 0) // tp
    hidden = model.hidden_size
    tokens = engine.max_num_batched_tokens
    if version_tuple(engine.behaviour.version) < (0, 18, 0):
        tokens = min(tokens, MOE_CHUNK_TOKENS_BEFORE_0_18)
    common = max(tokens * top_k * max(width, hidden), tokens * hidden)
    return (common + tokens * top_k * max(2 * width, hidden)) * _model_dtype_bytes(engine)


def _pp_intermediate_bytes(model: ModelSpec, engine: EngineConfig) -> int:
    """V1 runner, PP ranks after the first: ``_dummy_run`` allocates ``self.intermediate_tensors``
    (``make_empty_intermediate_tensors``: hidden states and residual, [max_num_tokens, hidden] each, model dtype)
    on the profile's first forward (gpu_model_runner.py, read in 0.11.0 and 0.19.0), so the peak counts them."""
    if engine.pipeline_parallel_size < 2 or engine.model_runner == "v2" or engine.behaviour.engine == "v0":
        return 0
    return 2 * engine.max_num_batched_tokens * model.hidden_size * _model_dtype_bytes(engine)


def _compiled_embedding_bytes(model: ModelSpec, engine: EngineConfig) -> int:
    """Model Runner V2 with torch.compile: the profile peak never fell below one embedding table per rank plus
    two hidden-state rows per batched token (H100, vLLM 0.26: Gemma-3-12B 1.93 GiB at 4,096 tokens and 2.11 at
    16,384, this term giving 1.93 and 2.11; Llama-3.2-1B 0.51 at 2,048, giving 0.50). Likely Inductor
    benchmarking the embedding kernel on fresh copies of its inputs during compilation, which runs inside the
    profile; not found in vLLM's code, hence measured, not derived. Not seen with enforce_eager (no compile).
    It carries over: on 0.28 (L40S, L4; vllm-gpu-logs.jsonl lines 15-19) the plan with it and 0.26's
    non-torch memory is within 0.09 GiB of the logged KV memory, where the forward alone leaves 0.6-1.2 GiB."""
    if engine.model_runner != "v2" or engine.settings.enforce_eager or not model.vocab_size:
        return 0
    dtype = _model_dtype_bytes(engine)
    table = round_up(model.vocab_size, VOCAB_PADDING) // engine.tensor_parallel_size * model.hidden_size * dtype
    return table + 2 * engine.max_num_batched_tokens * model.hidden_size * dtype


def estimate_activation(model: ModelSpec, engine: EngineConfig, *, last_stage: bool = True) -> Estimate:
    """Profile-run peak: the largest of the dummy forward of max_num_batched_tokens, the sampler over [rows,
    padded vocab] and, for Model Runner V2 under torch.compile up to 0.26, ``_compiled_embedding_bytes``."""
    tokens = engine.max_num_batched_tokens
    per_token = forward_bytes_per_token(model, engine)
    forward = tokens * per_token
    rows = min(tokens, engine.max_num_seqs)
    sampler = _sampler_bytes(model, engine, rows) if last_stage and model.vocab_size else 0
    if sampler:
        sampler += _moe_workspace_bytes(model, engine)
    embedding = _compiled_embedding_bytes(model, engine)
    if engine.pipeline_parallel_size > 1 and embedding:
        # The first stage compiles the embedding, the last samples and keeps the penalty state, which non-torch
        # counts for every stage: the first stage's floor is taken less it, so that the binding stage's total is
        # max(first, last) and not both at once.
        embedding = max(0, embedding - v2_request_state_bytes(engine, model))
    value = max(forward, sampler, embedding)
    widen = 1.0 if _int_attr(model, "intermediate_size") or sampler >= forward else 2.0
    if forward > sampler and mixer_profile_values_per_token(model, engine) * _model_dtype_bytes(engine) >= per_token:
        widen = ERR_MIXER_FORWARD_FRACTION / ERR_ACTIVATION_FRACTION  # read from the mixer, never measured alone
    floor = ERR_ACTIVATION_MIN_V2 if engine.model_runner == "v2" else ERR_ACTIVATION_MIN
    error = max(int(value * ERR_ACTIVATION_FRACTION * widen), floor)
    if sampler >= forward and sampler and flashinfer_sampler_unknown(engine):
        elements = rows * round_up(model.vocab_size, VOCAB_PADDING)
        spread = int(elements * (CAL_SAMPLER_SORT_BYTES - in_place_sampler_bytes(engine)) / 2)
        error = int((error**2 + spread**2) ** 0.5)
    if embedding > max(forward, sampler):
        which = f"embedding table ({model.vocab_size} x {model.hidden_size}) and 2 x {tokens} hidden states"
    elif sampler >= forward:
        which = f"sampler over {rows} x {model.vocab_size} logits"
        path = v1_sampler_path(engine) if engine.model_runner != "v2" else ""
        if flashinfer_sampler_unknown(engine):
            which += (" (PyTorch sort top-k/top-p: flashinfer is no dependency of vLLM before 0.11.1; with it "
                      "installed, FlashInfer's in-place path takes less)")
        elif path == "triton":  # 0.17-0.20: FlashInfer's sampler is opt-in (V1_SAMPLER_PATHS)
            which += " (in-place Triton top-k/top-p; FlashInfer's sampler opt-in)"
        elif path == "flashinfer_then_triton":
            which += " (in-place FlashInfer, then Triton top-k/top-p)"
        elif path == "sort" and engine.behaviour.engine != "v0":
            which += " (PyTorch sort top-k/top-p: FlashInfer's sampler opt-in)"
        if workspace := _moe_workspace_bytes(model, engine):
            which += f" + the fused-MoE workspace kept from the forward ({workspace / GiB:.2f} GiB)"
    else:
        which = f"dummy forward of {tokens} tokens"
    if last_stage and (intermediate := _pp_intermediate_bytes(model, engine)):
        value += intermediate
        which += f" + PP intermediate-tensor buffers ({intermediate / GiB:.2f} GiB)"
    runner = ", Model Runner V2" if engine.model_runner == "v2" else ""
    # Multimodal: the encoder's dummy batch runs first and its outputs stay cached through the text forward
    # (kvplan.core.mm_profile); encoders kvplan does not model keep a flat ERR_MM_ENCODER_PROFILE.
    profile = encoder_profile(model, engine)
    if profile.peak_bytes > value + profile.cached_bytes:
        which = "multimodal encoder's dummy batch"
    text_side = value + profile.cached_bytes
    encoder_error = profile.error_bytes
    if profile.peak_bytes:
        # a read encoder peak moves the max only as far as its upper end passes the text side
        encoder_error = min(encoder_error, max(0, profile.peak_bytes + encoder_error - text_side))
    value = max(text_side, profile.peak_bytes)
    error = int((error**2 + encoder_error**2) ** 0.5)
    encoder = profile.note
    return Estimate(value_bytes=value, error_bytes=error,
                    source=f"estimate: profile-run peak = {which}{runner}{encoder}")


def estimate_non_torch(engine: EngineConfig, model: ModelSpec | None = None, *,
                       enforce_eager: bool = False) -> Estimate:
    """Memory that appears after vLLM's snapshot outside the activation peak (measured or calibrated), with the
    NCCL NVLS buffers where vLLM counts them (``estimate_nvls``). From 0.11 per release and parallelism
    (kvplan.core.non_torch); ``model`` sizes the FlashInfer all-reduce fusion workspace of 0.27+."""
    base = _non_torch_base(engine, model, enforce_eager=enforce_eager)
    return _with_nvls(_with_nvls(base, estimate_nvls(engine)), estimate_nccl_other(engine))


def _non_torch_base(engine: EngineConfig, model: ModelSpec | None = None, *, enforce_eager: bool = False) -> Estimate:
    extra = (engine.tensor_parallel_size * engine.pipeline_parallel_size - 1) * CAL_NON_TORCH_PER_EXTRA_RANK
    if engine.behaviour.engine == "v0":
        return _non_torch_v0(engine, extra)
    if engine.model_runner == "v2" and release(engine.behaviour.version) < PRE_PROFILE_COUNTED_FROM:
        measured = Estimate(value_bytes=int(MEASURED_NON_TORCH_V2), error_bytes=ERR_NON_TORCH_V2,
                            source="Model Runner V2 non-torch at TP 1 (measured: H100, vLLM 0.26)")
        return non_torch.with_parallelism(measured, engine, model, enforce_eager=enforce_eager)
    if engine.model_runner == "v2":
        # Counted since start-up: 0.26's measured growth and the penalty state. The 0.28 TP 2 / PP 2 lines (L4)
        # and the 0.27.1 TP 2 line fit without the TP group's communicator or the PP offset of the V1 runner's
        # measurements (kvplan.core.non_torch), so only the fusion workspace is added, where vLLM creates it.
        buffers = v2_request_state_bytes(engine, model)
        read = f" + {buffers / GiB:.2f} GiB of per-request token counts (read)" if buffers else ""
        measured_gpu = engine.compute_capability in V2_SINCE_START_UP_MEASURED_GPUS
        error = ERR_NON_TORCH_V2 if measured_gpu else ERR_NON_TORCH_V2_UNMEASURED_GPU
        where = "" if measured_gpu else ("; not measured on this GPU: 0.27.1 on an RTX PRO 6000 was off by up to "
                                         "1.44 GiB")
        total = Estimate(value_bytes=int(MEASURED_NON_TORCH_V2 + extra) + buffers, error_bytes=error,
                         source=f"Model Runner V2 non-torch memory since start-up (measured: H100, vLLM 0.26; "
                                f"tested on L40S / L4, 0.28){read}{where}")
        return non_torch.with_parallelism(total, engine, model, enforce_eager=enforce_eager, stages=False,
                                          tp_group=False)
    if non_torch.applies(engine):
        return non_torch.with_parallelism(non_torch.single_gpu_growth(engine), engine, model,
                                          enforce_eager=enforce_eager)
    return Estimate(value_bytes=int(CAL_NON_TORCH_V1 + extra), error_bytes=ERR_NON_TORCH_V1,
                    source="estimate: V1 non-torch and persistent buffers after the snapshot (calibrated)")


def v2_request_state_bytes(engine: EngineConfig, model: ModelSpec | None) -> int:
    """Model Runner V2's penalty state, allocated with the sampler in ``load_model`` (after the weights are
    measured, before the profile) and counted by vLLM 0.27+'s ``total_consumed``: ``output_bin_counts``
    [max_num_reqs, vocab] and ``prompt_bin_mask`` [max_num_reqs, cdiv(vocab, 32)], both int32
    (v1/worker/gpu/sample/penalties.py PenaltiesState, the same in the 0.26-0.34 wheels). The vocabulary is the
    config's (``model_config.get_vocab_size()``), unpadded. Up to 0.26 the profile did not count memory taken
    before it (0). Only the last pipeline stage samples (see ``estimate_activation``)."""
    if (model is None or not model.vocab_size or engine.model_runner != "v2"
            or release(engine.behaviour.version) < PRE_PROFILE_COUNTED_FROM):
        return 0
    rows = engine.max_num_seqs
    return rows * model.vocab_size * 4 + rows * cdiv(model.vocab_size, 32) * 4


def _non_torch_v0(engine: EngineConfig, extra: float) -> Estimate:
    """V0: the growth its profile printed (CAL_NON_TORCH_V0, more with several GPUs) or, in 0.6.4, all the
    non-torch memory on the GPU (MEASURED_NON_TORCH_0_6_4)."""
    absolute = version_tuple(engine.behaviour.version) == ABSOLUTE_NON_TORCH_RELEASE
    multi_gpu = engine.tensor_parallel_size * engine.pipeline_parallel_size > 1
    if absolute:
        value, error = MEASURED_NON_TORCH_0_6_4 + extra, float(ERR_NON_TORCH_0_6_4)
        source = (f"measured: all non-torch memory, the CUDA context included, which vLLM "
                  f"{engine.behaviour.version} counts against the KV cache (public 0.6.4 logs)")
    else:
        value, error = CAL_NON_TORCH_V0 + extra, float(ERR_NON_TORCH_V0)
        source = "estimate: V0 non-torch growth (calibrated on GPU logs)"
    if multi_gpu:
        value += CAL_NON_TORCH_V0_MULTI_GPU
        # the TP 1 spread is inside the multi-GPU one; 0.6.4's context spread is not
        error = math.hypot(error, ERR_NON_TORCH_V0_MULTI_GPU) if absolute else float(ERR_NON_TORCH_V0_MULTI_GPU)
        source += " with NCCL and the custom all-reduce across GPUs"
    return Estimate(value_bytes=int(value), error_bytes=int(error), source=source)


NO_NVLS = "no NCCL NVLS buffers"


def _with_nvls(base: Estimate, nvls: Estimate) -> Estimate:
    if nvls.source == NO_NVLS:
        return base
    error = int((base.error_bytes**2 + nvls.error_bytes**2) ** 0.5)
    return Estimate(value_bytes=base.value_bytes + nvls.value_bytes, error_bytes=error,
                    source=f"{base.source} + {nvls.source}")


def nvls_group_sizes(engine: EngineConfig) -> tuple[int, ...]:
    """The NCCL groups of one rank that are large enough for NVLS: its TP group and, past 2 stages, its PP group
    (both built with a device communicator by parallel_state.py). DP / EP groups are not modelled."""
    return tuple(size for size in (engine.tensor_parallel_size, engine.pipeline_parallel_size)
                 if size >= NVLS_MIN_RANKS)


def _nvls_capable_groups(engine: EngineConfig) -> tuple[int, ...]:
    """``nvls_group_sizes`` where the GPU could set NVLS up at all (CUDA, Hopper or later, or a generation not
    known); the NVSwitch fabric itself is each caller's to check."""
    capability = engine.compute_capability
    if engine.platform != "cuda" or (capability is not None and capability < (9, 0)):
        return ()
    return nvls_group_sizes(engine)


def nvls_bytes(ranks: int) -> int:
    """Device memory one rank binds for the NVLS buffers of all the communicators of a ``ranks``-GPU group (NCCL
    2.19-2.2x sizes, 24 channels: 2 x 288 MiB x ranks; 4.5 GiB at 8)."""
    per_rank = NVLS_CHANNELS * 2 * (NVLS_BUFF_BYTES + NVLS_MEM_ALIGN_BYTES)
    return NVLS_COMMUNICATORS_PER_GROUP * per_rank * ranks


def nvls_after_snapshot(engine: EngineConfig) -> bool:
    """Whether vLLM creates its NCCL communicators after its memory snapshot, so that it counts their buffers
    before sizing the KV cache: V0, and V1 before 0.11 (NVLS_OUTSIDE_KV_FROM)."""
    return engine.behaviour.engine == "v0" or version_tuple(engine.behaviour.version) < NVLS_OUTSIDE_KV_FROM


def estimate_nvls(engine: EngineConfig) -> Estimate:
    """NCCL NVLink SHARP buffers vLLM counts before sizing the KV cache (V0, V1 before 0.11) [estimate].

    On an NVSwitch GPU (``engine.nvswitch``) at TP or PP > 2: ``nvls_bytes`` per group, +- a third (the NCCL release
    and its channel count are not known). On a GPU whose fabric is not known (no catalog entry: ``--gpu-memory``
    alone, a card kvplan lacks) of Hopper or later or of unknown generation: 0 +- that size. Nothing on PCIe cards,
    before Hopper, with NCCL_NVLS_ENABLE=0, off CUDA, or from vLLM 0.11 in V1 (``nvls_before_snapshot``)."""
    if not nvls_after_snapshot(engine):
        return Estimate.zero(NO_NVLS)
    return _nvls_buffers(engine)


def nvls_before_snapshot(engine: EngineConfig) -> Estimate:
    """The NCCL buffers V1 from 0.11 creates before its memory snapshot (PR #25359): not in the profiled non-KV
    memory, but gone from the free memory its start check reads and 0.34's extensible cache is sized from.

    How much of the NVLS size is there then is not known: PR #25359 saw ~4.5 GiB go at TP 8 (0.11-era NCCL
    2.27), while the vLLM 0.19 sweep on H100s (benchmarks/gpu-runs/public-issues.jsonl, NCCL 2.27.5) used 1.53-1.55
    GiB at its snapshot at TP 4 against 1.51-1.53 at TP 2, which holds no NVLS: NCCL 2.22+ connects lazily
    (NCCL_RUNTIME_CONNECT), so the buffers may come only with a collective that picks NVLS. Between none and all
    of it: half the NVLS size +- half. The other NCCL buffers' bound (``estimate_nccl_other``) was measured where
    V0 counted them, and is inside this range at TP 8."""
    if nvls_after_snapshot(engine):
        return Estimate.zero(NO_NVLS)
    nvls = _nvls_buffers(engine)
    if nvls.source == NO_NVLS or not nvls.value_bytes:
        return nvls
    half = nvls.value_bytes // 2
    return Estimate(value_bytes=half, error_bytes=int((half**2 + nvls.error_bytes**2 / 4) ** 0.5),
                    source=f"NCCL NVLS buffers at the snapshot ({nvls.value_bytes / GiB:.2f} GiB in full at these "
                           "ranks; NCCL 2.22+ may connect them only when a collective picks NVLS: half +- half)")


def estimate_nccl_other(engine: EngineConfig) -> Estimate:
    """NCCL's buffers besides NVLS where vLLM counts them before sizing the KV cache (V0, V1 before 0.11)
    [estimate, not modelled: bounded by vllm#9699's 405B run]."""
    if not nvls_after_snapshot(engine):
        return Estimate.zero(NO_NVLS)
    return _nccl_other_buffers(engine)


def _nccl_other_buffers(engine: EngineConfig) -> Estimate:
    """On an NVSwitch GPU of Hopper or later, groups of more than 2 ranks (the NVLS conditions, whatever
    NCCL_NVLS_ENABLE says): half of NCCL_OTHER_BOUND_BYTES_8_RANKS x ranks / 8, +- half."""
    groups = _nvls_capable_groups(engine)
    if not groups or not engine.nvswitch:
        return Estimate.zero(NO_NVLS)
    bound = sum(NCCL_OTHER_BOUND_BYTES_8_RANKS * ranks // 8 for ranks in groups)
    return Estimate(value_bytes=bound // 2, error_bytes=bound // 2,
                    source=f"NCCL's other buffers (not modelled: up to {bound / GiB:.2f} GiB, as kvplan missed in "
                           "vllm#9699's 405B run at TP 8; half +- half)")


def _nvls_buffers(engine: EngineConfig) -> Estimate:
    groups = _nvls_capable_groups(engine)
    if not groups or engine.nvswitch is False:
        return Estimate.zero(NO_NVLS)
    if getattr(engine.settings, "nccl_nvls_enable", None) is False:
        return Estimate.zero(f"no NCCL NVLS buffers (NCCL_NVLS_ENABLE=0; {sum(map(nvls_bytes, groups)) / GiB:.2f} "
                             "GiB with it on an NVSwitch GPU)")
    size = sum(nvls_bytes(ranks) for ranks in groups)
    ranks = " and ".join(str(r) for r in groups)
    if engine.nvswitch is None:
        return Estimate(value_bytes=0, error_bytes=size,
                        source=f"NCCL NVLS buffers on NVSwitch GPUs at {ranks} ranks: GPU fabric not known, "
                               f"not modelled, +- {size / GiB:.2f} GiB")
    return Estimate(value_bytes=size, error_bytes=int(size * ERR_NVLS_FRACTION),
                    source=f"NCCL NVLS buffers, {NVLS_COMMUNICATORS_PER_GROUP} communicators x {ranks} ranks on an "
                           f"NVSwitch GPU ({size / GiB:.2f} GiB, +- a third: NCCL release and channels not known; "
                           "NCCL_NVLS_ENABLE=0 removes them)")


def capture_sizes(engine: EngineConfig) -> list[int]:
    """``VllmConfig._set_cudagraph_sizes``: ``[1, 2, 4] + range(8, 256, 8) + range(256, max + 1, 16)`` with
    max = min(2 * max_num_seqs * (1 + num_speculative_tokens), ceiling, max_num_batched_tokens); the ceiling
    is 512, 1024 on SM100 GPUs (B200/GB200/B300) from 0.28. From 0.20.1 max_num_batched_tokens is added when
    it fits. The widest uniform decode batches are added too: from 0.29, with k drafted tokens, (1 + k) times
    a request-count grid (1, 2, 4, multiples of 8 then 16, and max_num_seqs itself) up to the pre-clamp max;
    from 0.31, without speculation, max_num_seqs itself. Read in the 0.20-0.33 wheels; the H100 logs in
    benchmarks/gpu-runs list the 51 sizes this gives for 256+ sequences."""
    v = version_tuple(engine.behaviour.version)
    sm100 = engine.compute_capability is not None and engine.compute_capability[0] == 10
    ceiling = 1024 if sm100 and v >= (0, 28, 0) else 512
    tokens, seqs = engine.max_num_batched_tokens, engine.max_num_seqs
    # decode_query_len = 1 + num_speculative_tokens: a decode step verifies k drafted tokens per sequence
    query_len = 1 + engine.settings.num_speculative_tokens
    widest = min(2 * seqs * query_len, ceiling)
    uniform: list[int] = []
    if query_len > 1 and v >= (0, 29, 0):
        requests = min(seqs, ceiling)
        counts = {*_strided_grid(requests), requests}
        uniform = [n * query_len for n in counts if n * query_len <= widest]
    elif v >= (0, 31, 0) and seqs <= widest:
        uniform = [seqs]
    largest = min(widest, tokens)
    sizes = _strided_grid(largest)
    if v >= (0, 20, 1) and tokens <= largest:
        sizes.append(tokens)
    return sorted({*sizes, *(size for size in uniform if size <= tokens)}) or [1]


def _strided_grid(largest: int) -> list[int]:
    """1, 2, 4, then multiples of 8 below 256, then multiples of 16 up to ``largest``."""
    return ([s for s in (1, 2, 4) if s <= largest] + list(range(8, min(largest + 1, 256), 8))
            + list(range(256, largest + 1, 16)))


def estimate_cudagraph(model: ModelSpec, engine: EngineConfig, enforce_eager: bool) -> Estimate:
    if enforce_eager:
        return Estimate.zero("enforce_eager: no CUDA graphs")
    if not engine.behaviour.counts_cudagraphs:
        return Estimate.zero(f"vLLM {engine.behaviour.version} does not count CUDA graphs before sizing KV")
    sizes = capture_sizes(engine)
    cases = lora_capture_cases(engine)  # LoRA: graphs without and with adapters (kvplan.core.lora_offload)
    if engine.model_runner == "v2":
        if release(engine.behaviour.version) <= (0, 28):
            return Estimate.zero(f"Model Runner V2 in vLLM {engine.behaviour.version} does not count CUDA graphs "
                                 "before sizing KV")
        # 0.29+ captures every graph once (FULL ones extrapolated from samples) and subtracts what it took. The
        # piecewise graphs split at each attention / Mamba / linear-attention op (CompilationConfig._attention_ops),
        # so it is those layers that count; Nemotron-H's MLP- and MoE-only blocks fold into their neighbours' pieces.
        layers = cdiv(len(model.attention_layers) + len(model.mamba_layers), engine.pipeline_parallel_size)
        value = 2 * len(sizes) * cases * layers * MEASURED_V2_CAPTURE_BYTES_PER_LAYER
        return Estimate(value_bytes=value, error_bytes=int(value * ERR_CUDAGRAPH_FRACTION),
                        source=f"estimate: CUDA graphs, {len(sizes)} sizes x 2 modes{_cases_note(cases)} as Model "
                               "Runner V2 captures them (measured: H100, vLLM 0.26)")
    first = max(sizes) * forward_bytes_per_token(model, engine)
    # FULL_AND_PIECEWISE (profile_cudagraph_memory, 0.20-0.33): the largest first capture of the two modes
    # (they share the pool) + (n - 1) x max(second, 1 MiB) for each mode.
    value = first + 2 * (len(sizes) * cases - 1) * MiB
    error = int(value * ERR_CUDAGRAPH_FRACTION) + 32 * MiB
    hybrid = ""
    if model.mamba_layers:
        # vLLM's own estimate for a hybrid's graphs is well above this formula (its FULL decode graphs of the
        # Mamba layers are not modelled): ERR_CUDAGRAPH_HYBRID_MIN
        error = max(error, ERR_CUDAGRAPH_HYBRID_MIN)
        hybrid = f"; a hybrid's Mamba graphs not modelled: at least +- {ERR_CUDAGRAPH_HYBRID_MIN / GiB:.2f} GiB"
    return Estimate(value_bytes=value, error_bytes=error,
                    source=f"estimate: CUDA graphs, {len(sizes)} sizes x 2 modes{_cases_note(cases)} (vLLM's "
                           f"profile formula){hybrid}")


def _cases_note(cases: int) -> str:
    return f" x {cases} LoRA cases" if cases > 1 else ""


V0_CUDAGRAPH_MAX_BATCH = 8192  # V0's capture list: [1, 2, 4] + [8 * i for i in range(1, 1025)]


def v0_graph_batch_size(n: int) -> int:
    """V0 ``pad_for_cudagraph`` / ``_get_graph_batch_size``: 1, 2, 4, then the next multiple of 8."""
    if n <= 2:
        return n
    return 4 if n <= 4 else min(round_up(n, 8), V0_CUDAGRAPH_MAX_BATCH)


def v0_mamba_cache_slots(engine: EngineConfig, enforce_eager: bool) -> int:
    """Sequence slots of V0's Mamba cache (Jamba's ``max_batch_size``, then ``MambaCacheManager``):

    0.5.4: padded max_num_seqs + 10; 0.6.0-0.6.4: padded, eager or not; 0.6.5-0.7.2: padded, but 8192 + 2
    with enforce_eager; 0.7.3 on: padded, or max_num_seqs itself with enforce_eager."""
    seqs = engine.max_num_seqs
    v = version_tuple(engine.behaviour.version)
    if v < (0, 6, 0):
        return v0_graph_batch_size(seqs) + 10
    if v < (0, 6, 5):
        return v0_graph_batch_size(seqs)
    if enforce_eager:
        return V0_CUDAGRAPH_MAX_BATCH + 2 if v < (0, 7, 3) else seqs
    return v0_graph_batch_size(seqs)


def _mamba_of(layer: LayerSpec) -> MambaLayer | None:
    """The layer's Mamba mixer: itself, or the one beside a Falcon-H1 layer's attention."""
    return layer.mamba if isinstance(layer, ParallelLayer) else layer if isinstance(layer, MambaLayer) else None


def estimate_mamba_cache(model: ModelSpec, engine: EngineConfig, enforce_eager: bool) -> Estimate:
    """V0's Mamba state cache on the binding PP stage (exact: shapes and slots are deterministic)."""
    if engine.behaviour.engine != "v0" or not model.mamba_layers:
        return NO_MAMBA_CACHE
    stages = pp_stage_ranges(model.num_layers, engine.pipeline_parallel_size)
    stage_layers = [[mamba for i in stage if (mamba := _mamba_of(model.layers[i])) is not None] for stage in stages]
    per_stage = [sum(mamba_state_bytes(layer, engine) for layer in layers) for layers in stage_layers]
    layers = len(stage_layers[per_stage.index(max(per_stage))])
    slots = v0_mamba_cache_slots(engine, enforce_eager)
    return Estimate.exact_value(max(per_stage) * slots,
                                f"exact: V0 Mamba state cache, {layers} layers x {slots} sequence slots "
                                "(vLLM logs it inside the activation peak)")


def estimate_overheads(model: ModelSpec, engine: EngineConfig, weights: Estimate, *, enforce_eager: bool,
                       weights_include_buffers: bool = False) -> Overheads:
    """All non-KV terms. ``weights`` is the rank's checkpoint shard (plan.py) unless
    ``weights_include_buffers`` (a logged ``Model loading took``), to which the load-time buffers are added."""
    if not weights_include_buffers:
        buffers = runtime_buffers_bytes(model, engine)
        copies = mla_load_copies_bytes(model, engine)
        extra = f" + MLA weight copies made at load ({copies / GiB:.2f} GiB)" if copies else ""
        error = weights.error_bytes
        if (mxfp4 := mxfp4_moe_buffers_for(model, engine)) is not None:
            extra += f" + MXFP4 expert buffers of {' or '.join(mxfp4.backends)} ({mxfp4.value_bytes / GiB:.2f}" + (
                f" ± {mxfp4.error_bytes / GiB:.2f} GiB, {mxfp4.why})" if mxfp4.error_bytes else " GiB)")
            error = int((error**2 + mxfp4.error_bytes**2) ** 0.5)
        weights = replace(weights, value_bytes=weights.value_bytes + buffers + copies, error_bytes=error,
                          exact=weights.exact and error == 0,
                          source=f"{weights.source} + rope cache and vocab padding{extra}")
        weights = _weights_with_extras(model, engine, weights)
    return Overheads(
        weights=weights,
        activation=estimate_activation(model, engine),
        non_torch=estimate_non_torch(engine, model, enforce_eager=enforce_eager),
        cudagraph=estimate_cudagraph(model, engine, enforce_eager),
        mamba_cache=estimate_mamba_cache(model, engine, enforce_eager),
    )


def _weights_with_extras(model: ModelSpec, engine: EngineConfig, weights: Estimate) -> Estimate:
    """The weights term with what the deployment flags change: no vision tower when every modality limit is 0
    (vLLM 0.32+), the LoRA slots (counted in ``Model loading took``), less what --cpu-offload-gb moves."""
    value, error, notes = weights.value_bytes, weights.error_bytes, []
    tp = engine.tensor_parallel_size
    if model.is_multimodal and text_only(model, engine) and (tower := tower_weight_bytes(model, engine)):
        value -= tower
        notes.append(f"- vision tower not built ({tower / GiB:.2f} GiB)")
    elif model.is_multimodal and tp > 1 and (tower := tower_weight_bytes(model, engine)) and \
            engine.settings.mm_encoder_tp_mode == "data":
        # the weight shard split the tower over TP; data mode keeps all of it on every rank
        value += tower - tower // tp
        notes.append(f"+ vision tower replicated on every rank (--mm-encoder-tp-mode data, {tower / GiB:.2f} GiB)")
    if deepstack := deepstack_buffer_bytes(model, engine):  # Qwen3-VL's buffers, allocated in load_model
        value += deepstack
        notes.append(f"+ deepstack input buffers ({deepstack / MiB:.0f} MiB)")
    lora = estimate_lora(model, engine)
    if lora.value_bytes:
        value += lora.value_bytes
        error = int((error**2 + lora.error_bytes**2) ** 0.5)
        notes.append(f"+ {lora.source}")
    moved, moved_error = cpu_offload_bytes(value, model, engine)
    if moved:
        value -= moved
        error = int((error**2 + moved_error**2) ** 0.5)
        notes.append(f"- {moved / GiB:.2f} GiB moved to CPU (--cpu-offload-gb, UVA offloader)")
    if not notes:
        return weights
    return replace(weights, value_bytes=value, error_bytes=error, exact=weights.exact and error == 0,
                   source=f"{weights.source} {' '.join(notes)}")
