"""Stage 1, load: find schema files and read each into plain data with positions.

YAML is read with the YAML 1.2 core schema rules, not PyYAML's YAML 1.1 ones: only
`true`/`false` are booleans (`yes`, `no`, `on`, `off` stay strings), dates and times
stay strings, `010` is ten, and `1:20` is a string. U+0085, U+2028 and U+2029 are
ordinary characters, as in YAML 1.2 (PyYAML reads them as line breaks): they are kept
exactly in every value. Every mapping key and sequence item keeps its 1-based line
and column, so later stages can point at it.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import SchemaError, SchemaErrors

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "KeyPath",
    "SchemaDocument",
    "describe_value",
    "discover",
    "load",
]

KeyPath = tuple[str | int, ...]
"""A path from the top of a document to a node: mapping keys and sequence indexes."""

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Larger files are rejected unread: no schema comes near this size."""

MAX_DEPTH = 64
"""Deeper nesting of mappings and sequences is rejected."""

MAX_ALIAS_EXPANSION = 100_000
"""The most nodes a document may hold once its aliases are expanded."""

SCHEMA_SUFFIXES = (".yaml", ".yml")

_PREFIX = "tag:yaml.org,2002:"
_STR = _PREFIX + "str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


_NOT_BREAKS = ("\x85", "\u2028", "\u2029")
"""Line breaks to YAML 1.1 and PyYAML, ordinary characters to YAML 1.2."""


def _protect(text: str) -> tuple[str, dict[int, str]]:
    """`text` with each of `_NOT_BREAKS` swapped for an unused private-use character.

    PyYAML then reads them as the plain characters YAML 1.2 says they are; the
    returned table (`str.translate`) swaps them back in the values read.
    """
    table: dict[int, str] = {}
    candidates = (chr(code) for code in range(0xE000, 0xF900))
    for char in _NOT_BREAKS:
        if char not in text:
            continue
        stand_in = next((c for c in candidates if c not in text), None)
        if stand_in is None:  # every candidate is in use: leave PyYAML's reading
            break
        text = text.replace(char, stand_in)
        table[ord(stand_in)] = char
    return text, table


class _CoreSchemaLoader(yaml.SafeLoader):
    """A SafeLoader that resolves plain scalars by the YAML 1.2 core schema.

    Only its reader, scanner, parser and resolver are used: `load` builds the data
    from parser events itself, so that positions, duplicate keys and limits are its
    own.
    """

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012


for _tag, _pattern in (
    (_NULL, r"^(?:~|null|Null|NULL|)\Z"),
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)\Z"),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z"),
    (_FLOAT, r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z"),
):
    _CoreSchemaLoader.add_implicit_resolver(_tag, re.compile(_pattern), None)


@dataclass(frozen=True)
class SchemaDocument:
    """One loaded schema file.

    `data` is the YAML as plain dicts, lists, str, int, float, bool and None (every
    mapping key a str). `locations` maps the key path of every mapping key and
    sequence item (and `()`, the top level) to its 1-based (line, column);
    `value_locations` does the same for the value under a key path.
    """

    path: Path
    data: dict[str, Any]
    locations: Mapping[KeyPath, tuple[int, int]]
    value_locations: Mapping[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, key_path: Sequence[str | int]) -> tuple[int, int]:
        """The (line, column) of the node at `key_path` or of its nearest known ancestor."""
        path = tuple(key_path)
        while path:
            position = self.locations.get(path)
            if position is not None:
                return position
            path = path[:-1]
        return self.locations.get((), (1, 1))

    def locate_value(self, key_path: Sequence[str | int]) -> tuple[int, int]:
        """The (line, column) of the value at `key_path`; else as `locate`."""
        position = self.value_locations.get(tuple(key_path))
        return position if position is not None else self.locate(key_path)

    def error(self, key_path: Sequence[str | int], message: str) -> SchemaError:
        """A `SchemaError` pointing at the key (or item) at `key_path`."""
        line, column = self.locate(key_path)
        return SchemaError(str(self.path), line, column, message)

    def value_error(self, key_path: Sequence[str | int], message: str) -> SchemaError:
        """A `SchemaError` pointing at the value at `key_path`."""
        line, column = self.locate_value(key_path)
        return SchemaError(str(self.path), line, column, message)


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """The schema files named by `paths`, sorted and without duplicates.

    A file is taken as given, whatever its name; a directory gives its `*.yaml` and
    `*.yml` files, recursively, skipping hidden files and directories. Raises
    `SchemaErrors` for a path that does not exist, and for one that is not a regular
    file (a FIFO, a device such as a symlink to `/dev/zero`, a directory named
    `*.yaml`) or is larger than `MAX_FILE_BYTES`: none of these is ever read.
    """
    files, errors = _discover(paths)
    if errors:
        raise SchemaErrors(errors)
    return files


