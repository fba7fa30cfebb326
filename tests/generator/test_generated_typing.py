"""Generated code is type-checked both ways, in one mypy run.

`mypy --strict` passes on every golden output and on the committed `generated/`
packages, misusing a generated class fails with the pinned message, and the
`POSITIVE_CASES` (uses the types must allow as they are) pass. Each case is the
body of an `async def`, so that async cases can `await` (or forget to).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .support import GOLDEN, PYTHON, ROOT, golden_cases, golden_packages, run_tool

NEGATIVE_CASES: dict[str, tuple[str, list[str]]] = {
    "int_for_str_parameter": (
        "User.register(email=1)",
        [
            'Argument "email" to "register" of "UserBase" has incompatible type "int"; '
            'expected "str"  [arg-type]'
        ],
    ),
    "misspelled_keyword": (
        'User.register(emial="a@b")',
        [
            'Unexpected keyword argument "emial" for "register" of "UserBase"; '
            'did you mean "email"?  [call-arg]'
        ],
    ),
    "instance_command_on_the_class": (
        'User.rename(first_name="x")',
        ['Missing positional argument "self" in call to "rename" of "UserBase"  [call-arg]'],
    ),
    "positional_argument": (
        'User.register("a@b")',
        ['Too many positional arguments for "register" of "UserBase"  [call-arg]'],
    ),
    "repository_of_another_aggregate": (
        "UserRepository(InMemoryEventStore()).add(Canvas())",
        [
            'Argument 1 to "add" of "Repository" has incompatible type "Canvas"; '
            'expected "User"  [arg-type]'
        ],
    ),
    "repository_get_returns_the_hand_written_class": (
        'n: int = UserRepository(InMemoryEventStore()).get("x")',
        [
            'Incompatible types in assignment (expression has type "User", '
            'variable has type "int")  [assignment]'
        ],
    ),
    "async_repository_get_returns_the_hand_written_class": (
        'n: int = await AsyncUserRepository(AsyncInMemoryEventStore()).get("x")',
        [
            'Incompatible types in assignment (expression has type "User", '
            'variable has type "int")  [assignment]'
        ],
    ),
    "async_repository_of_another_aggregate": (
        "await AsyncUserRepository(AsyncInMemoryEventStore()).add(Canvas())",
        [
            'Argument 1 to "add" of "AsyncRepository" has incompatible type "Canvas"; '
            'expected "User"  [arg-type]'
        ],
    ),
    "async_repository_on_a_sync_store": (
        "AsyncUserRepository(InMemoryEventStore())",
        [
            'Argument 1 to "AsyncUserRepository" has incompatible type "InMemoryEventStore"; '
            'expected "AsyncEventStore"  [arg-type]'
        ],
    ),
    "sync_repository_on_an_async_store": (
        "UserRepository(AsyncInMemoryEventStore())",
        [
            'Argument 1 to "UserRepository" has incompatible type "AsyncInMemoryEventStore"; '
            'expected "EventStore"  [arg-type]'
        ],
    ),
    "async_get_without_await": (
        'loaded: User = AsyncUserRepository(AsyncInMemoryEventStore()).get("x")',
        [
            'Incompatible types in assignment (expression has type "Coroutine[Any, Any, User]", '
            'variable has type "User")  [assignment]'
        ],
    ),
    "async_add_without_await": (
        "AsyncUserRepository(AsyncInMemoryEventStore()).add(user)",
        ['Value of type "Coroutine[Any, Any, None]" must be used  [unused-coroutine]'],
    ),
    "events_are_immutable": (
        'Registered(email="a@b").email = "x"',
        ['Property "email" defined in "Registered" is read-only  [misc]'],
    ),
    "event_lists_are_immutable": (
        "from field_types import Recorded\n"
        'Recorded(code="AB", updated_at=now, owner="x").labels.append("c")',
        ['"Sequence[str]" has no attribute "append"  [attr-defined]'],
    ),
    "inline_enum_value": (
        'sample.clear()\nsample.record(code="AB", updated_at=now, owner="x", level="extreme")',
        [
            'Argument "level" to "record" of "SampleBase" has incompatible type '
            "\"Literal['extreme']\"; expected \"Literal['low', 'mid', 'high']\"  [arg-type]"
        ],
    ),
    "named_enum_needs_its_class": (
        'canvas.paint(background="red")',
        [
            'Argument "background" to "paint" of "CanvasBase" has incompatible type "str"; '
            'expected "Colour"  [arg-type]'
        ],
    ),
    "decimal_is_not_float": (
        'Sample.record(code="AB", updated_at=now, owner="x", price=1.5)',
        [
            'Argument "price" to "record" of "SampleBase" has incompatible type "float"; '
            'expected "Decimal"  [arg-type]'
        ],
    ),
    "missing_required_parameter": (
        "User.register()",
        ['Missing named argument "email" for "register" of "UserBase"  [call-arg]'],
    ),
    "handler_method_for_another_event": (
        "class Wrong(UserHandler):\n"
        "    def on_registered(self, event: Renamed) -> None:\n"
        "        pass",
        [
            'Argument 1 of "on_registered" is incompatible with supertype '
            '"users.user.UserHandler"; supertype defines the argument type as "Registered"  '
            "[override]"
        ],
    ),
    "async_handler_method_for_another_event": (
        "class Wrong(AsyncUserHandler):\n"
        "    async def on_registered(self, event: Renamed) -> None:\n"
        "        pass",
        [
            'Argument 1 of "on_registered" is incompatible with supertype '
            '"users.user.AsyncUserHandler"; supertype defines the argument type as "Registered"  '
            "[override]"
        ],
    ),
    "async_handler_method_that_is_not_async": (
        "class Blocking(AsyncUserHandler):\n"
        "    def on_registered(self, event: Registered) -> None:\n"
        "        pass",
        [
            'Return type "None" of "on_registered" incompatible with return type '
            '"Coroutine[Any, Any, None]" in supertype "users.user.AsyncUserHandler"  [override]'
        ],
    ),
    "async_store_in_a_sync_with": (
        "with connect_async() as store:\n    pass",
        [
            '"AsyncEventStore" has no attribute "__enter__"; maybe "__aenter__"?  [attr-defined]',
            '"AsyncEventStore" has no attribute "__exit__"; maybe "__aexit__"?  [attr-defined]',
        ],
    ),
    "state_set_by_the_creating_event_is_never_none": (
        "user.email = None\nmember.handle = None\nguest.token = None",
        [
            'Incompatible types in assignment (expression has type "None", '
            'variable has type "str")  [assignment]'
        ]
        * 3,
    ),
    "required_state_the_creating_event_may_leave_unset_stays_optional": (
        "member.phone.upper()\nmember.city.upper()\nmember.country.upper()\nguest.name.upper()",
        ['Item "None" of "str | None" has no attribute "upper"  [union-attr]'] * 4,
    ),
}

POSITIVE_CASES: dict[str, str] = {
    "stores_open_in_with_blocks": (
        "async with connect_async() as store:\n"
        "    await AsyncUserRepository(store).add(user)\n"
        "with connect() as sync_store:\n"
        "    UserRepository(sync_store).add(user)"
    ),
    "async_repository_awaited": (
        "users = AsyncUserRepository(AsyncInMemoryEventStore(), snapshot_threshold=0)\n"
        "await users.add(user)\n"
        "loaded: User = await users.get(user.id)\n"
        "assert await users.exists(loaded.id)"
    ),
    "state_set_by_the_creating_event_needs_no_narrowing": (
        "print(user.email.upper(), member.email.upper(), member.handle.upper())\n"
        "level: int = member.level + 1\n"
        "print(guest.token.upper(), level)"
    ),
}

PRELUDE = """\
from __future__ import annotations

