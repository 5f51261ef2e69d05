"""Byte units, vLLM's integer helpers and size parsing. Pure standard library."""

from __future__ import annotations

import re
from collections.abc import Callable

from kvplan.core.errors import UsageError

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": KiB,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": MiB,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": GiB,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1 << 40,
}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")


def cdiv(a: int, b: int) -> int:
    """Ceiling division on integers, as ``vllm.utils.math_utils.cdiv``."""
    return -(a // -b)


def largest_where(holds: Callable[[int], bool], lo: int, hi: int) -> int:
    """The largest n in [lo, hi] with ``holds(n)``, for a predicate that holds up to some n and not after
    (binary search, as vLLM's own max-model-len estimate does); lo - 1 when it holds nowhere."""
    best = lo - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if holds(mid):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


def largest_where_by_segment(holds: Callable[[int], bool], lo: int, hi: int, breaks: tuple[int, ...]) -> int:
    """``largest_where`` for a predicate that holds-then-fails within each segment of [lo, hi] cut after each
    break, but not across them (V0 turns chunked prefill on above 32K: a longer context can start where a
    shorter one did not). The highest segment where it holds anywhere has the answer."""
    ends = sorted({b for b in breaks if lo <= b < hi} | {hi})
    segments = list(zip([lo, *(e + 1 for e in ends[:-1])], ends, strict=True))
    for start, end in reversed(segments):
        found = largest_where(holds, start, end)
        if found >= start:
            return found
    return lo - 1


def round_up(x: int, multiple: int) -> int:
    return cdiv(x, multiple) * multiple


def parse_size(text: str, *, flag: str = "size") -> int:
    """Parse ``24GiB``, ``80GB``, ``81559MiB``, ``1.5GiB`` or a plain byte count.

    Units are taken as written: GiB/MiB/KiB are powers of two, GB/MB/KB powers of ten. A bare number is
    bytes. Zero and negative sizes are refused: no deployment has zero memory.
    """
    match = _SIZE_RE.match(text)
    if not match:
        raise UsageError(
            f"{flag}: cannot read '{text}' as a size",
            hint="Write it like 24GiB, 80GB, 81559MiB or a byte count",
        )
    number, unit = match.group(1), match.group(2).lower()
    if unit not in _SIZE_UNITS:
        raise UsageError(f"{flag}: unknown unit '{match.group(2)}'", hint="Use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")
    value = float(number) * _SIZE_UNITS[unit]
    if value < 1:
        raise UsageError(f"{flag}: must be more than zero bytes (got '{text}')")
    return round(value)


def format_gib(num_bytes: int | float) -> float:
    """vLLM's ``format_gib``: GiB rounded to 2 places, printed with ``str`` (``1.0``, not ``1.00``)."""
    return round(num_bytes / GiB, 2)


# Bytes per element of the dtype names vLLM accepts for the model and the KV cache
# (vllm/utils/torch_utils.py STR_DTYPE_TO_TORCH_DTYPE and get_dtype_size).
DTYPE_BYTES: dict[str, int] = {
    "float32": 4,
    "float": 4,
    "float16": 2,
    "half": 2,
    "bfloat16": 2,
    "fp8": 1,
    "fp8_e4m3": 1,
    "fp8_e5m2": 1,
    "fp8_inc": 1,
    "fp8_ds_mla": 1,
    "int8": 1,
    "uint8": 1,
}


def dtype_bytes(name: str) -> int:
    try:
        return DTYPE_BYTES[name]
    except KeyError:
        raise UsageError(f"unknown dtype '{name}'", hint="Use one of: " + ", ".join(sorted(DTYPE_BYTES))) from None
