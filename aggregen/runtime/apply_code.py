"""A fingerprint of the code that turns an aggregate's events into its state.

A snapshot may only be used while replaying its stream would give the same state.
The schema's part of that is the generated `_state_shape()`; this module adds the
code: the source of every method a replay can reach, in the generated base class
and in the hand-written classes above it, and of the functions of the same package
those methods (and the events' `upcast`) call. It starts from `apply`, the
`apply_<event>` methods, `_init_state`, `_restore_state` and `_snapshot_state`, and
follows `self.x`, `cls.x`, `super().x`, plain names and `module.x`. Source is
compared as parsed (`ast.unparse`, docstrings dropped): comments, blank lines and
formatting change nothing; any other edit gives new snapshots, and old ones are
ignored, which costs a replay, never a wrong state.

Code it cannot follow (another package, data the apply code reads) is covered by
`__behavior_version__`: a class attribute to raise when such a change alters what
events do to the state. Without source files (only `.pyc`), the compiled code is
fingerprinted instead, which changes with the Python version too.
"""

from __future__ import annotations

import ast
import hashlib
import linecache
import sys
import types
from collections.abc import Iterator
from typing import Any

__all__ = ["apply_code_fingerprint"]

_ROOTS = ("apply", "_init_state", "_restore_state", "_snapshot_state")


def apply_code_fingerprint(cls: type, stop: type) -> str:
    """The hex SHA-256 of the apply code of `cls` (classes of its MRO below `stop`)."""
    mro = cls.__mro__
    classes = list(mro[: mro.index(stop)] if stop in mro else mro[:-1])
    package = cls.__module__.split(".")[0]
    walker = _Walker(classes, package)
    for name in _roots(classes):
        walker.method(name)
    for event_class in dict(getattr(cls, "__events__", {}) or {}).values():
        upcast = vars(event_class).get("upcast")
        if upcast is not None:
            function = _unwrap(upcast)
            if isinstance(function, types.FunctionType):
                walker.function(f"{event_class.__qualname__}.upcast", function)
    digest = hashlib.sha256()
    digest.update(_stable(getattr(cls, "__behavior_version__", None)).encode())
    for key in sorted(walker.seen):
        digest.update(f"\0{key}\0{walker.seen[key]}".encode())
    return digest.hexdigest()


def _roots(classes: list[type]) -> Iterator[str]:
    yield from _ROOTS
    for k in classes:
        for name in vars(k):
            if name.startswith("apply_"):
                yield name


def _unwrap(value: Any) -> Any:
    if isinstance(value, classmethod | staticmethod):
        return value.__func__
    if isinstance(value, property):
        return value.fget
    return value


class _Walker:
    """Collects the source of every function reachable from the roots, once each."""

    def __init__(self, classes: list[type], package: str) -> None:
        self.classes = classes
        self.package = package
        self.seen: dict[str, str] = {}

    def method(self, name: str) -> None:
        for k in self.classes:
            found = vars(k).get(name)
            if found is None:
                continue
            key = f"{k.__module__}.{k.__qualname__}.{name}"
            function = _unwrap(found)
            if isinstance(function, types.FunctionType):
                self.function(key, function)
            else:
                self.seen.setdefault(key, _stable(function))

    def function(self, key: str, function: types.FunctionType) -> None:
        if key in self.seen:
            return
        tree = _parsed(function)
        if tree is None:
            self.seen[key] = _compiled(function)
            return
        self.seen[key] = ast.unparse(tree)
        namespace = getattr(function, "__globals__", {})
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                self._attribute(node, namespace)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self._global(namespace.get(node.id))

    def _attribute(self, node: ast.Attribute, namespace: dict[str, Any]) -> None:
        owner = node.value
        if (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) or (
            isinstance(owner, ast.Call) and getattr(owner.func, "id", None) in ("super", "type")
        ):
            self.method(node.attr)
        elif isinstance(owner, ast.Name):
            module = namespace.get(owner.id)
            if isinstance(module, types.ModuleType):
                self._global(getattr(module, node.attr, None))

    def _global(self, value: object) -> None:
        """Follow a function of the aggregate's own package (a helper, an upcaster)."""
        if isinstance(value, types.FunctionType) and self._own(value.__module__):
            self.function(f"{value.__module__}.{value.__qualname__}", value)

    def _own(self, module: str | None) -> bool:
        return module is not None and module.split(".")[0] == self.package


def _parsed(function: types.FunctionType) -> ast.AST | None:
    """The function's definition, parsed, without docstrings; None without source."""
    code = function.__code__
    index = _definitions(code.co_filename, function.__globals__)
    return None if index is None else index.get(code.co_firstlineno)


_trees: dict[str, dict[int, ast.AST] | None] = {}


def _definitions(filename: str, module_globals: dict[str, Any]) -> dict[int, ast.AST] | None:
    """First line (of its decorators, else of `def`) -> definition, for a source file.

    Each file is read and parsed once (the functions' docstrings dropped); None
    when it has no readable source. Cheaper than `inspect.getsource`, which tokenizes per function.
    """
    if filename in _trees:
        return _trees[filename]
    index: dict[int, ast.AST] | None = None
    lines = linecache.getlines(filename, module_globals)
    if lines:
        try:
            tree = ast.parse("".join(lines))
        except (SyntaxError, ValueError):
            tree = None
        if tree is not None:
            index = {}
            nodes = list(tree.body)
            while nodes:  # module-level functions and methods, in classes at any depth
                node = nodes.pop()
                if isinstance(node, ast.ClassDef):
                    nodes.extend(node.body)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    index[first] = node
                    _drop_docstring(node)
    _trees[filename] = index
    return index


def _drop_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        node.body = body[1:] or [ast.Pass()]


def _compiled(function: types.FunctionType) -> str:
    """A stand-in for source: the compiled code, without file names and line numbers."""
    return f"{sys.version_info[:2]}:{_code(function.__code__)}"


def _code(code: types.CodeType) -> str:
    consts = tuple(_code(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts)
    return repr((code.co_code.hex(), consts, code.co_names, code.co_varnames))


def _stable(value: object) -> str:
    """Text for a class attribute that is no function, the same in every process.

    Plain data is shown as it is (sets sorted); anything else only by its type, as
    its `repr` may hold a memory address.
    """
    if value is None or isinstance(value, str | int | float | bytes):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_stable(item) for item in value) + "]"
    if isinstance(value, set | frozenset):
        return "{" + ",".join(sorted(_stable(item) for item in value)) + "}"
    if isinstance(value, dict):
        items = sorted(f"{_stable(k)}:{_stable(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, type):
        return f"<class {value.__module__}.{value.__qualname__}>"
    return f"<{type(value).__module__}.{type(value).__qualname__}>"
