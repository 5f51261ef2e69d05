"""kvplan: vLLM's KV-cache arithmetic before deploy."""

__version__ = "0.1.0"
