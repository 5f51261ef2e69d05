"""What changed between two vLLM releases in the sources kvplan models: a release is a re-run, not a rewrite.

    python tools/vllm_release_diff.py OLD NEW [--max-diff-lines N] [--json]

OLD and NEW are vLLM wheels (``vllm-0.34.0-*.whl``) or unpacked directories (the one holding ``vllm/``, or
``vllm/`` itself). For each memory-relevant source (``MEMORY_SOURCES``) it prints a summary: lines added and
removed, functions and classes added, removed or changed, changed dataclass field defaults and class
constants, changed module constants, and then a unified diff (cut at ``--max-diff-lines``). Two structured
sections follow: the model registry's architectures added and removed, and the environment variables whose
default changed or that came or went. The sources are read as text and parsed with ``ast``; nothing is
imported or executed. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The files whose arithmetic kvplan mirrors (see README "vLLM releases"); a missing file is reported as such.
MEMORY_SOURCES: tuple[tuple[str, str], ...] = (
    ("vllm/v1/kv_cache_interface.py", "KV cache specs: page sizes, spec kinds"),
    ("vllm/v1/core/kv_cache_utils.py", "KV groups, block counts, the max-len check"),
    ("vllm/v1/core/kv_cache_planning.py", "KV cache planning: available memory -> blocks, auto-fit"),
    ("vllm/v1/core/kv_cache_config_builder.py", "KV cache config builder"),
    ("vllm/v1/worker/gpu_worker.py", "memory profiling and KV sizing on the GPU worker"),
    ("vllm/v1/worker/utils.py", "request_memory and worker utilities"),
    ("vllm/v1/worker/extensible_kv_cache.py", "KV cache sized from measured memory (0.34+)"),
    ("vllm/config/cache.py", "CacheConfig defaults (block size, utilisation)"),
    ("vllm/config/scheduler.py", "SchedulerConfig defaults and refusals"),
    ("vllm/engine/arg_utils.py", "EngineArgs defaults (get_batch_defaults)"),
    ("vllm/model_executor/models/registry.py", "the model registry"),
    ("vllm/platforms/interface.py", "platform block-size rules (update_block_size_for_backend)"),
    ("vllm/platforms/cuda.py", "CUDA platform: backend choice, block sizes"),
    ("vllm/platforms/rocm.py", "ROCm platform: backend choice, block sizes"),
    ("vllm/platforms/cpu.py", "CPU platform: KV cache space, block sizes"),
    ("vllm/utils/mem_utils.py", "memory snapshots and profiling"),
    ("vllm/envs.py", "environment variable defaults"),
)
REGISTRY = "vllm/model_executor/models/registry.py"
ENVS = "vllm/envs.py"
KV_INTERFACE = "vllm/v1/kv_cache_interface.py"
# Functions kvplan mirrors closely: always reported, changed or not (file, qualified name).
WATCHED: tuple[tuple[str, str], ...] = (
    ("vllm/engine/arg_utils.py", "EngineArgs.get_batch_defaults"),
    ("vllm/engine/arg_utils.py", "EngineArgs._set_default_max_num_seqs_and_batched_tokens_args"),
    ("vllm/v1/worker/utils.py", "request_memory"),
    ("vllm/v1/worker/gpu_worker.py", "Worker.determine_available_memory"),
    ("vllm/v1/worker/extensible_kv_cache.py", "measure_kv_cache_bytes"),
    ("vllm/v1/worker/extensible_kv_cache.py", "measure_kv_cache_blocks"),
    ("vllm/platforms/interface.py", "Platform.update_block_size_for_backend"),
    ("vllm/platforms/interface.py", "Platform._align_hybrid_block_size"),
    ("vllm/v1/core/kv_cache_planning.py", "get_kv_cache_configs"),
    ("vllm/v1/core/kv_cache_planning.py", "_check_enough_kv_cache_memory"),
    ("vllm/v1/core/kv_cache_planning.py", "_auto_fit_max_model_len"),
    ("vllm/v1/kv_cache_interface.py", "AttentionSpec.page_size_bytes"),
    ("vllm/v1/kv_cache_interface.py", "MambaSpec.page_size_bytes"),
    ("vllm/config/cache.py", "CacheConfig.resolved_gpu_memory_utilization"),
)


class SourceTree:
    """The Python sources of one release, from a wheel or a directory."""

    def __init__(self, location: Path) -> None:
        self.location = location
        self._zip: zipfile.ZipFile | None = None
        self._root: Path | None = None
        if location.is_file() and zipfile.is_zipfile(location):
            self._zip = zipfile.ZipFile(location)
        elif (location / "vllm").is_dir():
            self._root = location
        elif location.is_dir() and location.name == "vllm":
            self._root = location.parent
        else:
            raise ValueError(f"{location}: neither a vLLM wheel nor a directory holding vllm/")

    def read(self, path: str) -> str | None:
        if self._zip is not None:
            try:
                return self._zip.read(path).decode("utf-8", errors="replace")
            except KeyError:
                return None
        assert self._root is not None
        file = self._root / path
        return file.read_text(encoding="utf-8", errors="replace") if file.is_file() else None

    @property
    def version(self) -> str:
        """The release, from the wheel's dist-info or ``vllm/_version.py``, else the location's name."""
        if self._zip is not None:
            for name in self._zip.namelist():
                if name.endswith(".dist-info/METADATA"):
                    for line in self._zip.read(name).decode("utf-8", errors="replace").splitlines():
                        if line.startswith("Version:"):
                            return line.split(":", 1)[1].strip()
        text = self.read("vllm/_version.py") or ""
        for line in text.splitlines():
            found = re.match(r"^(?:__version__|version)\b.*=\s*['\"]([^'\"]+)['\"]", line)
            if found:
                return found.group(1)
        return self.location.name


@dataclass
class FileChange:
    path: str
    role: str
    status: str  # "changed" | "unchanged" | "added" | "removed" | "absent"
    lines_added: int = 0
    lines_removed: int = 0
    functions_added: list[str] = field(default_factory=list)
    functions_removed: list[str] = field(default_factory=list)
    functions_changed: list[str] = field(default_factory=list)
    defaults_changed: list[str] = field(default_factory=list)  # "Class.field: old -> new"
    constants_changed: list[str] = field(default_factory=list)  # "NAME: old -> new"
    diff: list[str] = field(default_factory=list)


def _parse(text: str | None) -> ast.Module | None:
    if text is None:
        return None
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def definitions(tree: ast.Module | None) -> dict[str, str]:
    """Every function and class (methods as ``Class.method``) -> its source, without docstrings' effect on
    comparisons being hidden (a docstring change is a change)."""
    found: dict[str, str] = {}
    if tree is None:
        return found

    def walk(nodes: list[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + node.name] = ast.dump(node, include_attributes=False)
            elif isinstance(node, ast.ClassDef):
                body = [n for n in node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                found[prefix + node.name] = ast.dump(ast.Module(body=body, type_ignores=[]),
                                                     include_attributes=False)
                walk(node.body, f"{prefix}{node.name}.")

    walk(tree.body, "")
    return found


def _value(node: ast.expr | None) -> str:
    return "<no default>" if node is None else ast.unparse(node)


def class_defaults(tree: ast.Module | None) -> dict[str, str]:
    """``Class.field`` -> its default as written, for annotated and plain class-level assignments.
    ``Field(default=X, ...)`` / ``field(default=X)`` read as X."""
    found: dict[str, str] = {}
    if tree is None:
        return found
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for node in cls.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                found[f"{cls.name}.{node.target.id}"] = _field_default(node.value)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[f"{cls.name}.{target.id}"] = _field_default(node.value)
    return found


def _field_default(node: ast.expr | None) -> str:
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
        name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        if name in ("Field", "field"):
            for keyword in node.keywords:
                if keyword.arg in ("default", "default_factory"):
                    return _value(keyword.value)
    return _value(node)


def module_constants(tree: ast.Module | None) -> dict[str, str]:
    """Module-level UPPER_CASE assignments -> their value as written."""
    found: dict[str, str] = {}
    if tree is None:
        return found
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = list(node.targets), node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and len(target.id) > 1 \
                    and not target.id.endswith("_MODELS"):  # the registry's tables: its own section
                text = _value(value)
                found[target.id] = text if len(text) <= 200 else text[:197] + "..."
    return found


def _changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    return [f"{name}: {old.get(name, '<absent>')} -> {new.get(name, '<absent>')}"
            for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name)]


def compare_file(path: str, role: str, old_text: str | None, new_text: str | None,
                 max_diff_lines: int) -> FileChange:
    if old_text is None and new_text is None:
        return FileChange(path=path, role=role, status="absent")
    status = "added" if old_text is None else "removed" if new_text is None else \
        "unchanged" if old_text == new_text else "changed"
    change = FileChange(path=path, role=role, status=status)
    if status == "unchanged":
        return change
    old_lines = (old_text or "").splitlines()
    new_lines = (new_text or "").splitlines()
    diff = list(difflib.unified_diff(old_lines, new_lines, f"old/{path}", f"new/{path}", lineterm="", n=2))
    change.lines_added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    change.lines_removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    change.diff = diff[:max_diff_lines] + ([f"... ({len(diff) - max_diff_lines} more diff lines)"]
                                           if len(diff) > max_diff_lines else [])
    old_tree, new_tree = _parse(old_text), _parse(new_text)
    old_defs, new_defs = definitions(old_tree), definitions(new_tree)
    change.functions_added = sorted(new_defs.keys() - old_defs.keys())
    change.functions_removed = sorted(old_defs.keys() - new_defs.keys())
    change.functions_changed = sorted(n for n in old_defs.keys() & new_defs.keys() if old_defs[n] != new_defs[n])
    change.defaults_changed = _changes(class_defaults(old_tree), class_defaults(new_tree))
    change.constants_changed = _changes(module_constants(old_tree), module_constants(new_tree))
    return change


def registry_architectures(text: str | None) -> set[str]:
    """Architecture names of the registry: string keys of the module-level ``_*_MODELS`` dict literals."""
    tree = _parse(text)
    names: set[str] = set()
    if tree is None:
        return names
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id.endswith("_MODELS") and isinstance(value, ast.Dict):
            names.update(k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return names


def env_defaults(text: str | None) -> dict[str, str]:
    """``VLLM_*`` environment variables -> their default as annotated in envs.py's ``if TYPE_CHECKING`` block."""
    tree = _parse(text)
    found: dict[str, str] = {}
    if tree is None:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                and node.target.id.startswith(("VLLM_", "CUDA_", "LOCAL_", "K_", "S3_", "MAX_", "CMAKE_", "NVCC_")):
            found[node.target.id] = _value(node.value)
    return found


