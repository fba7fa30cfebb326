"""The model's data: frozen dataclasses with every decision the templates print.

Every string field is ready to print as it is: names are checked identifiers,
literals are `repr`-ed, docstrings escaped, method bodies complete lines.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AggregateModel",
    "ApplyHandler",
    "CommandModel",
    "DomainModel",
    "EnumMember",
    "EnumModel",
    "EventModel",
    "FieldModel",
    "HandWrittenUpcaster",
    "HandlerClass",
    "IdentifierProperty",
    "RepositoryClass",
    "StateField",
    "UpcastHelper",
    "UpcastModel",
    "ValueObjectModel",
]


@dataclass(frozen=True)
class FieldModel:
    """A field of an event or a value object, as lines of its class."""

    name: str
    declaration: str
    check: str
    to_data: str
    key: str
    """The field's name as a string literal: its key in the data."""
    read: str
    """The expression reading the field from `data` in `from_data`, type checked."""
    holds: str | None = None
    """The value the class holds for the value given (`__post_init__` sets it); None: as given."""


@dataclass(frozen=True)
class UpcastModel:
    """An event's `upcast` class method: older stored data to the current version's."""

    docstring: str
    hand_written: str
    """The condition (`version == 1`) for calling the hand-written upcaster, or ""."""
    hand_written_call: str
    """The statement calling it."""
    steps: tuple[str, ...]
    """Statements (each possibly several lines) changing the dict `data` in place."""


@dataclass(frozen=True)
class UpcastHelper:
    """A private module function upcasting the data of one value object."""

    name: str
    docstring: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class HandWrittenUpcaster:
    """A function the hand-written `<aggregate>_upcasters.py` must define."""

    function: str
    event: str
    versions: tuple[int, ...]
    docstring: str
    body: str
    """The statement of the stub created with the module."""


@dataclass(frozen=True)
class EventModel:
    """An event class: `__type_name__`, version, fields and their conversions."""

    name: str
    docstring: str
    type_name: str
    version: int
    subject: str
    fields: tuple[FieldModel, ...]
    setters: str
    """The module constant holding the event's `field_setters`."""
    upcast: UpcastModel | None = None


@dataclass(frozen=True)
class ValueObjectModel:
    """A value object: a frozen dataclass with validation and conversions."""

    name: str
    docstring: str
    subject: str
    fields: tuple[FieldModel, ...]


@dataclass(frozen=True)
class EnumMember:
    """One `StrEnum` member: its Python name and its value's source."""

    name: str
    value: str


@dataclass(frozen=True)
class EnumModel:
    """A named enum: an `enum.StrEnum` class."""

    name: str
    docstring: str
    members: tuple[EnumMember, ...]


@dataclass(frozen=True)
class StateField:
    """An aggregate state attribute: declaration and snapshot conversions."""

    name: str
    declaration: str
    snapshot: str
    restore: str


@dataclass(frozen=True)
class ApplyHandler:
    """An `apply_<event>` method and the statements of its default body."""

    method: str
    event: str
    docstring: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class RepositoryClass:
    """A generated repository: `<Name>Repository`, or its asyncio twin `Async<Name>Repository`."""

    name: str
    base: str
    """The runtime class it specializes: `Repository[<Name>]` or `AsyncRepository[<Name>]`."""
    store: str
    """The type of its store: `EventStore` or `AsyncEventStore`."""
    docstring: str


@dataclass(frozen=True)
class HandlerClass:
    """A generated handler: `<Name>Handler`, or its asyncio twin `Async<Name>Handler`."""

    name: str
    base: str
    """The runtime class it subclasses: `EventHandler` or `AsyncEventHandler`."""
    docstring: str
    dispatch_docstring: str
    define: str
    """How its methods are defined: `def`, or `async def`."""
    call: str
    """What precedes a call of its methods: nothing, or `await `."""


@dataclass(frozen=True)
class HandlerMethod:
    """An `on_<event>` method of the generated handler: a typed no-op to override."""

    method: str
    event: str
    docstring: str


@dataclass(frozen=True)
class CommandModel:
    """A command method: decorators, signature, return type, body lines."""

    name: str
    decorators: tuple[str, ...]
    parameters: tuple[str, ...]
    returns: str
    docstring: str
    body: tuple[str, ...]


@dataclass(frozen=True)
class IdentifierProperty:
    """A property naming the aggregate's `id` after the schema's identifier field."""

    name: str
    annotation: str
    docstring: str
    expression: str


@dataclass(frozen=True)
class AggregateModel:
    """One aggregate and the three modules generated for it."""

    name: str
    base_name: str
    module: str
    base_module: str
    behavior_module: str
    base_docstring: str
    base_module_docstring: str
    base_imports: tuple[tuple[str, ...], ...]
    base_all: tuple[str, ...]
    events: tuple[EventModel, ...]
    category: str
    snapshot_threshold: str
    event_types: tuple[str, ...]
    apply_methods: tuple[str, ...]
    state: tuple[StateField, ...]
    identifier: IdentifierProperty | None
    handlers: tuple[ApplyHandler, ...]
    commands: tuple[CommandModel, ...]
    shape: str
    module_docstring: str
    module_imports: tuple[tuple[str, ...], ...]
    module_all: tuple[str, ...]
    repositories: tuple[RepositoryClass, ...]
    """The sync repository, then the async one."""
    handler_classes: tuple[HandlerClass, ...]
    """The sync handler, then the async one; both have the `handler_methods`."""
    handler_methods: tuple[HandlerMethod, ...]
    behavior_module_docstring: str
    behavior_docstring: str
    behavior_imports: tuple[tuple[str, ...], ...]
    init_docstring: str
    init_state: tuple[str, ...]
    """`_init_state`'s statements: a field the creating event always sets has none."""
    upcast_helpers: tuple[UpcastHelper, ...] = ()
    upcasters_module: str = ""
    upcasters_module_docstring: str = ""
    upcasters: tuple[HandWrittenUpcaster, ...] = ()
    """The functions the hand-written upcasters module defines (none: no module)."""


@dataclass(frozen=True)
class DomainModel:
    """A domain's package: its modules, each with every decision made."""

    package: str
    schema_path: str
    header: str
    scaffold_header: str
    docstring: str
    values_docstring: str
    values_imports: tuple[tuple[str, ...], ...]
    values_all: tuple[str, ...]
    enums: tuple[EnumModel, ...]
    value_objects: tuple[ValueObjectModel, ...]
    aggregates: tuple[AggregateModel, ...]
    init_imports: tuple[tuple[str, ...], ...]
    init_all: tuple[str, ...]
    generated_by: str
    """The aggregen version that generated the package, as a Python literal."""
    runtime_import: str
    """The import of the runtime's support module, whose version check `__init__` runs."""
    runtime_alias: str
    runtime_version_check: str

    @property
    def has_values(self) -> bool:
        """Whether the package has a `values` module."""
        return bool(self.enums or self.value_objects)
