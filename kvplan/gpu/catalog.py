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
) -> CatalogGpu:
    return CatalogGpu(
        key=key,
        name=name,
        cuda_total_bytes=total_bytes,
        total_error_bytes=_SEEN_ERROR_BYTES if evidence == "seen" else _DERIVED_ERROR_BYTES,
        compute_capability=cc,
        evidence=evidence,
        source=source,
        nvml_total_bytes=nvml_total_bytes,
        aliases=aliases,
    )


_H100_NVML_BYTES = 81559 * MiB

# Table order is display order: by generation, then memory. Kept as a table (one entry per block).
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
        "l40s", "NVIDIA L40S", _gib(44.42), (8, 9),
        "`44.42` GiB in vllm#15815; nvidia-smi 46068 MiB (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=46068 * MiB,
    ),
    _entry(
        "rtx4090", "NVIDIA GeForce RTX 4090", _gib(23.55), (8, 9),
        "the RTX 4090 D's `Max memory: 23.546 GB` (same 24 GB AD102 board, gpu-memory.md); "
        "nvidia-smi 24564 MiB, vllm#7553",
        evidence="derived", nvml_total_bytes=24564 * MiB, aliases=("4090",),
    ),
    _entry(
        "h100", "NVIDIA H100 80GB HBM3", 85_017_493_504, (9, 0),
        "torch.cuda.mem_get_info on an H100 80GB HBM3 (driver 580.159.04, torch 2.11, 2026-11-26): 85,017,493,504 "
        "B; NVML 85,520,809,984 B (nvidia-smi 81559 MiB), so the driver keeps 480 MiB",
        evidence="seen", nvml_total_bytes=85_520_809_984,
        aliases=("h100-80g", "h100-sxm", "h100-sxm5", "h100-80g-hbm3"),
    ),
    _entry(
        "h100-pcie", "NVIDIA H100 PCIe", _H100_NVML_BYTES - _MODELLED_RESERVE_BYTES, (9, 0),
        "nvidia-smi `NVIDIA H100 PCIe ... 81559MiB` (public files) less the modelled 576 MiB reserve",
        evidence="derived", nvml_total_bytes=_H100_NVML_BYTES, aliases=("h100-pcie-80g",),
    ),
    _entry(
        "h200", "NVIDIA H200", _gib(139.81), (9, 0),
        "`139.81` GiB, 8xH200 DeepSeek-R1 log; nvidia-smi 143771 MiB (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=143771 * MiB, aliases=("h200-141g",),
    ),
    _entry(
        "b200", "NVIDIA B200", _gib(178.35), (10, 0),
        "Unsloth banner and torch OOM `total capacity of 178.35 GiB`, unslothai/unsloth#3411 (gpu-memory.md)",
        evidence="seen",
    ),
    _entry(
        "rtx5090", "NVIDIA GeForce RTX 5090", _gib(31.84), (12, 0),
        "`31.84` GiB, NIM footprint report; nvidia-smi 32607 MiB (gpu-memory.md)",
        evidence="seen", nvml_total_bytes=32607 * MiB, aliases=("5090",),
    ),
    _entry(
        "rtx-pro-6000", "NVIDIA RTX PRO 6000 Blackwell", _gib(94.97), (12, 0),
        "SM120 96 GB card `device 94.43/94.97 GiB`, name not printed (gpu-memory.md); "
        "cuDeviceTotalMem 94.97 GiB vs NVML 95.59 GiB, ollama/ollama#18201",
        evidence="seen", nvml_total_bytes=_gib(95.59), aliases=("rtx-6000-pro", "rtx-pro-6000-blackwell"),
    ),
    _entry(
        "mi300x", "AMD Instinct MI300X", _gib(191.45), (9, 4),
        "`total_gpu_memory (191.45GiB)`, author identifies MI300X (gpu-memory.md); ROCm torch reports gfx942 "
        "as capability (9, 4)",
        evidence="seen",
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
    )
