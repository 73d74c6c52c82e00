"""YAML text -> plain Python values plus the line of every field, without raising.

PyYAML's composer gives nodes with marks; we build the values ourselves so each mapping key and
sequence item keeps its 1-based line. Paths are tuples such as ``("request_settings",
"request_timeout_ms")`` or ``("tolerations", 0, "key")``; ``lines[path]`` is the line of that key
(or item). Duplicate keys, which PyYAML would silently overwrite, are reported.

Example: ``"name: blue\\ninstance_count: 3\\n"`` gives ``{"name": "blue", "instance_count": 3}``
with ``lines == {("name",): 1, ("instance_count",): 2}``.

Hostile input is bounded here, once for every file mlplan reads:

- Values built are counted, aliases included: past ``MAX_NODES`` (100,000; Azure's examples
  have under 100) the file is reported instead of expanded, so a 488-byte "billion laughs"
  file (10 levels of 9 aliases, 9**10 values) stops after 100,000 values, in well under a
  second, instead of growing past 3 GB.
- YAML 1.1 traps are reported instead of silently converted: ``1:30`` (base 60, 90 in YAML
  1.1) stays the text ``"1:30"``; ``!!binary`` values are refused; a merge key ``<<`` whose
  value is not a mapping or a list of mappings is reported, not ignored.
- A NUL character is reported with its line (a binary or UTF-16 file without a byte order
  mark); ``decode`` reads UTF-8, and UTF-16/32 when the file starts with a byte order mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

FieldPath = tuple[str | int, ...]
MAX_DEPTH = 64
MAX_NODES = 100_000
BINARY_TAG = "tag:yaml.org,2002:binary"
INT_TAG = "tag:yaml.org,2002:int"
NUMBER_TAGS = (INT_TAG, "tag:yaml.org,2002:float")
_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
         (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"), (b"\xef\xbb\xbf", "utf-8"))
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"


@dataclass
class YamlDocument:
    """One document of a file: its value, the line of each field path and problems found."""

    value: Any
    line: int
    lines: dict[FieldPath, int] = field(default_factory=dict)
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, message)

    def line_of(self, path: FieldPath) -> int:
        """Line of the deepest known prefix of ``path`` (the document start if none)."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found:
                return found
        return self.line


@dataclass
class YamlFile:
    documents: list[YamlDocument]
    syntax_error: tuple[int, str] | None = None  # (line, message)
    #: the text is not YAML at all (a NUL character): no indentation or quoting hint applies
    not_text: bool = False


