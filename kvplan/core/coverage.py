"""What kvplan knows of each architecture a vLLM release serves: proven on the engine, derived, or refused.

- proven: a layout builder exists and a real-engine case (kvplan/data/engine_proven.json, written from the
  peer cases and the engine sweep) matched kvplan's numbers for this architecture;
- derived: a layout builder exists, read from the vLLM model file named (the CPU engine did not start it,
  or no case ran it yet);
- refused: kvplan exits 2 for it, and says why (no layout builder yet, or a layout kvplan has not read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kvplan.core.architectures import BUILTIN_LAYOUTS
from kvplan.core.layout_table import LAYOUT_OF_ARCHITECTURE
from kvplan.core.layouts import LAYOUT_BUILDERS
from kvplan.core.vllm_archs import GENERATING_KINDS, registered_in, registry_release
from kvplan.core.vllm_registry import ARCHITECTURES

Status = Literal["proven", "derived", "refused"]
STATUS_WORDS: dict[Status, str] = {
    "proven": "proven on the CPU engine", "derived": "derived from source", "refused": "refused",
}


@dataclass(frozen=True, kw_only=True)
class CoverageRow:
    architecture: str
    kind: str  # the registry table: text-generation, multimodal, transformers
    status: Status
    layout: str
    detail: str  # the engine case, the vLLM model file, or why refused


def model_file(module: str) -> str:
    """Where vLLM implements it: ``vllm/model_executor/models/<module>.py`` or the ``vllm/models/`` tree."""
    if module == "transformers":
        return "vllm/model_executor/models/transformers (the Transformers backend)"
    if module.startswith("vllm."):
        return module.replace(".", "/")
    return f"vllm/model_executor/models/{module}.py"


def coverage(version: str, proven: Iterable[Mapping[str, Any]]) -> list[CoverageRow]:
    """One row per text-generating architecture (text, multimodal, Transformers-served) the release registers."""
    release = registry_release(version)
    cases: dict[str, str] = {}
    for row in proven:
        cases.setdefault(str(row.get("architecture")), f"{row.get('case')} (vLLM {row.get('vllm_version')})")
    rows: list[CoverageRow] = []
    for arch, (module, _cls, kind, _spans) in sorted(ARCHITECTURES.items(), key=lambda kv: kv[0].lower()):
        if kind not in GENERATING_KINDS or not registered_in(arch, release):
            continue
        layout, _module, why = LAYOUT_OF_ARCHITECTURE.get(arch, ("unknown", module, "not classified"))
        source = model_file(module)
        if layout == "unknown":
            rows.append(CoverageRow(architecture=arch, kind=kind, status="refused", layout=layout,
                                    detail=f"{why} ({source})"))
        elif layout == "text_config" and arch in cases:
            # the wrapper's own part (its text_config, the tower it drops or profiles) ran on the engine with
            # one text model; the others take their text model's status
            rows.append(CoverageRow(architecture=arch, kind=kind, status="proven", layout=layout,
                                    detail=f"{cases[arch]}; the layout of its text model, chosen from text_config"))
        elif layout == "text_config":
            rows.append(CoverageRow(architecture=arch, kind=kind, status="derived", layout=layout,
                                    detail=f"{source}: the layout of its text model, chosen from text_config"))
        elif layout not in LAYOUT_BUILDERS and layout not in BUILTIN_LAYOUTS:
            rows.append(CoverageRow(architecture=arch, kind=kind, status="refused", layout=layout,
                                    detail=f"no '{layout}' layout builder yet ({why})"))
        elif arch in cases:
            rows.append(CoverageRow(architecture=arch, kind=kind, status="proven", layout=layout,
                                    detail=cases[arch]))
        else:
            rows.append(CoverageRow(architecture=arch, kind=kind, status="derived", layout=layout, detail=source))
    return rows


def counts(rows: Iterable[CoverageRow]) -> dict[Status, int]:
    found: dict[Status, int] = {"proven": 0, "derived": 0, "refused": 0}
    for row in rows:
        found[row.status] += 1
    return found
