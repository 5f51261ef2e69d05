"""Overheads: hand-checkable numbers for the weights buffers, the profile-run peak and the V0/V1 split."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import resolve_engine
from kvplan.core.estimate import Estimate
from kvplan.core.hardware import GpuSpec
from kvplan.core.overheads import (
    CAL_SAMPLER_SORT_BYTES,
    capture_sizes,
    estimate_activation,
    estimate_cudagraph,
    estimate_overheads,
    forward_bytes_per_token,
    runtime_buffers_bytes,
    weights_per_gpu,
)
from kvplan.core.settings import DeploySettings, SpeculativeSettings
from kvplan.core.units import GiB, MiB
from kvplan.sources import catalog

GPU = GpuSpec(name="test 24 GiB", total_bytes=24 * GiB)


def catalog_config(name: str) -> dict:  # type: ignore[type-arg]
    entry = catalog.find(name)
    assert entry is not None
    return dict(entry.config)


def _llama8b():  # type: ignore[no-untyped-def]
    entry = catalog.find("meta-llama/Llama-3.1-8B")
    assert entry is not None and entry.weights_bytes == 16_060_522_496
    return model_spec_from_config(entry.config), entry.weights_bytes


def test_llama_8b_loading_matches_the_logged_figure() -> None:
    model, weights = _llama8b()
    engine = resolve_engine(model, DeploySettings(vllm_version="0.6.6", max_model_len=20000), GPU)
    buffers = runtime_buffers_bytes(model, engine)
    assert buffers == 131072 * 128 * 2 == 32 * MiB  # rope cos/sin cache; vocab 128,256 is a multiple of 64
    assert round((weights + buffers) / GiB, 4) == 14.9888  # "Loading model weights took 14.9888 GB"


def test_weights_shard_tp_and_pp() -> None:
    model, weights = _llama8b()
    one = resolve_engine(model, DeploySettings(), GPU)
    assert weights_per_gpu(weights, one) == weights // 1
    assert weights_per_gpu(weights, one, model) == weights
    tp2 = resolve_engine(model, DeploySettings(tensor_parallel_size=2), GPU)
    share = weights_per_gpu(weights, tp2, model)
    assert weights // 2 < share < weights // 2 + 2 * MiB  # norms replicated
    pp2 = resolve_engine(model, DeploySettings(pipeline_parallel_size=2), GPU)
    assert abs(weights_per_gpu(weights, pp2, model) - weights // 2) < 0.01 * weights


def test_v0_sampler_peak_dominates_short_batches() -> None:
    model, weights = _llama8b()
    engine = resolve_engine(model, DeploySettings(vllm_version="0.6.6", max_model_len=2048), GPU)
    over = estimate_overheads(model, engine, Estimate.exact_value(weights, "t"), enforce_eager=False)
    expected = int(256 * 128256 * CAL_SAMPLER_SORT_BYTES) + 2048 * 4096 * 2
    assert over.activation.value_bytes == expected
    assert over.cudagraph.value_bytes == 0  # V0 does not count graphs
    assert over.weights.value_bytes == weights + 32 * MiB


def test_v0_long_prefill_forward_peak() -> None:
    model, weights = _llama8b()
    engine = resolve_engine(model, DeploySettings(vllm_version="0.6.6", max_model_len=20000), GPU)
    over = estimate_overheads(model, engine, Estimate.exact_value(weights, "t"), enforce_eager=False)
    # 20,000 tokens x (3 x 4096 + 3 x 14336) x 2 B = 2.06 GiB; the RTX 3090 log shows 17.06 - 14.99 = 2.07
    assert abs(over.activation.value_bytes / GiB - 2.07) < 0.02


def test_v1_cudagraphs_counted_unless_eager() -> None:
    model, weights = _llama8b()
    engine = resolve_engine(model, DeploySettings(vllm_version="0.33.0", max_model_len=8192), GPU)
    w = Estimate.exact_value(weights, "t")
    assert estimate_overheads(model, engine, w, enforce_eager=False).cudagraph.value_bytes > 0
    assert estimate_overheads(model, engine, w, enforce_eager=True).cudagraph.value_bytes == 0
    old = replace(engine, behaviour=replace(engine.behaviour, counts_cudagraphs=False))
    assert estimate_overheads(model, old, w, enforce_eager=False).cudagraph.value_bytes == 0


def test_logged_weights_are_not_given_buffers_twice() -> None:
    model, _ = _llama8b()
    engine = resolve_engine(model, DeploySettings(), GPU)
    logged = Estimate(value_bytes=int(14.9888 * GiB), error_bytes=0, source="logged")
    over = estimate_overheads(model, engine, logged, enforce_eager=False, weights_include_buffers=True)
    assert over.weights.value_bytes == logged.value_bytes


def test_error_bars_are_positive_and_combine() -> None:
    model, weights = _llama8b()
    engine = resolve_engine(model, DeploySettings(), GPU)
    over = estimate_overheads(model, engine, Estimate.exact_value(weights, "t"), enforce_eager=False)
    assert over.weights.error_bytes == 0
    assert 0 < over.error_bytes <= over.activation.error_bytes + over.non_torch.error_bytes \
        + over.cudagraph.error_bytes + 1


def test_capture_sizes() -> None:
    model, _ = _llama8b()
    engine = resolve_engine(model, DeploySettings(max_num_seqs=8, max_model_len=1024), GPU)
    assert capture_sizes(engine) == [1, 2, 4, 8, 16]
    big = resolve_engine(model, DeploySettings(max_num_seqs=256), GPU)
    assert capture_sizes(big)[-1] == 512 and len(capture_sizes(big)) == 3 + 31 + 17


def test_mxfp4_moe_padding_gpt_oss_120b_marlin() -> None:
    """gpt-oss-120b on an H100 (Marlin): 60.78 GiB counted + padding ~= 65.97 GiB logged (fixture line 32)."""
    from kvplan.core.mxfp4_backend import MARLIN, Mxfp4MoeAllocation, checkpoint_expert_bytes

    def padding(allocation: Mxfp4MoeAllocation) -> int:
        return (allocation.expert_bytes(2880, 2880) - checkpoint_expert_bytes(2880, 2880)) * 128 * 36

    pad = padding(MARLIN)
    assert pad == 5_507_776_512
    assert abs(60.7833 * GiB + pad - 65.9651 * GiB) < 0.1 * GiB
    # Triton's alignment: intermediate to 64 only, hidden unpadded -> no padding for 2880.
    assert padding(Mxfp4MoeAllocation(backend="padding only", hidden_align=1, intermediate_align=64,
                                      bias_bytes=2)) == 0


H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=85_017_493_504)


def test_model_runner_v2_graphs_by_release() -> None:
    """V2 reserves nothing for graphs up to 0.28; from 0.29 it captures them: 0.29 MiB per layer and capture."""
    model, weights = _llama8b()
    w = Estimate.exact_value(weights, "t")
    for version, expected in (("0.26.0", 0), ("0.28.0", 0), ("0.29.0", 2 * 51 * 32 * int(0.29 * MiB))):
        engine = resolve_engine(model, DeploySettings(vllm_version=version, entrypoint="llm"), H100)
        assert engine.model_runner == "v2"
        assert estimate_overheads(model, engine, w, enforce_eager=False).cudagraph.value_bytes == expected
    assert 2 * 51 * 32 * int(0.29 * MiB) / GiB == pytest.approx(0.924, abs=0.001)  # logged capture: 0.98 GiB


def test_model_runner_v2_graphs_count_the_layers_that_split_the_piecewise_graph() -> None:
    """Piecewise graphs split at attention, Mamba and linear-attention ops (CompilationConfig._attention_ops):
    Nemotron-3-Nano's 23 MoE-only blocks fold into their neighbours' pieces, so 6 attention + 23 Mamba = 29 of
    its 52 layers count, not 52 (0.84 GiB at 51 sizes, not 1.50)."""
    entry = catalog.find("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4")
    assert entry is not None
    model = model_spec_from_config(entry.config, entry.extra_configs)
    assert model.num_layers == 52
    engine = resolve_engine(model, DeploySettings(vllm_version="0.33.0", max_model_len=4096), H100)
    assert engine.model_runner == "v2"
    graphs = estimate_overheads(model, engine, Estimate.exact_value(0, "t"), enforce_eager=False).cudagraph
    assert graphs.value_bytes == 2 * len(capture_sizes(engine)) * 29 * int(0.29 * MiB)


def test_model_runner_v2_sampler_per_release() -> None:
    """1,024 rows of 128,256 logits: one fp32 copy up to 0.32; 0.33's warm-up pass ~14 B per element. Eager,
    so that the compiled-embedding floor (1.0 GiB here) does not hide the sampler."""
    model, weights = _llama8b()
    w = Estimate.exact_value(weights, "t")
    for version, per_element in (("0.32.0", 4), ("0.33.0", 14)):
        settings = DeploySettings(vllm_version=version, entrypoint="llm", max_num_batched_tokens=1024,
                                  max_num_seqs=1024, enforce_eager=True)
        engine = resolve_engine(model, settings, H100)
        over = estimate_overheads(model, engine, w, enforce_eager=False)
        assert over.activation.value_bytes == 1024 * 128256 * per_element  # above the 1,024-token forward
        assert "sampler" in over.activation.source and "Model Runner V2" in over.activation.source


def test_model_runner_v2_non_torch_by_accounting() -> None:
    model, weights = _llama8b()
    w = Estimate.exact_value(weights, "t")
    # 0.27+ counts since start-up: 0.26's measured growth + Model Runner V2's penalty state, 1,024 sequences (an
    # H100's default) x Llama-3.1-8B's 128,256 tokens x int32, and the prompt mask (cdiv(128,256, 32) = 4,008 int32)
    penalties = 1024 * 128256 * 4 + 1024 * 4008 * 4
    for version, value in (("0.26.0", int(0.22 * GiB)), ("0.28.0", int(0.22 * GiB) + penalties),
                           ("0.33.0", int(0.22 * GiB) + penalties)):
        engine = resolve_engine(model, DeploySettings(vllm_version=version), H100)
        assert engine.max_num_seqs == 1024
        assert estimate_overheads(model, engine, w, enforce_eager=False).non_torch.value_bytes == value


def test_v2_request_state_counts_from_0_27_on_sampling_ranks() -> None:
    """``PenaltiesState`` (v1/worker/gpu/sample/penalties.py, 0.26-0.34): output_bin_counts [max_num_seqs, vocab]
    and prompt_bin_mask [max_num_seqs, cdiv(vocab, 32)], int32, allocated with the sampler after the weights are
    measured. Qwen3-14B (151,936 tokens) at 256 and 8 sequences: 0.149 and 0.005 GiB."""
    from kvplan.core.overheads import v2_request_state_bytes

    model, _ = _llama8b()
    qwen = replace(model, vocab_size=151936)
    for seqs, expected in ((256, 256 * (151936 + 4748) * 4), (8, 8 * (151936 + 4748) * 4)):
        engine = resolve_engine(qwen, DeploySettings(vllm_version="0.28.0", max_num_seqs=seqs), H100)
        assert v2_request_state_bytes(engine, qwen) == expected
    assert v2_request_state_bytes(resolve_engine(qwen, DeploySettings(vllm_version="0.28.0"), H100), None) == 0


def test_capture_sizes_match_the_h100_log() -> None:
    """vLLM 0.26 on the H100 logged its cudagraph_capture_sizes (benchmarks/gpu-runs): 51 sizes up to 512."""
    import ast
    import re
    from pathlib import Path

    log = Path(__file__).resolve().parents[2] / "benchmarks/gpu-runs/h100-vllm-0.26.0/llama1b-serve-like.log"
    logged = ast.literal_eval(re.search(r"'cudagraph_capture_sizes': (\[[\d, ]+\])", log.read_text()).group(1))
    model = model_spec_from_config(catalog.find("meta-llama/Llama-3.2-1B-Instruct").config)  # type: ignore[union-attr]
    h100 = GpuSpec(name="H100", total_bytes=79 * GiB, compute_capability=(9, 0))
    engine = resolve_engine(model, DeploySettings(vllm_version="0.26.0", max_num_seqs=256,
                                                  max_num_batched_tokens=2048), h100)
    assert capture_sizes(engine) == logged and len(logged) == 51


@pytest.mark.parametrize(("version", "capability", "seqs", "tokens", "count", "last"), [
    ("0.33.0", (10, 0), 1024, 16384, 3 + 31 + 49, 1024),  # SM100: a 1024 ceiling from 0.28
    ("0.27.0", (10, 0), 1024, 16384, 3 + 31 + 17, 512),
    ("0.33.0", (9, 0), 1024, 16384, 3 + 31 + 17, 512),
    ("0.33.0", (9, 0), 100, 8192, 3 + 25 + 1, 200),  # 0.31+: max_num_seqs 100 is captured too
    ("0.30.0", (9, 0), 100, 8192, 3 + 25, 200),
    ("0.26.0", (9, 0), 256, 300, 3 + 31 + 3 + 1, 300),  # 0.20.1+: max_num_batched_tokens when it fits
    ("0.20.0", (9, 0), 256, 300, 3 + 31 + 3, 288),
])
def test_capture_sizes_by_release(version: str, capability: tuple[int, int], seqs: int, tokens: int, count: int,
                                  last: int) -> None:
    model, _ = _llama8b()
    gpu = GpuSpec(name="t", total_bytes=80 * GiB, compute_capability=capability)
    engine = resolve_engine(model, DeploySettings(vllm_version=version, max_num_seqs=seqs,
                                                  max_num_batched_tokens=tokens, max_model_len=4096), gpu)
    sizes = capture_sizes(engine)
    assert len(sizes) == count and sizes[-1] == last and sizes == sorted(set(sizes))


@pytest.mark.parametrize(("version", "count"), [("0.28.0", 51), ("0.29.0", 60), ("0.33.0", 60)])
def test_speculative_decode_batches_are_captured_from_0_29(version: str, count: int) -> None:
    """k = 2 drafted tokens, 256 sequences, 8,192 batched tokens: the strided grid up to min(2 x 256 x 3, 512)
    = 512 has 3 + 31 + 17 = 51 sizes. From 0.29 the uniform decode batches 3n (n = 1, 2, 4, 8, 16, ... <= 170)
    join: 3, 6, 12 and 24m for odd m = 11 ... 21 (264, 312, ..., 504) are off the grid, 9 more."""
    model, _ = _llama8b()
    h100 = GpuSpec(name="H100", total_bytes=80 * GiB, compute_capability=(9, 0))
    spec = SpeculativeSettings(method="ngram", num_speculative_tokens=2)
    engine = resolve_engine(model, DeploySettings(vllm_version=version, max_num_seqs=256, max_num_batched_tokens=8192,
                                                  max_model_len=4096, speculative=spec), h100)
    sizes = capture_sizes(engine)
    assert len(sizes) == count and sizes[-1] == 512
    if count == 60:
        assert {3, 6, 12, 264, 504} <= set(sizes) and 510 not in sizes


def test_multimodal_models_carry_the_unmodelled_encoder_profile_in_their_error() -> None:
    from kvplan.core.overheads import ERR_MM_ENCODER_PROFILE, estimate_activation

    vlm = model_spec_from_config(catalog.find("google/gemma-3-27b-it").config)  # type: ignore[union-attr]
    text = model_spec_from_config(catalog.find("meta-llama/Llama-3.1-8B").config)  # type: ignore[union-attr]
    assert vlm.is_multimodal and not text.is_multimodal
    # 0.20: a release whose dummy-item rules kvplan has not read (kvplan.core.mm_profile.MODELLED_FROM)
    old = DeploySettings(max_model_len=8192, vllm_version="0.20.0")
    vlm_act = estimate_activation(vlm, resolve_engine(vlm, old, GPU))
    text_act = estimate_activation(text, resolve_engine(text, old, GPU))
    assert vlm_act.error_bytes >= ERR_MM_ENCODER_PROFILE and "encoder" in vlm_act.source
    assert text_act.error_bytes < ERR_MM_ENCODER_PROFILE and "encoder" not in text_act.source


def _mla_engine(name: str, **settings):  # type: ignore[no-untyped-def]
    entry = catalog.find(name)
    assert entry is not None
    model = model_spec_from_config(entry.config, entry.extra_configs)
    h200 = GpuSpec(name="NVIDIA H200", total_bytes=int(139.81 * GiB), compute_capability=(9, 0))
    return model, resolve_engine(model, DeploySettings(**settings), h200)


def test_mla_copies_deepseek_r1_fp8_by_release() -> None:
    """R1 fp8 at TP 8 (16 heads a rank, q_lora 1536, kv_lora 512, nope/rope/v 128/64/128, hidden 7168, 61 layers).

    0.8.0 on: the dequantized bf16 kv_b_proj that W_UK_T / W_UV view, 512 x 16 x 256 x 2 B a layer. 0.7.3 (matrix
    absorption): that, W_QR 1536 x 16 x 64 x 2 B, and the fp8 W_Q_UK (1536 x 8192) and W_UV_O (8192 x 7168) with
    one float32 scale per 128 x 128 block. The 0.7.3 figure brings fixture line 25 from 78.39 GiB to 82.85 GiB of
    weights per GPU, against the 83.88 GiB logged."""
    from kvplan.core.overheads import mla_load_copies_bytes

    model, engine = _mla_engine("deepseek-ai/DeepSeek-R1", tensor_parallel_size=8)
    assert model.mla is not None and model.mla.attention_weights == "fp8" and model.mla.fp8_block == (128, 128)
    assert mla_load_copies_bytes(model, engine) == 61 * 512 * 16 * 256 * 2 == 255_852_544
    _, old = _mla_engine("deepseek-ai/DeepSeek-R1", tensor_parallel_size=8, vllm_version="0.7.3")
    per_layer = (512 * 16 * 256 * 2 + 1536 * 16 * 64 * 2 + (1536 * 8192 + 4 * 12 * 64)
                 + (8192 * 7168 + 4 * 64 * 56))
    assert per_layer == 78_660_608
    assert mla_load_copies_bytes(model, old) == 61 * per_layer == 4_798_297_088
    _, before_mla = _mla_engine("deepseek-ai/DeepSeek-R1", tensor_parallel_size=8, vllm_version="0.6.6")
    assert mla_load_copies_bytes(model, before_mla) == 0  # no MLA in vLLM before 0.7.1


def test_mla_copies_unquantized_deepseek_v2_lite() -> None:
    """bf16 V2-Lite (plain q_proj from hidden 2048, 16 heads, 27 layers): W_UK_T / W_UV are views of the bf16
    kv_b_proj from 0.8.0, so nothing is copied, unless --quantization fp8 makes kv_b_proj fp8; with 0.7.3's
    absorption W_QR, W_Q_UK and W_UV_O are bf16 copies."""
    from kvplan.core.overheads import mla_load_copies_bytes

    model, engine = _mla_engine("deepseek-ai/DeepSeek-V2-Lite")
    assert model.mla is not None and model.mla.attention_weights is None and model.mla.q_lora_rank == 0
    assert mla_load_copies_bytes(model, engine) == 0
    _, online_fp8 = _mla_engine("deepseek-ai/DeepSeek-V2-Lite", quantization="fp8")
    assert mla_load_copies_bytes(model, online_fp8) == 27 * 512 * 16 * 256 * 2
    _, old = _mla_engine("deepseek-ai/DeepSeek-V2-Lite", vllm_version="0.7.3")
    assert mla_load_copies_bytes(model, old) == 27 * (2048 * 16 * 64 * 2 + 2048 * 8192 * 2 + 8192 * 2048 * 2)


def test_gemma3_sliding_layers_have_a_rope_cache_of_their_own() -> None:
    """Gemma 3: global layers rotate with linear x8 scaling (131,072 x 8 rows), sliding ones with the default rope at
    rope_local_base_freq (131,072 rows); head 256, bf16. On an H100 (vLLM 0.26) the 64 MiB of the second cache
    took kvplan's weights from 22.42 to 22.48 GiB against 22.62 logged."""
    config = catalog.find("OpenPipe/gemma-3-12b-it-text-only")
    assert config is not None
    model = model_spec_from_config(config.config)
    assert (model.rope_cache_positions, model.local_rope_cache_positions) == (1_048_576, 131_072)
    engine = resolve_engine(model, DeploySettings(vllm_version="0.26.0"), GPU)
    assert runtime_buffers_bytes(model, engine) == (1_048_576 + 131_072) * 256 * 2 == 576 * MiB


