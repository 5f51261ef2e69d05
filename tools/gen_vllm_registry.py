"""Generate kvplan/core/vllm_registry.py: vLLM's model registry, release by release, as data.

vLLM picks a model's implementation by the ``architectures`` of its config.json, looked up in the registry
tables of ``vllm/model_executor/models/registry.py`` (``vllm/model_executor/models/__init__.py`` up to 0.6.1).
This script reads those tables from unpacked wheels as Python *syntax* (``ast``): vLLM is never imported and
nothing from the wheel runs. Each argument is a folder holding ``vllm/model_executor/models/`` (the release
is read from ``vllm/version.py``/``_version.py`` or from a ``vX.Y.Z`` folder name) or a wheel file.

    python tools/gen_vllm_registry.py /work/wheels/registry-src/v*    (writes kvplan/core/vllm_registry.py)

Getting the releases (only the registry files are needed, a few hundred kB out of each ~300 MB wheel):

    pip download vllm==0.8.4 --no-deps -d /tmp/w && unzip -q /tmp/w/vllm-0.8.4-*.whl \
        'vllm/model_executor/models/registry.py' 'vllm/model_executor/models/__init__.py' -d registry-src/v0.8.4

The table in the repository was read from every release on PyPI from 0.5.4 to 0.34.0 (69, post releases too).

For each architecture the generated table gives the vLLM module and class of the newest release that has it,
its kind (the first registry table of that release that lists it: text-generation, multimodal, speculative,
transformers, pooling...), and the spans of releases in which it is registered.
"""

from __future__ import annotations

import ast
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "kvplan" / "core" / "vllm_registry.py"
MODELS_DIR = "vllm/model_executor/models"

# Registry table name -> kind. An architecture takes the kind of the first table (in this order) that lists it.
KIND_OF_TABLE = {
    "_GENERATION_MODELS": "text-generation",
    "_TEXT_GENERATION_MODELS": "text-generation",
    "_MULTIMODAL_MODELS": "multimodal",
    "_CONDITIONAL_GENERATION_MODELS": "encoder-decoder",
    "_SPECULATIVE_DECODING_MODELS": "speculative",
    "_TRANSFORMERS_SUPPORTED_MODELS": "transformers",
    "_TRANSFORMERS_BACKEND_MODELS": "transformers-backend",
    "_TRANSFORMERS_MODELS": "transformers-backend",
    "_FALLBACK_MODEL": "transformers-backend",
    "_EMBEDDING_MODELS": "pooling",
    "_CROSS_ENCODER_MODELS": "pooling",
    "_LATE_INTERACTION_MODELS": "pooling",
    "_REWARD_MODELS": "pooling",
    "_TOKEN_CLASSIFICATION_MODELS": "pooling",
    "_SEQUENCE_CLASSIFICATION_MODELS": "pooling",
}
COMBINED = ("_VLLM_MODELS", "_MODELS")  # the table the registry is built from (newer name first)


@dataclass(frozen=True)
class Release:
    version: str
    models: dict[str, tuple[str, str]]  # architecture -> (module, class), as _VLLM_MODELS holds it
    kinds: dict[str, str]
    previously_supported: dict[str, str]
    oot: dict[str, str]


