"""The GPU table: lookups by any spelling, its numbers against their sources, and its error messages."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvplan.core.errors import UsageError
from kvplan.core.units import GiB, MiB
from kvplan.gpu.catalog import GPUS, CatalogGpu, catalog_gpu_spec, get_gpu, list_gpus


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("h100", "h100"),
        ("H100", "h100"),
        ("nvidia-h100", "h100"),
        ("h100-80gb", "h100"),
        ("h100-80", "h100"),
        ("H100 SXM", "h100"),
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("h100-pcie", "h100-pcie"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("a100", "a100-80g"),
        ("A100-80GB", "a100-80g"),
        ("NVIDIA A100-SXM4-80GB", "a100-80g"),
        ("a100-40gb", "a100-40g"),
        ("a100 40", "a100-40g"),
        ("a10", "a10"),
        ("A10G", "a10g"),
        ("l40s", "l40s"),
        ("NVIDIA L4", "l4"),
        ("Tesla T4", "t4"),
        ("v100-32gb", "v100-32g"),
        ("RTX 4090", "rtx4090"),
        ("NVIDIA GeForce RTX 3090", "rtx3090"),
        ("geforce_rtx_5090", "rtx5090"),
        ("H200", "h200"),
        ("b200", "b200"),
        ("RTX PRO 6000", "rtx-pro-6000"),
        ("AMD Instinct MI300X", "mi300x"),
        ("MI300X", "mi300x"),
    ],
)
def test_lookup_is_tolerant(spelling: str, key: str) -> None:
    assert get_gpu(spelling).key == key


@given(gpu=st.sampled_from(GPUS), data=st.data())
def test_any_case_and_separators_find_the_same_gpu(gpu: CatalogGpu, data: st.DataObject) -> None:
    chars = [data.draw(st.sampled_from([c.lower(), c.upper()])) for c in gpu.key.replace("-", "")]
    seps = data.draw(st.lists(st.sampled_from(["", "-", " ", "_"]), min_size=len(chars), max_size=len(chars)))
    spelling = "".join(c + s for c, s in zip(chars, seps, strict=True)).strip(" -_")
    assert get_gpu(spelling) is gpu


def test_every_key_name_and_alias_finds_its_entry() -> None:
    for gpu in list_gpus():
        for spelling in (gpu.key, gpu.name, *gpu.aliases):
            assert get_gpu(spelling) is gpu


def test_unknown_name_lists_close_matches_in_one_line() -> None:
    with pytest.raises(UsageError) as caught:
        get_gpu("h300")
    line = caught.value.one_line()
    assert line.startswith("Unknown GPU 'h300'; close matches: ")
    assert "h100" in line and "h200" in line
    assert line.endswith("`kvplan gpus` lists them")
    assert "\n" not in line


def test_unknown_name_without_close_matches() -> None:
    with pytest.raises(UsageError) as caught:
        get_gpu("potato")
    assert caught.value.one_line() == "Unknown GPU 'potato'. `kvplan gpus` lists them"


def test_keys_are_unique_and_listed_in_table_order() -> None:
    keys = [gpu.key for gpu in list_gpus()]
    assert len(keys) == len(set(keys))
    assert keys == [gpu.key for gpu in GPUS]
    assert {
        "a10g",
        "a10",
        "l4",
        "l40s",
        "a100-40g",
        "a100-80g",
        "h100",
        "h100-pcie",
        "h200",
        "b200",
        "rtx3090",
        "rtx4090",
        "rtx5090",
        "t4",
        "v100-32g",
        "mi300x",
    } <= set(keys)


# Totals by hand: a printed GiB figure times 1024, rounded to the MiB.
@pytest.mark.parametrize(
    ("key", "total_mib"),
    [
        ("l4", 22569),  # 22.04 GiB
        ("l40s", 45486),  # 44.42 GiB
        ("a100-80g", 81050),  # 79.15 GiB
        ("h200", 143165),  # 139.81 GiB
        ("rtx5090", 32123),  # 31.37 GiB (torch's total on Linux hosts; the NIM report's 31.84 is inside the error)
        ("h100", 81079),  # measured: 85,017,493,504 B = NVML 81559 MiB less a 480 MiB driver reserve (79.18 GiB)
    ],
)
def test_totals(key: str, total_mib: int) -> None:
    assert get_gpu(key).cuda_total_bytes == total_mib * MiB


def test_cuda_total_is_below_nvml_total_by_at_most_a_gib() -> None:
    for gpu in list_gpus():
        if gpu.nvml_total_bytes is not None:
            gap = gpu.nvml_total_bytes - gpu.cuda_total_bytes
            assert -0.01 * GiB <= gap <= 1 * GiB, gpu.key


def test_every_entry_cites_a_source_and_says_how_it_was_had() -> None:
    derived = {gpu.key for gpu in list_gpus() if gpu.evidence == "derived"}
    assert derived == {  # h100: measured on a lent H100 (2026-11-26)
        "a10g", "rtx4090", "h100-pcie", "a40", "a800", "l40", "rtx-6000-ada", "h800", "h20", "gh200", "h200-nvl",
        "gb300", "rtx5070ti", "rtx5080", "rtx-pro-6000-server", "mi250x",
    }
    for gpu in list_gpus():
        assert gpu.source.strip()
        assert gpu.cuda_total_bytes % MiB == 0
        # a figure printed by CUDA/HIP is good to its spread across hosts; a derived one carries more; the RTX 5090's
        # hosts print 31.36-31.37 and 31.84 GiB, and the 16 GB GeForce Blackwell cards derive from it
        wide = {"rtx5090", "rtx5080", "rtx5070ti"}
        limit = 482 * MiB if gpu.key in wide else (300 * MiB if gpu.evidence == "seen" else 640 * MiB)
        assert 0 < gpu.total_error_bytes <= limit, gpu.key
        major, minor = gpu.compute_capability
        assert 7 <= major <= 12 and 0 <= minor <= 9, gpu.key


def test_catalog_has_the_fleet_the_issue_names() -> None:
    keys = {gpu.key for gpu in list_gpus()}
    assert len(keys) >= 35
    assert {
        "a40", "l40", "rtx-a6000", "rtx-6000-ada", "rtx-pro-6000", "rtx-pro-6000-server", "a800", "h800", "h20",
        "gh200", "h200-nvl", "b300", "gb200", "gb300", "rtx5080", "rtx5070ti", "mi250x", "mi325x", "mi355x", "gb10",
    } <= keys


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("RTX A6000", "rtx-a6000"),
        ("NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000-server"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000"),
        ("NVIDIA GH200 480GB", "gh200"),
        ("DGX Spark", "gb10"),
        ("NVIDIA GeForce RTX 5070 Ti", "rtx5070ti"),
        ("MI355X", "mi355x"),
        ("NVIDIA B300 SXM6 AC", "b300"),
    ],
)
def test_new_spellings(spelling: str, key: str) -> None:
    assert get_gpu(spelling).key == key


# New totals by hand, in MiB: a printed figure, or NVML's total less the modelled 576 MiB reserve.
@pytest.mark.parametrize(
    ("key", "total_mib"),
    [
        ("rtx-a6000", 48681),  # 47.54 GiB, vllm#1201
        ("gb10", 124611),  # 121.69 GiB, vLLM's free-memory check on a DGX Spark
        ("a40", 46068 - 576),
        ("gb200", 188733),  # 184.31 GiB, torch OOM on GB200 (NVML 189471 MiB: 738 MiB kept by the driver)
        ("b300", 274115),  # 267.69 GiB, vLLM's free-memory line on a B300 SXM6 (NVML 275040 MiB)
        ("rtx5080", 16303),  # GeForce: CUDA total = NVML total
        ("mi325x", 262124),  # 255.98 GiB
        ("mi355x", 294892),  # 287.98 GiB
    ],
)
def test_new_totals(key: str, total_mib: int) -> None:
    assert get_gpu(key).cuda_total_bytes == total_mib * MiB


def test_rocm_and_unified_memory_entries_carry_their_note() -> None:
    rocm = {gpu.key for gpu in list_gpus() if gpu.platform == "rocm"}
    assert rocm == {"mi250x", "mi300x", "mi325x", "mi355x"}
    for gpu in list_gpus():
        if gpu.platform == "rocm":
            assert gpu.note is not None and "e4m3fnuz" in gpu.note and "FlashAttention 3" in gpu.note
    assert [gpu.key for gpu in list_gpus() if gpu.unified_memory] == ["gb10"]
    assert get_gpu("gb10").note is not None and "available memory" in (get_gpu("gb10").note or "")
    assert {k: get_gpu(k).compute_capability for k in ("mi250x", "mi355x", "b300", "gb10")} == {
        "mi250x": (9, 0), "mi355x": (9, 5), "b300": (10, 3), "gb10": (12, 1)}


def test_compute_capabilities() -> None:
    assert {
        k: get_gpu(k).compute_capability for k in ("t4", "v100-32g", "a100", "l4", "h100", "b200", "rtx5090")
    } == {
        "t4": (7, 5),
        "v100-32g": (7, 0),
        "a100": (8, 0),
        "l4": (8, 9),
        "h100": (9, 0),
        "b200": (10, 0),
        "rtx5090": (12, 0),
    }


def test_catalog_gpu_spec() -> None:
    spec = catalog_gpu_spec("L4", 2)
    assert spec.name == "NVIDIA L4"
    assert spec.total_bytes == 22569 * MiB
    assert spec.total_error_bytes == get_gpu("l4").total_error_bytes
    assert spec.free_bytes is None
    assert spec.source == "catalog"
    assert spec.compute_capability == (8, 9)


def test_catalog_gpu_spec_refuses_zero_gpus() -> None:
    with pytest.raises(UsageError, match="at least 1"):
        catalog_gpu_spec("l4", 0)


def test_rocm_gpus_plan_mla_with_vllms_rocm_block_size() -> None:
    # fp8 KV on an MLA model: FlashMLA's 64-token blocks on Hopper; on ROCm, AITER/Triton MLA take any block size,
    # so vLLM keeps its default 16 (platforms/rocm.py, 0.33/0.34). fp8 is one byte there too (e4m3fnuz).
    from kvplan import api
    from kvplan.core.settings import DeploySettings

    settings = DeploySettings(kv_cache_dtype="fp8", vllm_version="0.33.0")
    env = {"HF_HUB_OFFLINE": "1"}
    on_h100 = api.check("deepseek-ai/DeepSeek-V2-Lite", settings, gpu="h100", environ=env).result
    on_mi300x = api.check("deepseek-ai/DeepSeek-V2-Lite", settings, gpu="mi300x", environ=env).result
    assert (on_h100.engine.block_size, on_mi300x.engine.block_size) == (64, 16)
    # 0.34: CacheConfig.DEFAULT_BLOCK_SIZE is 64, which both platforms keep
    at_034 = replace(settings, vllm_version="0.34.0")
    assert api.check("deepseek-ai/DeepSeek-V2-Lite", at_034, gpu="mi300x", environ=env).result.engine.block_size == 64
    assert on_h100.layout.bytes_per_block // 64 == on_mi300x.layout.bytes_per_block // 16  # same bytes per token
    assert catalog_gpu_spec("mi355x", 1).rocm and not catalog_gpu_spec("h100", 1).rocm
    flagged = api.check("deepseek-ai/DeepSeek-V2-Lite", settings, gpu="mi300x", gpu_memory_bytes=100 * GiB,
                        environ=env).result
    assert flagged.engine.block_size == 16
