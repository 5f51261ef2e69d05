"""Safe YAML for deploy files: PyYAML's SafeLoader plus line numbers, bounded size, nesting and aliases.

Deploy files are data: a tag that constructs an object (``!!python/object``, ``!Ref``) is refused, never
run. A file over ``MAX_FILE_BYTES`` is refused before it is read, a document nested deeper than ``MAX_DEPTH``
or with more than ``MAX_ALIASES`` aliases, or whose aliases expand to more than ``MAX_EXPANDED_NODES`` values (a
"billion laughs" file: 81 aliases of 9 x 9 ... make 387 million strings, which any walk over the data or any
``str()`` of it would build) while it is composed, so a hostile file costs milliseconds. Mappings and lists come
back as ``YamlMap`` / ``YamlList``, which remember the line each key or item starts on (1-based), so a report can
point at the line that sets a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kvplan.core.errors import UsageError

MAX_FILE_BYTES = 2 * 2**20  # deploy files are KiBs; the pure-Python safe parser takes ~2 s a MiB of worst-case YAML
MAX_DEPTH = 64
MAX_ALIASES = 1000
MAX_EXPANDED_NODES = 100_000  # the values the aliases stand for, counted as if copied out: deploy files hold hundreds


class YamlMap(dict[str, Any]):
    """A mapping that knows the line of each key (``key_lines``) and its own first line (``line``)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class YamlList(list[Any]):
    """A list that knows the line of each item (``item_lines``) and its own first line (``line``)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


def line_of(container: object, key: str | int) -> int | None:
    """The line a key or item of a loaded container starts on, or None for plain data."""
    if isinstance(container, YamlMap) and isinstance(key, str):
        return container.line_of(key)
    if isinstance(container, YamlList) and isinstance(key, int):
        return container.line_of(key)
    return None


def _loader_class() -> type[Any]:
    import yaml

    class LineLoader(yaml.SafeLoader):  # type: ignore[misc]  # untyped base without stubs
        """SafeLoader whose maps and lists carry line numbers, with a bound on depth and aliases."""

        _depth = 0
        _aliases = 0
        _expanded = 0
        _sizes: dict[int, int] | None = None

        def _size(self, node: Any) -> int:
            """The values ``node`` stands for, its aliases copied out (memoised: anchors nest, depth is bounded)."""
            if self._sizes is None:
                self._sizes = {}
            known = self._sizes.get(id(node))
            if known is not None:
                return known
            size = 1
            if isinstance(node, yaml.SequenceNode):
                size += sum(self._size(item) for item in node.value)
            elif isinstance(node, yaml.MappingNode):
                size += sum(self._size(key) + self._size(value) for key, value in node.value)
            self._sizes[id(node)] = size
            return size

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise _Refused(f"more than {MAX_ALIASES} YAML aliases")
                anchored = self.anchors.get(self.peek_event().anchor)
                if anchored is not None:
                    self._expanded += self._size(anchored)
                    if self._expanded > MAX_EXPANDED_NODES:
                        raise _Refused(f"YAML aliases that expand to more than {MAX_EXPANDED_NODES:,} values")
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_line_map(self, node: Any) -> Any:
            data = YamlMap()
            data.line = node.start_mark.line + 1
            data.key_lines = {}
            yield data
            self.flatten_mapping(node)
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)  # YAML allows 1: or true: as keys; deploy files mean text
                data[key] = self.construct_object(value_node, deep=True)
                data.key_lines[key] = key_node.start_mark.line + 1

        def construct_line_list(self, node: Any) -> Any:
            data = YamlList()
            data.line = node.start_mark.line + 1
            data.item_lines = [item.start_mark.line + 1 for item in node.value]
            yield data
            data.extend(self.construct_object(item, deep=True) for item in node.value)

    LineLoader.add_constructor("tag:yaml.org,2002:map", LineLoader.construct_line_map)
    LineLoader.add_constructor("tag:yaml.org,2002:seq", LineLoader.construct_line_list)
    return LineLoader


class _Refused(Exception):
    pass


_LOADER: type[Any] | None = None


def read_text_bounded(path: Path, what: str = "deploy file") -> str:
    """The file's text, refused by size before a byte is read, and refused if not UTF-8."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise UsageError(f"cannot read {what} {path}: {err.strerror or err}") from None
    if size > MAX_FILE_BYTES:
        raise UsageError(f"{path}: {size / 2**20:.0f} MiB is too large for a {what} "
                         f"(at most {MAX_FILE_BYTES // 2**20} MiB read)")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file (not UTF-8)") from None
    except OSError as err:
        raise UsageError(f"cannot read {what} {path}: {err.strerror or err}") from None


def load_yaml_documents(text: str, path: Path | str) -> list[Any]:
    """Every document of a YAML stream, safely, with line numbers; any problem is one UsageError line."""
    global _LOADER
    import yaml

    if _LOADER is None:
        _LOADER = _loader_class()
    loader = _LOADER(text)
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
        return documents
    except _Refused as err:
        raise UsageError(f"{path}: refused: {err}") from None
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = err.problem or "cannot be read"
        if "could not determine a constructor" in problem:
            problem = f"tag {problem.split('tag ', 1)[-1]} refused: deploy files are data, no tag constructs objects"
        raise UsageError(f"{path}{where}: {problem}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UsageError(f"{path}{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise UsageError(f"{path}: refused: nested too deeply") from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> list[Any]:
    return load_yaml_documents(read_text_bounded(path), path)
