"""Part of the model stage: the decisions for one aggregate.

Its events, state, apply methods and commands, the three modules generated for it
(`<name>_base.py`, `<name>.py` and the hand-written `<name>_behavior.py`), and the
names each of them defines, claimed in the domain's namespaces.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from .fieldmodel import (
    Field,
    claim_fields,
    decode,
    described,
    encode,
    field_imports,
    field_model,
    mapping,
    resolve_fields,
    text,
)
from .fieldtypes import TypeContext, field_spec, type_shape
from .literals import literal
from .modeltypes import (
    AggregateModel,
    ApplyHandler,
    CommandModel,
    EventModel,
    HandlerClass,
    HandlerMethod,
    IdentifierProperty,
    RepositoryClass,
    StateField,
)
from .namespace import (
    AGGREGATE_ATTRIBUTES,
    EVENT_ATTRIBUTES,
    RUNTIME,
    SHADOWING,
    VALIDATION_ALIAS,
    VALIDATION_IMPORT,
    Namespace,
    Problems,
    import_sections,
    reserved,
    sorted_names,
)
from .naming import docstring, snake_case
from .upcastmodel import UpcastBuilder

__all__ = ["AggregateBuilder"]

KeyPath = tuple[str | int, ...]


class AggregateBuilder:
    """Builds `AggregateModel`s of one domain, claiming names in the domain's namespaces."""

    def __init__(
        self,
        problems: Problems,
        classes: Namespace,
        modules: Namespace,
        context: TypeContext,
        fingerprints: Mapping[str, str],
    ) -> None:
        """`fingerprints`: aggregate name -> its snapshot fingerprint (`snapshot_fingerprint`)."""
        self.problems = problems
        self.classes = classes
        self.modules = modules
        self.context = context
        self.fingerprints = fingerprints

    def _fields(
        self, raw_fields: Mapping[str, Any], key_path: KeyPath, *, state: bool = False
    ) -> list[Field]:
        return resolve_fields(self.problems, self.context, raw_fields, key_path, state=state)

    def _claim_fields(self, namespace: Namespace, fields: Sequence[Field]) -> None:
        claim_fields(namespace, fields)

    def build(self, name: str, raw: Mapping[str, Any]) -> AggregateModel:
        """The model of the aggregate `name`; its problems go to the shared `Problems`."""
        key_path: KeyPath = ("aggregates", name)
        module = snake_case(name)
        names = {
            "base": f"{name}Base",
            "repository": f"{name}Repository",
            "async_repository": f"Async{name}Repository",
            "handler": f"{name}Handler",
            "async_handler": f"Async{name}Handler",
        }
        self.classes.claim(name, "the aggregate", key_path)
        self.classes.claim(names["base"], f"the base class of {name}", key_path)
        self.classes.claim(names["repository"], f"the repository of {name}", key_path)
        self.classes.claim(names["async_repository"], f"the async repository of {name}", key_path)
        self.classes.claim(names["handler"], f"the event handler of {name}", key_path)
        self.classes.claim(names["async_handler"], f"the async event handler of {name}", key_path)
        for suffix, what in (
            ("", "module"),
            ("_base", "base module"),
            ("_behavior", "behaviour module"),
            ("_upcasters", "upcasters module"),
        ):
            self.modules.claim(module + suffix, f"the {what} of {name}", key_path)
        upcasters_module = f"{module}_upcasters"
        upcaster = UpcastBuilder(
            {enum.name: enum.value_aliases for enum in self.context.enums.values()},
            self.context.value_objects,
            upcasters_module,
            self.context.wire_casing,
        )

        raw_fields = mapping(raw.get("fields"))
        identifier_name = "id"
        identifier_kind = "Identifier"
        explicit_identifier = False
        for field_name, field_raw in raw_fields.items():
            spec = field_spec(field_raw)
            if spec.get("identifier"):
                identifier_name = field_name
                identifier_kind = str(spec.get("type"))
                explicit_identifier = True
        state_raw = {
            k: v for k, v in raw_fields.items() if k != identifier_name or not explicit_identifier
        }
        identifier_rule: tuple[str, frozenset[tuple[str, str]]] | None = None
        # The implicit `id` is an Identifier too: a creating command checks it as one.
        identifier_raw = raw_fields[identifier_name] if explicit_identifier else "Identifier"
        found = self._fields({identifier_name: identifier_raw}, (*key_path, "fields"))
        if found:
            info = found[0].info
            identifier_rule = (info.rule, info.rules | {VALIDATION_IMPORT})
        state = self._fields(state_raw, (*key_path, "fields"), state=True)
        attributes = Namespace(
            self.problems,
            f"the aggregate {name}",
            reserved(
                (AGGREGATE_ATTRIBUTES - {identifier_name}) | SHADOWING,
                "a name the aggregate's base class uses",
            ),
        )
        if identifier_name != "id":
            attributes.claim(
                identifier_name, "the identifier", (*key_path, "fields", identifier_name)
            )
        self._claim_fields(attributes, state)
        state_by_name = {f.name: f for f in state}

        events_raw = mapping(raw.get("events"))
        events: list[EventModel] = []
        event_fields: dict[str, list[Field]] = {}
        event_sets: dict[str, dict[str, Field]] = {}
        handlers: list[ApplyHandler] = []
        wire_types: Namespace = Namespace(self.problems, f"the aggregate {name}", {})
        event_types: list[str] = []
        for event_name in events_raw:
            event_path: KeyPath = (*key_path, "events", event_name)
            event_raw = mapping(events_raw[event_name])
            self.classes.claim(event_name, f"the event {name}.{event_name}", event_path)
            fields = self._fields(mapping(event_raw.get("fields")), (*event_path, "fields"))
            event_fields[event_name] = fields
            namespace = Namespace(
                self.problems,
                f"the event {event_name}",
                reserved(EVENT_ATTRIBUTES | SHADOWING, "a name the generated event uses"),
            )
            self._claim_fields(namespace, fields)
            type_name = event_raw.get("type", event_name)
            type_name = type_name if isinstance(type_name, str) else event_name
            if type_name in wire_types.taken:
                self.problems.add(
                    (*event_path, "type"),
                    f"wire type {type_name!r} is also the type of {wire_types.taken[type_name]}",
                )
            wire_types.taken[type_name] = f"the event {event_name}"
            event_types.append(f"{literal(type_name)}: {event_name}")
            version = event_raw.get("version", 1)
            version = version if isinstance(version, int) and not isinstance(version, bool) else 1
            aliases = [a for a in event_raw.get("aliases") or () if isinstance(a, str)]
            for index, alias in enumerate(aliases):
                if alias in wire_types.taken:
                    self.problems.add(
                        (*event_path, "aliases", index),
                        f"event alias {alias!r} is also the wire type of {wire_types.taken[alias]}",
                    )
                    continue
                wire_types.taken[alias] = f"the event {event_name} (an alias)"
                event_types.append(f"{literal(alias)}: {event_name}")
            events.append(
                EventModel(
                    name=event_name,
                    docstring=docstring(
                        *described(
                            f"The {event_name} event of {name}.",
                            event_raw.get("description"),
                            fields,
                        ),
                        indent=4,
                    ),
                    type_name=literal(type_name),
                    version=version,
                    subject=literal(f"{event_name} event"),
                    fields=tuple(field_model(f) for f in fields),
                    setters=f"_{snake_case(event_name).upper()}_SETTERS",
                    upcast=upcaster.event(event_name, event_raw, version),
                )
            )
            maps = mapping(event_raw.get("maps"))
            copies = self._copies(event_path, fields, maps, state_by_name, identifier_name)
            event_sets[event_name] = _set_by(fields, maps, state_by_name, identifier_name)
            method = f"apply_{snake_case(event_name)}"
            attributes.claim(method, f"the apply method of {event_name}", event_path)
            handlers.append(
                ApplyHandler(
                    method=method,
                    event=event_name,
                    docstring=docstring(
                        f"Apply {event_name}: "
                        + ("copy its fields onto the state." if copies else "change nothing."),
                        "Override it in the hand-written class to change the state otherwise.",
                        indent=8,
                    ),
                    statements=tuple(copies),
                )
            )

        identifier_type = {"Integer": "int"}.get(identifier_kind, "str")
        commands: list[CommandModel] = []
        for command_name, command_raw in mapping(raw.get("commands")).items():
            command_path: KeyPath = (*key_path, "commands", command_name)
            attributes.claim(command_name, "the command", command_path)
            command = self._command(
                command_name,
                mapping(command_raw),
                command_path,
                event_fields,
                identifier_name,
                identifier_kind,
                identifier_type,
                None if identifier_rule is None else identifier_rule[0],
                literal(f"{name} {identifier_name}"),
            )
            if command is not None:
                commands.append(command)

        category = raw.get("category")
        if not isinstance(category, str):
            category = name[:1].lower() + name[1:]
        threshold = raw.get("snapshot_threshold")
        threshold_src = (
            repr(threshold)
            if isinstance(threshold, int) and not isinstance(threshold, bool)
            else "None"
        )

        created = _always_set(state, event_sets, mapping(raw.get("commands")))
        state = [dataclasses.replace(f, nullable=False) if f.name in created else f for f in state]

        base_imports = field_imports(f for fs in event_fields.values() for f in fs)
        base_imports |= {i for f in state for i in f.imports}
        if identifier_rule is not None and any(c.decorators for c in commands):
            base_imports |= identifier_rule[1]
        base_imports |= {
            ("dataclasses", ""),
            ("typing", "Any"),
            ("typing", "ClassVar"),
            ("typing", "Self"),
            (RUNTIME, "Aggregate"),
            (RUNTIME, "Event"),
            (RUNTIME, "Metadata"),
            VALIDATION_IMPORT,  # every event's `from_data` uses its `field_setters`
        }
        event_names = [e.name for e in events]
        if upcaster.hand_written:
            base_imports.add((".", upcasters_module))
        identifier = None
        if identifier_name != "id":
            identifier = IdentifierProperty(
                name=identifier_name,
                annotation=identifier_type,
                docstring=docstring(f"The identifier: the aggregate's `id` as {identifier_type}."),
                expression="int(self.id)" if identifier_type == "int" else "self.id",
            )
        description = raw.get("description")
        return AggregateModel(
            name=name,
            base_name=names["base"],
            module=module,
            base_module=f"{module}_base",
            behavior_module=f"{module}_behavior",
            base_docstring=docstring(
                *described(f"The {name} aggregate.", description, state),
                f"Generated: subclass it in {module}_behavior.py, not here.",
                indent=4,
            ),
            base_module_docstring=docstring(
                f"The generated events of {name} and its base class {names['base']}."
            ),
            base_imports=import_sections(base_imports),
            base_all=sorted_names([names["base"], *event_names]),
            events=tuple(events),
            category=literal(category),
            snapshot_threshold=threshold_src,
            event_types=tuple(event_types),
            apply_methods=tuple(f"{h.event}: {literal(h.method)}" for h in handlers),
            state=tuple(self._state_field(f) for f in state),
            init_docstring=docstring(
                "Give every state field its initial value.",
                *(
                    [
                        "Except "
                        + ", ".join(f"`{f.name}`" for f in state if f.name in created)
                        + ", which the creating event always sets: unset until it applies."
                    ]
                    if created
                    else []
                ),
                indent=8,
            ),
            init_state=tuple(
                f"self.{f.name} = {f.default if f.default is not None else 'None'}"
                for f in state
                if f.name not in created
            ),
            identifier=identifier,
            handlers=tuple(handlers),
            commands=tuple(commands),
            shape=literal(self.fingerprints.get(name, "")),
            module_docstring=docstring(f"The {name} aggregate, its events and its repository."),
            module_imports=import_sections(
                [
                    ("typing", "ClassVar"),
                    (RUNTIME, "Event"),
                    (RUNTIME, "AsyncEventHandler"),
                    (RUNTIME, "AsyncEventStore"),
                    (RUNTIME, "AsyncRepository"),
                    (RUNTIME, "EventHandler"),
                    (RUNTIME, "EventStore"),
                    (RUNTIME, "Repository"),
                    (f".{module}_behavior", name),
                ]
                + [(f".{module}_base", n) for n in (names["base"], *event_names)]
            ),
            module_all=sorted_names([name, *names.values(), *event_names]),
            repositories=(
                RepositoryClass(
                    name=names["repository"],
                    base=f"Repository[{name}]",
                    store="EventStore",
                    docstring=docstring(
                        f"Adds and gets {name} aggregates (the hand-written class) in an "
                        "event store.",
                        indent=4,
                    ),
                ),
                RepositoryClass(
                    name=names["async_repository"],
                    base=f"AsyncRepository[{name}]",
                    store="AsyncEventStore",
                    docstring=docstring(
                        f"`{names['repository']}` for asyncio, on an async event store: "
                        "`add`, `get`, `exists` and `history` are awaited.",
                        indent=4,
                    ),
                ),
            ),
            handler_classes=(
                HandlerClass(
                    name=names["handler"],
                    base="EventHandler",
                    docstring=docstring(
                        f"Handles the {name} events read from its category: override `on_<event>`.",
                        "Each message is decoded to its event class (older versions upcast, "
                        "as `get` does). Use it as a `Consumer`'s handler, or as a "
                        "`Projector`'s projection, where `self.session` is the projection's "
                        "transaction.",
                        indent=4,
                    ),
                    dispatch_docstring=docstring(
                        "Call the `on_<event>` method of the event's class."
                    ),
                    define="def",
                    call="",
                ),
                HandlerClass(
                    name=names["async_handler"],
                    base="AsyncEventHandler",
                    docstring=docstring(
                        f"`{names['handler']}` for asyncio: override the `async` "
                        "`on_<event>` methods.",
                        "Use it as an async consumer's handler, or as an async projection, "
                        "where `self.session` is the projection's `AsyncSession`.",
                        indent=4,
                    ),
                    dispatch_docstring=docstring(
                        "Await the `on_<event>` method of the event's class."
                    ),
                    define="async def",
                    call="await ",
                ),
            ),
            handler_methods=tuple(
                HandlerMethod(
                    method="on_" + h.method.removeprefix("apply_"),
                    event=h.event,
                    docstring=docstring(
                        f"Handle {h.event}: does nothing unless overridden.", indent=8
                    ),
                )
                for h in handlers
            ),
            behavior_module_docstring=docstring(
                f"Hand-written behaviour of the {name} aggregate: edit freely.",
                "aggregen created this module once and never overwrites it. The generated "
                f"{names['base']} (in {module}_base.py) holds the state, the commands and "
                "the apply methods; this class is the one the repository rebuilds.",
            ),
            behavior_docstring=docstring(
                *described(f"The {name} aggregate.", description),
                "To change what an event does to the state, override its "
                "`apply_<event>` method (the generated one copies fields).",
                "To add an invariant, override a command: check, raise "
                "`ValidationError` when the check fails, then call `super()`.",
                "To add a command, write a method that calls `self.raise_(...)`.",
                indent=4,
            ),
            behavior_imports=import_sections([(f".{module}_base", names["base"])]),
            upcast_helpers=upcaster.helpers(),
            upcasters_module=upcasters_module,
            upcasters_module_docstring=docstring(
                f"Hand-written upcasters of the {name} events: edit freely.",
                "aggregen created this module once and never overwrites it. For the versions "
                "an event's schema lists under `hand_written_upcast`, the generated "
                f"`upcast` of the event (in {module}_base.py) calls `upcast_<event>(data, "
                "version)` here, then applies its generated steps (aliases, value aliases, "
                "defaults) to the result. Return data that the current version reads. "
                f"{module}_base.py imports this module: do not import it here at the top "
                "level.",
            ),
            upcasters=tuple(sorted(upcaster.hand_written, key=lambda u: u.function)),
        )

    def _state_field(self, field: Field) -> StateField:
        restored = decode(field, "state", strict=True)
        return StateField(
            name=field.name,
            declaration=f"{field.name}: {field.annotation}",
            snapshot=f"{literal(field.name)}: {encode(field, 'self.' + field.name)}",
            restore=f"self.{field.name} = {restored}",
        )

    def _copies(
        self,
        event_path: KeyPath,
        fields: Sequence[Field],
        maps: Mapping[str, Any],
        state: Mapping[str, Field],
        identifier_name: str,
    ) -> list[str]:
        statements = []
        for field in fields:
            explicit = field.name in maps
            target = maps.get(field.name, field.name)
            if target is None or (target == identifier_name and not explicit):
                continue
            if not isinstance(target, str) or target not in state:
                if explicit:
                    self.problems.add(
                        (*event_path, "maps", field.name),
                        f"event field {field.name!r} maps to {target!r}, "
                        "which is not a field of the aggregate",
                    )
                continue
            aim = state[target]
            if type_shape(aim.spec) != type_shape(field.spec):
                self.problems.add(
                    field.key_path,
                    f"event field {field.name!r} ({field.info.annotation}) cannot set the "
                    f"aggregate field {target!r} ({aim.info.annotation}): "
                    "map it elsewhere or to null in `maps`",
                )
                continue
            value = f"event.{field.name}"
            if aim.info.thaw is not None:
                value = aim.info.thaw(value)
            if field.nullable and not aim.nullable:
                statements.append(
                    f"if event.{field.name} is not None:\n    self.{target} = {value}"
                )
            else:
                statements.append(f"self.{target} = {value}")
        return statements

    def _command(
        self,
        name: str,
        raw: Mapping[str, Any],
        key_path: KeyPath,
        event_fields: Mapping[str, Sequence[Field]],
        identifier_name: str,
        identifier_kind: str,
        identifier_type: str,
        identifier_rule: str | None,
        identifier_subject: str,
    ) -> CommandModel | None:
        event = raw.get("event")
        if not isinstance(event, str) or event not in event_fields:
            self.problems.add(
                (*key_path, "event"), f"command {name!r} raises an unknown event {event!r}"
            )
            return None
        creates = raw.get("creates") is True
        fields = event_fields[event]
        parameters = []
        arguments = []
        for field in fields:
            if field.default is not None and field.info.mutable:
                parameters.append(f"{field.name}: {field.info.annotation} | None = None")
                arguments.append(
                    f"{field.name}={field.default} if {field.name} is None else {field.name}"
                )
                continue
            if field.default is not None:
                parameters.append(f"{field.name}: {field.annotation} = {field.default}")
            elif field.nullable:
                parameters.append(f"{field.name}: {field.annotation} = None")
            else:
                parameters.append(f"{field.name}: {field.annotation}")
            arguments.append(f"{field.name}={field.name}")
        event_call = f"{event}({', '.join(arguments)})"
        description = text(raw.get("description"))
        if not creates:
            return CommandModel(
                name=name,
                decorators=(),
                parameters=("self", "*", *parameters) if parameters else ("self",),
                returns="None",
                docstring=docstring(
                    description or f"Raise {event}.",
                    "Raises `ValidationError` listing every field that breaks its rules.",
                    indent=8,
                ),
                body=(f"self.raise_({event_call})",),
            )
        by_name = {f.name: f for f in fields}
        own = by_name.get(identifier_name)
        if own is not None:
            if own.info.annotation != identifier_type:
                self.problems.add(
                    own.key_path,
                    f"event field {own.name!r} has the identifier's name "
                    f"but not its type ({identifier_type})",
                )
                return None
            id_expr = own.name
            if identifier_type == "int":
                id_expr = (
                    f"None if {own.name} is None else str({own.name})"
                    if own.nullable
                    else f"str({own.name})"
                )
        elif identifier_kind == "Identifier":
            parameters.append(f"{identifier_name}: str | None = None")
            id_expr = identifier_name
        else:
            parameters.append(f"{identifier_name}: {identifier_type}")
            id_expr = f"str({identifier_name})" if identifier_type == "int" else identifier_name
        used = {f.name for f in fields} | {identifier_name}
        local = next(
            c for c in ("aggregate", "new_aggregate", "created", "instance") if c not in used
        )
        checks: tuple[str, ...] = ()
        if identifier_rule is not None:
            nullable = own.nullable if own is not None else identifier_kind == "Identifier"
            checks = (
                f"{VALIDATION_ALIAS}.check_value({literal(identifier_name)}, {identifier_name}, "
                f"{identifier_rule}, nullable={nullable}, subject={identifier_subject})",
            )
        return CommandModel(
            name=name,
            decorators=("@classmethod",),
            parameters=("cls", "*", *parameters),
            returns="Self",
            docstring=docstring(
                description or f"Create a new aggregate and raise {event}.",
                f"A new `{identifier_name}` is made unless one is passed. "
                "Raises `ValidationError` listing every field that breaks its rules."
                if identifier_kind == "Identifier" and own is None
                else "Raises `ValidationError` listing every field that breaks its rules.",
                indent=8,
            ),
            body=(
                *checks,
                f"{local} = cls(id={id_expr})",
                f"{local}.raise_({event_call})",
                f"return {local}",
            ),
        )


