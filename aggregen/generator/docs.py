"""`aggregen docs`: a Markdown page per domain, for reviewers.

Each page has the domain's description, a Mermaid flowchart (per aggregate: its
commands, the events they raise, the aggregate the events apply to), then a table
per aggregate state, command list and event (fields, types, required, default, the
state field each sets (`maps`), the versions each field exists in, from the lock
file, with an enum's allowed values per version where they differ) and the value
objects and enums. Regex patterns and enum values are shown in code spans.

Output is deterministic: schema order, no timestamps, `\\n` line ends. Every string
from a schema is escaped for Markdown (and for Mermaid in the diagram), so a
description cannot inject markup, links or HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aggregen.generator.atomic import replace_text
from aggregen.review.lock import Lock
from aggregen.review.wire_shape import AggregateShape, Document, EventShape, domain_shapes

__all__ = [
    "check_docs",
    "markdown_cell",
    "markdown_code",
    "markdown_text",
    "mermaid_label",
    "render_docs",
    "write_docs",
]

_PROSE_SPECIALS = re.compile(r"([\\`*_\[\]{}|~#!])")
_LINE_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+=>])")
_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 _.,:/()\-]")


def markdown_text(text: str) -> str:
    """`text` as literal Markdown prose: HTML and Markdown syntax escaped, paragraphs kept."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]
    return "\n\n".join(_escape_line(p) for p in paragraphs if p)


def markdown_cell(text: str) -> str:
    """`text` as the literal content of a Markdown table cell (one line)."""
    return _escape_line(" ".join(text.split()))


