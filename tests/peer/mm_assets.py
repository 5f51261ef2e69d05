"""Tokenizer and processor files for the tiny multimodal peer models, built offline (run in vLLM's interpreter).

vLLM profiles an encoder only through the model's HF processor, and that needs a tokenizer
(``BaseMultiModalProcessor.__init__``, multimodal/processing/processor.py, 0.32: "requires a tokenizer and
cannot be initialized when `skip_tokenizer_init=True`"). So a multimodal case with its encoder on gets a
word-level tokenizer of the model's own vocabulary size, whose special tokens sit at the ids the config names,
and the processor / image-processor configs of its family (the PIL backends: transformers 5 falls back to them
when torchvision is absent, as in the CPU venv).

    python tests/peer/mm_assets.py MODEL_DIR FAMILY
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# family -> (special tokens by id, tokenizer extra_special_tokens, processor_config, preprocessor_config)
GEMMA3_SPECIALS = {0: "<pad>", 1: "<eos>", 2: "<bos>", 3: "<unk>", 1001: "<start_of_image>", 1002: "<end_of_image>",
                   1003: "<image_soft_token>"}
FAMILIES: dict[str, tuple[dict[int, str], dict[str, str], dict[str, Any], dict[str, Any]]] = {
    # Gemma 3: the prompt's <start_of_image> expands to "\n\n<start_of_image>" + image_seq_length soft tokens +
    # "<end_of_image>\n\n" (Gemma3Processor); image_seq_length must be the config's mm_tokens_per_image.
    "gemma3": (
        GEMMA3_SPECIALS,
        {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"},
        {"processor_class": "Gemma3Processor", "image_seq_length": 64},
        {"image_processor_type": "Gemma3ImageProcessor", "processor_class": "Gemma3Processor",
         "size": {"height": 224, "width": 224}, "do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255,
         "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
         "do_convert_rgb": True, "do_pan_and_scan": False, "resample": 2},
    ),
    # PaliGemma: <image> x (image_size / patch)^2 + <bos> is inserted before the prompt, and vLLM appends "\n"
    # (paligemma.py, 0.32: vocab["\n"], tokenizer.add_bos_token must be a bool); the image processor's
    # image_seq_length is what PaliGemmaProcessor expands <image> to.
    "paligemma": (
        {0: "<pad>", 1: "<eos>", 2: "<bos>", 3: "<unk>", 108: "\n", 1000: "<image>"},
        {"image_token": "<image>"},
        {"processor_class": "PaliGemmaProcessor"},
        {"image_processor_type": "SiglipImageProcessor", "processor_class": "PaliGemmaProcessor",
         "image_seq_length": 256, "size": {"height": 224, "width": 224}, "do_resize": True, "do_rescale": True,
         "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
         "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": True, "resample": 3},
    ),
    # BLIP-2: num_query_tokens <image> tokens are inserted at the prompt's start (blip2.py, 0.32: vocab["<image>"]).
    "blip2": (
        {0: "<pad>", 1: "<eos>", 2: "<bos>", 3: "<unk>", 1000: "<image>"},
        {"image_token": "<image>"},
        {"processor_class": "Blip2Processor", "num_query_tokens": 32},
        {"image_processor_type": "BlipImageProcessor", "processor_class": "Blip2Processor",
         "size": {"height": 224, "width": 224}, "do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255,
         "do_normalize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
         "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True, "resample": 3},
    ),
}


def write_assets(model_dir: Path, family: str, vocab_size: int = 1024) -> None:
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials, extra, processor, preprocessor = FAMILIES[family]
    vocab = {specials.get(i, f"w{i}"): i for i in range(vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials.values()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   unk_token="<unk>", extra_special_tokens=extra, add_bos_token=True)
    fast.save_pretrained(str(model_dir))
    (model_dir / "processor_config.json").write_text(json.dumps(processor, indent=2) + "\n")
    (model_dir / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    write_assets(Path(sys.argv[1]), sys.argv[2])
