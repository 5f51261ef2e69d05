"""GPU memory of LoRA adapter slots (--enable-lora) and the weights --cpu-offload-gb moves off the GPU [exact by
reading vLLM 0.33; the layer shapes come from the config].

LoRA (lora/layers/*.py, 0.33): ``create_lora_weights`` preallocates, for every LoRA-capable module of every
layer, ``max_loras`` slots of stacked A and B buffers in ``lora_dtype`` (the model dtype by default), inside
``load_model``, so vLLM counts them in ``Model loading took``. Per slot, rank r, TP t, model dtype a:

* column-parallel (merged) linears (qkv_proj: 3 slices, gate_up_proj: 2): A ``[r, in]`` per slice, B
  ``[out_slice / t, r]`` per slice (base_linear.py / column_parallel_linear.py);
* row-parallel linears (o_proj, down_proj): A ``[r, in / t]``, B ``[out, r]``;
* FusedMoE (fused_moe.py): w13 A ``[E, r, H]`` x 2, B ``[E, I / t, r]`` x 2, w2 A ``[E, r, I / t]``, B ``[E, H, r]``,
  E the local experts; the router (a replicated linear) A ``[r, H]``, B ``[E, r]``;
* embed_tokens (vocab_parallel_embedding.py): A ``[vocab, r]``, B ``[H, r]``; lm_head (logits_processor.py):
  A ``[r, H]``, B ``[vocab / t, r]``.
The profile run's dummy LoRAs (``maybe_dummy_run_with_lora``) fill these slots; their kernels' intermediate
buffers (``[tokens, r]`` in float32 per slice) stay under 16 MiB at 8,192 tokens and rank 64, inside the
activation error. max_cpu_loras sizes host memory only.

--cpu-offload-gb (model_executor/offloader/uva.py ``UVAOffloader``, 0.33): ``make_layers`` hands the decoder
layers to the offloader in order; it moves whole parameters to CPU until the bytes moved reach the limit, so it
moves at least the limit (at most one parameter more) and never more than the decoder layers hold.
"""

from __future__ import annotations

from kvplan.core.engine import EngineConfig
from kvplan.core.errors import UsageError
from kvplan.core.estimate import Estimate
from kvplan.core.model import ModelSpec
from kvplan.core.settings import DeploySettings, release
from kvplan.core.units import GiB, cdiv

LORA_MAX_VOCAB = 258048


def _dtype_bytes(engine: EngineConfig) -> int:
    return 4 if engine.model_dtype in ("float32", "float") else 2