def test_gemma3_transformers_v5_rope_parameters_per_layer_type() -> None:
    entry = catalog.find("OpenPipe/gemma-3-12b-it-text-only")
    assert entry is not None
    v4 = dict(entry.config)
    v5 = {k: v for k, v in v4.items() if k not in ("rope_scaling", "rope_theta", "rope_local_base_freq")}
    v5["rope_parameters"] = {
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
    }
    model = model_spec_from_config(v5)
    assert (model.rope_cache_positions, model.local_rope_cache_positions) == (1_048_576, 131_072)
    # alike parameters share one cache (get_rope caches a module per parameter set)
    same = dict(v5, rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 10_000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0}})
    assert model_spec_from_config(same).local_rope_cache_positions == 0


def test_models_without_a_local_rope_have_one_cache() -> None:
    model, _ = _llama8b()
    assert model.local_rope_cache_positions == 0


def test_v2_profile_peak_holds_the_embedding_table_under_compile() -> None:
    """Gemma-3-12B on vLLM 0.26, LLM class, 4,096 batched tokens: 262,208 x 3,840 x 2 B of table plus
    2 x 4,096 x 3,840 x 2 B of hidden rows = 1.934 GiB; the H100 logged a 1.93 GiB peak (the sampler over
    1,024 x 262,208 bf16 logits, kvplan's term before, gave 1.00)."""
    entry = catalog.find("OpenPipe/gemma-3-12b-it-text-only")
    assert entry is not None
    model = model_spec_from_config(entry.config)
    settings = DeploySettings(vllm_version="0.26.0", entrypoint="llm", max_num_batched_tokens=4096)
    engine = resolve_engine(model, settings, GPU)
    assert engine.model_runner == "v2"
    peak = estimate_activation(model, engine)
    assert peak.value_bytes == 262_208 * 3840 * 2 + 2 * 4096 * 3840 * 2 == 2_076_672_000
    assert "embedding table" in peak.source
    eager = resolve_engine(model, replace(settings, enforce_eager=True), GPU)
    newer = resolve_engine(model, replace(settings, vllm_version="0.28.0"), GPU)
    assert estimate_activation(model, eager).value_bytes < peak.value_bytes // 2
    # it carries over to 0.27+ (vllm-gpu-logs.jsonl lines 15-19: 0.28 within 0.09 GiB with it)
    assert estimate_activation(model, newer).value_bytes == peak.value_bytes


