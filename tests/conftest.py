"""Shared test fixtures. Every test runs offline with its own caches: nothing reaches the network or ~/.cache."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings

# Property tests run beside engine start-ups on 2 cores: wall-clock deadlines would only make them flaky.
settings.register_profile("kvplan", deadline=None, print_blob=True)
settings.load_profile("kvplan")

REPO = Path(__file__).resolve().parent.parent
CATALOG_SOURCES = REPO / "tests" / "data" / "catalog_sources"


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hf" / "hub"))
    monkeypatch.setenv("KVPLAN_CACHE_DIR", str(home / "kvplan"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("KVPLAN_DEBUG", raising=False)


def load_config(name: str) -> dict[str, Any]:
    """A real config from the test data copy of the fixtures (org__name)."""
    path = CATALOG_SOURCES / name / "config.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def load_benchmark(name: str) -> ModuleType:
    """A script of benchmarks/ as a module (executed afresh on each call), for the tests that drive it."""
    module_name = f"kvplan_benchmark_{name}"
    spec = importlib.util.spec_from_file_location(module_name, Path(__file__).resolve().parent.parent / "benchmarks"
                                                  / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses resolve their module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module
