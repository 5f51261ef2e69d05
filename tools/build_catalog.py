"""Build ``kvplan/data/catalog.json`` from ``tests/data/catalog_sources/<org>__<name>/``.

Each source folder holds the model's ``config.json`` (as published), ``SOURCE.txt`` (where it came from)
and optionally ``hf_quant_config.json`` (ModelOpt). ``SOURCE.txt`` may carry machine-read lines:

    url: https://...                    the page or file the config was taken from
    repository: / path: / commit:       a GitHub file (the URL is built from them when no ``url:`` line)
    source: ... https://...             the first URL on the line is used when nothing above gives one
    total_size: 16060522496             ``metadata.total_size`` of the published model.safetensors.index.json
    total_size_source: https://...      where that figure was read

Only the config fields a planner can need are kept (see ``JUNK_KEYS``: token ids, generation defaults,
tokenizer and remote-code pointers are dropped; every other key stays, nested dicts included).
Run: ``python tools/build_catalog.py [--out PATH]``. Output is deterministic (sorted keys).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kvplan.core.errors import UnsupportedModelError  # noqa: E402
from kvplan.core.params import EXCLUSION_KEYS, count_params, module_kind  # noqa: E402

SOURCES = ROOT / "tests" / "data" / "catalog_sources"
OUT = ROOT / "kvplan" / "data" / "catalog.json"

JUNK_KEYS = frozenset(
    {
        "_name_or_path",
        "_attn_implementation_autoset",
        "add_cross_attention",
        "audio_token_id",
        "auto_map",
        "bad_words_ids",
        "begin_suppress_tokens",
        "boi_token_id",
        "boi_token_index",
        "bos_token_id",
        "chat_template",
        "chunk_size_feed_forward",
        "cross_attention_hidden_size",
        "decoder_start_token_id",
        "diversity_penalty",
        "do_sample",
        "early_stopping",
        "encoder_no_repeat_ngram_size",
        "eoi_token_id",
        "eoi_token_index",
        "eos_token_id",
        "exponential_decay_length_penalty",
        "finetuning_task",
        "forced_bos_token_id",
        "forced_eos_token_id",
        "id2label",
        "image_processor_config",
        "image_token_id",
        "image_token_index",
        "initializer_factor",
        "initializer_range",
        "label2id",
        "length_penalty",
        "max_length",
        "min_length",
        "no_repeat_ngram_size",
        "num_beam_groups",
        "num_beams",
        "num_return_sequences",
        "output_attentions",
        "output_hidden_states",
        "output_router_logits",
        "output_scores",
        "pad_token_id",
        "prefix",
        "problem_type",
        "pruned_heads",
        "remove_invalid_values",
        "repetition_penalty",
        "return_dict",
        "return_dict_in_generate",
        "sep_token_id",
        "suppress_tokens",
        "task_specific_params",
        "temperature",
        "tf_legacy_loss",
        "tokenizer_class",
        "top_k",
        "top_p",
        "torchscript",
        "transformers_version",
        "typical_p",
        "use_bfloat16",
        "use_cache",
        "video_token_id",
        "vision_end_token_id",
        "vision_start_token_id",
        "vision_token_id",
    }
)


# Per-module lists in quantization configs (hundreds of layer names in NVFP4/FP8 checkpoints) say which
# layers stay unquantized; the planner reads only the method, bits and groups, so long ones are left out.
LONG_LISTS = frozenset({"ignore", "modules_to_not_convert", "exclude_modules", "quantized_layers"})
LONG = 32


def shortened(key: str, value: Any) -> bool:
    """Whether ``key`` is kept in short form: a long ``quantized_layers`` map (``collapse_module_names``) or a
    long exclusion list (``counted_exclusions``)."""
    if key == "quantized_layers":
        return isinstance(value, dict) and len(value) > LONG
    return key in EXCLUSION_KEYS and isinstance(value, list) and len(value) > LONG


def short_form(key: str, value: Any) -> Any:
    """What the catalog keeps of a ``shortened`` entry."""
    return collapse_module_names(value) if key == "quantized_layers" else counted_exclusions(value)


def counted_exclusions(names: list[Any]) -> list[Any]:
    """The names of an exclusion list that can change the byte count (linear layers kvplan quantizes: attention,
    Mamba / linear attention, MLPs, experts), in their order; norms, routers, the LM head (never quantized by
    kvplan outside mixed precision, where ``quantized_layers`` rules) and the like are left out."""
    return [name for name in names if module_kind(str(name)) not in (None, "head")]


def dropped(key: str, value: Any) -> bool:
    """Whether the catalog leaves ``key`` out: junk, or a long per-module list of a quantization config."""
    return key in JUNK_KEYS or (key in LONG_LISTS and isinstance(value, list | dict) and len(value) > LONG
                                and not shortened(key, value))


def clean(config: dict[str, Any]) -> dict[str, Any]:
    """The config minus ``JUNK_KEYS`` and long module lists, recursively through nested dicts. A long
    ``quantized_layers`` map (ModelOpt MIXED_PRECISION: one recipe per module) is kept in short form, one
    entry per module pattern with layer and expert numbers written N, since the planner reads which kind of
    layer takes which algorithm from it."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if shortened(k, v):
            out[k] = short_form(k, v)
        elif not dropped(k, v):
            out[k] = clean(v) if isinstance(v, dict) else v
    return out


