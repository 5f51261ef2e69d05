"""`kvplan gate` reports: JSON, JUnit XML (one test case per deployment) and Markdown (PR comments)."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from kvplan.core.gate import GateResult


def _row(r: GateResult) -> dict[str, Any]:
    kv = r.plan.kv_cache if r.plan else None
    return {
        "name": r.name, "status": r.status, "reasons": list(r.reasons), "vllm_errors": list(r.vllm_errors),
        "error": r.error,
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


def junit_xml(results: list[GateResult]) -> str:
    suite = ET.Element("testsuite", name="kvplan gate", tests=str(len(results)),
                       failures=str(sum(r.status == "fail" for r in results)),
                       errors=str(sum(r.status == "error" for r in results)))
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="kvplan.gate", name=r.name)
        if r.status == "fail":
            failure = ET.SubElement(case, "failure", message=r.reasons[0] if r.reasons else "failed")
            failure.text = "\n".join([*r.reasons, *r.vllm_errors])
        elif r.status == "error":
            ET.SubElement(case, "error", message=r.error or "error").text = r.error
    return ET.tostring(suite, encoding="unicode") + "\n"


def markdown(results: list[GateResult]) -> str:
    lines = ["| deployment | gate | verdict | max_model_len | KV tokens | concurrency | why |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in results:
        row = _row(r)
        why = ("; ".join(r.reasons) or (r.error or "")).replace("|", "/")
        gate = "✅ pass" if r.status == "pass" else f"❌ {r.status}"
        tokens = "-" if row["kv_cache_tokens"] is None else f"{row['kv_cache_tokens']:,}"
        concurrency = "-" if row["max_concurrency"] is None else f"{row['max_concurrency']:.2f}x"
        lines.append(f"| {r.name} | {gate} | {row['verdict'] or '-'} | {row['max_model_len'] or '-'} | {tokens} | "
                     f"{concurrency} | {why} |")
    return "\n".join(lines) + "\n"
