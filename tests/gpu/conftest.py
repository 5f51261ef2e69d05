"""A stub ``libnvidia-ml.so.1`` built with gcc, and a child Python that loads it through the real binding.

nvidia-ml-py opens the library with ``CDLL("libnvidia-ml.so.1")``; the dynamic loader reads
``LD_LIBRARY_PATH`` at process start, so each reading runs in a child interpreter whose ``LD_LIBRARY_PATH``
names the stub's folder. Nothing in kvplan or pynvml is patched, and the test process never loads the stub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kvplan.core.units import MiB

STUB_SOURCE = Path(__file__).with_name("stub_nvml.c")
REPO_ROOT = Path(__file__).resolve().parents[2]

# NVML return codes the tests hand to the stub (nvml.h).
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_UNKNOWN = 999

# The child prints one JSON object: the result or the KvplanError raised, and whether pynvml was loaded.
_CHILD = r"""
import dataclasses, json, os, sys
from kvplan.core.errors import KvplanError

request = json.loads(sys.argv[1])
out = {}
try:
    if request["call"] == "read":
        from kvplan.gpu.nvml import read_visible_gpus
        out["devices"] = [dataclasses.asdict(d) for d in read_visible_gpus(os.environ)]
    elif request["call"] == "spec":
        from kvplan.gpu.nvml import read_visible_gpus, to_gpu_spec
        out["spec"] = dataclasses.asdict(to_gpu_spec(read_visible_gpus(os.environ), request["count"]))
    elif request["call"] == "resolve":
        from kvplan.gpu.resolve import resolve_gpu
        spec = resolve_gpu(environ=os.environ, **request["kwargs"])
        out["spec"] = None if spec is None else dataclasses.asdict(spec)
except KvplanError as exc:
    out["error"] = {"type": type(exc).__name__, "line": exc.one_line()}
out["pynvml_loaded"] = "pynvml" in sys.modules
print(json.dumps(out))
"""


@dataclass
class StubGpu:
    """One stub device; defaults are an idle H100 80GB HBM3 (nvidia-smi 81559 MiB, 552 MiB reserved)."""

    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    total: int = 81559 * MiB
    reserved: int = 552 * MiB
    used: int = 0
    free: int | None = None  # None: total - reserved - used
    cc: tuple[int, int] = (9, 0)
    mig: bool = False
    v2_rc: int = 0
    v1_rc: int = 0
    name_rc: int = 0
    procs_rc: int = 0
    procs: Sequence[tuple[int, int]] = field(default_factory=list)

    def lines(self) -> list[str]:
        free = self.total - self.reserved - self.used if self.free is None else self.free
        out = [
            "gpu",
            f"name {self.name}",
            f"uuid {self.uuid}",
            f"total {self.total}",
            f"reserved {self.reserved}",
            f"used {self.used}",
            f"free {free}",
            f"cc {self.cc[0]} {self.cc[1]}",
            f"mig {int(self.mig)}",
            f"v2_rc {self.v2_rc}",
            f"v1_rc {self.v1_rc}",
            f"name_rc {self.name_rc}",
            f"procs_rc {self.procs_rc}",
        ]
        return out + [f"proc {pid} {used}" for pid, used in self.procs]


UUIDS = (
    "GPU-0a1b2c3d-1111-2222-3333-444455556666",
    "GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff",
    "GPU-9f00aaaa-0000-0000-0000-000000000000",
)


@pytest.fixture(scope="session")
def stub_libs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders holding a libnvidia-ml.so.1: "current" driver, "old" (no v2 memory info, no _v3 process
    query), and "broken" (not a library, so the load fails as on a machine without the driver package)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the stub libnvidia-ml.so.1 cannot be built")
    root = tmp_path_factory.mktemp("stub-nvml")
    folders: dict[str, Path] = {}
    for variant, flags in (("current", []), ("old", ["-DSTUB_OLD_DRIVER"])):
        folder = root / variant
        folder.mkdir()
        command = [gcc, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", *flags]
        command += [
            "-Wl,-soname,libnvidia-ml.so.1",
            "-o",
            str(folder / "libnvidia-ml.so.1"),
            str(STUB_SOURCE),
        ]
        built = subprocess.run(command, capture_output=True, text=True, check=False)
        assert built.returncode == 0, built.stderr
        folders[variant] = folder
    broken = root / "broken"
    broken.mkdir()
    (broken / "libnvidia-ml.so.1").write_bytes(b"not a shared object")
    folders["broken"] = broken
    return folders


@dataclass
class StubNvml:
    """Runs kvplan's NVML adapter in a child interpreter against the stub library."""

    libs: dict[str, Path]
    folder: Path

    def call(
        self,
        request: Mapping[str, Any],
        gpus: Sequence[StubGpu] = (),
        *,
        init_rc: int = 0,
        count_rc: int = 0,
        driver: str = "current",
        cuda_visible_devices: str | None = None,
    ) -> dict[str, Any]:
        config = self.folder / "nvml-stub.txt"
        lines = [f"init {init_rc}", f"count_rc {count_rc}"]
        for gpu in gpus:
            lines += gpu.lines()
        config.write_text("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "LD_PRELOAD")}
        env["LD_LIBRARY_PATH"] = str(self.libs[driver])
        env["KVPLAN_STUB_NVML"] = str(config)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        if cuda_visible_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(request)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def cli(self, args: Sequence[str], gpus: Sequence[StubGpu], *, cuda_visible_devices: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        """``python -m kvplan ARGS`` in a child whose NVML is the stub, offline with empty caches."""
        config = self.folder / "nvml-stub.txt"
        lines = ["init 0", "count_rc 0"]
        for gpu in gpus:
            lines += gpu.lines()
        config.write_text("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "LD_PRELOAD")}
        env.update(LD_LIBRARY_PATH=str(self.libs["current"]), KVPLAN_STUB_NVML=str(config), HF_HUB_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])))
        if cuda_visible_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices
        return subprocess.run([sys.executable, "-m", "kvplan", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    def read(self, gpus: Sequence[StubGpu] = (), **kw: Any) -> dict[str, Any]:
        return self.call({"call": "read"}, gpus, **kw)

    def spec(self, gpus: Sequence[StubGpu], count: int, **kw: Any) -> dict[str, Any]:
        return self.call({"call": "spec", "count": count}, gpus, **kw)

    def resolve(
        self, gpus: Sequence[StubGpu] = (), *, kwargs: Mapping[str, Any], **kw: Any
    ) -> dict[str, Any]:
        return self.call({"call": "resolve", "kwargs": dict(kwargs)}, gpus, **kw)


@pytest.fixture
def stub_nvml(stub_libs: dict[str, Path], tmp_path: Path) -> Iterator[StubNvml]:
    yield StubNvml(libs=stub_libs, folder=tmp_path)
