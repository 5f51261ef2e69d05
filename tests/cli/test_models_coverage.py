"""`kvplan models --coverage`: each architecture vLLM serves is proven, derived from source, or refused."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kvplan.cli.app import app
from kvplan.core.coverage import counts, coverage
from kvplan.core.layouts import LAYOUT_BUILDERS

runner = CliRunner()
PROVEN = [{"architecture": "LlamaForCausalLM", "vllm_version": "0.32.0", "case": "tests/peer/cases.py::x"}]


def test_rows_for_033() -> None:
    rows = {r.architecture: r for r in coverage("0.33.0", PROVEN)}
    assert len(rows) == 274  # text-generation, multimodal and Transformers-served architectures of 0.33
    assert rows["LlamaForCausalLM"].status == "proven"
    assert rows["Qwen3ForCausalLM"].status == "derived"
    assert rows["Qwen3ForCausalLM"].detail == "vllm/model_executor/models/qwen3.py"
    assert rows["WhisperForConditionalGeneration"].status == "refused"
    assert "whisper.py" in rows["WhisperForConditionalGeneration"].detail
    assert rows["MiniCPM3ForCausalLM"].status == "derived"  # minicpm3 layout (issue 15)
    if "falcon_h1" not in LAYOUT_BUILDERS:
        assert rows["FalconH1ForCausalLM"].status == "refused"
        assert "no 'falcon_h1' layout builder yet" in rows["FalconH1ForCausalLM"].detail
    assert "BambaForCausalLM" not in rows  # removed after 0.23.0
    assert sum(counts(rows.values()).values()) == 274


def test_an_old_release_has_fewer() -> None:
    rows = coverage("0.6.6", PROVEN)
    assert "Qwen3ForCausalLM" not in {r.architecture for r in rows}
    assert len(rows) == 89


def test_cli_prints_counts_and_json() -> None:
    result = runner.invoke(app, ["models", "--coverage", "--vllm-version", "0.33.0"])
    assert result.exit_code == 0
    assert "vLLM 0.33.0 (registry of 0.33.0): 274 text-generating architectures:" in " ".join(result.stdout.split())
    data = json.loads(runner.invoke(app, ["models", "--coverage", "--json"]).stdout)
    assert {"architecture", "kind", "status", "layout", "detail", "vllm_version"} == set(data[0])
    statuses = {row["architecture"]: row["status"] for row in data}
    assert statuses["LlamaForCausalLM"] == "proven"  # kvplan/data/engine_proven.json: the peer cases


def test_cli_refuses_an_unreadable_version() -> None:
    result = runner.invoke(app, ["models", "--coverage", "--vllm-version", "x"])
    assert result.exit_code == 2 and "cannot read 'x'" in result.stderr


def test_plain_listing_is_unchanged() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "meta-llama/Llama-3.1-8B" in result.stdout.splitlines()


def test_the_proven_list_names_real_peer_cases() -> None:
    from importlib import resources

    from tests.peer.cases import CASES
    from tests.peer.make_models import MODELS, MULTIMODAL

    rows = json.loads(resources.files("kvplan").joinpath("data/engine_proven.json").read_text(encoding="utf-8"))
    by_name = {case.name: case for case in CASES}
    for row in rows:
        if row["case"].startswith("tests/peer/cases.py::"):
            case = by_name[row["case"].split("::")[1]]
            assert {**MODELS, **MULTIMODAL}[case.model][1] == row["architecture"]


def test_coverage_refuses_a_release_kvplan_does_not_model() -> None:
    # QA: `models --coverage --vllm-version 0.3.0` listed "vLLM 0.3.0 (registry of 0.5.4)" (exit 0) where check
    # refuses anything before 0.5
    result = runner.invoke(app, ["models", "--coverage", "--vllm-version", "0.3.0"])
    assert result.exit_code == 2 and "older than kvplan models (0.5 and later)" in result.stderr


def test_coverage_defaults_to_the_installed_vllm_as_its_help_says(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # QA: --help says "Default: the vllm installed beside kvplan"; the coverage listed 0.34.0 regardless
    import kvplan.sources.installed_vllm as installed

    monkeypatch.setattr(installed, "local_vllm", lambda: ("vllm", "0.23.0"))
    result = runner.invoke(app, ["models", "--coverage", "--json"])
    assert result.exit_code == 0
    assert {row["vllm_version"] for row in json.loads(result.stdout)} == {"0.23.0"}
    assert "the vllm 0.23.0 installed beside kvplan" in result.stderr
