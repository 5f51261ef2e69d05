"""The bundled catalog: every entry equals its source file; the JSON is what tools/build_catalog.py makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.errors import UnsupportedModelError
from kvplan.core.params import count_params
from kvplan.sources import catalog

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "tests" / "data" / "catalog_sources"
FOLDERS = sorted(p.name for p in SOURCES.iterdir() if p.is_dir())
sys.path.insert(0, str(ROOT / "tools"))
import build_catalog  # noqa: E402


def _source_fields(folder: str) -> dict[str, str]:
    return build_catalog.read_source((SOURCES / folder / "SOURCE.txt").read_text())


def _assert_subset(entry: dict[str, Any], source: dict[str, Any], where: str) -> None:
    for key, value in source.items():
        if build_catalog.dropped(key, value):
            assert key not in entry, f"{where}.{key} should be dropped"
            continue
        assert key in entry, f"{where}.{key} missing from the catalog"
        if build_catalog.shortened(key, value):
            assert entry[key] == build_catalog.short_form(key, value), f"{where}.{key}"
        elif isinstance(value, dict):
            _assert_subset(entry[key], value, f"{where}.{key}")
        else:
            assert entry[key] == value, f"{where}.{key}"
    assert set(entry) <= set(source), f"{where}: keys not in the source {set(entry) - set(source)}"


def test_at_least_100_models() -> None:
    assert len(catalog.names()) == len(FOLDERS) >= 100


@pytest.mark.parametrize("folder", FOLDERS)
def test_entry_matches_source(folder: str) -> None:
    entry = catalog.find(folder)
    assert entry is not None and entry.name == folder.replace("__", "/", 1)
    source = json.loads((SOURCES / folder / "config.json").read_text())
    _assert_subset(entry.config, source, folder)
    src = _source_fields(folder)
    assert entry.source_url.startswith("https://")
    if "total_size" in src:
        assert entry.weights_bytes == int(src["total_size"])
        assert entry.weights_source.startswith("safetensors index total_size")
        return
    quant = (entry.extra_configs or {}).get("hf_quant_config.json")
    try:
        counted = count_params(source, hf_quant_config=quant)
    except UnsupportedModelError:
        assert entry.weights_bytes is None
        return
    assert entry.weights_bytes == counted.bytes
    assert entry.param_count == counted.param_count
    assert entry.weights_source.startswith("counted from config")


def test_qwen_7b_chat_is_v1_1() -> None:
    entry = catalog.find("qwen/qwen-7b-chat/")
    assert entry is not None
    assert entry.config["seq_length"] == 8192
    assert entry.config["max_position_embeddings"] == 8192


def test_lookup_forms() -> None:
    a = catalog.find("meta-llama/Llama-3.1-8B-Instruct")
    assert a is not None
    assert catalog.find("META-LLAMA/llama-3.1-8b-instruct") == a
    assert catalog.find("meta-llama__Llama-3.1-8B-Instruct") == a
    assert catalog.find("meta-llama/Llama-3.1-8B-Instruct/") == a
    assert catalog.find("nobody/nothing") is None
    a.config["hidden_size"] = 1  # callers get a copy
    assert catalog.find("meta-llama/Llama-3.1-8B-Instruct").config["hidden_size"] == 4096  # type: ignore[union-attr]


def test_catalog_json_is_what_the_builder_makes(tmp_path: Path) -> None:
    out = tmp_path / "catalog.json"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_catalog.py"), "--out", str(out)], check=True, capture_output=True
    )
    bundled = ROOT / "kvplan" / "data" / "catalog.json"
    assert out.read_text() == bundled.read_text(), "run: python tools/build_catalog.py"
    assert bundled.stat().st_size < 600_000
