"""The pure core imports only the standard library; `kvplan check`'s import path stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE_MODULES = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "kvplan" / "core").glob("*.py")
                      if p.stem != "__init__")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         check=True, capture_output=True, text=True).stdout
    return {line.split(".")[0] for line in out.split()}


def test_core_is_stdlib_only() -> None:
    imports = "\n".join(f"import kvplan.core.{name}" for name in CORE_MODULES)
    loaded = _modules_after(imports)
    third_party = loaded & {"typer", "click", "rich", "huggingface_hub", "pynvml", "transformers", "torch",
                            "vllm", "requests", "httpx", "numpy", "yaml", "pydantic"}
    assert not third_party, third_party
    # site hooks (editable installs, setuptools' distutils shim) load before our code; ignore them
    site_hooks = {name for name in loaded if name.startswith(("__editable__", "_distutils_hack"))}
    allowed = set(sys.stdlib_module_names) | {"kvplan", "__main__"} | site_hooks
    assert loaded <= allowed, loaded - allowed


def test_cli_import_does_not_load_heavy_adapters() -> None:
    loaded = _modules_after("import kvplan.cli.app")
    assert not loaded & {"huggingface_hub", "pynvml", "transformers", "torch", "vllm"}