def load(paths: Sequence[str | Path]) -> list[SchemaDocument]:
    """Read every schema file named by `paths` (see `discover`), ordered by path.

    Raises `SchemaErrors` listing every problem of every file: missing or unreadable
    files, bytes that are not UTF-8, YAML syntax errors, duplicate keys, keys that are
    not strings, merge keys (`<<`), tags, a top level that is not a mapping, and
    documents too large or too deeply nested.
    """
    files, errors = _discover(paths)
    documents: list[SchemaDocument] = []
    for path in files:
        document, file_errors = _load_file(path)
        errors.extend(file_errors)
        if document is not None:
            documents.append(document)
    if errors:
        raise SchemaErrors(errors)
    return documents


def _discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[SchemaError]]:
    errors: list[SchemaError] = []
    found: dict[Path, Path] = {}
    for given in paths:
        path = Path(given)
        try:
            is_dir = path.is_dir()
            exists = is_dir or path.exists()
        except (OSError, ValueError) as exc:
            errors.append(SchemaError(str(given), 1, 1, f"cannot access path: {exc}"))
            continue
        if not exists:
            errors.append(SchemaError(str(given), 1, 1, "no such file or directory"))
            continue
        for file in _walk(path) if is_dir else [path]:
            found.setdefault(_identity(file), file)
    files = []
    for file in sorted(found.values(), key=str):
        problem = _file_problem(file)
        if problem is None:
            files.append(file)
        else:
            errors.append(SchemaError(str(file), 1, 1, problem))
    return files, errors


def _walk(directory: Path) -> Iterator[Path]:
    """The schema files under `directory`, and entries named like one that are directories."""
    for root, dirs, files in os.walk(directory):
        named_like_schemas = [name for name in dirs if name.endswith(SCHEMA_SUFFIXES)]
        dirs[:] = sorted(
            name for name in dirs if not name.startswith(".") and name not in named_like_schemas
        )
        for name in sorted([*files, *named_like_schemas]):
            if name.endswith(SCHEMA_SUFFIXES) and not name.startswith("."):
                yield Path(root, name)


def _identity(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _status_problem(status: os.stat_result) -> str | None:
    """Why a file of `status` is not read as a schema: not a regular file, too large."""
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(status.st_mode)), "special")
        return f"not a regular file but {kind}: schemas are read from regular files only"
    if status.st_size > MAX_FILE_BYTES:
        return f"file is too large ({status.st_size} bytes; the limit is {MAX_FILE_BYTES})"
    return None


def _file_problem(path: Path) -> str | None:
    """Why `path` (symlinks followed) cannot be read as a schema; None when it can."""
    try:
        status = path.stat()
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc.__class__.__name__}"
    return _status_problem(status)


class _Unreadable(Exception):
    """A schema file that is not read: the message says why."""


