"""tools/vllm_release_diff.py on two small synthetic vLLM trees (and one as a wheel)."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import vllm_release_diff as rd  # noqa: E402

OLD_CACHE = '''
from typing import ClassVar
class CacheConfig:
    DEFAULT_BLOCK_SIZE: ClassVar[int] = 16
    gpu_memory_utilization: float = Field(default=0.92, gt=0, le=1)
    cache_dtype: str = "auto"
    def resolved(self):
        return self.gpu_memory_utilization
'''
NEW_CACHE = '''
from typing import ClassVar
class CacheConfig:
    DEFAULT_BLOCK_SIZE: ClassVar[int] = 64
    DEFAULT_GPU_MEMORY_UTILIZATION: ClassVar[float] = 0.92
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    cache_dtype: str = "auto"
    def resolved(self):
        return self.gpu_memory_utilization or 1.0
    def extra(self):
        return 1
'''
OLD_REGISTRY = '_TEXT_GENERATION_MODELS = {"LlamaForCausalLM": ("llama", "L"), "OldForCausalLM": ("old", "O")}\n'
NEW_REGISTRY = ('_TEXT_GENERATION_MODELS = {"LlamaForCausalLM": ("llama", "L")}\n'
                '_MULTIMODAL_MODELS = {"NewVLForConditionalGeneration": ("new", "N")}\n')
OLD_ENVS = 'if TYPE_CHECKING:\n    VLLM_A: int = 0\n    VLLM_GONE: bool = False\n'
NEW_ENVS = 'if TYPE_CHECKING:\n    VLLM_A: int | None = None\n    VLLM_NEW: bool = True\n'
WORKER = "MARGIN = 1 << 30\ndef measure(a, b):\n    return a - b\ndef measure_kv_cache_bytes():\n    return 0\n"
OLD_SPECS = "class KVCacheSpec:\n    pass\nclass MambaSpec(KVCacheSpec):\n    pass\n"
NEW_SPECS = "class KVCacheSpec:\n    pass\nclass RingSpec(KVCacheSpec):\n    pass\n"


def _tree(root: Path, version: str, files: dict[str, str]) -> Path:
    for path, text in {"vllm/_version.py": f"__version__ = version = '{version}'\n", **files}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    old = _tree(tmp_path / "old", "0.1.0", {"vllm/config/cache.py": OLD_CACHE, rd.REGISTRY: OLD_REGISTRY,
                                             rd.ENVS: OLD_ENVS, "vllm/config/scheduler.py": "X = 1\n",
                                             rd.KV_INTERFACE: OLD_SPECS})
    new = _tree(tmp_path / "new", "0.2.0", {"vllm/config/cache.py": NEW_CACHE, rd.REGISTRY: NEW_REGISTRY,
                                             rd.ENVS: NEW_ENVS, "vllm/config/scheduler.py": "X = 1\n",
                                             rd.KV_INTERFACE: NEW_SPECS,
                                             "vllm/v1/worker/extensible_kv_cache.py": WORKER})
    return old, new


def _file(result: rd.ReleaseDiff, path: str) -> rd.FileChange:
    return next(f for f in result.files if f.path == path)


def test_release_diff_lists_defaults_functions_registry_and_envs(trees: tuple[Path, Path]) -> None:
    result = rd.release_diff(rd.SourceTree(trees[0]), rd.SourceTree(trees[1]))
    assert (result.old_version, result.new_version) == ("0.1.0", "0.2.0")
    cache = _file(result, "vllm/config/cache.py")
    assert cache.status == "changed"
    assert cache.defaults_changed == [
        "CacheConfig.DEFAULT_BLOCK_SIZE: 16 -> 64",
        "CacheConfig.DEFAULT_GPU_MEMORY_UTILIZATION: <absent> -> 0.92",
        "CacheConfig.gpu_memory_utilization: 0.92 -> None",
    ]
    assert cache.functions_added == ["CacheConfig.extra"]
    assert cache.functions_changed == ["CacheConfig", "CacheConfig.resolved"]
    assert cache.lines_added and cache.lines_removed and cache.diff[0].startswith("--- old/vllm/config/cache.py")
    worker = _file(result, "vllm/v1/worker/extensible_kv_cache.py")
    assert worker.status == "added" and worker.functions_added == ["measure", "measure_kv_cache_bytes"]
    assert worker.constants_changed == ["MARGIN: <absent> -> 1 << 30"]
    assert _file(result, "vllm/config/scheduler.py").status == "unchanged"
    assert _file(result, "vllm/v1/core/kv_cache_utils.py").status == "absent"
    assert (result.spec_kinds_added, result.spec_kinds_removed) == (["RingSpec"], ["MambaSpec"])
    assert result.architectures_added == ["NewVLForConditionalGeneration"]
    assert result.architectures_removed == ["OldForCausalLM"]
    assert result.env_changes == ["VLLM_A: 0 -> None", "VLLM_GONE: False -> <absent>", "VLLM_NEW: <absent> -> True"]
    assert "vllm/config/cache.py: CacheConfig.resolved_gpu_memory_utilization: absent" in result.watched
    assert "vllm/v1/worker/extensible_kv_cache.py: measure_kv_cache_bytes: added" in result.watched
    text = rd.render(result)
    assert "vLLM 0.1.0 -> 0.2.0" in text and "added: NewVLForConditionalGeneration" in text
    assert "---- unified diff: vllm/config/cache.py" in text


def test_release_diff_reads_a_wheel(trees: tuple[Path, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    wheel = tmp_path / "vllm-0.2.0-cp38-abi3-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for file in trees[1].rglob("*.py"):
            archive.write(file, file.relative_to(trees[1]).as_posix())
        archive.writestr("vllm-0.2.0.dist-info/METADATA", "Name: vllm\nVersion: 0.2.0\n")
    assert rd.main([str(trees[0] / "vllm"), str(wheel), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["new_version"] == "0.2.0"
    assert result["architectures_removed"] == ["OldForCausalLM"]


def test_release_diff_refuses_what_is_not_vllm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rd.main([str(tmp_path), str(tmp_path)]) == 2
    assert "neither a vLLM wheel nor a directory" in capsys.readouterr().err
