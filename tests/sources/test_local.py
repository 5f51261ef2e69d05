"""Local model directories and config.json paths."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.errors import ConfigError, ModelNotFoundError
from kvplan.sources.local import read_json_object, read_local_model, weights_from_dir
from kvplan.sources.resolve import resolve_model

CONFIG = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4}
BYTES = {"F16": 2, "BF16": 2, "F32": 4, "I32": 4}


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> int:
    entries: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * BYTES[dtype]
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(entries).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return offset


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    return tmp_path


def test_directory_without_weights(model_dir: Path) -> None:
    model = read_local_model(model_dir)
    assert model.config == CONFIG
    assert model.config_source == "local"
    assert model.location == str((model_dir / "config.json").resolve())
    assert model.weights is None and model.extra_configs is None and model.notes == ()


def test_config_json_path_reads_weights_beside_it(model_dir: Path) -> None:
    write_safetensors(model_dir / "model.safetensors", {"w": ("BF16", [8, 8])})
    model = read_local_model(model_dir / "config.json", ref="./cfg")
    assert model.ref == "./cfg"
    assert model.weights is not None and model.weights.total_bytes == 128
    assert model.weights.param_count == 64 and model.weights.bytes_by_dtype == {"BF16": 128}


def test_infinity_and_nan_are_data(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "x", "max_position_embeddings": Infinity, "x": NaN}')
    config = read_local_model(tmp_path).config
    assert config["max_position_embeddings"] == float("inf") and math.isnan(config["x"])


def test_modelopt_quant_config_is_an_extra_config(model_dir: Path) -> None:
    quant = {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}}
    (model_dir / "hf_quant_config.json").write_text(json.dumps(quant))
    assert read_local_model(model_dir).extra_configs == {"hf_quant_config.json": quant}


def test_malformed_json_names_file_and_line(model_dir: Path) -> None:
    (model_dir / "config.json").write_text('{\n  "model_type": "llama",\n  "hidden_size": 64\n  "x": 1\n}')
    with pytest.raises(ConfigError) as info:
        read_local_model(model_dir)
    line = info.value.one_line()
    assert "config.json" in line and "line 4" in line and "\n" not in line


@pytest.mark.parametrize(("text", "kind"), [("[1, 2]", "array"), ('"llama"', "string"), ("null", "null")])
def test_config_must_be_an_object(model_dir: Path, text: str, kind: str) -> None:
    (model_dir / "config.json").write_text(text)
    with pytest.raises(ConfigError, match=f"expected a JSON object, found a JSON {kind}"):
        read_local_model(model_dir)


def test_not_utf8(model_dir: Path) -> None:
    (model_dir / "config.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_local_model(model_dir)


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no config\.json in this directory"):
        read_local_model(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no such file or directory"):
        read_local_model(tmp_path / "nope")


def test_index_total_size_when_shards_are_absent(model_dir: Path) -> None:
    index = {"metadata": {"total_size": 15231233024.0}, "weight_map": {"a": "model-00001-of-00004.safetensors"}}
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index))
    weights = read_local_model(model_dir).weights
    assert weights is not None
    assert (weights.total_bytes, weights.source) == (15231233024, "safetensors index total_size")
    assert weights.param_count is None


def test_index_without_total_size_or_shards(model_dir: Path) -> None:
    (model_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))
    assert read_local_model(model_dir).weights is None


@pytest.mark.parametrize("total", ["12", -1, True])
def test_index_total_size_must_be_a_byte_count(model_dir: Path, total: object) -> None:
    (model_dir / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}}))
    with pytest.raises(ConfigError, match="total_size must be a byte count"):
        read_local_model(model_dir)


@pytest.mark.parametrize("shard", ["../outside.safetensors", "/etc/passwd", "a\\..\\b.safetensors"])
def test_index_shard_names_stay_inside_the_directory(model_dir: Path, shard: str) -> None:
    (model_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": shard}}))
    with pytest.raises(ConfigError, match="points outside the model directory"):
        read_local_model(model_dir)


def test_mistral_consolidated_file_is_not_counted_twice(model_dir: Path) -> None:
    write_safetensors(model_dir / "model.safetensors", {"w": ("F16", [10])})
    write_safetensors(model_dir / "consolidated.safetensors", {"w": ("F16", [10])})
    weights = weights_from_dir(model_dir)
    assert weights is not None and weights.total_bytes == 20


def test_shards_without_index_are_summed_and_gaps_flagged(model_dir: Path) -> None:
    write_safetensors(model_dir / "model-00001-of-00003.safetensors", {"a": ("F16", [10])})
    write_safetensors(model_dir / "model-00002-of-00003.safetensors", {"b": ("I32", [3])})
    weights = weights_from_dir(model_dir)
    assert weights is not None
    assert weights.total_bytes == 32 and not weights.exact  # shard 3 of 3 is missing
    assert weights.param_count is None  # I32 may pack 4-bit weights
    write_safetensors(model_dir / "model-00003-of-00003.safetensors", {"c": ("F32", [1])})
    weights = weights_from_dir(model_dir)
    assert weights is not None and weights.exact and weights.total_bytes == 36


def test_truncated_shard_is_an_error(model_dir: Path) -> None:
    path = model_dir / "model.safetensors"
    write_safetensors(path, {"w": ("F16", [100])})
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ConfigError, match="truncated download"):
        read_local_model(model_dir)


def test_read_json_object_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_json_object(tmp_path)  # a directory


def test_resolve_prefers_an_existing_local_path(model_dir: Path, tmp_path: Path) -> None:
    model = resolve_model(str(model_dir), revision="v1", environ={"HF_HUB_OFFLINE": "1"})
    assert model.config_source == "local"
    assert model.notes == (f"--revision v1 ignored: {model_dir} is a local path",)


@pytest.mark.parametrize("ref", ["./missing/model", "/no/such/dir/config.json", "~/nope/x/y", "~nosuchuser/m"])
def test_resolve_missing_path(ref: str, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no such file or directory") as info:
        resolve_model(ref, environ={"HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert "\n" not in info.value.one_line()


def test_resolve_empty_ref() -> None:
    with pytest.raises(ModelNotFoundError, match="no model given"):
        resolve_model("  ", environ={})