def collapse_module_names(layers: dict[str, Any]) -> dict[str, Any]:
    """``backbone.layers.12.mixer.experts.3.up_proj`` -> ``backbone.layers.N.mixer.experts.N.up_proj``; the first
    recipe of each pattern is kept."""
    short: dict[str, Any] = {}
    for name, recipe in layers.items():
        short.setdefault(re.sub(r"\.\d+(?=\.|$)", ".N", name), recipe)
    return dict(sorted(short.items()))


def read_source(text: str) -> dict[str, str]:
    """The machine-read ``key: value`` lines of a SOURCE.txt (first occurrence wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^(url|repository|path|commit|source|total_size|total_size_source):\s*(.+)$", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2).strip()
    return out


def source_url(src: dict[str, str]) -> str:
    if "url" in src:
        return src["url"].split()[0]
    if {"repository", "path", "commit"} <= src.keys():
        repo = src["repository"].removeprefix("github.com/").strip("/")
        return f"https://github.com/{repo}/blob/{src['commit'].split()[0]}/{src['path'].split()[0]}"
    m = re.search(r"https?://\S+", src.get("source", ""))
    if m:
        return m.group(0).rstrip(",;)")
    raise SystemExit(f"no source URL in SOURCE.txt: {src}")


def build_entry(folder: Path) -> dict[str, Any]:
    name = folder.name.replace("__", "/", 1)
    config = json.loads((folder / "config.json").read_text())
    src = read_source((folder / "SOURCE.txt").read_text())
    quant_path = folder / "hf_quant_config.json"
    extra = {"hf_quant_config.json": clean(json.loads(quant_path.read_text()))} if quant_path.exists() else None
    entry: dict[str, Any] = {"name": name, "config": clean(config), "source_url": source_url(src)}
    if extra:
        entry["extra_configs"] = extra
    try:
        counted = count_params(config, hf_quant_config=(extra or {}).get("hf_quant_config.json"))
        entry["param_count"] = counted.param_count
        counted_bytes: int | None = counted.bytes
        counted_label = f"counted from config ({counted.dtype}{'' if counted.exact else ', estimate'})"
    except UnsupportedModelError:
        entry["param_count"] = None
        counted_bytes, counted_label = None, "unknown"
    if "total_size" in src:
        entry["weights_bytes"] = int(src["total_size"])
        entry["weights_source"] = f"safetensors index total_size ({src.get('total_size_source', '?')})"
    else:
        entry["weights_bytes"] = counted_bytes
        entry["weights_source"] = counted_label
    return entry


def build(sources: Path = SOURCES) -> str:
    entries = [build_entry(f) for f in sorted(sources.iterdir(), key=lambda p: p.name.lower()) if f.is_dir()]
    return (
        json.dumps({"format": 1, "models": entries}, sort_keys=True, indent=None, separators=(",", ":")).replace(
            ',{"config"', ',\n{"config"'
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
