"""Validation: the name rules: reserved names, clashes, generated names, name lengths."""

from __future__ import annotations

import keyword
import sys
from typing import Any

from .check_base import DocumentCheck
from .load import KeyPath
from .naming import snake_case
from .reserved import (
    BUILTIN_TYPES,
    DOCS_PAGE_SUFFIX,
    LONGEST_MODULE_SUFFIX,
    MAX_FILE_NAME,
    PYTHON_BUILTINS,
    RESERVED_CLASS_NAMES,
    RESERVED_DOMAIN_NAMES,
    RESERVED_NAMES,
    RUNTIME_IMPORTS,
)

__all__ = ["NameChecks"]


class NameChecks(DocumentCheck):
    """Names Python or aggregen reserve, names that clash, names too long for files."""

    def _domain(self) -> None:
        domain = self.document.data["domain"]
        if keyword.iskeyword(domain) or keyword.issoftkeyword(domain):
            self._value_error(("domain",), f"domain {domain!r} is a Python keyword")
        elif domain in RESERVED_DOMAIN_NAMES:
            if domain == "aggregen":
                shadowed = "aggregen"
            elif domain in sys.stdlib_module_names:
                shadowed = "a standard library module"
            elif domain in RUNTIME_IMPORTS:
                shadowed = f"the module {domain!r} that the runtime imports"
            else:
                shadowed = f"the module {domain!r} that the generator imports"
            message = f"domain {domain!r} is reserved: the package would shadow {shadowed}"
            self._value_error(("domain",), message)

    def _file_names(self) -> None:
        """Names that would make a file name longer than the file system takes."""
        domain: str = self.document.data["domain"]
        longest = len((domain + DOCS_PAGE_SUFFIX).encode())
        if longest > MAX_FILE_NAME:
            message = (
                f"domain name is too long ({len(domain)} characters): its docs page "
                f"'{domain[:20]}...{DOCS_PAGE_SUFFIX}' would have a file name of {longest} "
                f"bytes, and a file name has at most {MAX_FILE_NAME}"
            )
            self._value_error(("domain",), message)
        for name in self.aggregates:
            module = snake_case(name)
            longest = len((module + LONGEST_MODULE_SUFFIX).encode())
            if longest > MAX_FILE_NAME:
                message = (
                    f"aggregate name is too long ({len(name)} characters): its module "
                    f"'{module[:20]}...{LONGEST_MODULE_SUFFIX}' would have a file name of "
                    f"{longest} bytes, and a file name has at most {MAX_FILE_NAME}"
                )
                self._error(("aggregates", name), message)

    def _class_name(self, path: KeyPath, kind: str) -> bool:
        """Report a PascalCase name that Python or aggregen reserves; False if one is."""
        name = str(path[-1])
        if keyword.iskeyword(name):
            reason = "a Python keyword"
        elif name in BUILTIN_TYPES:
            reason = "a built-in field type"
        elif name in PYTHON_BUILTINS:
            reason = "the name of a Python builtin"
        elif name in RESERVED_CLASS_NAMES:
            reason = "reserved by aggregen (generated code uses it)"
        else:
            return True
        self._error(path, f"{kind} name {name!r} is {reason}")
        return False

    def _member_name(self, path: KeyPath, kind: str, *, identifier: bool = False) -> bool:
        """Report a snake_case name that Python or aggregen reserves; False if one is."""
        name = str(path[-1])
        if keyword.iskeyword(name):
            message = f"{kind} name {name!r} is a Python keyword"
        elif keyword.issoftkeyword(name):
            message = f"{kind} name {name!r} is a Python soft keyword"
        elif name == "id":
            if identifier:
                return True
            if kind == "field" and path[0] == "aggregates" and len(path) == 4:
                message = (
                    "field name 'id' is reserved: mark the field 'identifier: true' or rename it"
                )
            else:
                message = f"{kind} name 'id' is reserved for the aggregate's identifier"
        elif name in RESERVED_NAMES:
            message = f"{kind} name {name!r} is reserved by aggregen (generated code uses it)"
        else:
            return True
        self._error(path, message)
        return False

    def _namespace(self) -> None:
        seen: dict[str, tuple[str, KeyPath]] = {}
        kinds = (
            ("value_objects", "value object"),
            ("enums", "enum"),
            ("aggregates", "aggregate"),
        )
        entries = [
            (self.document.locate((key, name)), (key, name), kind)
            for key, kind in kinds
            for name in self.document.data.get(key) or {}
        ]
        for _position, path, kind in sorted(entries):
            name = str(path[1])
            first = seen.get(name)
            if first is not None:
                self._error(path, f"{kind} {name!r} has the same name as {first[0]} {name!r}")
            else:
                seen[name] = (kind, path)
        modules: dict[str, str] = {}
        for name in self.aggregates:
            other = modules.setdefault(name.lower(), name)
            if other != name:
                message = (
                    f"aggregate {name!r} differs from aggregate {other!r} only in letter case "
                    "(their generated modules would clash)"
                )
                self._error(("aggregates", name), message)
        for name in self.aggregates:
            base = name.removesuffix("Behavior")
            if base != name and base.lower() in modules:
                owner = modules[base.lower()]
                message = (
                    f"aggregate {name!r} would generate module {snake_case(name)!r}, the "
                    f"hand-written behavior module of aggregate {owner!r}"
                )
                self._error(("aggregates", name), message)

    def _apply_methods(self, base: KeyPath, aggregate: dict[str, Any]) -> None:
        """`apply_<event>` methods: one per event, not the name of a field or command."""
        methods: dict[str, str] = {}
        for event_name in aggregate["events"]:
            method = f"apply_{snake_case(event_name)}"
            other = methods.setdefault(method, event_name)
            if other != event_name:
                message = (
                    f"event {event_name!r} would get the apply method {method!r} of event {other!r}"
                )
                self._error((*base, "events", event_name), message)
        for kind, key in (("field", "fields"), ("command", "commands")):
            for name in aggregate.get(key) or {}:
                if name in methods:
                    message = (
                        f"{kind} name {name!r} is the apply method of event {methods[name]!r} "
                        "(generated code uses it)"
                    )
                    self._error((*base, key, name), message)

    def _generated_names(self) -> None:
        """Names the generator makes must not be schema names: classes and modules."""
        made: dict[str, str] = {}
        for name in self.aggregates:
            made[f"{name}Base"] = f"the base class of aggregate {name!r}"
            made[f"{name}Repository"] = f"the repository of aggregate {name!r}"
            made[f"Async{name}Repository"] = f"the async repository of aggregate {name!r}"
            made[f"{name}Handler"] = f"the event handler of aggregate {name!r}"
            made[f"Async{name}Handler"] = f"the async event handler of aggregate {name!r}"
        places: list[tuple[KeyPath, str]] = [
            *((("value_objects", n), "value object") for n in self.value_objects),
            *((("enums", n), "enum") for n in self.enums),
            *((("aggregates", n), "aggregate") for n in self.aggregates),
        ]
        for aggregate_name, aggregate in self.aggregates.items():
            places += [
                (("aggregates", aggregate_name, "events", n), "event") for n in aggregate["events"]
            ]
        events: dict[str, str] = {}
        for path, kind in sorted(places, key=lambda place: self.document.locate(place[0])):
            name = str(path[-1])
            if name in made:
                self._error(path, f"{kind} name {name!r} is {made[name]}")
            if kind == "event":
                first = events.setdefault(name, str(path[1]))
                if first != path[1]:
                    message = (
                        f"event {name!r} is also an event of aggregate {first!r} "
                        "(event names are unique within the domain)"
                    )
                    self._error(path, message)
        if self.value_objects or self.enums:
            for name in self.aggregates:
                if snake_case(name) == "values":
                    message = (
                        f"aggregate {name!r} would generate module 'values', the module of the "
                        "domain's value objects and enums"
                    )
                    self._error(("aggregates", name), message)