def test_v1_runner_graph_estimate_takes_the_larger_first_capture_once() -> None:
    """profile_cudagraph_memory (0.20-0.33): max over modes of the first capture + (n - 1) x max(second, 1 MiB)
    per mode; FULL and PIECEWISE share one pool, so the first capture is not counted twice."""
    model = model_spec_from_config(catalog_config("nvidia/NVIDIA-Nemotron-Nano-9B-v2"))
    engine = resolve_engine(model, DeploySettings(vllm_version="0.26.0", entrypoint="llm"), GPU)
    assert engine.model_runner == "v1" and len(capture_sizes(engine)) == 51
    graphs = estimate_cudagraph(model, engine, enforce_eager=False)
    # first capture: 512 tokens x the wider of the MLP (3 x 4,480 hidden + 3 x 15,680 intermediate) and the Mamba-2
    # mixer's profile-run values (3 x 4,480 + in_proj 10,240 + 12,288 + 128 + ssm_output 10,240 + 2 x 12,288 xBC
    # copies = 70,912) x 2 B; then 2 x 50 graphs x 1 MiB
    assert forward_bytes_per_token(model, engine) == max(3 * 4480 + 3 * 15680, 70_912) * 2 == 141_824
    assert graphs.value_bytes == 512 * 141_824 + 2 * 50 * MiB == 177_471_488
    assert graphs.error_bytes == int(0.4 * GiB)  # a hybrid's graphs: ERR_CUDAGRAPH_HYBRID_MIN


