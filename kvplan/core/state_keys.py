"""Config keys that describe per-request state a layout must size: refused when the chosen layout never read them.

A config that carries Mamba / SSM, linear-attention, short-convolution, indexer or compression keys describes
cache that plain attention does not hold. When kvplan's layout for the model read none of a family's keys, the
model is not what the layout assumes: kvplan refuses, naming the keys, rather than size it as attention.
A family counts as read when the layout looked up any key of it (the rest are kernel details: conv bias,
dt rank, activation). Keys set to null/false/0/empty describe nothing and are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kvplan.core.errors import UnsupportedModelError

# family -> pattern of its keys
STATE_FAMILIES: dict[str, str] = {
    "Mamba/SSM state": r"^(mamba_|ssm_)",
    "linear-attention state": r"^linear_",
    "short-convolution state": r"^(short_conv|conv_L_cache$|conv_dim|block_dim$)",
    "sparse-attention indexer cache": r"^(index_|indexer_)",
    "compressed attention": r"^compress_ratio",
}
# Attention variants the built-in layouts (kvplan.core.architectures) would otherwise ignore.
ATTENTION_VARIANTS: dict[str, str] = {
    "KV-sharing layers": r"^num_kv_shared_layers$",
    "chunked local attention": r"^attention_chunk_size$",
}


_COMPILED = {family: re.compile(pattern) for family, pattern in {**STATE_FAMILIES, **ATTENTION_VARIANTS}.items()}


def _set(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {})


def unread_state_keys(data: Mapping[str, Any], read: Iterable[str], *, builtin_layout: bool) -> dict[str, list[str]]:
    """family -> the config's keys of that family, for each family the layout read nothing of."""
    seen = set(read)
    families = dict(STATE_FAMILIES)
    if builtin_layout:
        families.update(ATTENTION_VARIANTS)
    unread: dict[str, list[str]] = {}
    for family in families:
        matches = _COMPILED[family].match
        keys = sorted(k for k, v in data.items() if matches(k) and _set(v))
        if keys and not seen.intersection(keys):
            unread[family] = keys
    return unread


def refuse_unread_state(data: Mapping[str, Any], read: Iterable[str], *, layout: str, architecture: str,
                        builtin_layout: bool) -> None:
    unread = unread_state_keys(data, read, builtin_layout=builtin_layout)
    if not unread:
        return
    what = "; ".join(f"{family} ({', '.join(keys)})" for family, keys in unread.items())
    raise UnsupportedModelError(
        f"{architecture} config describes {what}, which kvplan's '{layout}' layout does not read",
        hint="kvplan refuses rather than size it as attention; measure it with `kvplan probe` on a machine "
             "with vLLM")
