"""GPUs by name, for planning without one: the total CUDA reports (what vLLM budgets on), with its source.

Totals come from shared/fixtures/gpu-memory.md, which collects figures printed by vLLM and torch
(``total_gpu_memory``, ``Free memory on device cuda:0 (free/TOTAL GiB)``, ``total capacity of X GiB``).
An entry is "seen" when such a figure exists for that card, and "derived" otherwise: from nvidia-smi's total
less the modelled driver reserve (``_MODELLED_RESERVE_BYTES``), or from a sibling board, as its source says.
The same card reads differently across drivers and hosts (A100-40GB: 39.39-39.59 GiB), so every entry
carries an error; ``--gpu-memory`` overrides the total when the user knows better.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from kvplan.core.errors import UsageError
from kvplan.core.hardware import GpuSpec
from kvplan.core.units import GiB, MiB

# nvidia-smi total less CUDA total on data-centre cards where both were seen (gpu-memory.md and
# ollama/ollama#18201): L4 465 MiB, L40S 582, H200 605, 96 GiB SM120 card 638; mean ~576 MiB.
_MODELLED_RESERVE_BYTES = 576 * MiB
_SEEN_ERROR_BYTES = 205 * MiB  # ~0.2 GiB: the spread of one card's total across drivers and hosts
_DERIVED_ERROR_BYTES = 256 * MiB  # that spread, plus the spread of the reserve around its mean
# A reserve nobody has paired with a CUDA/HIP total on that card (96 GB Hopper, HBM sizes on ROCm, GB300): the
# largest NVML-CUDA gap seen (638 MiB, ollama/ollama#18201), so the true total is inside the error.
_WIDE_ERROR_BYTES = 640 * MiB
_ROCM_SEEN_ERROR_BYTES = 300 * MiB  # MI325X: 255.98 and 255.69 GiB seen on two hosts

# vLLM on ROCm (vllm/platforms/rocm.py, v0.33.0 and v0.34.0 alike) differs from CUDA in ways kvplan does not
# model separately. The KV arithmetic is unchanged: the ROCm attention backends take vLLM's default 16-token
# block (ROCM_ATTN and ROCM_AITER_FA kernels: 16 or 32, get_supported_kernel_block_sizes; AITER MLA: any), and
# fp8 KV is float8_e4m3fnuz on gfx94x (RocmPlatform.fp8_dtype / is_fp8_fnuz), one byte like e4m3fn.
ROCM_NOTE = ("ROCm: KV sized as vLLM's ROCm platform does (16-token blocks, MLA too: AITER/Triton MLA take "
             "any block; fp8 KV as e4m3fnuz on MI300-class, one byte); not mirrored yet: no FlashAttention 3 / "
             "FlashInfer on ROCm (AITER or Triton backends), so the profile and CUDA-graph memory are CUDA's "
             "estimates, and the V0 fallbacks of 0.8-0.10 follow CUDA's rules")


def _gib(value: float) -> int:
    """A total printed in GiB (two decimals) as bytes, on a MiB boundary."""
    return round(value * GiB / MiB) * MiB


@dataclass(frozen=True, kw_only=True)
class CatalogGpu:
    key: str
    name: str  # as NVML/torch names it where seen
    cuda_total_bytes: int
    total_error_bytes: int
    compute_capability: tuple[int, int]  # torch's (major, minor); ROCm reports the gfx target this way
    evidence: Literal["seen", "derived"]
    source: str
    nvml_total_bytes: int | None = None  # nvidia-smi's total where seen, for display
    aliases: tuple[str, ...] = ()
    platform: Literal["cuda", "rocm"] = "cuda"
    unified_memory: bool = False  # CPU and GPU share one pool (GB10): vLLM counts free memory its own way
    note: str | None = None  # what kvplan does not mirror for this card, said wherever it is planned
    # SXM board of Hopper or later on an NVSwitch fabric (HGX/DGX baseboard, NVL72 rack): NVLink multicast, so
    # NCCL sets up NVLink SHARP (NVLS) buffers for communicators of more than 2 GPUs. PCIe and NVL (bridge) cards,
    # GH200 superchips (no NVSwitch in a single node) and everything before Hopper (A100's NVSwitch has no
    # multicast) are False. Read by kvplan.core.overheads.estimate_nvls.
    nvswitch: bool = False


def _entry(
    key: str,
    name: str,
    total_bytes: int,
    cc: tuple[int, int],
    source: str,
    *,
    evidence: Literal["seen", "derived"],
    nvml_total_bytes: int | None = None,
    aliases: tuple[str, ...] = (),
    error_bytes: int | None = None,
    platform: Literal["cuda", "rocm"] = "cuda",
    unified_memory: bool = False,
    note: str | None = None,
    nvswitch: bool = False,
) -> CatalogGpu:
    if error_bytes is None:
        error_bytes = _SEEN_ERROR_BYTES if evidence == "seen" else _DERIVED_ERROR_BYTES
    if platform == "rocm" and note is None:
        note = ROCM_NOTE
    return CatalogGpu(
        key=key,
        name=name,
        cuda_total_bytes=total_bytes,
        total_error_bytes=error_bytes,
        platform=platform,
        unified_memory=unified_memory,
        note=note,
        nvswitch=nvswitch,
        compute_capability=cc,
        evidence=evidence,
        source=source,
        nvml_total_bytes=nvml_total_bytes,
        aliases=aliases,
    )


_H100_NVML_BYTES = 81559 * MiB
_H100_CUDA_BYTES = 85_017_493_504  # measured on a lent H100 80GB HBM3 (see its entry)
_HOPPER_96G_NVML_BYTES = 97871 * MiB  # GH200 and H20 alike print `/ 97871MiB`
_B300_NVML_BYTES = 275040 * MiB
_PRO6000_NVML_BYTES = 97887 * MiB


def _less_reserve(nvml_bytes: int) -> int:
    return nvml_bytes - _MODELLED_RESERVE_BYTES


# Table order is display order: by vendor and generation, then memory. Kept as a table (one entry per block).
# "derived" sources say what they start from; sources are public files found by searching GitHub (issue text,
# READMEs and notes that quote nvidia-smi, torch or vLLM output verbatim).
# fmt: off
GPUS: tuple[CatalogGpu, ...] = (
    _entry(
        "t4", "Tesla T4", _gib(14.74), (7, 5),
        "Unsloth `VRAM = 14.74 GB` on a T4; a newer Colab driver shows 14.56 (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=15360 * MiB,
    ),
    _entry(
        "v100-32g", "Tesla V100-SXM2-32GB", _gib(31.74), (7, 0),
        "V100 32GB `31.74` GiB, vLLM 0.8.5 (gpu-memory.md; also id 4922787267)",
        evidence="seen",
    ),
    _entry(
        "a10", "NVIDIA A10", _gib(22.07), (8, 6),
        "OCI 24 GB (A10) shape: `22.07` GiB in log and OOM text (gpu-memory.md, oracle-samples doc)",
        evidence="seen", nvml_total_bytes=23028 * MiB,
    ),
    _entry(
        "a10g", "NVIDIA A10G", _gib(22.07), (8, 6),
        "the A10's 22.07 GiB (same 24 GB board class, gpu-memory.md); nvidia-smi 23028 MiB, local-gemma#20",
        evidence="derived", nvml_total_bytes=23028 * MiB,
    ),
    _entry(
        "a40", "NVIDIA A40", _less_reserve(46068 * MiB), (8, 6),
        "nvidia-smi `NVIDIA A40 ... 1234MiB / 46068MiB` (a public deployment README) less the modelled 576 MiB "
        "reserve; a vGPU profile of it (A40-48Q) reads 47.74 GiB in vllm#11230, which is not the bare board",
        evidence="derived", nvml_total_bytes=46068 * MiB,
    ),
    _entry(
        "rtx-a6000", "NVIDIA RTX A6000", _gib(47.54), (8, 6),
        "torch OOM `GPU 0; 47.54 GiB total capacity` beside nvidia-smi `NVIDIA RTX A6000 ... / 49140MiB`, "
        "vllm#1201",
        evidence="seen", nvml_total_bytes=49140 * MiB, aliases=("a6000",),
    ),
    _entry(
        "a100-40g", "NVIDIA A100-SXM4-40GB", _gib(39.49), (8, 0),
        "`NVIDIA_A100-SXM4-40GB` 39.49 GiB; 39.39-39.59 across hosts (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=40960 * MiB,
    ),
    _entry(
        "a100-80g", "NVIDIA A100-SXM4-80GB", _gib(79.15), (8, 0),
        "Unsloth `Max memory: 79.151 GB`, vLLM `total_gpu_memory (79.15GiB)`; OOM text 79.10 (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=81920 * MiB, aliases=("a100",),
    ),
    _entry(
        "a800", "NVIDIA A800-SXM4-80GB", _gib(79.15), (8, 0),
        "the A100-SXM4-80GB's 79.15 GiB: the A800 is that board with NVLink cut to 400 GB/s, same 80 GB HBM2e",
        evidence="derived", nvml_total_bytes=81920 * MiB, aliases=("a800-80g",),
    ),
    _entry(
        "rtx3090", "NVIDIA GeForce RTX 3090", _gib(23.58), (8, 6),
        "`23.58` GiB in vllm#10517, vllm PR #14447, vllm#15340 (gpu-memory.md)",
        evidence="seen", aliases=("3090",),
    ),
    _entry(
        "l4", "NVIDIA L4", _gib(22.04), (8, 9),
        "`Free memory on device cuda:0 (15.32/22.04 GiB)`; nvidia-smi 23034 MiB (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=23034 * MiB,
    ),
    _entry(
        "l40", "NVIDIA L40", _gib(44.42), (8, 9),
        "the L40S's 44.42 GiB (same AD102 48 GB GDDR6 board; nvidia-smi 46068 MiB on both)",
        evidence="derived", nvml_total_bytes=46068 * MiB,
    ),
    _entry(
        "l40s", "NVIDIA L40S", _gib(44.42), (8, 9),
        "`44.42` GiB in vllm#15815; nvidia-smi 46068 MiB (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=46068 * MiB,
    ),
    _entry(
        "rtx-6000-ada", "NVIDIA RTX 6000 Ada Generation", _gib(47.54), (8, 9),
        "the RTX A6000's 47.54 GiB: same 48 GB GDDR6 workstation board class, and nvidia-smi reads the same "
        "49,140 MiB on it (a public hardware note: `NVIDIA RTX 6000 Ada Generation`, `VRAM: 49,140 MiB`)",
        evidence="derived", nvml_total_bytes=49140 * MiB, aliases=("rtx6000-ada", "6000-ada"),
    ),
    _entry(
        "rtx4090", "NVIDIA GeForce RTX 4090", _gib(23.55), (8, 9),
        "the RTX 4090 D's `Max memory: 23.546 GB` (same 24 GB AD102 board, gpu-memory.md); "
        "nvidia-smi 24564 MiB, vllm#7553",
        evidence="derived", nvml_total_bytes=24564 * MiB, aliases=("4090",),
    ),
    _entry(
        "h100", "NVIDIA H100 80GB HBM3", _H100_CUDA_BYTES, (9, 0),
        "torch.cuda.mem_get_info on an H100 80GB HBM3 (driver 580.159.04, torch 2.11, 2026-11-26): 85,017,493,504 "
        "B; NVML 85,520,809,984 B (nvidia-smi 81559 MiB), so the driver keeps 480 MiB",
        evidence="seen", nvml_total_bytes=85_520_809_984,
        aliases=("h100-80g", "h100-sxm", "h100-sxm5", "h100-80g-hbm3"), nvswitch=True,
    ),
    _entry(
        "h100-pcie", "NVIDIA H100 PCIe", _H100_NVML_BYTES - _MODELLED_RESERVE_BYTES, (9, 0),
        "nvidia-smi `NVIDIA H100 PCIe ... 81559MiB` (public files) less the modelled 576 MiB reserve",
        evidence="derived", nvml_total_bytes=_H100_NVML_BYTES, aliases=("h100-pcie-80g",),
    ),
    _entry(
        "h800", "NVIDIA H800", _H100_CUDA_BYTES, (9, 0),
        "the H100 80GB HBM3's measured 85,017,493,504 B: the H800 is that SXM board with NVLink cut to 400 GB/s, "
        "same 80 GB HBM3 (nvidia-smi 81559 MiB)",
        evidence="derived", nvml_total_bytes=_H100_NVML_BYTES, aliases=("h800-80g", "h800-sxm"), nvswitch=True,
    ),
    _entry(
        "h20", "NVIDIA H20", _less_reserve(_HOPPER_96G_NVML_BYTES), (9, 0),
        "nvidia-smi `NVIDIA H20 ... 0MiB / 97871MiB` (public files) less the modelled 576 MiB reserve; a torch OOM "
        "on a '96GB H100' read `total capacity of 94.50 GiB`, inside the wider error",
        evidence="derived", nvml_total_bytes=_HOPPER_96G_NVML_BYTES, error_bytes=_WIDE_ERROR_BYTES, nvswitch=True,
    ),
    _entry(
        "gh200", "NVIDIA GH200 480GB", _less_reserve(_HOPPER_96G_NVML_BYTES), (9, 0),
        "nvidia-smi `NVIDIA GH200 480GB ... 1MiB / 97871MiB` (public files; the GH200 120GB prints the same) less "
        "the modelled 576 MiB reserve; the 96 GB HBM3 part only (the 144 GB HBM3e GH200 is not this entry)",
        evidence="derived", nvml_total_bytes=_HOPPER_96G_NVML_BYTES, error_bytes=_WIDE_ERROR_BYTES,
        aliases=("gh200-96g", "gh200-120gb"),
    ),
    _entry(
        "h200", "NVIDIA H200", _gib(139.81), (9, 0),
        "`139.81` GiB, 8xH200 DeepSeek-R1 log; nvidia-smi 143771 MiB (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=143771 * MiB, aliases=("h200-141g", "h200-sxm"), nvswitch=True,
    ),
    _entry(
        "h200-nvl", "NVIDIA H200 NVL", _gib(139.81), (9, 0),
        "the H200 SXM's 139.81 GiB: the same 141 GB HBM3e, in a PCIe card (nvidia-smi 143771 MiB on both)",
        evidence="derived", nvml_total_bytes=143771 * MiB,
    ),
    _entry(
        "b200", "NVIDIA B200", _gib(178.35), (10, 0),
        "Unsloth banner and torch OOM `total capacity of 178.35 GiB`, unslothai/unsloth#3411 (gpu-memory.md)",
        evidence="seen", nvswitch=True,
    ),
    _entry(
        "gb200", "NVIDIA GB200", _gib(184.31), (10, 0),
        "per GPU: torch OOM `GPU 0 has a total capacity of 184.31 GiB`, noted as seen on GB200 decode (a public "
        "vLLM patch note; the same figure in three other GB200 logs); nvidia-smi `0MiB / 189471MiB`",
        evidence="seen", nvml_total_bytes=189471 * MiB, nvswitch=True,
    ),
    _entry(
        "b300", "NVIDIA B300 SXM6 AC", _gib(267.69), (10, 3),
        "vLLM `Free memory on device (264.8/267.69 GiB)` on 8x B300 SXM6, nvidia-smi 275,040 MiB (a public "
        "DeepSeek-V4.1-Flash benchmark post, 2026-09-11; torch OOMs read the same 267.69); capability 10.3 "
        "printed by torch in public notes",
        evidence="seen", nvml_total_bytes=_B300_NVML_BYTES, aliases=("b300-sxm",), nvswitch=True,
    ),
    _entry(
        "gb300", "NVIDIA GB300", _gib(267.69), (10, 3),
        "per GPU: the B300's 267.69 GiB (the same Blackwell Ultra GPU and 288 GB HBM3e); no GB300 print found, "
        "hence the wider error",
        evidence="derived", nvml_total_bytes=_B300_NVML_BYTES, error_bytes=_WIDE_ERROR_BYTES, nvswitch=True,
    ),
    _entry(
        "rtx5070ti", "NVIDIA GeForce RTX 5070 Ti", 16303 * MiB, (12, 0),
        "nvidia-smi `NVIDIA GeForce RTX 5070 Ti, 16303 MiB` (public files); CUDA's total on a GeForce Blackwell "
        "card is NVML's or up to 0.47 GiB less (RTX 5090: 31.84 in one report, 31.37 in others)",
        evidence="derived", nvml_total_bytes=16303 * MiB, aliases=("5070ti", "5070-ti"), error_bytes=_gib(0.47),
    ),
    _entry(
        "rtx5080", "NVIDIA GeForce RTX 5080", 16303 * MiB, (12, 0),
        "nvidia-smi `NVIDIA GeForce RTX 5080 ... / 16303MiB` (public files); CUDA's total on a GeForce Blackwell "
        "card is NVML's or up to 0.47 GiB less (RTX 5090: 31.84 in one report, 31.37 in others)",
        evidence="derived", nvml_total_bytes=16303 * MiB, aliases=("5080",), error_bytes=_gib(0.47),
    ),
    _entry(
        "rtx5090", "NVIDIA GeForce RTX 5090", _gib(31.37), (12, 0),
        "torch `total capacity of 31.37 GiB` (Wan-Video/Wan2.1#465) and 31.36 (TrajectoryCrafter#20) on Linux; "
        "`31.84` in the NIM footprint report (gpu-memory.md), NVML's 32607 MiB: +- 0.47 GiB covers both",
        evidence="seen", nvml_total_bytes=32607 * MiB, aliases=("5090",), error_bytes=_gib(0.47),
    ),
    _entry(
        "rtx-pro-6000", "NVIDIA RTX PRO 6000 Blackwell Workstation Edition", _gib(94.97), (12, 0),
        "SM120 96 GB card `device 94.43/94.97 GiB`, name not printed (gpu-memory.md); "
        "cuDeviceTotalMem 94.97 GiB vs NVML 95.59 GiB, ollama/ollama#18201",
        evidence="seen", nvml_total_bytes=_gib(95.59),
        aliases=("rtx-6000-pro", "rtx-pro-6000-blackwell", "rtx-pro-6000-workstation"),
    ),
    _entry(
        "rtx-pro-6000-server", "NVIDIA RTX PRO 6000 Blackwell Server Edition", _gib(94.97), (12, 0),
        "the Workstation Edition's 94.97 GiB (same GB202 with 96 GB GDDR7): nvidia-smi `97,887 MiB total` on a "
        "Server Edition (public notes), and a vLLM 0.20 benchmark note reads `95.0 GiB each`",
        evidence="derived", nvml_total_bytes=_PRO6000_NVML_BYTES, aliases=("rtx-pro-6000-se",),
    ),
    _entry(
        "gb10", "NVIDIA GB10", _gib(121.69), (12, 1),
        "DGX Spark: vLLM `Free memory on device cuda:0 (67.92/121.69 GiB)` (NVIDIA-AI-Blueprints/"
        "video-search-and-summarization#1743) and `(110.37/121.69 GiB)` (MiaAI-Lab/GLM-5.3-Flash-EXL3-2x-DGX-Sparks"
        "#47); NVML reports its memory as Not Supported",
        evidence="seen", aliases=("dgx-spark", "spark"), unified_memory=True,
        note="unified memory (GB10): the 121.69 GiB is shared with the CPU; vLLM 0.34 takes free memory as the "
             "OS's available memory (device_memory_info, vllm/utils/mem_utils.py), so the start check depends on "
             "what else the host holds, page cache included; recipes run it at 0.80-0.87",
    ),
    _entry(
        "mi250x", "AMD Instinct MI250X", _gib(63.98), (9, 0),
        "per GCD (vLLM sees each of its two dies as a device, 64 GiB of HBM2e each): HIP OOM texts read `total "
        "capacity of 63.98 GiB` on 64 GiB Instinct devices (the card is not named there: MI250X GCD or MI210); "
        "gfx90a is capability (9, 0) (_capability_from_gcn_arch)",
        evidence="derived", platform="rocm", aliases=("mi250x-gcd",),
    ),
    _entry(
        "mi300x", "AMD Instinct MI300X", _gib(191.45), (9, 4),
        "`total_gpu_memory (191.45GiB)`, author identifies MI300X (gpu-memory.md); HIP OOM texts on MI300X read "
        "191.98 more often (e.g. a Qwen3.5-397B TP8 note), so the lower figure is kept; ROCm torch reports "
        "gfx942 as capability (9, 4)",
        evidence="seen", platform="rocm",
    ),
    _entry(
        "mi325x", "AMD Instinct MI325X", _gib(255.98), (9, 4),
        "HIP OOM `GPU 0 has a total capacity of 255.98 GiB` in a vLLM ROCm issue text (rocm_aiter_mla_sparse) and "
        "a serving log; a PyTorch ROCm CI host read 255.69; gfx942, capability (9, 4)",
        evidence="seen", error_bytes=_ROCM_SEEN_ERROR_BYTES, platform="rocm",
    ),
    _entry(
        "mi355x", "AMD Instinct MI355X", _gib(287.98), (9, 5),
        "HIP OOM `total capacity of 287.98 GiB` on MI355X in several public run notes (SGLang and vLLM on ROCm "
        "7.x); gfx950, capability (9, 5)",
        evidence="seen", platform="rocm",
    ),
)
# fmt: on

_VENDOR_WORDS = ("nvidia", "geforce", "tesla", "instinct", "amd")


def _compact(name: str) -> str:
    """Spelling-free form: ``NVIDIA H100 80GB`` and ``h100-80g`` both become ``h10080g``."""
    text = re.sub(r"[^a-z0-9]", "", name.lower())
    for word in _VENDOR_WORDS:
        text = text.replace(word, "")
    return re.sub(r"(\d)gi?b", r"\1g", text)


def _build_index() -> dict[str, CatalogGpu]:
    index: dict[str, CatalogGpu] = {}
    for gpu in GPUS:
        for spelling in (gpu.key, gpu.name, *gpu.aliases):
            other = index.setdefault(_compact(spelling), gpu)
            if other is not gpu:  # a spelling shared by two cards would make lookups depend on table order
                raise AssertionError(f"GPU catalog: '{spelling}' names both {other.key} and {gpu.key}")
    return index


_INDEX = _build_index()


def list_gpus() -> list[CatalogGpu]:
    """Every catalog GPU, in display order."""
    return list(GPUS)


def get_gpu(name: str) -> CatalogGpu:
    """Look a GPU up by key, alias or marketing name, ignoring case, spaces, dashes and vendor words."""
    compact = _compact(name)
    # "h100-80" and "a100-40" mean the G that the table spells out.
    for candidate in (compact, compact + "g"):
        if candidate in _INDEX:
            return _INDEX[candidate]
    close = difflib.get_close_matches(compact, list(_INDEX), n=6, cutoff=0.6)
    keys = list(dict.fromkeys(_INDEX[c].key for c in close))[:3]
    suggestion = f"; close matches: {', '.join(keys)}" if keys else ""
    raise UsageError(f"Unknown GPU '{name}'{suggestion}", hint="`kvplan gpus` lists them")


def catalog_gpu_spec(name: str, count: int) -> GpuSpec:
    """The planning device for ``count`` (TP x PP) alike GPUs named ``name``; free memory is not known."""
    if count < 1:
        raise UsageError(f"The number of GPUs (TP x PP) must be at least 1 (got {count})")
    gpu = get_gpu(name)
    return GpuSpec(
        name=gpu.name,
        total_bytes=gpu.cuda_total_bytes,
        total_error_bytes=gpu.total_error_bytes,
        free_bytes=None,
        nvml_total_bytes=gpu.nvml_total_bytes,
        source="catalog",
        compute_capability=gpu.compute_capability,
        rocm=gpu.platform == "rocm",
        nvswitch=gpu.nvswitch,
    )
