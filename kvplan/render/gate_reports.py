"""`kvplan gate` reports: JSON, JUnit XML (one test case per deployment) and Markdown (PR comments)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from kvplan.core.gate import GateResult


def _row(r: GateResult) -> dict[str, Any]:
    kv = r.plan.kv_cache if r.plan else None
    return {
        "name": r.name, "status": r.status, "reasons": list(r.reasons), "vllm_errors": list(r.vllm_errors),
        "error": r.error, "file": r.manifest or None, "line": r.line, "value_line": r.value_line,
        "notes": list(r.notes),
        "verdict": r.plan.verdict.status if r.plan else None,
        "kv_cache_tokens": kv.tokens if kv else None,
        "max_concurrency": kv.max_concurrency if kv else None,
        "max_model_len": kv.max_model_len if kv else None,
        "max_model_len_fit": kv.max_model_len_fit if kv else None,
    }


def gate_object(results: list[GateResult], code: int) -> dict[str, Any]:
    return {"schema_version": 1, "exit_code": code, "passed": sum(r.status == "pass" for r in results),
            "failed": sum(r.status == "fail" for r in results), "errors": sum(r.status == "error" for r in results),
            "deployments": [_row(r) for r in results]}


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Control characters are not allowed anywhere in XML 1.0, escaped or not: drop them."""
    return _NOT_XML.sub("", text)


def _cell(text: str) -> str:
    """One Markdown table cell: a pipe or a line break would end the cell or the row."""
    return " ".join(text.replace("|", "\\|").split())


def junit_xml(results: list[GateResult]) -> str:
    suite = ET.Element("testsuite", name="kvplan gate", tests=str(len(results)),
                       failures=str(sum(r.status == "fail" for r in results)),
                       errors=str(sum(r.status == "error" for r in results)))
    for r in results:
        # One class per manifest, so deployments of the same name in two manifests stay apart.
        classname = f"kvplan.gate.{Path(r.manifest).stem}" if r.manifest else "kvplan.gate"
        case = ET.SubElement(suite, "testcase", classname=_xml_text(classname), name=_xml_text(r.name))
        if r.manifest:  # the file/line attributes CI report viewers link to
            case.set("file", _xml_text(r.manifest))
            if r.value_line:
                case.set("line", str(r.value_line))
        if r.status == "fail":
            failure = ET.SubElement(case, "failure", message=_xml_text(r.reasons[0] if r.reasons else "failed"))
            failure.text = _xml_text("\n".join([*r.reasons, *r.vllm_errors]))
        elif r.status == "error":
            error = ET.SubElement(case, "error", message=_xml_text(r.error or "error"))
            error.text = _xml_text(r.error or "")
    return ET.tostring(suite, encoding="unicode") + "\n"


def markdown(results: list[GateResult]) -> str:
    lines = ["| deployment | gate | verdict | max_model_len | KV tokens | concurrency | why | where |",
             "|---|---|---|---:|---:|---:|---|---|"]
    for r in results:
        row = _row(r)
        why = _cell("; ".join(r.reasons) or (r.error or ""))
        gate = "✅ pass" if r.status == "pass" else f"❌ {r.status}"
        tokens = "-" if row["kv_cache_tokens"] is None else f"{row['kv_cache_tokens']:,}"
        concurrency = "-" if row["max_concurrency"] is None else f"{row['max_concurrency']:.2f}x"
        where = _cell(f"{r.manifest}:{r.value_line}" if r.value_line else r.manifest)
        lines.append(f"| {_cell(r.name)} | {gate} | {row['verdict'] or '-'} | {row['max_model_len'] or '-'} | "
                     f"{tokens} | {concurrency} | {why} | {where} |")
    return "\n".join(lines) + "\n"


def _escape_data(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped as the Actions runner reads them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(results: list[GateResult]) -> list[str]:
    """GitHub Actions workflow commands: ::error on the line that sets the failing value (or the deployment's
    line), ::warning for a plan inside the estimates' error and for notes such as unknown flags."""
    out: list[str] = []
    for r in results:
        place = ""
        if r.manifest:
            place = f"file={_escape_property(r.manifest)}"
            if r.value_line:
                place += f",line={r.value_line}"
            place += ","
        title = _escape_property(f"kvplan gate: {r.name}")
        if r.status == "fail":
            message = "; ".join([*r.reasons, *r.vllm_errors[:1]])
            if r.plan is not None and r.plan.verdict.remedies:
                message += f" (fix: {r.plan.verdict.remedies[0].summary})"
            out.append(f"::error {place}title={title}::{_escape_data(message)}")
        elif r.status == "error":
            out.append(f"::error {place}title={title}::{_escape_data(r.error or 'unusable input')}")
        elif r.plan is not None and r.plan.verdict.status == "warn":
            out.append(f"::warning {place}title={title}::{_escape_data('; '.join(r.plan.verdict.reasons))}")
        for note in r.notes:
            line_place = place.replace(f",line={r.value_line}", f",line={r.line}") if r.line else place
            out.append(f"::warning {line_place}title={title}::{_escape_data(note)}")
    return out
