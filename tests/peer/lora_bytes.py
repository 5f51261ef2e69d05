"""Run by vLLM's interpreter: start an engine with LoRA slots and print the bytes of every stacked A/B buffer.

    python tests/peer/lora_bytes.py '{"model": DIR, ..., "enable_lora": true, "max_loras": 2}'

Prints ``RESULT {"total": N, "by_module": {...}}``. The engine core runs in-process
(VLLM_ENABLE_V1_MULTIPROCESSING=0) so that ``LLM.apply_model`` reaches the model.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def lora_buffer_bytes(model: Any) -> dict[str, Any]:
    """Every ``*lora_a_stacked*`` / ``*lora_b_stacked*`` tensor once per module (FusedMoE keeps the same
    tensors under several names); the ``_2d`` views of the embedding share their storage."""
    import torch

    total, by_module = 0, {}
    for name, module in model.named_modules():
        seen: set[int] = set()
        for attr in dir(module):
            if ("lora_a_stacked" not in attr and "lora_b_stacked" not in attr) or attr.endswith("_2d"):
                continue
            value = getattr(module, attr, None)
            for tensor in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(tensor, torch.Tensor) and tensor.data_ptr() not in seen:
                    seen.add(tensor.data_ptr())
                    size = tensor.numel() * tensor.element_size()
                    total += size
                    key = name.rsplit(".", 1)[-1]
                    by_module[key] = by_module.get(key, 0) + size
    return {"total": total, "by_module": by_module}


def main() -> None:
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    from vllm import LLM

    llm = LLM(**json.loads(sys.argv[1]))
    print("RESULT " + json.dumps(llm.apply_model(lora_buffer_bytes)[0]), flush=True)


if __name__ == "__main__":
    main()