def lora_slot_bytes(model: ModelSpec, engine: EngineConfig) -> int:
    """Bytes of one adapter slot on the largest rank (all PP stages taken as the whole model / PP)."""
    if model.mla is not None or model.mamba_layers:
        raise UsageError(f"--enable-lora on {model.model_type}: kvplan models LoRA slots for attention + MLP / MoE "
                         "decoders only (MLA and Mamba layers take other LoRA wrappers)",
                         hint="Measure it with `kvplan probe`")
    if model.vocab_size > LORA_MAX_VOCAB:
        # LogitsProcessorWithLoRA.create_lora_weights (lora/layers/logits_processor.py, 0.32 / 0.33)
        raise UsageError(f"When using LoRA, vocab size must be <= {LORA_MAX_VOCAB} (vLLM refuses "
                         f"{model.model_type} with {model.vocab_size:,}: --enable-lora)")
    r, t, a = engine.settings.max_lora_rank, engine.tensor_parallel_size, _dtype_bytes(engine)
    hidden = model.hidden_size
    total = 0
    for layer in model.attention_layers:
        q_out = model.num_attention_heads * layer.head_size
        kv_out = max(1, layer.num_kv_heads // t) * layer.head_size  # KV heads replicate when fewer than TP
        total += r * (3 * hidden + q_out // t + 2 * kv_out)  # qkv_proj, 3 slices
        total += r * (q_out // t + hidden)  # o_proj
    layers = len(model.attention_layers)
    experts, moe_inter = model.num_experts, model.moe_intermediate_size or model.intermediate_size
    if experts:
        total += layers * (experts * r * (3 * hidden + 3 * (moe_inter // t)) + r * (hidden + experts))
    else:
        inter = model.intermediate_size or int(3.5 * hidden)
        total += layers * r * (2 * hidden + 2 * inter // t + inter // t + hidden)
    pp = engine.pipeline_parallel_size
    total = cdiv(total, pp)
    vocab = model.vocab_size
    total += r * (vocab + hidden)  # embed_tokens on the first stage
    total += r * (hidden + cdiv(vocab, t))  # lm_head on the last stage
    return total * a


# The slot shapes were read in the 0.32 and 0.33 wheels (lora/layers identical for the dense linears; 0.22's
# base_linear / logits_processor give the same shapes). Other releases, and MoE configs without
# moe_intermediate_size, carry 10 % instead of 1 %.
LORA_READ_FROM = (0, 32)


def estimate_lora(model: ModelSpec, engine: EngineConfig) -> Estimate:
    settings = engine.settings
    if not settings.enable_lora:
        return Estimate.zero("no LoRA")
    slot = lora_slot_bytes(model, engine)
    value = slot * settings.max_loras
    approx = (bool(model.num_experts) and not model.moe_intermediate_size) or \
        release(engine.behaviour.version) < LORA_READ_FROM
    return Estimate(value_bytes=value, error_bytes=value // 10 if approx else value // 100,
                    source=f"LoRA: {settings.max_loras} slot(s) of rank {settings.max_lora_rank}, "
                           f"{slot / GiB:.3f} GiB each (lora/layers, vLLM 0.33)")


def lora_capture_cases(engine: EngineConfig) -> int:
    """CUDA graph sets captured per size: with LoRA on, ``cudagraph_specialize_lora`` (default True, 0.22-0.33)
    captures without adapters and with ``max_loras + 1`` active (``CudagraphDispatcher._get_lora_cases``,
    ``lora/utils.py get_captured_lora_counts``; V2: ``get_lora_capture_cases``): two cases, and one more per
    power of two up to max_loras with ``specialize_active_lora`` (not modelled: off by default)."""
    return 2 if engine.settings.enable_lora and release(engine.behaviour.version) >= (0, 22) else 1


def decoder_layer_bytes(weights_bytes: int, model: ModelSpec, engine: EngineConfig) -> int:
    """The decoder layers' share of the rank's weights: all but the embedding and the lm_head."""
    a = _dtype_bytes(engine)
    tp = engine.tensor_parallel_size
    tables = model.vocab_size * model.hidden_size * a // tp * (1 if model.tie_word_embeddings else 2)
    return max(0, weights_bytes - tables)


def cpu_offload_bytes(weights_bytes: int, model: ModelSpec, engine: EngineConfig) -> tuple[int, int]:
    """(bytes moved off each GPU, error: up to one parameter beyond the limit, the largest layer matrix)."""
    limit = int(engine.settings.cpu_offload_gb * GiB)
    if limit <= 0:
        return 0, 0
    movable = decoder_layer_bytes(weights_bytes, model, engine)
    per_layer = movable // max(1, model.num_layers)
    moved = min(limit, movable)
    return moved, 0 if moved == movable else per_layer // 2


def extra_engine_args(settings: DeploySettings) -> list[tuple[str, object]]:
    """The multimodal, LoRA and offload settings that differ from vLLM's defaults, as engine arguments (a
    recommended launch line must start the deployment that was planned)."""
    args: list[tuple[str, object]] = []
    if settings.limit_mm_per_prompt is not None:
        args.append(("limit_mm_per_prompt", dict(settings.limit_mm_per_prompt)))
    if settings.mm_max_pixels is not None or settings.mm_video_max_pixels is not None:
        kwargs: dict[str, object] = {}
        if settings.mm_max_pixels is not None:
            kwargs["images_kwargs"] = {"max_pixels": settings.mm_max_pixels}
        if settings.mm_video_max_pixels is not None:
            kwargs["videos_kwargs"] = {"max_pixels": settings.mm_video_max_pixels}
        args.append(("mm_processor_kwargs", kwargs))
    if settings.mm_encoder_tp_mode != "weights":
        args.append(("mm_encoder_tp_mode", settings.mm_encoder_tp_mode))
    for name in ("language_model_only", "skip_mm_profiling"):
        if getattr(settings, name):
            args.append((name, True))
    if settings.enable_lora:
        args += [("enable_lora", True), ("max_loras", settings.max_loras), ("max_lora_rank", settings.max_lora_rank)]
        if settings.max_cpu_loras is not None:
            args.append(("max_cpu_loras", settings.max_cpu_loras))
    if settings.cpu_offload_gb:
        args.append(("cpu_offload_gb", settings.cpu_offload_gb))
    return args