import datetime

from aggregen.runtime import AsyncInMemoryEventStore, InMemoryEventStore, connect, connect_async
from field_types import Sample
from required_state import Guest, Member
from users import (
    AsyncUserHandler,
    AsyncUserRepository,
    Registered,
    Renamed,
    User,
    UserHandler,
    UserRepository,
)
from values_and_enums import Canvas

now = datetime.datetime.now(datetime.UTC)
"""

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")


def _negative_module(path: Path) -> dict[str, range]:
    lines = PRELUDE.splitlines()
    ranges = {}
    cases = {name: code for name, (code, _) in NEGATIVE_CASES.items()} | POSITIVE_CASES
    for name, code in cases.items():
        lines += [
            "",
            "",
            f"async def {name}(",  # sync code checks the same inside a coroutine
            "    sample: Sample, canvas: Canvas, user: User, member: Member, guest: Guest",
            ") -> None:",
        ]
        start = len(lines) + 1
        lines += [f"    {line}" for line in code.splitlines()]
        ranges[name] = range(start, len(lines) + 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ranges


@pytest.fixture(scope="module")
def mypy_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, range], list[str]]:
    directory = tmp_path_factory.mktemp("typing")
    negative = directory / "negative_cases.py"
    ranges = _negative_module(negative)
    roots = [directory, ROOT / "generated", *(GOLDEN / c / "expected" for c in golden_cases())]
    packages = [p.name for p in golden_packages()] + ["identity", "banking"]
    arguments = [
        PYTHON,
        "-m",
        "mypy",
        "--config-file=",
        "--strict",
        "--show-error-codes",
        "--no-error-summary",
        "--hide-error-context",
        "--no-pretty",
    ]
    for package in packages:
        arguments += ["-p", package]
    result = run_tool([*arguments, "-m", "negative_cases"], cwd=ROOT, mypy_path=roots)
    return ranges, result.stdout.splitlines() + result.stderr.splitlines()


def test_every_golden_output_and_generated_passes_mypy_strict(
    mypy_run: tuple[dict[str, range], list[str]],
) -> None:
    _, output = mypy_run
    problems = [line for line in output if "negative_cases.py" not in line]
    assert problems == []


@pytest.mark.parametrize("case", sorted(NEGATIVE_CASES))
def test_misuse_fails_type_checking_with_the_pinned_message(
    case: str, mypy_run: tuple[dict[str, range], list[str]]
) -> None:
    ranges, output = mypy_run
    found = []
    for line in output:
        match = LINE.match(line)
        if match and "negative_cases.py" in match["file"] and int(match["line"]) in ranges[case]:
            found.append(match["message"])
    assert found == NEGATIVE_CASES[case][1]


@pytest.mark.parametrize("case", sorted(POSITIVE_CASES))
def test_fitting_use_passes_type_checking(
    case: str, mypy_run: tuple[dict[str, range], list[str]]
) -> None:
    ranges, output = mypy_run
    found = []
    for line in output:
        match = LINE.match(line)
        if match and "negative_cases.py" in match["file"] and int(match["line"]) in ranges[case]:
            found.append(match["message"])
    assert found == []