@dataclass
class ReleaseDiff:
    old_version: str
    new_version: str
    files: list[FileChange]
    architectures_added: list[str]
    architectures_removed: list[str]
    env_changes: list[str]
    watched: list[str] = field(default_factory=list)  # "file: name: changed|unchanged|added|removed|absent"
    spec_kinds_added: list[str] = field(default_factory=list)  # KV spec classes (kv_cache_interface)
    spec_kinds_removed: list[str] = field(default_factory=list)


def release_diff(old: SourceTree, new: SourceTree, *, max_diff_lines: int = 150) -> ReleaseDiff:
    files = [compare_file(path, role, old.read(path), new.read(path), max_diff_lines)
             for path, role in MEMORY_SOURCES]
    old_arch, new_arch = registry_architectures(old.read(REGISTRY)), registry_architectures(new.read(REGISTRY))
    env_changes = _changes(env_defaults(old.read(ENVS)), env_defaults(new.read(ENVS)))
    watched = []
    for path, name in WATCHED:
        old_def = definitions(_parse(old.read(path))).get(name)
        new_def = definitions(_parse(new.read(path))).get(name)
        state = ("absent" if old_def is None and new_def is None else "added" if old_def is None
                 else "removed" if new_def is None else "unchanged" if old_def == new_def else "changed")
        watched.append(f"{path}: {name}: {state}")
    old_specs, new_specs = (_spec_classes(tree.read(KV_INTERFACE)) for tree in (old, new))
    return ReleaseDiff(old_version=old.version, new_version=new.version, files=files,
                       architectures_added=sorted(new_arch - old_arch),
                       architectures_removed=sorted(old_arch - new_arch), env_changes=env_changes, watched=watched,
                       spec_kinds_added=sorted(new_specs - old_specs),
                       spec_kinds_removed=sorted(old_specs - new_specs))