def version_key(version: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", version.replace(".post", ".0."))
    return tuple(int(p) for p in parts)


def _eval_table(node: ast.expr, tables: dict[str, dict[str, tuple[str, str]]]) -> dict[str, tuple[str, str]]:
    """A registry dict display: string keys, (module, class) tuples, ``**TABLE`` and the one comprehension
    vLLM uses (every entry of a table whose class is a given name). Anything else stops the script."""
    if isinstance(node, ast.Dict):
        out: dict[str, tuple[str, str]] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                out.update(_eval_table(value, tables))
            elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                pair = ast.literal_eval(value)
                if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                    raise SystemExit(f"unexpected registry value for {key.value}: {ast.dump(value)}")
                out[key.value] = (pair[0], pair[1])
            else:
                raise SystemExit(f"unexpected registry key: {ast.dump(key)}")
        return out
    if isinstance(node, ast.Name):
        return dict(tables[node.id])
    if isinstance(node, ast.DictComp) and len(node.generators) == 1:
        gen = node.generators[0]
        source = gen.iter
        if (isinstance(source, ast.Call) and isinstance(source.func, ast.Attribute) and source.func.attr == "items"
                and isinstance(source.func.value, ast.Name) and len(gen.ifs) == 1):
            cond = gen.ifs[0]
            if (isinstance(cond, ast.Compare) and isinstance(cond.ops[0], ast.Eq) and len(cond.ops) == 1
                    and isinstance(cond.comparators[0], ast.Constant)):
                wanted = cond.comparators[0].value
                return {k: v for k, v in tables[source.func.value.id].items() if v[1] == wanted}
    raise SystemExit(f"unexpected registry expression: {ast.dump(node)[:200]}")


def _literal_str_dict(node: ast.expr) -> dict[str, str]:
    value = ast.literal_eval(node)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def read_release(source_text: str, version: str) -> Release:
    tree = ast.parse(source_text)
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    previously: dict[str, str] = {}
    oot: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value = stmt.target.id, stmt.value
        else:
            continue
        if name in KIND_OF_TABLE or name in COMBINED:
            tables[name] = _eval_table(value, tables)
        elif name == "_PREVIOUSLY_SUPPORTED_MODELS":
            previously = _literal_str_dict(value)
        elif name == "_OOT_SUPPORTED_MODELS":
            oot = _literal_str_dict(value)
    combined = next((tables[name] for name in COMBINED if name in tables), None)
    if combined is None:
        raise SystemExit(f"{version}: no _VLLM_MODELS / _MODELS table")
    kinds: dict[str, str] = {}
    for table, kind in KIND_OF_TABLE.items():
        for arch in tables.get(table, {}):
            kinds.setdefault(arch, kind)
    return Release(version=version, models=combined, kinds=kinds, previously_supported=previously, oot=oot)


def _version_of(root: Path, read: dict[str, str]) -> str:
    """The release: from the folder or wheel name when it carries one (0.6.2's own _version.py says
    0.6.1.dev238), else from vllm/_version.py or vllm/version.py."""
    found = re.match(r"v?(\d+\.\d+\.\d+(?:\.post\d+|\.\d+)?)$", root.name) or re.match(
        r"vllm-(\d+\.\d+\.\d+(?:\.post\d+|\.\d+)?)-", root.name)
    if found:
        return found.group(1)
    for name in ("vllm/_version.py", "vllm/version.py"):
        if name in read:
            match = re.search(r"""(?:__version__|version)\s*(?::\s*str)?\s*=\s*['"]([0-9][^'"+]*)""", read[name])
            if match:
                return match.group(1)
    raise SystemExit(f"{root}: cannot tell the vLLM release")


def load(path: Path) -> Release:
    wanted = (f"{MODELS_DIR}/registry.py", f"{MODELS_DIR}/__init__.py", "vllm/_version.py", "vllm/version.py")
    read: dict[str, str] = {}
    if path.is_file():
        with zipfile.ZipFile(path) as wheel:
            names = set(wheel.namelist())
            for name in wanted:
                if name in names:
                    read[name] = wheel.read(name).decode()
    else:
        for name in wanted:
            if (path / name).is_file():
                read[name] = (path / name).read_text()
    version = _version_of(path, read)
    for name in wanted[:2]:
        text = read.get(name, "")
        if re.search(r"^_(VLLM_)?MODELS\b", text, re.M):
            return read_release(text, version)
    raise SystemExit(f"{path}: no registry found")


def render(releases: list[Release]) -> str:
    releases = sorted(releases, key=lambda r: version_key(r.version))
    order = [r.version for r in releases]
    spans: dict[str, list[list[str]]] = {}
    newest: dict[str, tuple[str, str, str]] = {}
    for index, release in enumerate(releases):
        for arch, (module, cls) in release.models.items():
            newest[arch] = (module, cls, release.kinds.get(arch, "other"))
            arch_spans = spans.setdefault(arch, [])
            if arch_spans and arch_spans[-1][1] == order[index - 1] and index > 0:
                arch_spans[-1][1] = release.version
            else:
                arch_spans.append([release.version, release.version])
    lines = [
        "# ruff: noqa: E501",
        '"""vLLM\'s model registry, release by release. GENERATED by tools/gen_vllm_registry.py: do not edit.',
        "",
        "Read (as syntax, never imported) from vllm/model_executor/models/registry.py (__init__.py up to 0.6.1)",
        "of each release below. ARCHITECTURES: architecture -> (module, class, kind, spans); module and class are the",
        "newest release's, kind is the first registry table listing it (text-generation, multimodal, speculative,",
        "transformers, transformers-backend, encoder-decoder, pooling), spans are (first, last) releases read in",
        "which it is registered. Architectures registered per release:",
        "",
    ]
    for release in releases:
        counts: dict[str, int] = {}
        for arch in release.models:
            kind = release.kinds.get(arch, "other")
            counts[kind] = counts.get(kind, 0) + 1
        detail = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        lines.append(f"    {release.version}: {len(release.models)} ({detail})")
    lines += [
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "# Every release read, oldest first.",
        "RELEASES: tuple[str, ...] = (",
    ]
    lines += [f'    "{v}",' for v in order]
    lines += [")", "", "# Architectures registered in each release (a check on the spans below).",
              "RELEASE_COUNTS: dict[str, int] = {"]
    lines += [f'    "{r.version}": {len(r.models)},' for r in releases]
    lines += ["}", "", "ARCHITECTURES: dict[str, tuple[str, str, str, tuple[tuple[str, str], ...]]] = {"]
    for arch in sorted(newest, key=str.lower):
        module, cls, kind = newest[arch]
        span_text = ", ".join(f'("{a}", "{b}")' for a, b in spans[arch])
        lines.append(f'    "{arch}": ("{module}", "{cls}", "{kind}", ({span_text},)),')
    lines += ["}", ""]
    last = releases[-1]
    lines += [f"# The newest release's _PREVIOUSLY_SUPPORTED_MODELS ({last.version}): architecture -> last release.",
              "PREVIOUSLY_SUPPORTED: dict[str, str] = {"]
    lines += [f'    "{k}": "{v}",' for k, v in sorted(last.previously_supported.items())]
    lines += ["}", "", f"# The newest release's _OOT_SUPPORTED_MODELS ({last.version}): architecture -> plugin.",
              "OUT_OF_TREE: dict[str, str] = {"]
    lines += [f'    "{k}": "{v}",' for k, v in sorted(last.oot.items())]
    lines += ["}", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    releases = [load(Path(arg)) for arg in argv]
    seen: dict[str, Release] = {}
    for release in releases:
        seen[release.version] = release  # the same release given twice: once is enough
    OUT.write_text(render(list(seen.values())))
    print(f"wrote {OUT} ({len(seen)} releases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
