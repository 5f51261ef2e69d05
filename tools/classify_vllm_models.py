"""Classify each vLLM architecture by KV layout, from the newest release's model files; write layout_table.py.

    python tools/classify_vllm_models.py /work/wheels/v0.34.0 /work/wheels/models-src/v* [--signals]

For every text-generation, multimodal and Transformers-served architecture of ``kvplan.core.vllm_registry``
this reads the vLLM module that implements it, in the last release that registers it (each argument is an
unpacked release named ``vX.Y.Z``; ``vllm/model_executor/models/<module>.py`` or the
``vllm/models/<package>/`` tree; text only, nothing is imported) and looks for the signals that make a KV layout
other than plain full/sliding attention: Mamba / short-conv / linear-attention / KDA state, MLA, DeepSeek's
indexer cache, DeepSeek-V4 compression, KV sharing, chunked local attention, cross-attention, encoder-only
attention. ``rule`` turns the signals into a first guess; ``REVIEWED`` holds the decisions made by reading the
files (they win). The result is written to kvplan/core/layout_table.py; ``--signals`` prints the evidence.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kvplan.core.vllm_registry import ARCHITECTURES, RELEASES  # noqa: E402

OUT = ROOT / "kvplan" / "core" / "layout_table.py"

SIGNALS: dict[str, str] = {
    "mamba": r"\bMambaBase\b|MambaMixer2?\b|mamba_mixer",
    "short_conv": r"ShortConv|short_conv|ConvState",
    "own_spec": r"def get_kv_cache_spec",
    "kda": r"KimiDeltaAttention|\bKDA\b",
    "gdn": r"GatedDeltaNet|gated_delta",
    "linear_attn": r"LinearAttention|lightning_attention|MiniMaxText01LinearAttention",
    "mla": r"MLAAttention|MultiHeadLatentAttention|kv_lora_rank",
    "indexer": r"IndexerCache|\bIndexer\b|index_n_heads",
    "compressor": r"compress_ratio|Compressor\b",
    "kv_sharing": r"kv_sharing_target_layer_name",
    "chunked": r"ChunkedLocalAttention|attention_chunk_size",
    "cross": r"CrossAttention\b|AttentionType\.ENCODER_DECODER",
    "encoder_only": r"EncoderOnlyAttention",
    "sliding": r"sliding_window",
    # Plain-attention look-alikes (issue 15, layouts-rest): a window offset in model code, extra cached heads,
    # per-layer head sizes, several caches per layer (recurrent loops), chunked layers.
    "window_offset": r"sliding_window \+ 1|window_size \+ 1",
    "extra_kv_heads": r"num_kv_heads \+ 1",
    "per_layer_config": r"per_layer_config\[",
    "loops": r"\bloop_idx\b|attn_per_step",
    "chunk_lookback": r"chunk_lookback",
    "attn_list": r"self_attn = nn\.ModuleList",
}

# Layouts kvplan names (kvplan.core.architectures and the kvplan.core.layouts families).
PLAIN = "attention"

# Decisions made by reading the 0.34 model files: architecture -> (layout, why). They override ``rule``.
REVIEWED: dict[str, tuple[str, str]] = {
    # MLA families (deepseek_v2.py DeepseekV2MLAAttention and its users)
    "DeepseekV2ForCausalLM": ("mla", "deepseek_v2.py: MLA when kv_lora_rank is set"),
    "DeepseekV3ForCausalLM": ("mla", "deepseek_v2.py: MLA"),
    "DeepseekV32ForCausalLM": ("deepseek_v32", "vllm/models/deepseek_v32: MLA + DeepseekV32IndexerCache"),
    "GlmMoeDsaForCausalLM": ("deepseek_v32", "vllm/models/deepseek_v32: MLA + indexer (GLM-5)"),
    "DeepseekV4ForCausalLM": ("deepseek_v4", "vllm/models/deepseek_v4: compressed sparse attention"),
    "DeepseekV4ForConditionalGeneration": ("deepseek_v4", "vllm/models/deepseek_v4: compressed sparse attention"),
    "Glm4MoeLiteForCausalLM": ("mla", "glm4_moe_lite.py: DeepSeek-style MLA"),
    "KimiK2ForCausalLM": ("mla", "deepseek_v2.py: MLA"),
    "KimiVLForConditionalGeneration": ("mla", "kimi_vl.py: DeepseekV2 text model, MLA"),
    "KimiLinearForCausalLM": ("kimi_linear", "kimi_linear.py: KDA state layers beside MLA"),
    "PanguUltraMoEForCausalLM": ("mla", "openpangu.py: MLA"),
    "MistralLarge3ForCausalLM": ("mla", "mistral_large_3.py: DeepseekV3 MLA"),
    # Attention variants
    "Gemma3nForCausalLM": ("gemma3n", "gemma3n.py: KV-sharing layers allocate nothing"),
    "Gemma3nForConditionalGeneration": ("gemma3n", "gemma3n_mm.py: Gemma 3n text model, KV sharing"),
    "Gemma4ForCausalLM": ("gemma4", "gemma4.py: global layers with their own head size, KV sharing"),
    "Gemma4ForConditionalGeneration": ("gemma4", "gemma4_mm.py: Gemma 4 text model"),
    "Gemma4UnifiedForConditionalGeneration": ("gemma4", "gemma4_unified.py: Gemma 4 text model"),
    "Llama4ForCausalLM": ("llama4", "llama4.py: chunked local attention on RoPE layers"),
    "Llama4ForConditionalGeneration": ("llama4", "mllama4.py: Llama 4 text model"),
    "DeciLMForCausalLM": ("nemotron_nas", "nemotron_nas.py: per-block KV heads, no-op blocks"),
    "MiniMaxM2ForCausalLM": (PLAIN, "minimax_m2.py: full attention (attn_window_size is never passed)"),
    "MiniMaxM3SparseForCausalLM": ("unknown", "vllm/models/minimax_m3: MLA with an indexer and windows, not read"),
    "MiniMaxM3SparseForConditionalGeneration": ("unknown", "vllm/models/minimax_m3: MLA with an indexer, not read"),
    "MiniMaxText01ForCausalLM": ("minimax_linear", "minimax_text_01.py: lightning attention state"),
    "MiniMaxM1ForCausalLM": ("minimax_linear", "minimax_text_01.py: lightning attention state"),
    "MiniMaxForCausalLM": ("minimax_linear", "minimax_text_01.py: lightning attention state"),
    "MiniMaxVL01ForConditionalGeneration": ("minimax_linear", "minimax_vl_01.py: MiniMax-Text-01 text model"),
    "Step3p7ForConditionalGeneration": ("step3p7", "step3p7.py: mixed attention layer kinds"),
    "Step3p5ForCausalLM": ("step3p5", "step3p5.py: num_attention_groups KV heads of head_dim, windows by "
                                      "layer_types"),
    "Step5ForCausalLM": ("unknown", "vllm/models/step5: indexer, KV sharing and windows, not read"),
    "Step5ForConditionalGeneration": ("unknown", "vllm/models/step5: indexer, KV sharing and windows, not read"),
    "MiMoV2FlashForCausalLM": ("mimo_v2_flash", "mimo_v2.py: sliding/global layers, own head sizes"),
    "MiMoV2ForCausalLM": ("mimo_v2_flash", "mimo_v2.py: the MiMo-V2-Flash layers (swa head sizes, sinks)"),
    "LagunaForCausalLM": ("laguna", "laguna.py"),
    "MuseGlimmerForCausalLM": ("muse_glimmer", "muse_glimmer.py"),
    "MuseGlimmerForConditionalGeneration": ("muse_glimmer", "muse_glimmer.py (the same class)"),
    "DeepseekForCausalLM": ("mla", "deepseek_v2.py: plain attention (no kv_lora_rank)"),
    "MiniCPM3ForCausalLM": ("minicpm3", "minicpm3.py: latents decompressed into num_attention_heads full heads"),
    "HYV4ForCausalLM": ("unknown", "vllm/models/hy_v4: MLA with an indexer, KV sharing and windows, not read"),
    "Dots3NoteForCausalLM": ("unknown", "vllm/models/dots3_note: MLA with KV sharing and windows, not read"),
    "MistralLarge4ForCausalLM": ("unknown", "vllm/models/mistral: MLA with sliding windows, not read"),
    "DeepseekV41ForCausalLM": ("deepseek_v41", "vllm/models/deepseek_v41: DeepSeek-V4.1, not read yet"),
    "KimiK3ForConditionalGeneration": ("kimi_linear", "vllm/models/kimi_k3: a kimi_linear text model (KDA + MLA)"),
    "KimiK31ForConditionalGeneration": ("kimi_linear", "vllm/models/kimi_k3: a kimi_linear text model"),
    # Read for issue 15 (layouts-rest): attention layouts the plain rule would have got wrong
    "Cohere2ForCausalLM": ("cohere2", "commandr.py: sliding layers get config.sliding_window + 1"),
    "Cohere2MoeForCausalLM": ("cohere2", "cohere2_moe.py: sliding layers get config.sliding_window + 1"),
    "CohereForCausalLM": (PLAIN, "commandr.py: CohereConfig (v1) layers are never windowed per layer"),
    "ExaoneMoEForCausalLM": ("exaone_moe", "exaone_moe.py: a window per layer from config.sliding_windows"),
    "ExaoneMoeForCausalLM": ("exaone_moe", "exaone_moe.py: a window per layer from config.sliding_windows"),
    "LongcatFlashForCausalLM": ("longcat_flash", "longcat_flash.py: two MLA attentions per decoder layer"),
    "LongcatFlashNgramForCausalLM": ("longcat_flash", "longcat_flash_ngram.py: FlashModel, two MLA attentions "
                                                      "per decoder layer"),
    "HCXVisionV2ForCausalLM": ("text_config", "hyperclovax_vision_v2.py: init_vllm_registered_model(text_config)"),
    "DomynEdgeForCausalLM": ("unknown", "domyn_edge.py: head_dim from per_layer_config[i] and windows of "
                                        "window_size + 1, not modelled"),
    "DoryForCausalLM": ("unknown", "dory.py: one KV cache per recurrent loop (recurrent_kv_cache_mode "
                                   "per_loop) and attention-free mlp layers, not modelled"),
    "HrmTextForCausalLM": ("unknown", "hrm_text.py: one PrefillPrefixLMAttention cache per recurrence step "
                                      "(attn_per_step), not modelled"),
    "IQuestLoopCoderForCausalLM": ("unknown", "iquest_loopcoder.py: loop_num caches per layer, loops after the "
                                              "first windowed to loop_window_size, not modelled"),
    "Rnj1ForCausalLM": ("unknown", "rnj1.py: chunked_attention layers (window with chunk_lookback), not modelled"),
    "UnlimitedOCR2TextForCausalLM": ("unknown", "dash_attention.py DASHAttention: num_key_value_heads + 1 cached "
                                                "heads and R-SWA (rswa_window), not modelled"),
    # Multimodal wrappers that build their own language model (no init_vllm_registered_model)
    "CohereCompassForConditionalGeneration": ("layer_types_attention", "cohere_compass.py: CohereCompassAttention, "
                                                                       "config.sliding_window as it is"),
    "RadioMBartPrefixForCausalLM": ("unknown", "nemotron_parse3_5.py: an MBart decoder from config.decoder "
                                               "(decoder_layers, self_attention_kv_heads), not modelled"),
    "UnlimitedOCRForCausalLM": ("unknown", "unlimited_ocr.py: DASHAttention, num_key_value_heads + 1 cached heads "
                                           "and R-SWA (rswa_window), not modelled"),
    "HfMoondream": ("unknown", "moondream3.py: its own text model (dim, n_heads, n_kv_heads), not read"),
    "Moondream3ForCausalLM": ("unknown", "moondream3.py: its own text model (dim, n_heads, n_kv_heads), not read"),
    "VoxtralRealtimeGeneration": ("unknown", "voxtral_realtime.py: the causal Whisper encoder caches pooled KV in "
                                             "its own layers (whisper_causal.py get_kv_cache_spec), not modelled"),
    # Refused architectures read for issue 15 (layouts-rest)
    "Lfm3ForCausalLM": ("lfm3", "lfm3.py: short-conv (hidden_size wide) / full / sliding layers by layer_types"),
    "Lfm3VlForConditionalGeneration": ("text_config", "lfm3_vl.py: init_vllm_registered_model(Lfm3ForCausalLM)"),
    "Lfm3AudioForConditionalGeneration": ("text_config", "lfm3_audio.py: init_vllm_registered_model("
                                                         "Lfm3ForCausalLM); the LFM2 audio encoder caches nothing"),
    "MiniCPMV4_6ForConditionalGeneration": ("qwen3_5_unhooked", "minicpmv4_6.py: Qwen3_5ForCausalLM on its "
                                                                "text_config, without Qwen3.5's config hook"),
    "InternS2MobiusForConditionalGeneration": ("qwen3_5_unhooked", "interns2_mobius.py: Qwen3.5 GDN / attention "
                                                                   "layers, without Qwen3.5's config hook"),
    "Step3TextForCausalLM": ("step3_text", "step3_text.py: Step3TextAttention(num_kv_heads=1) in every layer"),
    "FlintForCausalLM": ("flint", "vllm/models/flint: full / sliding layers by layer_types (no KV sharing)"),
    # Still refused, the reason read from the 0.34 files
    "AliceAIForCausalLM": ("unknown", "alice_ai.py: KDA state (KimiGatedDeltaNetAttention, linear_attn_config "
                                      "rewritten in code) beside Qwen3-Next attention, not read"),
    "BailingMoeV2_5ForCausalLM": ("unknown", "bailing_moe_linear.py: lightning linear-attention state on all but "
                                             "every layer_group_size-th layer, MLA on those, not read"),
    "BailingMoeV3ForCausalLM": ("unknown", "bailing_moe_v3.py: KDA state on every layer_group_size-th layer (and "
                                           "the tail), MLA elsewhere, not read"),
    "BeamForCausalLM": ("unknown", "vllm/models/beam: per-layer windows and a built-in DFlash2 drafter "
                                   "(dflash2.py) with its own attention, not read"),
    "ZayaForCausalLM": ("unknown", "zaya.py: CCA layers keep short-conv-style Mamba state beside hybrid / "
                                   "hybrid_sliding attention, not read"),
    "InklingForCausalLM": ("unknown", "vllm/models/inkling: short-conv K/V and sliding attention layers with "
                                      "their own KV cache spec (sconv_swa_attn.py), not read"),
    "InklingForConditionalGeneration": ("unknown", "vllm/models/inkling: short-conv K/V and sliding attention "
                                                   "with their own KV cache spec, not read"),
    "Qwen4ExpForCausalLM": ("unknown", "vllm/models/qwen4_exp: GDN layers and QSA sparse attention with its own "
                                       "KV cache specs (qsa.py, ple_layer.py), not read"),
    "Qwen4ExpForConditionalGeneration": ("unknown", "vllm/models/qwen4_exp: GDN layers and QSA sparse attention "
                                                    "with their own KV cache specs, not read"),
    "Glm5NextForCausalLM": ("unknown", "vllm/models/glm5next: KDA state beside MLA with a sparse indexer, each "
                                       "with its own KV cache spec, not read"),
    "Glm5NextForConditionalGeneration": ("unknown", "vllm/models/glm5next: KDA state beside MLA with a sparse "
                                                    "indexer, not read"),
    "MuseSparkForConditionalGeneration": ("unknown", "vllm/models/muse_spark: its own decoder with optional "
                                                     "gated_delta_net layers and draft-layer windows, not read"),
    "WhisperForConditionalGeneration": ("unknown", "whisper.py: encoder-decoder; the decoder's cross-attention "
                                                   "caches the encoder output (CrossAttentionSpec), not modelled"),
    "CanaryForConditionalGeneration": ("unknown", "canary.py: encoder-decoder; decoder cross-attention caches the "
                                                  "encoder output, not modelled"),
    "CohereAsrForConditionalGeneration": ("unknown", "cohere_asr.py: encoder-decoder; decoder cross-attention "
                                                     "caches the encoder output, not modelled"),
    "NemotronParseForConditionalGeneration": ("unknown", "nemotron_parse.py: encoder-decoder (MBart decoder "
                                                         "with cross-attention), not modelled"),
    "BartForConditionalGeneration": ("unknown", "bart.py: encoder-decoder; decoder cross-attention caches the "
                                                "encoder output, not modelled"),
    "BartModel": ("unknown", "bart.py: encoder-decoder; decoder cross-attention caches the encoder output, "
                             "not modelled"),
    # State-space and hybrids
    "FalconH1ForCausalLM": ("falcon_h1", "falcon_h1.py: Mamba-2 beside attention in every layer"),
    "GraniteMoeHybridForCausalLM": ("granite_hybrid", "granitemoehybrid.py: Mamba-2 / attention layers"),
    "BambaForCausalLM": ("bamba", "bamba.py: Mamba-2 / attention layers"),
    "Zamba2ForCausalLM": ("zamba2", "zamba2.py: Mamba-2 with shared attention blocks"),
    "Lfm2ForCausalLM": ("lfm2", "lfm2.py: short-conv state layers"),
    "Lfm2MoeForCausalLM": ("lfm2", "lfm2_moe.py: short-conv state layers"),
    "Lfm2VlForConditionalGeneration": ("lfm2", "lfm2_vl.py: LFM2 text model"),
    "Plamo2ForCausalLM": ("plamo", "plamo2.py: Mamba state"),
    "Plamo3ForCausalLM": ("unknown", "plamo3.py: per-layer windows from a remote-code config class, not read yet"),
    "MambaForCausalLM": ("mamba", "mamba.py: Mamba-1 state only"),
    "FalconMambaForCausalLM": ("mamba", "mamba.py: Mamba-1 state only"),
    "Mamba2ForCausalLM": ("mamba2", "mamba2.py: Mamba-2 state only"),
    "JambaForCausalLM": ("jamba", "jamba.py: Mamba-1 / attention layers"),
    "JambaForSequenceClassification": ("jamba", "jamba.py"),
    "NemotronHForCausalLM": ("nemotron_h", "nemotron_h.py: hybrid_override_pattern"),
    "NemotronHPuzzleForCausalLM": ("nemotron_h", "nemotron_h.py"),
    "NemotronH_Nano_VL_V2": ("nemotron_h", "nano_nemotron_vl.py: Nemotron-H text model"),
    "Qwen3NextForCausalLM": ("qwen3_next", "qwen3_next.py: gated delta net / attention"),
    "Qwen3_5ForCausalLM": ("qwen3_next", "vllm/models/qwen3_5: gated delta net / attention"),
    "Qwen3_5MoeForCausalLM": ("qwen3_next", "vllm/models/qwen3_5: gated delta net / attention"),
    "Qwen3_5ForConditionalGeneration": ("qwen3_next", "vllm/models/qwen3_5: gated delta net text model"),
    "Qwen3_5MoeForConditionalGeneration": ("qwen3_next", "vllm/models/qwen3_5: gated delta net text model"),
    "OlmoHybridForCausalLM": ("olmo_hybrid", "olmo_hybrid.py: linear-attention / attention layers"),
}


def module_files(vllm_root: Path, module: str) -> list[Path]:
    if module.startswith("vllm."):
        base = vllm_root / Path(*module.split(".")[1:])
    else:
        base = vllm_root / "model_executor" / "models" / module
    if base.with_suffix(".py").is_file():
        return [base.with_suffix(".py")]
    if base.is_dir():
        return sorted(base.rglob("*.py"))
    return []


def signals_of(files: list[Path]) -> set[str]:
    text = "\n".join(f.read_text(errors="replace") for f in files)
    return {name for name, pattern in SIGNALS.items() if re.search(pattern, text)}


def rule(kind: str, module: str, found: set[str]) -> tuple[str, str]:
    """The first guess from the signals; REVIEWED corrects it."""
    if module == "transformers":
        return PLAIN, "Transformers backend: vLLM attention per layer (full/sliding from the config)"
    state = found & {"mamba", "short_conv", "kda", "gdn", "linear_attn"}
    if state:
        return "unknown", f"state layers ({', '.join(sorted(state))}) not read yet"
    if "cross" in found:
        return "unknown", "encoder-decoder cross-attention, not read yet"
    if "kv_sharing" in found:
        return "unknown", "KV-sharing layers, not read yet"
    if "own_spec" in found:
        return "unknown", "layers that build their own KV cache spec, not read yet"
    odd = found & {"window_offset", "extra_kv_heads", "per_layer_config", "loops", "chunk_lookback", "attn_list"}
    if odd:
        return "unknown", f"attention that is not plain ({', '.join(sorted(odd))}), not read yet"
    for signal, layout in (("compressor", "deepseek_v4"), ("indexer", "deepseek_v32"), ("mla", "mla"),
                           ("chunked", "llama4")):
        if signal in found:
            return layout, f"signal {signal}"
    if kind == "multimodal":
        return "text_config", "multimodal: the layout of its text model"
    return PLAIN, "full/sliding attention" if "sliding" in found else "full attention"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    show = "--signals" in argv
    roots = {Path(a).name.lstrip("v"): Path(a) / "vllm" for a in argv if not a.startswith("--")}
    newest = RELEASES[-1]
    rows: list[tuple[str, str, str, str]] = []
    for arch, (module, _cls, kind, spans) in sorted(ARCHITECTURES.items(), key=lambda kv: kv[0].lower()):
        if kind not in ("text-generation", "multimodal", "transformers"):
            continue
        last = spans[-1][1]
        if last not in roots:
            raise SystemExit(f"{arch}: last registered in {last}; give that release's unpacked wheel too")
        files = module_files(roots[last], module) if module != "transformers" else []
        found = signals_of(files) if files else set()
        layout, why = REVIEWED.get(arch) or rule(kind, module, found)
        if show:
            print(f"{arch:55} {layout:16} {','.join(sorted(found)):40} {why}")
        rows.append((arch, layout, module, why))
    lines = [
        "# ruff: noqa: E501",
        '"""vLLM architecture -> kvplan KV layout. GENERATED by tools/classify_vllm_models.py: do not edit.',
        "",
        f"Classified from vLLM {newest}'s model files (signals: Mamba/short-conv/linear/KDA state, MLA, indexer,",
        "compression, KV sharing, chunked attention, cross-attention), then reviewed by reading the files",
        "(REVIEWED in the tool). A layout is a builder name: 'attention' (full/sliding), the built-in families of",
        "kvplan.core.architectures, or a family registered in kvplan.core.layouts; 'text_config' means the layout",
        "of the nested text model (vLLM builds it with init_vllm_registered_model); 'unknown' is refused.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "# architecture -> (layout, vLLM module, why)",
        "LAYOUT_OF_ARCHITECTURE: dict[str, tuple[str, str, str]] = {",
    ]
    head = "\n".join(lines).replace("'", '"')

    def q(text: str) -> str:  # a double-quoted literal, apostrophes kept
        return json.dumps(text, ensure_ascii=False)

    body = [f"    {q(arch)}: ({q(layout)}, {q(module)}, {q(why)})," for arch, layout, module, why in rows]
    OUT.write_text("\n".join([head, *body, "}", ""]))
    counts: dict[str, int] = {}
    for _arch, layout, _m, _w in rows:
        counts[layout] = counts.get(layout, 0) + 1
    print(f"wrote {OUT}: {len(rows)} architectures; " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