def _set_by(
    fields: Sequence[Field],
    maps: Mapping[str, Any],
    state: Mapping[str, Field],
    identifier_name: str,
) -> dict[str, Field]:
    """State field name -> the event field the generated apply copies into it.

    The same targets as `AggregateBuilder._copies` (which reports the invalid ones).
    """
    found = {}
    for field in fields:
        target = maps.get(field.name, field.name)
        if not isinstance(target, str) or target not in state:
            continue
        if target == identifier_name and field.name not in maps:
            continue
        found[target] = field
    return found


def _always_set(
    state: Sequence[Field],
    event_sets: Mapping[str, Mapping[str, Field]],
    commands: Mapping[str, Any],
) -> frozenset[str]:
    """The required state fields that are never None once the aggregate exists.

    A field marked `required: true` without a default qualifies when the event of
    every creating command sets it from a field that cannot be None (required, or
    with a default), and no event sets it from a field that can be None. Such a field
    is typed `T`, not `T | None`; it is unset on a blank aggregate until its
    creating event applies.
    """
    creating = [
        str(command.get("event"))
        for command in commands.values()
        if isinstance(command, dict) and command.get("creates") is True
    ]
    if not creating or any(event not in event_sets for event in creating):
        return frozenset()
    found = set()
    for field in state:
        if not (field.nullable and field.spec.get("required") is True):
            continue
        if any(
            field.name not in event_sets[event] or event_sets[event][field.name].nullable
            for event in creating
        ):
            continue
        if any(sets[field.name].nullable for sets in event_sets.values() if field.name in sets):
            continue
        found.add(field.name)
    return frozenset(found)