def _escape_line(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _PROSE_SPECIALS.sub(r"\\\1", escaped)
    return _LINE_START.sub(
        lambda m: f"{m[1]}{m[2]}\\{m[3]}" if m[2] is not None else f"{m[4]}\\{m[5]}", escaped
    )


def markdown_code(text: str) -> str:
    """`text` as an inline code span that is safe in a table cell."""
    body = " ".join(text.split("\n")).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or body.startswith(" ") or body.endswith(" ") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def mermaid_label(text: str) -> str:
    """`text` for a quoted Mermaid label: anything unusual becomes an entity code."""
    return "".join(c if _MERMAID_SAFE.fullmatch(c) else f"#{ord(c)};" for c in text)


def render_docs(documents: Sequence[Document], lock: Lock | None = None) -> dict[str, str]:
    """File name (`<domain>.md`) -> Markdown page, for every domain of `documents`."""
    locked = _locked_fields(lock)
    pages = {}
    for name, shape in sorted(domain_shapes(documents).items()):
        pages[f"{name}.md"] = _Page(shape.document, shape.aggregates, locked).render()
    return pages


def write_docs(
    documents: Sequence[Document], out: str | Path, lock: Lock | None = None
) -> list[Path]:
    """Write the pages into `out`; only changed files are written, each replaced whole
    (`atomic.replace_text`: never left half written). Returns those written."""
    directory = Path(out)
    written = []
    for name, text in render_docs(documents, lock).items():
        target = directory / name
        try:
            if target.read_text(encoding="utf-8") == text:
                continue
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        replace_text(target, text, ".aggregen-docs-")
        written.append(target)
    return written


def check_docs(
    documents: Sequence[Document], out: str | Path, lock: Lock | None = None
) -> list[Path]:
    """The pages in `out` that are missing or differ from what `write_docs` would write."""
    stale = []
    for name, text in render_docs(documents, lock).items():
        target = Path(out) / name
        try:
            current = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current != text:
            stale.append(target)
    return stale


_Fields = Mapping[str, Mapping[str, Any]]
"""Field name -> wire descriptor, of one event version."""
_Locked = Mapping[tuple[str, str, str], Mapping[int, _Fields]]


def _locked_fields(lock: Lock | None) -> _Locked:
    """(domain, aggregate, wire type) -> version -> its fields, from the lock."""
    found: dict[tuple[str, str, str], dict[int, _Fields]] = {}
    if lock is not None:
        for event in lock.events():
            key = (event.domain, event.aggregate, event.type_name)
            found.setdefault(key, {})[event.version] = event.fields
    return found


def _ranges(versions: Iterable[int]) -> str:
    ordered = sorted(set(versions))
    parts: list[str] = []
    start = previous = ordered[0] if ordered else 0
    for version in ordered[1:]:
        if version != previous + 1:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
            start = version
        previous = version
    if ordered:
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
    return ", ".join(parts)


def _type_text(spec: Mapping[str, Any]) -> str:
    """A field's type and rules as Markdown for a table cell; enum values and patterns as code."""
    name = str(spec.get("schema_type", spec.get("kind")))
    if name == "List":
        text = f"List of {_type_text(spec.get('items', {}))}"
    elif name == "Enum":
        text = "Enum of " + _values_text(spec.get("values", []))
    else:
        text = markdown_cell(name)
    return text + _rules_text(spec)


def _rules_text(spec: Mapping[str, Any]) -> str:
    """` (max_length 50, pattern `[a-z]+`)`, or "" for a field without rules."""
    rules = [
        f"pattern {markdown_code(str(spec[key]))}"
        if key == "pattern"
        else markdown_cell(f"{key} {spec[key]}")
        for key in ("min_length", "max_length", "pattern", "min", "max")
        if key in spec
    ]
    return f" ({', '.join(rules)})" if rules else ""


def _values_text(values: Iterable[object]) -> str:
    return ", ".join(markdown_code(str(v)) for v in values)


def _enum_values(spec: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The allowed values of an Enum field (or a List of Enum), else None."""
    if spec is None:
        return None
    if spec.get("kind") == "List":
        return _enum_values(spec.get("items"))
    if spec.get("kind") == "Enum":
        return tuple(sorted(str(v) for v in spec.get("values", [])))
    return None


def _versions_text(found: Mapping[int, Mapping[str, Any]]) -> str:
    """The versions a field exists in; per group of versions its enum values if they
    differ (and its type, in the versions where it was not an enum)."""
    values = {version: _enum_values(spec) for version, spec in found.items()}
    if len(set(values.values())) <= 1:
        return _ranges(found)
    groups: dict[str, list[int]] = {}
    for version in sorted(values):
        allowed = values[version]
        shown = _type_text(found[version]) if allowed is None else _values_text(allowed)
        groups.setdefault(shown, []).append(version)
    parts = sorted(groups.items(), key=lambda item: min(item[1]))
    return "; ".join(f"{_ranges(versions)}: {shown}" for shown, versions in parts)


def _default_text(spec: Mapping[str, Any]) -> str:
    if "default" not in spec:
        return ""
    return markdown_code(json.dumps(spec["default"], ensure_ascii=False))


def _state_targets(aggregate: AggregateShape, event: EventShape) -> dict[str, str]:
    """Event field -> the state field its generated apply sets, as Markdown (`maps`).

    The same rule as the generated `apply_<event>`: a field sets the state field its
    `maps` entry names, else the one of its own name; null sets none. An optional
    event field sets a state field that has a default only when it is not null.
    """
    node: Any = aggregate.document.data
    for key in (*event.key_path, "maps"):
        node = node.get(key) if isinstance(node, dict) else None
    maps = node if isinstance(node, dict) else {}
    targets = {}
    for name, spec in event.fields.items():
        target = maps.get(name, name)
        if not isinstance(target, str) or target not in aggregate.state:
            continue  # mapped to null, or no state field (the identifier is not state)
        shown = markdown_code(target)
        optional = spec.get("presence") == "optional"
        if optional and aggregate.state[target].get("presence") == "default":
            shown += " (when not null)"
        targets[name] = shown
    return targets


def _description(document: Document, key_path: Sequence[str | int]) -> str:
    node: Any = document.data
    for key in key_path:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        text = node.get("description")
        return text if isinstance(text, str) else ""
    return ""


class _Page:
    def __init__(
        self, document: Document, aggregates: Sequence[AggregateShape], locked: _Locked
    ) -> None:
        self.document = document
        self.aggregates = aggregates
        self.locked = locked
        self.lines: list[str] = []

    def render(self) -> str:
        data = self.document.data
        domain = str(data.get("domain"))
        source = mermaid_label(self.document.path.name).replace("#45;", "-")
        self.lines += [
            f"<!-- Generated by aggregen from {source}: do not edit, run `aggregen docs`. -->",
            "",
            f"# Domain {markdown_cell(domain)}",
            "",
        ]
        intro = data.get("description")
        if isinstance(intro, str) and intro.strip():
            self.lines += [markdown_text(intro), ""]
        self.lines += [
            "Commands raise events; events are stored for ever and applied to their "
            "aggregate. The tables list each event's fields, the state field each sets "
            "(`maps`) and the versions each exists in, with an enum's values per version "
            "where they differ.",
            "",
        ]
        self._diagram()
        for aggregate in self.aggregates:
            self._aggregate(aggregate)
        self._value_objects()
        self._enums()
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"

    def _diagram(self) -> None:
        lines = ["```mermaid", "flowchart LR"]
        for a_index, aggregate in enumerate(self.aggregates):
            node = f"a{a_index}"
            title = f"{aggregate.name} (stream {aggregate.category})"
            lines.append(f'  subgraph {node}s["{mermaid_label(title)}"]')
            lines.append("    direction LR")
            lines.append(f'    {node}[("{mermaid_label(aggregate.name)}")]')
            events = {event.name: f"{node}e{i}" for i, event in enumerate(aggregate.events)}
            for event in aggregate.events:
                label = f"{event.name} v{event.version}"
                lines.append(f'    {events[event.name]}[["{mermaid_label(label)}"]]')
            for c_index, command in enumerate(aggregate.commands):
                label = f"{command.name}()" + (" creates" if command.creates else "")
                lines.append(f'    {node}c{c_index}(["{mermaid_label(label)}"])')
            for c_index, command in enumerate(aggregate.commands):
                if command.event in events:
                    lines.append(f"    {node}c{c_index} --> {events[command.event]}")
            for event in aggregate.events:
                lines.append(f"    {events[event.name]} -.-> {node}")
            lines.append("  end")
        lines.append("```")
        self.lines += [*lines, ""]

    def _table(self, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join(" --- " for _ in header) + "|")
        for row in rows:
            self.lines.append("| " + " | ".join(row) + " |")
        self.lines.append("")

    def _aggregate(self, aggregate: AggregateShape) -> None:
        self.lines += [f"## Aggregate {markdown_cell(aggregate.name)}", ""]
        description = _description(self.document, aggregate.key_path)
        if description:
            self.lines += [markdown_text(description), ""]
        threshold = aggregate.snapshot_threshold
        snapshots = (
            "the runtime's default snapshot threshold"
            if threshold is None
            else "no snapshots"
            if threshold == 0
            else f"a snapshot every {threshold} events"
        )
        self.lines += [
            f"Stream category {markdown_code(aggregate.category)}, identifier "
            f"{markdown_code(aggregate.identifier_name)} "
            f"({markdown_cell(aggregate.identifier_type)}), {snapshots}.",
            "",
        ]
        if aggregate.state:
            self.lines += ["### State", ""]
            self._table(
                ("Field", "Type", "Default", "Description"),
                (
                    (
                        markdown_code(name),
                        _type_text(spec),
                        _default_text(spec),
                        markdown_cell(
                            _description(self.document, (*aggregate.key_path, "fields", name))
                        ),
                    )
                    for name, spec in aggregate.state.items()
                ),
            )
        if aggregate.commands:
            self.lines += ["### Commands", ""]
            self._table(
                ("Command", "Raises", "Kind", "Description"),
                (
                    (
                        markdown_code(f"{command.name}()"),
                        markdown_cell(command.event),
                        "creates the aggregate" if command.creates else "on an aggregate",
                        markdown_cell(_description(self.document, command.key_path)),
                    )
                    for command in aggregate.commands
                ),
            )
        for event in aggregate.events:
            self._event(aggregate, event)

    def _event(self, aggregate: AggregateShape, event: EventShape) -> None:
        history: dict[int, _Fields] = {}
        for type_name in event.wire_names():
            history.update(self.locked.get((event.domain, aggregate.name, type_name), {}))
        history = {v: fields for v, fields in history.items() if v < event.version}
        history[event.version] = event.fields
        sets = _state_targets(aggregate, event)
        self.lines += [f"### Event {markdown_cell(event.name)}", ""]
        description = _description(self.document, event.key_path)
        if description:
            self.lines += [markdown_text(description), ""]
        facts = [
            f"Wire type {markdown_code(event.type_name)}, version {event.version}",
        ]
        if event.aliases:
            facts.append("also read as " + ", ".join(markdown_code(a) for a in event.aliases))
        known = sorted(history)
        facts.append(f"versions known: {_ranges(known)}")
        if event.hand_written_upcast:
            listed = ", ".join(str(v) for v in event.hand_written_upcast)
            facts.append(f"hand-written upcaster from version {listed}")
        self.lines += ["; ".join(facts) + ".", ""]
        rows = []
        for name, spec in event.fields.items():
            names = (name, *spec.get("aliases", []))
            found = {
                v: next(fields[n] for n in names if n in fields)
                for v, fields in history.items()
                if any(n in fields for n in names)
            }
            shown = markdown_code(name)
            if spec.get("aliases"):
                shown += " (was " + ", ".join(markdown_code(a) for a in spec["aliases"]) + ")"
            rows.append(
                (
                    shown,
                    _type_text(spec),
                    "yes" if spec.get("presence") == "required" else "no",
                    _default_text(spec),
                    sets.get(name, ""),
                    _versions_text(found),
                    markdown_cell(_description(self.document, (*event.key_path, "fields", name))),
                )
            )
        dropped = sorted(
            {n for v, fields in history.items() if v < event.version for n in fields}
            - {
                n
                for spec_name, spec in event.fields.items()
                for n in (spec_name, *spec.get("aliases", []))
            }
        )
        for name in dropped:
            found = {v: fields[name] for v, fields in history.items() if name in fields}
            rows.append(
                (f"{markdown_code(name)} (dropped)", "", "", "", "", _versions_text(found), "")
            )
        if rows:
            self._table(
                ("Field", "Type", "Required", "Default", "Sets", "Versions", "Description"), rows
            )
        else:
            self.lines += ["No fields.", ""]

    def _value_objects(self) -> None:
        value_objects = self.document.data.get("value_objects")
        if not isinstance(value_objects, dict) or not value_objects:
            return
        self.lines += ["## Value objects", ""]
        for name, raw in value_objects.items():
            self.lines += [f"### {markdown_cell(name)}", ""]
            description = raw.get("description") if isinstance(raw, dict) else None
            if isinstance(description, str) and description.strip():
                self.lines += [markdown_text(description), ""]
            fields = raw.get("fields") if isinstance(raw, dict) else None
            rows = []
            for field_name, field_raw in (fields or {}).items():
                spec = field_raw if isinstance(field_raw, dict) else {"type": field_raw}
                type_text = markdown_cell(str(spec.get("type"))) + _rules_text(spec)
                default = ""
                if "default" in spec:
                    default = markdown_code(json.dumps(spec["default"], ensure_ascii=False))
                rows.append(
                    (
                        markdown_code(field_name),
                        type_text,
                        "yes" if spec.get("required") is True else "no",
                        default,
                        markdown_cell(str(spec.get("description", ""))),
                    )
                )
            self._table(("Field", "Type", "Required", "Default", "Description"), rows)

    def _enums(self) -> None:
        enums = self.document.data.get("enums")
        if not isinstance(enums, dict) or not enums:
            return
        self.lines += ["## Enums", ""]
        rows = []
        for name, raw in enums.items():
            raw = raw if isinstance(raw, dict) else {}
            values = raw.get("values") if isinstance(raw.get("values"), list) else []
            rows.append(
                (
                    markdown_cell(name),
                    _values_text(values or []),
                    markdown_cell(str(raw.get("description", ""))),
                )
            )
        self._table(("Enum", "Values", "Description"), rows)
