"""Which vLLM release serves which architecture, and which KV layout kvplan builds for it.

vLLM picks a model's implementation by ``architectures`` in config.json: ``ModelRegistry.inspect_model_cls``
(vllm/model_executor/models/registry.py, 0.34) takes the first listed architecture its registry holds, and
``_raise_for_unsupported`` refuses when none is there. The registry of every release is data
(``kvplan.core.vllm_registry``, generated from the wheels); the layout of each architecture is
``kvplan.core.layout_table`` (generated from the 0.34 model files, then reviewed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from kvplan.core.errors import UnsupportedModelError
from kvplan.core.layout_table import LAYOUT_OF_ARCHITECTURE
from kvplan.core.vllm_registry import ARCHITECTURES, PREVIOUSLY_SUPPORTED, RELEASES

# Kinds of registry entry that generate text (kvplan plans those; pooling and drafters follow their base model).
GENERATING_KINDS = ("text-generation", "multimodal", "transformers")


@cache  # a handful of release strings, asked for on every plan (gate plans thousands)
def _version_key(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", version.replace(".post", ".0."))]
    return tuple(parts[:3] + [0] * (3 - len(parts[:3])) + parts[3:])


@cache
def registry_release(version: str) -> str:
    """The newest release read that is not newer than ``version`` (the newest read for later versions)."""
    wanted = _version_key(version)
    chosen = RELEASES[0]
    for release in RELEASES:
        if _version_key(release) <= wanted:
            chosen = release
    return chosen


def _spans(architecture: str) -> tuple[tuple[str, str], ...]:
    entry = ARCHITECTURES.get(architecture)
    return entry[3] if entry else ()


def registered_in(architecture: str, release: str) -> bool:
    key = _version_key(release)
    return any(_version_key(first) <= key <= _version_key(last) for first, last in _spans(architecture))


def release_architectures(release: str) -> list[str]:
    """Every architecture the release's registry holds (``_VLLM_MODELS``), sorted."""
    return sorted(arch for arch in ARCHITECTURES if registered_in(arch, release))


def _similar(architecture: str, supported: Sequence[str], limit: int = 6) -> str:
    """vLLM prints its whole registry (hundreds of names); kvplan keeps the few that share the longest prefix."""
    wanted = architecture.lower()

    def shared(name: str) -> int:
        count = 0
        for a, b in zip(name.lower(), wanted, strict=False):
            if a != b:
                break
            count += 1
        return count

    near = sorted((a for a in supported if shared(a) >= 3), key=lambda a: (-shared(a), a))[:limit]
    shown = near or list(supported[:limit])
    more = len(supported) - len(shown)
    listed = ", ".join(repr(a) for a in shown)
    return f"[{listed}, ... {more} more]" if more > 0 else f"[{listed}]"


def check_release_serves(architectures: Sequence[str], version: str) -> None:
    """vLLM's refusal when the targeted release registers none of the config's architectures."""
    if not architectures:
        return  # vLLM then takes transformers' MODEL_MAPPING_NAMES entry for the model type: not refused here
    release = registry_release(version)
    if any(registered_in(arch, release) for arch in architectures):
        return
    if not any(arch in ARCHITECTURES for arch in architectures) and not any(
            any(c.isupper() for c in arch) for arch in architectures):
        return  # not class names at all (hand-made test configs): nothing to look up
    for arch in architectures:
        until = PREVIOUSLY_SUPPORTED.get(arch)
        if until and _version_key(release) > _version_key(until):
            raise UnsupportedModelError(
                f"Model architecture {arch} was supported in vLLM until v{until}, and is not supported anymore "
                f"(vLLM {version})", hint=f"Plan with --vllm-version {until} or older")
    names = ", ".join(repr(a) for a in architectures)
    spans = [(arch, span) for arch in architectures for span in _spans(arch)]
    later = [(arch, first) for arch, (first, _last) in spans if _version_key(first) > _version_key(release)]
    if later:
        arch, first = later[0]
        hint = f"{arch} is registered from vLLM {first}: plan with --vllm-version {first} or later"
    elif spans:
        arch, (first, last) = spans[-1]
        hint = f"{arch} was registered in vLLM {first} to {last}: plan with --vllm-version {last}"
    else:
        hint = (f"No vLLM release from {RELEASES[0]} to {RELEASES[-1]} registers it. vLLM may still serve it "
                "through its Transformers backend when the installed transformers has the class; kvplan does not "
                "size that path")
    supported = release_architectures(release)
    raise UnsupportedModelError(
        f"Model architectures [{names}] are not supported for now. Supported architectures: "
        f"{_similar(architectures[0], supported)} (vLLM {version})", hint=hint)


@dataclass(frozen=True, kw_only=True)
class LayoutChoice:
    layout: str  # a layout name (LAYOUT_OF_ARCHITECTURE's), "" when the config's architectures say nothing
    architecture: str  # the architecture that chose it ("" when none did)
    why: str = ""
    module: str = ""


def layout_for_architectures(config: Mapping[str, Any], text: Mapping[str, Any]) -> LayoutChoice:
    """The layout of the first architecture of the config (then of its text model) that kvplan's table holds.

    Multimodal wrappers build their language model from the nested text config
    (``init_vllm_registered_model(hf_config=config.text_config)``): their entry says ``text_config``, and the
    text config's own ``architectures`` decide; without them, the text model type does (``layout`` "")."""
    for level in (config, text) if text is not config else (config,):
        archs = level.get("architectures")
        if not isinstance(archs, list):
            continue
        for arch in archs:
            entry = LAYOUT_OF_ARCHITECTURE.get(str(arch))
            if entry is None:
                continue
            layout, module, why = entry
            if layout == "text_config":
                break  # look at the text level
            return LayoutChoice(layout=layout, architecture=str(arch), why=why, module=module)
    return LayoutChoice(layout="", architecture="")
