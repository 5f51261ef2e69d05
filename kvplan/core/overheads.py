"""Non-KV memory vLLM takes before sizing the KV cache on a GPU [estimates].

vLLM measures these at start-up (profile run); kvplan estimates them from the model and settings, with an
error bar measured against real start-up logs (benchmarks/accuracy.py). Terms, as VLLM-MEMORY.md §2.3-2.5:
weights per GPU, activation peak of the dummy forward pass plus the sampler, non-torch growth after the
memory snapshot, and CUDA graph memory (V1 0.21+, unless enforce_eager).
"""

from __future__ import annotations

from dataclasses import dataclass

from kvplan.core.engine import EngineConfig
from kvplan.core.estimate import Estimate
from kvplan.core.model import ModelSpec
from kvplan.core.units import GiB, MiB


@dataclass(frozen=True, kw_only=True)
class Overheads:
    weights: Estimate
    activation: Estimate
    non_torch: Estimate
    cudagraph: Estimate

    @property
    def total_bytes(self) -> int:
        return sum(e.value_bytes for e in (self.weights, self.activation, self.non_torch, self.cudagraph))

    @property
    def error_bytes(self) -> int:
        # Independent errors: root of the sum of squares, rounded up.
        squares = sum(e.error_bytes**2 for e in (self.weights, self.activation, self.non_torch, self.cudagraph))
        return int(squares**0.5) + 1 if squares else 0


def weights_per_gpu(total_weights_bytes: int, engine: EngineConfig) -> int:
    """Each rank's share: TP shards linear layers and the vocab-parallel embedding; PP splits layers."""
    return total_weights_bytes // (engine.tensor_parallel_size * engine.pipeline_parallel_size)


def estimate_activation(model: ModelSpec, engine: EngineConfig) -> Estimate:
    """Profile-run peak: the dummy forward of max_num_batched_tokens plus the sampler's logits.

    Forward: a few hidden-size activations per token (residual, norm out, MLP intermediate slices) in the
    model dtype. Sampler: ``[min(tokens, seqs), vocab]`` logits in the model dtype and again in fp32.
    """
    dtype = 4 if engine.model_dtype == "float32" else 2
    tokens = engine.max_num_batched_tokens
    forward = tokens * model.hidden_size * dtype * 12 // max(1, engine.tensor_parallel_size)
    rows = min(tokens, engine.max_num_seqs)
    sampler = rows * max(model.vocab_size, 1) * (dtype + 4)
    value = forward + sampler
    return Estimate(value_bytes=value, error_bytes=max(value // 3, 128 * MiB),
                    source="estimate: dummy forward of max_num_batched_tokens + sampler logits")


def estimate_non_torch(engine: EngineConfig) -> Estimate:
    """cuBLAS/NCCL workspaces and allocator slack that appear after vLLM's memory snapshot."""
    value = 256 * MiB if engine.tensor_parallel_size == 1 else 512 * MiB
    return Estimate(value_bytes=value, error_bytes=256 * MiB, source="estimate: non-torch growth after snapshot")


def estimate_cudagraph(model: ModelSpec, engine: EngineConfig, enforce_eager: bool) -> Estimate:
    if enforce_eager:
        return Estimate.zero("enforce_eager: no CUDA graphs")
    if not engine.behaviour.counts_cudagraphs:
        return Estimate.zero(f"vLLM {engine.behaviour.version} does not count CUDA graphs before sizing KV")
    value = int(0.3 * GiB)
    return Estimate(value_bytes=value, error_bytes=int(0.2 * GiB),
                    source="estimate: CUDA graph capture (0.17-0.44 GiB seen in public logs)")


def estimate_overheads(model: ModelSpec, engine: EngineConfig, weights: Estimate, *,
                       enforce_eager: bool) -> Overheads:
    return Overheads(
        weights=weights,
        activation=estimate_activation(model, engine),
        non_torch=estimate_non_torch(engine),
        cudagraph=estimate_cudagraph(model, engine, enforce_eager),
    )