def _read_bounded(path: Path) -> bytes:
    """The bytes of the regular file `path`, at most `MAX_FILE_BYTES`; raises `_Unreadable`.

    The file is opened without blocking (a FIFO put in its place does not hang), checked
    to be a regular file on the open descriptor, and read no further than the limit.
    """
    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise _Unreadable(f"cannot read file: {exc.strerror or exc.__class__.__name__}") from exc
    try:
        problem = _status_problem(os.fstat(descriptor))
        if problem is not None:
            raise _Unreadable(problem)
        chunks: list[bytes] = []
        left = MAX_FILE_BYTES + 1
        while left > 0:
            chunk = os.read(descriptor, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise _Unreadable(f"cannot read file: {exc.strerror or exc.__class__.__name__}") from exc
    finally:
        os.close(descriptor)
    if left <= 0:
        raise _Unreadable(f"file is too large (more than the limit of {MAX_FILE_BYTES} bytes)")
    return b"".join(chunks)


def _load_file(path: Path) -> tuple[SchemaDocument | None, list[SchemaError]]:
    name = str(path)
    try:
        raw = _read_bounded(path)
    except _Unreadable as exc:
        return None, [SchemaError(name, 1, 1, str(exc))]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        message = f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        return None, [SchemaError(name, line, column, message)]
    return _Builder(path, text.removeprefix("\ufeff")).build()


class _Frame:
    """A mapping or sequence being built."""

    __slots__ = (
        "anchor",
        "expect_key",
        "is_key",
        "key",
        "key_path",
        "nodes_before",
        "record",
        "value",
    )

    def __init__(
        self,
        value: dict[str, Any] | list[Any],
        key_path: KeyPath,
        anchor: str | None,
        nodes_before: int,
        record: bool,
    ) -> None:
        self.value = value
        self.key_path = key_path
        self.anchor = anchor
        self.nodes_before = nodes_before
        self.record = record
        self.key: str | None = None  # mapping: the key whose value comes next
        self.expect_key = True
        self.is_key = False  # a mapping or list used as a key: reported, then dropped


class _Stop(Exception):
    """Raised inside `_Builder` when a file cannot be read any further."""


class _Builder:
    """Builds plain data and positions from a file's YAML events, without recursion."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text, self.restore = _protect(text)
        self.errors: list[SchemaError] = []
        self.locations: dict[KeyPath, tuple[int, int]] = {}
        self.value_locations: dict[KeyPath, tuple[int, int]] = {}
        self.key_locations: dict[int, dict[str, tuple[int, int]]] = {}
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.documents = 0
        self.root: Any = None
        self.root_position = (1, 1)

    def build(self) -> tuple[SchemaDocument | None, list[SchemaError]]:
        try:
            self._run()
        except _Stop:
            pass
        except yaml.MarkedYAMLError as exc:
            self._syntax_error(exc)
        except yaml.reader.ReaderError as exc:
            line, column = self._position_of(exc.position)
            code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
            message = f"invalid character U+{code:04X} (not allowed in YAML)"
            self._error(line, column, message)
        except yaml.YAMLError as exc:
            self._error(1, 1, f"invalid YAML: {exc}")
        except RecursionError:
            self._error(1, 1, "invalid YAML: nesting too deep")
        if self.errors:
            return None, self.errors
        if self.documents == 0:
            message = "file is empty: expected a mapping with 'domain' and 'aggregates'"
            self._error(1, 1, message)
            return None, self.errors
        if not isinstance(self.root, dict):
            line, column = self.root_position
            message = f"the top level must be a mapping, not {describe_value(self.root)}"
            self._error(line, column, message)
            return None, self.errors
        document = SchemaDocument(self.path, self.root, self.locations, self.value_locations)
        return document, []

    def _run(self) -> None:
        loader = _CoreSchemaLoader(self.text)
        try:
            while True:
                event: yaml.Event = loader.get_event()  # type: ignore[no-untyped-call]
                if isinstance(event, yaml.StreamEndEvent):
                    return
                if isinstance(event, yaml.DocumentStartEvent):
                    self.documents += 1
                    if self.documents > 1:
                        line, column = _mark(event.start_mark)
                        message = "a schema file holds one YAML document; found a second one"
                        self._error(line, column, message)
                        raise _Stop
                elif isinstance(event, yaml.ScalarEvent):
                    self._scalar(loader, event)
                elif isinstance(event, yaml.AliasEvent):
                    self._alias(event)
                elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                    self._start(event)
                elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                    self._end()
        finally:
            loader.dispose()

    # -- nodes ---------------------------------------------------------------

    def _scalar(self, loader: _CoreSchemaLoader, event: yaml.ScalarEvent) -> None:
        line, column = _mark(event.start_mark)
        if self.restore:
            event.value = event.value.translate(self.restore)
        tag = event.tag
        if tag is None or tag == "!":
            resolved = loader.resolve(  # type: ignore[no-untyped-call]
                yaml.ScalarNode, event.value, event.implicit
            )
            tag = str(resolved)
        elif tag != _STR:
            self._error(
                line, column, f"YAML tags are not supported (found {_short_tag(event.tag)})"
            )
            tag = _STR
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and parent.expect_key:
            if tag == _STR and event.value == "<<" and event.style is None:
                self._error(line, column, "merge keys ('<<') are not supported")
                self._set_key(parent, None, line, column)
            elif tag != _STR:
                value = self._convert(tag, event.value, line, column)
                message = f"keys must be strings, not {describe_value(value)}"
                self._error(line, column, message)
                self._set_key(parent, None, line, column)
            else:
                self._set_key(parent, event.value, line, column)
            if event.anchor is not None:
                self.anchors[event.anchor] = (event.value, 1)
            return
        value = self._convert(tag, event.value, line, column)
        self._count(1, line, column)
        self._place(value, line, column)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)

    def _alias(self, event: yaml.AliasEvent) -> None:
        line, column = _mark(event.start_mark)
        target = self.anchors.get(event.anchor or "")
        if target is None:
            self._error(line, column, f"undefined alias '*{event.anchor}'")
            raise _Stop
        value, size = target
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and parent.expect_key:
            if isinstance(value, str):
                self._set_key(parent, value, line, column)
            else:
                message = f"keys must be strings, not {describe_value(value)}"
                self._error(line, column, message)
                self._set_key(parent, None, line, column)
            return
        self._count(size, line, column)
        self._place(value, line, column)

    def _start(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        line, column = _mark(event.start_mark)
        is_mapping = isinstance(event, yaml.MappingStartEvent)
        if event.tag not in (None, "!", _MAP if is_mapping else _SEQ):
            self._error(
                line, column, f"YAML tags are not supported (found {_short_tag(event.tag)})"
            )
        if len(self.stack) >= MAX_DEPTH:
            self._error(line, column, f"nesting is deeper than {MAX_DEPTH} levels")
            raise _Stop
        parent = self.stack[-1] if self.stack else None
        record = parent is None or parent.record
        is_key = False
        if parent is not None and isinstance(parent.value, dict):
            if parent.expect_key:
                self._error(line, column, "keys must be strings, not mappings or lists")
                self._set_key(parent, None, line, column)
                is_key = True
            record = record and parent.key is not None
        key_path = self._child_path(parent)
        if record:
            self._record(key_path, line, column)
        self._count(1, line, column)
        value: dict[str, Any] | list[Any] = {} if is_mapping else []
        frame = _Frame(value, key_path, event.anchor, self.nodes, record)
        frame.is_key = is_key
        self.stack.append(frame)
        if is_mapping:
            self.key_locations[id(value)] = {}

    def _end(self) -> None:
        frame = self.stack.pop()
        size = self.nodes - frame.nodes_before + 1
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (frame.value, size)
        self.key_locations.pop(id(frame.value), None)
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            self.root = frame.value
        elif not frame.is_key:
            self._attach(parent, frame.value)

    # -- helpers -------------------------------------------------------------

    def _child_path(self, parent: _Frame | None) -> KeyPath:
        if parent is None:
            return ()
        if isinstance(parent.value, list):
            return (*parent.key_path, len(parent.value))
        return (*parent.key_path, parent.key if parent.key is not None else "")

    def _record(self, key_path: KeyPath, line: int, column: int) -> None:
        if not key_path:
            self.root_position = (line, column)
            self.locations[()] = (line, column)
        elif isinstance(key_path[-1], int):
            self.locations[key_path] = (line, column)
        self.value_locations[key_path] = (line, column)

    def _set_key(self, parent: _Frame, key: str | None, line: int, column: int) -> None:
        parent.expect_key = False
        parent.key = key
        if key is None:
            return
        seen = self.key_locations[id(parent.value)]
        first = seen.get(key)
        if first is not None:
            message = f"duplicate key {key!r} (first defined at line {first[0]})"
            self._error(line, column, message)
            parent.key = None
            return
        seen[key] = (line, column)
        if parent.record:
            self.locations[(*parent.key_path, key)] = (line, column)

    def _place(self, value: Any, line: int, column: int) -> None:
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            self.root = value
            self.root_position = (line, column)
            self.locations[()] = (line, column)
            return
        if parent.record and (isinstance(parent.value, list) or parent.key is not None):
            self._record(self._child_path(parent), line, column)
        self._attach(parent, value)

    def _attach(self, parent: _Frame, value: Any) -> None:
        if isinstance(parent.value, list):
            parent.value.append(value)
            return
        if parent.key is not None:
            parent.value[parent.key] = value
        parent.key = None
        parent.expect_key = True

    def _count(self, size: int, line: int, column: int) -> None:
        self.nodes += size
        if self.nodes > MAX_ALIAS_EXPANSION:
            message = f"document is too large: more than {MAX_ALIAS_EXPANSION} nodes"
            self._error(line, column, message + " once aliases are expanded")
            raise _Stop

    def _convert(self, tag: str, text: str, line: int, column: int) -> Any:
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text.lower() == "true"
        if tag == _INT:
            return self._integer(text, line, column)
        if tag == _FLOAT:
            number = float(text)
            if not math.isfinite(number):
                self._error(line, column, f"number {text} is out of range")
                return 0.0
            return number
        return text

    def _integer(self, text: str, line: int, column: int) -> int:
        try:
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text)
        except ValueError:
            self._error(line, column, "integer has too many digits")
            return 0

    def _syntax_error(self, exc: yaml.MarkedYAMLError) -> None:
        mark = exc.problem_mark or exc.context_mark
        line, column = _mark(mark) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "syntax error"
        message = f"invalid YAML: {problem}"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        self._error(line, column, message)

    def _position_of(self, index: int) -> tuple[int, int]:
        index = max(0, min(index, len(self.text)))
        line = self.text.count("\n", 0, index) + 1
        return line, index - (self.text.rfind("\n", 0, index) + 1) + 1

    def _error(self, line: int, column: int, message: str) -> None:
        self.errors.append(SchemaError(str(self.path), line, column, message))


def _short_tag(tag: str | None) -> str:
    text = str(tag)
    return "!!" + text.removeprefix(_PREFIX) if text.startswith(_PREFIX) else text


def _mark(mark: Any) -> tuple[int, int]:
    return int(mark.line) + 1, int(mark.column) + 1


def describe_value(value: object) -> str:
    """How an error names the kind of a YAML value: 'a mapping', 'an integer (3)'."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})" if abs(value) < 10**30 else "an integer"
    if isinstance(value, float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    return type(value).__name__
