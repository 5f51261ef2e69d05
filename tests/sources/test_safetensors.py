"""Safetensors header reading: real files, hand-made malformed ones, and a sharded checkpoint."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvplan.core.errors import ConfigError
from kvplan.sources import safetensors
from kvplan.sources.local import weights_from_dir

try:  # the safetensors package writes the real thing; without it the format is written by hand below
    import numpy as np
    from safetensors.numpy import save_file
except ImportError:  # pragma: no cover - the dev venv has both
    np = None  # type: ignore[assignment]

DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "I32": 4, "F8_E4M3": 1}


def write_by_hand(path: Path, tensors: dict[str, tuple[str, list[int]]], *, header: Any = None) -> int:
    """Write the format itself (for dtypes numpy lacks, and for broken files); returns the data bytes."""
    entries: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * DTYPE_BYTES[dtype]
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(entries if header is None else header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return offset


def save(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> None:
    """A real file from the safetensors package when installed, else written by hand."""
    if np is None:
        write_by_hand(path, tensors)
        return
    kinds = {"F16": np.float16, "F32": np.float32, "I8": np.int8, "U8": np.uint8, "I32": np.int32}
    save_file({name: np.zeros(shape, kinds[dtype]) for name, (dtype, shape) in tensors.items()}, str(path))


def test_real_file_bytes_per_dtype_and_params(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save(path, {"w": ("F16", [4, 8]), "b": ("F32", [8]), "q": ("I8", [3, 5])})
    totals = safetensors.summarize([safetensors.read_header(path)], where="t")
    assert totals.bytes_by_dtype == {"F16": 64, "F32": 32, "I8": 15}
    assert totals.total_bytes == 111
    assert totals.num_tensors == 3 and totals.num_elements == 32 + 8 + 15
    # I8 may be packed weights, so the element count is not reported as parameters.
    assert totals.param_count is None


def test_float_only_checkpoint_counts_parameters(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    write_by_hand(path, {"a": ("BF16", [16, 4]), "s": ("F32", [1]), "f": ("F8_E4M3", [2, 2])})
    weights = safetensors.summarize([safetensors.read_header(path)], where="t").to_weights(source="x")
    assert weights.param_count == 64 + 1 + 4
    assert weights.total_bytes == 128 + 4 + 4
    assert weights.bytes_by_dtype == {"BF16": 128, "F32": 4, "F8_E4M3": 4}


def test_sharded_checkpoint_with_index(tmp_path: Path) -> None:
    shards: dict[str, dict[str, tuple[str, list[int]]]] = {
        "model-00001-of-00002.safetensors": {"a": ("F16", [10, 10])},
        "model-00002-of-00002.safetensors": {"b": ("F32", [5]), "c": ("F16", [2, 2])},
    }
    weight_map = {}
    for name, tensors in shards.items():
        save(tmp_path / name, tensors)
        weight_map.update(dict.fromkeys(tensors, name))
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 228}, "weight_map": weight_map})
    )
    weights = weights_from_dir(tmp_path)
    assert weights is not None
    assert weights.source == "safetensors headers" and weights.exact
    assert weights.total_bytes == 200 + 20 + 8 == 228  # agrees with the index's total_size
    assert weights.bytes_by_dtype == {"F16": 208, "F32": 20}
    assert weights.param_count == 100 + 5 + 4


def test_only_the_header_is_read(tmp_path: Path) -> None:
    # A 64 GiB sparse file: reading the tensor data would take minutes and the test a fraction of a second.
    path = tmp_path / "huge.safetensors"
    size = 64 << 30
    header = {"w": {"dtype": "BF16", "shape": [size // 2], "data_offsets": [0, size]}}
    raw = json.dumps(header).encode()
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        handle.truncate(8 + len(raw) + size)
    totals = safetensors.summarize([safetensors.read_header(path)], where="t")
    assert totals.total_bytes == size


def test_absurd_header_length_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 200_000_000) + b"{}")
    with pytest.raises(ConfigError, match="over the 100000000 byte limit"):
        safetensors.read_header(path)


def test_header_past_end_of_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.safetensors"
    path.write_bytes(struct.pack("<Q", 5000) + b'{"a": 1}')
    with pytest.raises(ConfigError, match="past the end"):
        safetensors.read_header(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"abc", "too short"),
        (struct.pack("<Q", 1) + b"{", "too small"),
        (struct.pack("<Q", 6) + b"{nope}", "malformed safetensors header"),
        (struct.pack("<Q", 2) + b"[]", "JSON list, not an object"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "malformed safetensors header"),
    ],
)
def test_malformed_files(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=match) as info:
        safetensors.read_header(path)
    assert "\n" not in info.value.one_line()
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("x", "is not an object"),
        ({"shape": [1], "data_offsets": [0, 2]}, "has no dtype"),
        ({"dtype": "F16", "shape": [True], "data_offsets": [0, 2]}, "bad shape"),
        ({"dtype": "F16", "shape": [-1], "data_offsets": [0, 2]}, "bad shape"),
        ({"dtype": "F16", "shape": [1], "data_offsets": [4, 2]}, "bad data_offsets"),
        ({"dtype": "F16", "shape": [1], "data_offsets": [0]}, "bad data_offsets"),
        ({"dtype": "F16", "shape": [1], "data_offsets": [0, 99]}, "past the 2 data bytes"),
    ],
)
def test_malformed_tensor_entries(tmp_path: Path, entry: Any, match: str) -> None:
    path = tmp_path / "bad.safetensors"
    write_by_hand(path, {"t": ("F16", [1])}, header={"t": entry})
    with pytest.raises(ConfigError, match=match):
        safetensors.read_header(path)


def test_hub_style_summary_without_file_size() -> None:
    # The Hub reader has no file size to check offsets against; the sums are the same.
    header = {"a": {"dtype": "U8", "shape": [7], "data_offsets": [0, 7]}, "__metadata__": {"k": "v"}}
    totals = safetensors.summarize([header, header], where="hub")
    assert totals.total_bytes == 14 and totals.bytes_by_dtype == {"U8": 14} and totals.param_count is None


tensor_lists = st.dictionaries(
    st.text(alphabet="abcdefgh._", min_size=1, max_size=12).filter(lambda n: n != "__metadata__"),
    st.tuples(st.sampled_from(sorted(DTYPE_BYTES)), st.lists(st.integers(0, 6), max_size=3)),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(tensors=tensor_lists)
def test_round_trip_totals(tmp_path_factory: pytest.TempPathFactory, tensors: dict[str, Any]) -> None:
    path = tmp_path_factory.mktemp("st") / "m.safetensors"
    data_bytes = write_by_hand(path, {k: (d, list(s)) for k, (d, s) in tensors.items()})
    totals = safetensors.summarize([safetensors.read_header(path)], where="t")
    assert totals.total_bytes == data_bytes == sum(totals.bytes_by_dtype.values())
    assert totals.num_tensors == len(tensors)
    assert totals.num_elements == sum(math.prod(shape) for _, shape in tensors.values())


def test_mtp_weights_are_told_apart_by_name_and_left_out(tmp_path: Path) -> None:
    """A real two-shard checkpoint: vLLM's main model skips ``mtp.*`` and, with num_nextn_predict_layers, the
    layers past num_hidden_layers; kvplan subtracts exactly their bytes, read from the headers."""
    from kvplan.core.weights import without_skipped_layers

    save(tmp_path / "model-00001-of-00002.safetensors",
         {"model.embed_tokens.weight": ("F16", [32, 8]), "model.layers.0.mlp.weight": ("F16", [8, 8]),
          "model.layers.1.mlp.weight": ("F16", [8, 16])})
    save(tmp_path / "model-00002-of-00002.safetensors",
         {"model.layers.2.mlp.weight": ("F16", [8, 24]), "mtp.fc.weight": ("F32", [8, 8]),
          "model.mtp_layers.0.norm.weight": ("F32", [8])})
    weight_map = {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"}
    weight_map.update({"mtp.fc.weight": "model-00002-of-00002.safetensors"})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    weights = weights_from_dir(tmp_path)
    assert weights is not None and weights.source == "safetensors headers"
    assert weights.mtp_named_bytes == 8 * 8 * 4 + 8 * 4
    assert weights.bytes_by_layer == {0: 128, 1: 256, 2: 384}
    total = 512 + 128 + 256 + 384 + 256 + 32
    assert weights.total_bytes == total
    deepseek_like = {"num_hidden_layers": 2, "num_nextn_predict_layers": 1}
    assert without_skipped_layers(weights, deepseek_like).total_bytes == total - 288 - 384
    plain = {"num_hidden_layers": 3}
    kept = without_skipped_layers(weights, plain)
    assert kept.total_bytes == total - 288 and "by tensor name" in kept.source