def _spec_classes(text: str | None) -> set[str]:
    tree = _parse(text)
    return {n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Spec")} if tree else set()


def render(result: ReleaseDiff, *, with_diffs: bool = True) -> str:
    out: list[str] = [f"vLLM {result.old_version} -> {result.new_version}: memory-relevant sources", ""]
    for change in result.files:
        out.append(f"== {change.path} [{change.status}] ({change.role})")
        if change.status in ("unchanged", "absent"):
            out.append("")
            continue
        out.append(f"   +{change.lines_added} -{change.lines_removed} lines")
        for label, items in (("functions added", change.functions_added),
                             ("functions removed", change.functions_removed),
                             ("functions changed", change.functions_changed)):
            if items:
                out.append(f"   {label}: {', '.join(items)}")
        for label, items in (("class defaults changed", change.defaults_changed),
                             ("module constants changed", change.constants_changed)):
            if items:
                out.append(f"   {label}:")
                out.extend(f"     {item}" for item in items)
        out.append("")
    out.append("== watched functions (kvplan mirrors them)")
    out.extend(f"   {item}" for item in result.watched)
    out.append("")
    out.append(f"== KV spec kinds: {len(result.spec_kinds_added)} added, {len(result.spec_kinds_removed)} removed")
    if result.spec_kinds_added:
        out.append(f"   added: {', '.join(result.spec_kinds_added)}")
    if result.spec_kinds_removed:
        out.append(f"   removed: {', '.join(result.spec_kinds_removed)}")
    out.append("")
    out.append(f"== model registry: {len(result.architectures_added)} architectures added, "
               f"{len(result.architectures_removed)} removed")
    if result.architectures_added:
        out.append(f"   added: {', '.join(result.architectures_added)}")
    if result.architectures_removed:
        out.append(f"   removed: {', '.join(result.architectures_removed)}")
    out.append("")
    out.append(f"== environment variables: {len(result.env_changes)} defaults changed, added or removed")
    out.extend(f"   {item}" for item in result.env_changes)
    out.append("")
    if with_diffs:
        for change in result.files:
            if change.diff:
                out.append(f"---- unified diff: {change.path}")
                out.extend(change.diff)
                out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="List what changed in vLLM's memory-relevant sources between "
                                                 "two releases (wheels or unpacked directories).")
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--max-diff-lines", type=int, default=150, help="unified diff lines kept per file")
    parser.add_argument("--no-diffs", action="store_true", help="the summary only")
    parser.add_argument("--json", action="store_true", help="the structured result as JSON")
    args = parser.parse_args(argv)
    try:
        old, new = SourceTree(args.old), SourceTree(args.new)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = release_diff(old, new, max_diff_lines=args.max_diff_lines)
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        sys.stdout.write(render(result, with_diffs=not args.no_diffs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
