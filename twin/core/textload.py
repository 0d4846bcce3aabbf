"""The one gate of every text file the twin reads: UTF-8 only, YAML without bombs or bad dates.

:func:`read_text` reads a file as UTF-8 text and refuses, naming the file and line, what is not:
binary bytes, UTF-16 and UTF-32 (with or without a byte order mark). :func:`parse_yaml` parses
YAML safely and refuses before building any value: more than :data:`MAX_ALIASES` aliases, a
document that would expand to more than :data:`MAX_NODES` values (a "billion laughs" file is
refused in milliseconds), recursive anchors, nesting deeper than :data:`MAX_DEPTH`, duplicate
keys in a mapping, and impossible dates and times (``2027-13-01``, ``2026-02-29``) or values
that a tag cannot hold (``!!int abc``); ``1e12`` is a number, as in YAML 1.2. Every refusal is a :class:`TextError` whose message is one
line ``file:line: what is wrong``.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from twin.data import YAML_LOADER

MAX_BYTES = 8 * 1024 * 1024  # larger text files are not scenarios, studies or point lists
MAX_ALIASES = 256            # a hand-written file uses a few
MAX_NODES = 200_000          # values after expanding every alias
MAX_DEPTH = 64               # nesting of mappings and lists


class TextError(ValueError):
    """A file is not the text the twin reads; the message is one line naming file and line."""


def decode(raw: bytes, path: str | Path) -> str:
    """``raw`` as UTF-8 text (a UTF-8 byte order mark is dropped); :class:`TextError` if not."""
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if raw.startswith(bom):
            raise TextError(f"{path}:1: {name} text; expected UTF-8 (save the file as UTF-8)")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise TextError(f"{path}:{line}: a NUL byte: binary data or UTF-16/32 text; expected "
                        "UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TextError(f"{path}:{line}: byte 0x{raw[exc.start]:02x} is not UTF-8; expected "
                        "UTF-8 text") from None
    return text


def read_text(path: str | Path, what: str = "text", error: type[Exception] = TextError,
              max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of the ``what`` file at ``path``; ``error`` with one line if it cannot be."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: {size:,} bytes; expected a {what} file of at most "
                        f"{max_bytes:,} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise error(f"{path}: a folder; expected a {what} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return decode(raw, path)
    except TextError as exc:
        raise error(str(exc)) from None


class _Loader(YAML_LOADER):  # type: ignore[misc,valid-type]
    """The safe loader whose value errors name the node's line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError,
                KeyError) as exc:
            shown = repr(node.value) if isinstance(node, yaml.ScalarNode) else node.tag
            tag = node.tag.rsplit(":", 1)[-1]
            what = "date or time" if tag == "timestamp" else f"{tag} value"
            raise ConstructorError(None, None, f"impossible {what} {shown[:60]} ({exc})",
                                   node.start_mark) from None


# ``1e12`` and ``2E-3`` are numbers, as in YAML 1.2 and JSON (YAML 1.1, PyYAML's, wants a dot)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


def _check_nodes(root: yaml.Node) -> None:
    """Refuse alias bombs, recursion, deep nesting and duplicate keys before construction."""
    _Measure().walk(root, 0)


class _Measure:
    """Walks a node graph once, measuring each node's size with every alias expanded."""

    def __init__(self) -> None:
        self.size: dict[int, int] = {}  # expanded size of each node already measured
        self.aliases = 0
        self.active: set[int] = set()

    @staticmethod
    def fail(node: yaml.Node, message: str) -> None:
        raise yaml.YAMLError(f"\x00{node.start_mark.line + 1}\x00{message}")

    def walk(self, node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in self.active:
            self.fail(node, "a recursive alias; expected plain values")
        if key in self.size:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                self.fail(node, f"more than {MAX_ALIASES} aliases; expected a plain file")
            return self.size[key]
        if depth > MAX_DEPTH:
            self.fail(node, f"nested deeper than {MAX_DEPTH} levels")
        self.active.add(key)
        n = 1 + sum(self.walk(child, depth + 1) for child in self.children(node))
        self.active.discard(key)
        if n > MAX_NODES:
            self.fail(node, f"expands to more than {MAX_NODES:,} values (an alias bomb?)")
        self.size[key] = n
        return n

    def children(self, node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if not isinstance(node, yaml.MappingNode):
            return []
        seen: set[Any] = set()
        out = []
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                if (k.tag, k.value) in seen:
                    self.fail(k, f"duplicate key {k.value!r}")
                seen.add((k.tag, k.value))
            out += [k, v]
        return out


def _path_at(root: yaml.Node | None, mark: Any) -> str:
    """The field path (``period.start``, ``events[0].dates[1]``) of the node at ``mark``."""
    seen: set[int] = set()

    def walk(n: yaml.Node, path: str) -> str | None:
        if id(n) in seen:
            return None
        seen.add(id(n))
        if n.start_mark.index == mark.index and isinstance(n, yaml.ScalarNode):
            return path
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                sub = f"{path}.{k.value}" if path else str(k.value)
                found = walk(v, sub)
                if found is not None:
                    return found
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                found = walk(item, f"{path}[{i}]")
                if found is not None:
                    return found
        return None

    return (walk(root, "") or "") if root is not None else ""


def parse_yaml(text: str, path: str | Path) -> tuple[Any, yaml.Node | None]:
    """The data of YAML ``text`` and its node tree (for line numbers); :class:`TextError` if it
    is not a safe, plain YAML document."""
    if len(text) > MAX_BYTES:
        raise TextError(f"{path}: {len(text):,} characters; expected at most {MAX_BYTES:,}")
    node = None
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_nodes(node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise TextError(f"{path}: nested too deeply; expected at most {MAX_DEPTH} levels") \
            from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        field = _path_at(node, mark) if isinstance(exc, ConstructorError) and mark else ""
        if field:
            raise TextError(f"{path}:{mark.line + 1}: {field}: {exc.problem}") from None
        text_ = str(exc)
        if text_.startswith("\x00"):
            _, line, message = text_.split("\x00", 2)
            raise TextError(f"{path}:{line}: {message}") from None
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or text_
        raise TextError(f"{where}: not valid YAML: {' '.join(str(problem).split())}") from None
    return data, node