@pytest.mark.parametrize("name", ["google/gemma-3-4b-it", "google/gemma-3-27b-it"])
def test_multimodal_gemma3_gets_the_local_rope_cache_from_the_class_defaults(name: str) -> None:
    """Their nested text configs leave rope_theta and rope_local_base_freq out: Gemma3TextConfig's 1e6 and 1e4."""
    model = model_spec_from_config(catalog_config(name))
    assert (model.rope_cache_positions, model.local_rope_cache_positions) == (1_048_576, 131_072)


def test_v0_non_torch_by_release_and_gpu_count() -> None:
    """V0 counts what grew since its snapshot (0.05 GiB at TP 1, +0.10 and 0.02 a rank beyond), except 0.6.4,
    whose worker.py counts all non-torch memory on the GPU, the CUDA context too: 0.44 +- 0.29 GiB, measured in
    public 0.6.4 logs (0.15-0.73)."""
    from kvplan.core.overheads import estimate_non_torch

    model, _ = _llama8b()
    for version, tp, value, error in (("0.6.6", 1, 0.05, 0.05), ("0.6.3", 1, 0.05, 0.05),
                                      ("0.6.4", 1, 0.44, 0.29), ("0.6.4.post1", 1, 0.44, 0.29),
                                      ("0.6.6", 2, 0.05 + 0.02 + 0.10, 0.15)):
        engine = resolve_engine(model, DeploySettings(vllm_version=version, tensor_parallel_size=tp), H100)
        estimate = estimate_non_torch(engine, model)
        assert estimate.value_bytes == int(value * GiB), version
        assert estimate.error_bytes == int(error * GiB), version
    assert "CUDA context" in estimate_non_torch(
        resolve_engine(model, DeploySettings(vllm_version="0.6.4"), H100), model).source


def test_v2_pipeline_stages_take_the_embedding_floor_or_the_penalty_state_not_both() -> None:
    """PP 2, vLLM 0.28: the first stage compiles the embedding (the floor), the last samples and keeps the penalty
    state (non-torch, 256 x (151,936 + 4,748) x 4 B for Qwen3-14B): the activation takes the floor less that state,
    so the binding stage's total is the larger of the two stages, not their sum. At PP 1 both sit on one rank."""
    from tests.conftest import load_config

    model = model_spec_from_config(load_config("Qwen__Qwen3-14B"))
    penalties = 256 * (151936 + 4748) * 4
    floor = 151936 * 5120 * 2 + 2 * 2048 * 5120 * 2
    for pp, expected in ((1, floor), (2, floor - penalties)):
        engine = resolve_engine(model, DeploySettings(vllm_version="0.28.0", pipeline_parallel_size=pp,
                                                      max_num_seqs=256, max_num_batched_tokens=2048), GPU)
        assert estimate_activation(model, engine).value_bytes == expected
