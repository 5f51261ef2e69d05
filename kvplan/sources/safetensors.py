"""Safetensors headers: the weight bytes of a checkpoint without reading any tensor data. Pure stdlib.

Format (https://huggingface.co/docs/safetensors/index#format): an 8-byte little-endian header length N, then
N bytes of JSON mapping tensor names to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative
to the end of the header), plus an optional ``__metadata__`` string map. Shared by the local, HF-cache and Hub
readers so that all three count bytes the same way.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvplan.core.errors import ConfigError
from kvplan.core.weights import WeightsInfo

# The safetensors library refuses headers above 100 MB (safetensors/src/tensor.rs, MAX_HEADER_SIZE): a larger
# length is a corrupt or hostile file, and trusting it would make us allocate that much.
MAX_HEADER_BYTES = 100_000_000
_PREFIX = struct.Struct("<Q")

# Dtypes whose element count is a parameter count. Integer dtypes often pack several sub-byte weights per
# element (GPTQ/AWQ in I32, NVFP4/MXFP4 in U8), and F4/F6 may be packed: their shapes are not parameters.
_UNPACKED_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0"})


@dataclass(frozen=True, kw_only=True)
class TensorTotals:
    """Bytes and elements of a set of safetensors headers (one file or all shards of a checkpoint)."""

    total_bytes: int = 0
    num_tensors: int = 0
    num_elements: int = 0
    params_countable: bool = True  # False once a possibly packed dtype is seen
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    mtp_named_bytes: int = 0  # tensors named as MTP modules (weights.without_skipped_layers)
    bytes_by_layer: dict[int, int] = field(default_factory=dict)

    @property
    def param_count(self) -> int | None:
        return self.num_elements if self.params_countable and self.num_tensors else None

    def to_weights(self, *, source: str, exact: bool = True) -> WeightsInfo:
        return WeightsInfo(
            total_bytes=self.total_bytes,
            source=source,
            exact=exact,
            param_count=self.param_count,
            bytes_by_dtype=dict(self.bytes_by_dtype),
            mtp_named_bytes=self.mtp_named_bytes,
            bytes_by_layer=dict(self.bytes_by_layer),
        )


def header_length(prefix: bytes, *, where: str) -> int:
    """Decode and bound the 8-byte header length at the start of a safetensors file."""
    if len(prefix) < _PREFIX.size:
        raise ConfigError(f"{where}: too short to be a safetensors file ({len(prefix)} bytes)")
    (length,) = _PREFIX.unpack(prefix[: _PREFIX.size])
    if length > MAX_HEADER_BYTES:
        raise ConfigError(
            f"{where}: safetensors header length {length} bytes is over the {MAX_HEADER_BYTES} byte limit",
            hint="The file is corrupt or not a safetensors file",
        )
    if length < 2:  # the smallest JSON object, "{}"
        raise ConfigError(f"{where}: safetensors header length {length} is too small")
    return int(length)


def parse_header(data: bytes, *, where: str) -> dict[str, Any]:
    """Decode the JSON header bytes (without the 8-byte prefix) into a dict; refuse anything else."""
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{where}: malformed safetensors header ({_short(exc)})") from None
    if not isinstance(header, dict):
        raise ConfigError(f"{where}: safetensors header is a JSON {type(header).__name__}, not an object")
    return header


def read_header(path: Path) -> dict[str, Any]:
    """Read only the header of a local safetensors file, checking it against the file size."""
    where = str(path)
    try:
        with path.open("rb") as handle:
            file_bytes = handle.seek(0, 2)
            handle.seek(0)
            length = header_length(handle.read(_PREFIX.size), where=where)
            if _PREFIX.size + length > file_bytes:
                raise ConfigError(
                    f"{where}: safetensors header length {length} is past the end of the "
                    f"{file_bytes}-byte file (truncated download?)"
                )
            header = parse_header(handle.read(length), where=where)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from None
    # Validate here, where the file size is known, so a truncated shard is caught before it is counted.
    summarize([header], where=where, data_bytes=file_bytes - _PREFIX.size - length)
    return header


def summarize(headers: Iterable[Mapping[str, Any]], *, where: str, data_bytes: int | None = None) -> TensorTotals:
    """Sum tensor bytes per dtype and elements over headers, validating each entry.

    Bytes come from ``data_offsets`` (end - begin), which is exact for every dtype, including sub-byte ones
    whose bytes per element is not an integer. ``data_bytes``, when known, bounds the offsets of one header.
    """
    total = tensors = elements = 0
    countable = True
    by_dtype: dict[str, int] = {}
    mtp = 0
    by_layer: dict[int, int] = {}
    for header in headers:
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            dtype, shape, begin, end = _tensor_entry(name, entry, where=where)
            if data_bytes is not None and end > data_bytes:
                raise ConfigError(
                    f"{where}: tensor '{name}' ends at byte {end}, past the {data_bytes} data bytes "
                    "(truncated download?)"
                )
            total += end - begin
            tensors += 1
            elements += math.prod(shape)
            countable = countable and dtype in _UNPACKED_DTYPES
            by_dtype[dtype] = by_dtype.get(dtype, 0) + (end - begin)
            if _MTP_NAME.match(name):
                mtp += end - begin
            elif layer := _LAYER_NAME.match(name):
                index = int(layer.group(1))
                by_layer[index] = by_layer.get(index, 0) + (end - begin)
    return TensorTotals(
        total_bytes=total,
        num_tensors=tensors,
        num_elements=elements,
        params_countable=countable,
        bytes_by_dtype=by_dtype,
        mtp_named_bytes=mtp,
        bytes_by_layer=by_layer,
    )


# Names vLLM's main models leave to an MTP drafter: "mtp.*" (Qwen3-Next, Qwen3.5, Nemotron-H), "model.mtp_layers.*"
# (MiMo); and decoder layers "layers.N." (DeepSeek-style MTP layers are numbered past num_hidden_layers).
_MTP_NAME = re.compile(r"^(?:model\.)?mtp(?:_layers)?\.")
_LAYER_NAME = re.compile(r"^(?:model\.)?(?:language_model\.)?layers\.(\d+)\.")


def _tensor_entry(name: str, entry: Any, *, where: str) -> tuple[str, list[int], int, int]:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: malformed safetensors header: tensor '{name}' is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or not dtype:
        raise ConfigError(f"{where}: malformed safetensors header: tensor '{name}' has no dtype")
    if not isinstance(shape, list) or not all(_is_count(dim) for dim in shape):
        raise ConfigError(f"{where}: malformed safetensors header: tensor '{name}' has a bad shape {shape!r}")
    if (
        not isinstance(offsets, list | tuple)
        or len(offsets) != 2
        or not all(_is_count(x) for x in offsets)
        or offsets[0] > offsets[1]
    ):
        raise ConfigError(f"{where}: malformed safetensors header: tensor '{name}' has bad data_offsets {offsets!r}")
    return dtype, shape, int(offsets[0]), int(offsets[1])


def _is_count(value: Any) -> bool:
    # bool is an int subclass; true/false in a shape is a malformed header, not 1/0.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
