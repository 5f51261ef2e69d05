"""Shared option declarations, named as vLLM names its flags."""

from __future__ import annotations

from typing import Annotated

import typer

ModelArg = Annotated[str, typer.Argument(
    metavar="MODEL", help="Hub id (org/name), local model directory or config.json path.", show_default=False)]
MaxModelLenOpt = Annotated[str | None, typer.Option(
    "--max-model-len", help="Context length to serve; 'auto' fits the largest (vLLM's -1). Default: the model's.")]
GpuUtilOpt = Annotated[float | None, typer.Option(
    "--gpu-memory-utilization", "--gpu-util",
    help="Fraction of the GPU's total memory vLLM may use. Default: the version's (1.0 with 0.34's extensible KV "
         "cache, else 0.92 from 0.20, 0.90 before).")]
TpOpt = Annotated[int, typer.Option("--tensor-parallel-size", "-tp", help="Tensor-parallel GPUs.")]
PpOpt = Annotated[int, typer.Option("--pipeline-parallel-size", "-pp", help="Pipeline-parallel stages.")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Model dtype: auto, bfloat16, float16, float32.")]
KvDtypeOpt = Annotated[str, typer.Option("--kv-cache-dtype", help="auto, fp8, fp8_e4m3, fp8_e5m2, bfloat16, float16.")]
BlockSizeOpt = Annotated[int | None, typer.Option(
    "--block-size", help="Tokens per KV block. Default: 64 on CUDA from 0.34 (16 before), 128 on the CPU build.")]
MaxSeqsOpt = Annotated[int | None, typer.Option("--max-num-seqs", help="Default: vLLM's for GPU and entry point.")]
MaxBatchedOpt = Annotated[int | None, typer.Option(
    "--max-num-batched-tokens", help="Default: vLLM's for GPU and entry point.")]
KvMemoryOpt = Annotated[str | None, typer.Option(
    "--kv-cache-memory", help="Size the KV cache directly (vLLM's kv_cache_memory_bytes), e.g. 20GiB.")]
KvMemoryBytesOpt = Annotated[str | None, typer.Option(
    "--kv-cache-memory-bytes", help="The same, as vLLM's flag reads it: bytes, or 20G / 512M (powers of two), "
                                    "20g (powers of ten).")]
EagerOpt = Annotated[bool, typer.Option("--enforce-eager", help="No CUDA graphs (no graph memory).")]
QuantOpt = Annotated[str | None, typer.Option("--quantization", help="Quantization method passed to vLLM.")]
GpuOpt = Annotated[str | None, typer.Option("--gpu", help="Plan for a GPU from the catalog (see `kvplan gpus`).")]
GpuMemoryOpt = Annotated[str | None, typer.Option(
    "--gpu-memory", help="Total GPU memory as CUDA reports it: 24GiB, 80GB, 81559MiB (GiB/MiB powers of two). "
                         "With --gpu, replaces that GPU's total (a MIG slice, say).")]
RevisionOpt = Annotated[str | None, typer.Option("--revision", help="Hub branch, tag or commit.")]
PlatformOpt = Annotated[str, typer.Option("--platform", help="cuda, or cpu for vLLM's CPU build.")]
EntrypointOpt = Annotated[str, typer.Option(
    "--entrypoint", help="serve (vllm serve) or llm (the Python LLM class): their defaults differ.")]
ListVersionOpt = Annotated[str | None, typer.Option(
    "--vllm-version", help="vLLM release to mirror (V0 for 0.5-0.7). Default: the vllm installed beside kvplan, "
                           "else the newest modelled.")]
VersionOpt = Annotated[str | None, typer.Option(
    "--vllm-version", help="vLLM release to mirror (V0 for 0.5-0.7). Default: the vllm installed beside kvplan or "
                           "under --vllm-python, else the newest modelled.")]
ExtensibleOpt = Annotated[bool | None, typer.Option(
    "--enable-extensible-kv-cache/--no-enable-extensible-kv-cache", show_default=False,
    help="vLLM's flag (0.34+): size the KV cache from memory measured after warm-up. Default: vLLM's (on with CUDA, "
         "off with --kv-cache-memory).")]
PlanVllmPythonOpt = Annotated[str | None, typer.Option(
    "--vllm-python", help="Plan for the vLLM installed under this Python interpreter (reads its package metadata; "
                          "vLLM is not imported).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object (schema in README).")]
JsonListOpt = Annotated[bool, typer.Option("--json", help="Print a JSON array, one entry per catalog row.")]
MambaSsmOpt = Annotated[str, typer.Option(
    "--mamba-ssm-cache-dtype", metavar="DTYPE",
    help="vLLM's flag: SSM state dtype of Mamba layers (auto, float32, bfloat16, float16).")]
SpeculativeOpt = Annotated[str | None, typer.Option(
    "--speculative-config", metavar="JSON",
    help='vLLM\'s flag: e.g. \'{"method": "mtp", "num_speculative_tokens": 3}\' or eagle/eagle3/draft_model with '
         'a "model"; ngram and suffix add no KV.')]
NoHybridOpt = Annotated[bool, typer.Option(
    "--disable-hybrid-kv-cache-manager",
    help="vLLM's flag: allocate sliding-window and chunked layers as full attention.")]
UseV1Opt = Annotated[str | None, typer.Option(
    "--vllm-use-v1", metavar="0|1",
    help="VLLM_USE_V1 as the deployment sets it (vLLM 0.8-0.10.2). Unset: vLLM's own choice, V0 fallback included.")]
PrefixCachingOpt = Annotated[bool | None, typer.Option(
    "--enable-prefix-caching/--no-enable-prefix-caching", show_default=False,
    help="vLLM's flag. Default: vLLM's (on, but off for Mamba hybrids before 0.28); on a hybrid each Mamba "
         "group then holds 2 state blocks a request instead of 1 (3 for Mamba-2 from 0.32).")]
LimitMmOpt = Annotated[str | None, typer.Option(
    "--limit-mm-per-prompt", metavar="JSON",
    help='vLLM\'s flag: items per prompt by modality, e.g. \'{"image":0}\'; 0 for every modality serves text only '
         "(no encoder profile, no vision tower from vLLM 0.32).")]
MmProcessorOpt = Annotated[str | None, typer.Option(
    "--mm-processor-kwargs", metavar="JSON",
    help='vLLM\'s flag: the image processor\'s size, e.g. \'{"max_pixels": 1003520}\' (Qwen-VL), which sets the '
         "largest item vLLM profiles the encoder with.")]
MmEncoderTpOpt = Annotated[str, typer.Option(
    "--mm-encoder-tp-mode", help="vLLM's flag: weights (encoder split over TP) or data (replicated, items split).")]
LanguageOnlyOpt = Annotated[bool, typer.Option(
    "--language-model-only", help="vLLM's flag: every modality limit 0 (text only).")]
SkipMmProfilingOpt = Annotated[bool, typer.Option(
    "--skip-mm-profiling", help="vLLM's flag: profile the text model only (the encoder's peak is not left free).")]
EnableLoraOpt = Annotated[bool, typer.Option(
    "--enable-lora", help="vLLM's flag: preallocate LoRA adapter slots on each GPU (--max-loras x --max-lora-rank).")]
MaxLorasOpt = Annotated[int, typer.Option("--max-loras", help="vLLM's flag: adapters in one batch (GPU slots).")]
MaxLoraRankOpt = Annotated[int, typer.Option("--max-lora-rank", help="vLLM's flag: the slots' rank.")]
MaxCpuLorasOpt = Annotated[int | None, typer.Option(
    "--max-cpu-loras", help="vLLM's flag: adapters cached in host memory (no GPU memory).")]
CpuOffloadOpt = Annotated[float, typer.Option(
    "--cpu-offload-gb", help="vLLM's flag: GiB of weights per GPU moved to CPU memory.")]