def format_path(path: FieldPath) -> str:
    """``("tolerations", 0, "key")`` -> ``tolerations[0].key``."""
    if path[:1] != ("",):  # a leading empty key is dropped below
        try:
            return ".".join(path)  # type: ignore[arg-type]  # keys only: most paths
        except TypeError:  # an index or a key that is not text in it
            pass
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def decode(data: bytes) -> str:
    """File bytes -> text: a byte order mark picks UTF-8/16/32 (and is dropped), else UTF-8;
    invalid bytes become U+FFFD; CRLF is folded to LF.

    Example: ``b"\\xff\\xfen\\x00:\\x001\\x00"`` (UTF-16-LE with BOM) -> ``"n:1"``.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace").replace("\r\n", "\n")
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


class _Budget:
    """Values built so far in one file, shared by its documents."""

    def __init__(self) -> None:
        self.left = MAX_NODES
        self.reported = False


class _Builder:
    def __init__(self, document: YamlDocument, budget: _Budget | None = None) -> None:
        self.document = document
        self.constructor = SafeConstructor()
        self.active: set[int] = set()
        self.budget = budget or _Budget()

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == STR_TAG:  # most values: no conversion to do
            return node.value
        if node.tag in NUMBER_TAGS and ":" in node.value:  # YAML 1.1 base 60: 1:30 is 90
            return node.value
        if node.tag == BINARY_TAG:
            self.document.problems.append(
                (node.start_mark.line + 1, "", "!!binary values are not accepted; write the "
                 "value as plain text"))
            return None
        try:
            value = node.value
            if (node.tag == INT_TAG and value.isdigit() and value.isascii()
                    and (value[0] != "0" or len(value) == 1)):
                return int(value)  # decimal, as the constructor reads it (0-prefixed: octal)
            return self.constructor.construct_object(node, deep=True)
        except Exception as exc:  # e.g. an impossible date such as 2001-02-30
            self.document.problems.append(
                (node.start_mark.line + 1, "", f"cannot read value {node.value!r}: {exc}")
            )
            return node.value

    def build(self, node: Node, path: FieldPath, depth: int) -> Any:
        self.budget.left -= 1
        if self.budget.left < 0:
            if not self.budget.reported:
                self.budget.reported = True
                self.document.problems.append(
                    (self.document.line_of(path[:1]), format_path(path[:1]),
                     f"more than {MAX_NODES} values (aliases expanding too far?); "
                     "write the values out or split the file"))
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if depth > MAX_DEPTH or id(node) in self.active:
            self.document.problems.append(
                (node.start_mark.line + 1, format_path(path), "nesting too deep or recursive alias")
            )
            return None
        self.active.add(id(node))  # the collections being built: an alias back is a cycle
        try:
            if isinstance(node, SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    self.document.lines.setdefault((*path, index), item.start_mark.line + 1)
                    items.append(self.build(item, (*path, index), depth + 1))
                return items
            if isinstance(node, MappingNode):
                return self.mapping(node, path, depth)
            return None
        finally:
            self.active.discard(id(node))

    def merge(self, key_node: Node, value_node: Node, path: FieldPath, depth: int,
              merged: dict[Any, Any]) -> None:
        """``<<: *base`` (or a list of them): keys not yet in ``merged`` taken from each."""
        value = self.build(value_node, path, depth + 1)
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if isinstance(source, dict):
                for key, item in source.items():
                    merged.setdefault(key, item)
            elif not self.budget.reported:
                self.document.problems.append(
                    (key_node.start_mark.line + 1, format_path((*path, "<<")),
                     "a merge key '<<' takes a mapping or a list of mappings "
                     f"(got {type(source).__name__}); merge a mapping or remove it"))
                break

    def mapping(self, node: MappingNode, path: FieldPath, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        lines, budget = self.document.lines, self.budget
        for key_node, value_node in node.value:
            tag = key_node.tag
            if tag == MERGE_TAG:
                self.merge(key_node, value_node, path, depth, merged)
                continue
            if tag == STR_TAG and isinstance(key_node, ScalarNode):
                key = key_node.value
            else:
                key = self.build(key_node, path, depth + 1)
                if isinstance(key, list | dict):
                    self.document.problems.append(
                        (key_node.start_mark.line + 1, format_path(path),
                         "a key must be plain text"))
                    continue
            line = key_node.start_mark.line + 1
            if key in result:
                self.document.problems.append(
                    (line, format_path((*path, str(key))),
                     f"duplicate key {key!r} (first on line {lines[(*path, key)]}); keep one"))
                continue
            at = (*path, key)
            lines[at] = line
            if (value_node.tag == STR_TAG and budget.left > 0
                    and isinstance(value_node, ScalarNode)):  # text: what build would give
                budget.left -= 1
                result[key] = value_node.value
            else:
                result[key] = self.build(value_node, at, depth + 1)
        for key, item in merged.items():
            result.setdefault(key, item)
        return result


def parse_yaml(text: str) -> YamlFile:
    """All documents of ``text``; a syntax error stops there and is returned, never raised."""
    documents: list[YamlDocument] = []
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        return YamlFile(documents, (line, "the file holds a NUL character (a binary file, or "
                                          "UTF-16 without a byte order mark?); save it as UTF-8 "
                                          "text"), not_text=True)
    budget = _Budget()
    try:
        for node in _compose_all(text):
            document = YamlDocument(value=None, line=node.start_mark.line + 1)
            document.value = _Builder(document, budget).build(node, (), 0)
            documents.append(document)
            if budget.reported:  # a value cut short would only add misleading errors
                for built in documents:
                    built.value = None
                break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        started = exc.context_mark.line + 1 if exc.context_mark else line
        if started != line:
            problem += f" (the construct starts on line {started})"
        return YamlFile(documents, (line, problem))
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, at a position
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return YamlFile(documents, (line, f"character U+{exc.character:04X} is not allowed in "
                                          "YAML; remove it, or write it as an escape such as "
                                          "\\x1b inside double quotes"), not_text=True)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return YamlFile(documents, (0, f"invalid YAML: {exc}"))
    return YamlFile(documents)


# LibYAML's parser (shipped in PyYAML's wheels) composes the same nodes with the same marks,
# about 10x faster than the pure-Python one; fall back to that where LibYAML is missing.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAGS: dict[tuple[Any, Any, Any], str] = {}
_TAGS_LIMIT = 20_000
_TAG_VALUE_CHARS = 64


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The safe loader with its tag resolution remembered: the composer asks ``resolve`` for
    every scalar, and a stack's files repeat the same keys and values thousands of times.
    The tag depends on (kind, value, implicit) alone, as the safe loader has no path
    resolvers (whose ``descend``/``ascend`` bookkeeping is skipped for the same reason).
    Values up to 64 characters are remembered, at most 20,000 (then the memo starts again).
    Example: ``instance_count: 3`` resolves ``instance_count`` to ``str`` and ``3`` to ``int``
    once, for all the files that hold them."""

    # none, whatever is added to PyYAML's loaders
    yaml_path_resolvers: ClassVar[dict[Any, Any]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        key = (kind, value, implicit)
        tag = _TAGS.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if value is None or len(value) <= _TAG_VALUE_CHARS:
                if len(_TAGS) >= _TAGS_LIMIT:
                    _TAGS.clear()
                _TAGS[key] = tag
        return tag

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


def _compose_all(text: str) -> Iterator[Node]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    finally:
        loader.dispose()
