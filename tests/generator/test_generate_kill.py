"""`generate` killed with SIGKILL at random moments leaves the old output or the new one.

150 aggregates in three domains go from version A to version B: every generated
module changes (306 files), one aggregate per domain is dropped (6 orphans) and one
added (3 hand-written modules created). Each trial kills a writer (a forked child
that runs the write stage exactly as `generate` does, or the real command line) at a
random moment: after a random number of file-system steps (renames, removals), which
lands inside the move phase, or after a random delay. Then, as the next command
would, the output is recovered, and it must be byte for byte version A or version B
(hand-written modules untouched) and `check` must say so.

`AGGREGEN_RELIABILITY_SCALE` multiplies the number of trials (scripts/test.sh: 2).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from aggregen.generator import pipeline
from aggregen.generator.render import RenderedFile
from aggregen.generator.write import MANIFEST, recover, write

from .support import ROOT, working_directory

SCALE = int(os.environ.get("AGGREGEN_RELIABILITY_SCALE", "1"))
DOMAINS = 3
PER_DOMAIN = 50
HAND_EDITED = "dom0/thing1_behavior.py"
HAND_WRITTEN = b"# written by hand: generate must never touch this\n"

Tree = dict[str, bytes]


def _schemas(directory: Path, version: str) -> None:
    """Version A: Thing0..Thing49 per domain; B: Thing1..Thing50, each with one more field."""
    start = 0 if version == "A" else 1
    extra = ["extra: Integer"] if version == "B" else []
    for domain in range(DOMAINS):
        lines = [f"domain: dom{domain}", "aggregates:"]
        for index in range(start, start + PER_DOMAIN):
            lines += [
                f"  Thing{index}:",
                "    fields:",
                "      id: {type: Identifier, identifier: true}",
                "      name: String",
                *(f"      {line}" for line in extra),
                "    events:",
                f"      Made{index}:",
                "        fields:",
                "          name: String",
                *(f"          {line}" for line in extra),
            ]
        path = directory / version / f"dom{domain}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _tree(out: Path) -> Tree:
    """Every file under `out` (hidden ones too) and its bytes; `__pycache__` left out."""
    return {
        path.relative_to(out).as_posix(): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@dataclass(frozen=True)
class Version:
    name: str
    files: list[RenderedFile]
    inputs: str | None
    tree: Tree


@dataclass(frozen=True)
class Setup:
    work: Path
    out: Path
    a: Version
    b: Version
    a_after_b: Tree
    """Version A written over B: B's new hand-written modules stay."""

    def version(self, tree: Tree) -> str:
        if tree == self.b.tree:
            return "B"
        if tree in (self.a.tree, self.a_after_b):
            return "A"
        return "mixed"

    def reset_to_a(self) -> None:
        """From A written over B back to A exactly: drop B's new hand-written modules.

        And A's manifest, which does not list them as left behind (`leftovers`).
        """
        for name in set(self.a_after_b) - set(self.a.tree):
            (self.out / name).unlink(missing_ok=True)
        (self.out / MANIFEST).write_bytes(self.a.tree[MANIFEST])


def _version(name: str, tree: Tree) -> Version:
    """Version `name` as `generate` wrote it: its files (from `tree`) and fingerprint."""
    manifest = json.loads(tree[MANIFEST])
    files = [RenderedFile(n, tree[n].decode()) for n in manifest["files"]]
    files += [RenderedFile(n, tree[n].decode(), scaffold=True) for n in manifest["scaffolds"]]
    return Version(name, files, manifest["inputs"], tree)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    work = tmp_path_factory.mktemp("kill")
    for version in "AB":
        _schemas(work, version)
    out = work / "out"
    (out / HAND_EDITED).parent.mkdir(parents=True)
    (out / HAND_EDITED).write_bytes(HAND_WRITTEN)
    with working_directory(work):
        pipeline.generate(["A"], "out")
        a = _version("A", _tree(out))
        pipeline.generate(["B"], "out")
        b = _version("B", _tree(out))
    write(out, a.files, a.inputs)
    return Setup(work, out, a, b, _tree(out))


def _kill_after_steps(steps: int) -> None:
    """In this (child) process: SIGKILL itself at its `steps`-th rename or removal."""
    count = [0]

    def counted(real: Callable[..., object]) -> Callable[..., object]:
        def step(*args: object, **kwargs: object) -> object:
            if count[0] >= steps:
                os.kill(os.getpid(), signal.SIGKILL)
            count[0] += 1
            return real(*args, **kwargs)

        return step

    for name in ("replace", "rename", "unlink", "rmdir"):
        setattr(os, name, counted(getattr(os, name)))


def _count_steps(action: Callable[[], object]) -> int:
    """How many renames and removals `action` makes (run in a child, which exits)."""
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            count = [0]
            for name in ("replace", "rename", "unlink", "rmdir"):
                real = getattr(os, name)

                def step(
                    *args: object, _real: Callable[..., object] = real, **kw: object
                ) -> object:
                    count[0] += 1
                    return _real(*args, **kw)

                setattr(os, name, step)
            action()
            os.write(write_end, str(count[0]).encode())
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read, "rb") as pipe:
        result = pipe.read()
    os.waitpid(pid, 0)
    return int(result)


def _killed(action: Callable[[], object], *, steps: int | None, delay: float | None) -> bool:
    """Run `action` in a forked child killed by SIGKILL after `steps` or `delay` seconds.

    Returns whether the child was killed (False: it finished first).
    """
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            if steps is not None:
                _kill_after_steps(steps)
            os.write(write_end, b"go")
            action()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(write_end)
    os.read(read, 2)
    os.close(read)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)  # a finished child is a zombie until waited for
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _to_a(setup: Setup) -> None:
    """Bring the output to version A exactly (from A, A written over B, or B)."""
    write(setup.out, setup.a.files, setup.a.inputs)
    setup.reset_to_a()
    assert _tree(setup.out) == setup.a.tree


def _assert_recovered(setup: Setup) -> str:
    """Recover as the next command does; the output must be A or B and `check` agree."""
    recover(setup.out)
    tree = _tree(setup.out)
    version = setup.version(tree)
    assert version != "mixed", _describe_mix(setup)
    assert tree[HAND_EDITED] == HAND_WRITTEN
    assert not list(setup.work.glob(".out.aggregen-*"))
    with working_directory(setup.work):
        assert pipeline.check([version], "out").ok
    return version


def _describe_mix(setup: Setup) -> str:
    tree = _tree(setup.out)
    a = sum(1 for name, data in tree.items() if setup.a.tree.get(name) == data)
    b = sum(1 for name, data in tree.items() if setup.b.tree.get(name) == data)
    extra = sorted(name for name in tree if name not in setup.a.tree and name not in setup.b.tree)
    return f"mixed output: {a} files as in A, {b} as in B, not in either: {extra[:5]}"


def test_generate_killed_at_random_moments_leaves_old_or_new_output(setup: Setup) -> None:
    rng = random.Random(20261130)
    trials = 15 * SCALE

    def writing(version: Version) -> Callable[[], object]:
        return lambda: write(setup.out, version.files, version.inputs)

    _to_a(setup)
    steps_a_to_b = _count_steps(writing(setup.b))
    _to_a(setup)
    started = time.perf_counter()
    write(setup.out, setup.b.files, setup.b.inputs)
    duration = time.perf_counter() - started
    current = setup.version(_tree(setup.out))
    assert current == "B"
    outcomes: dict[str, int] = {}
    killed = 0
    for trial in range(trials):
        if current == "A":
            setup.reset_to_a()
        target = setup.a if current == "B" else setup.b
        if trial % 3 == 2:  # a random moment in time: staging, commit, moves, clean-up
            killed += _killed(writing(target), steps=None, delay=rng.uniform(0, duration))
        else:  # a random step of the move phase; every other time, recovery killed too
            killed += _killed(writing(target), steps=rng.randint(0, steps_a_to_b), delay=None)
            if trial % 3 == 1:
                _killed(lambda: recover(setup.out), steps=rng.randint(0, 200), delay=None)
        after = _assert_recovered(setup)
        key = f"{current}->{target.name}: {after}"
        outcomes[key] = outcomes.get(key, 0) + 1
        current = after
    print(f"\n{trials} kills ({killed} during the write), outcomes: {sorted(outcomes.items())}")
    assert killed >= trials - trials // 3  # every kill at a step, and those in time that hit


def _cli(work: Path, *arguments: str, kill_after: int | None = None) -> int:
    """Run `aggregen ARGUMENTS` in `work`; SIGKILLed at its `kill_after`-th step if given."""
    hook = ""
    if kill_after is not None:
        hook = (
            "import os, signal\n"
            "count = [0]\n"
            "def counted(real):\n"
            "    def step(*args, **kwargs):\n"
            f"        if count[0] >= {kill_after}:\n"
            "            os.kill(os.getpid(), signal.SIGKILL)\n"
            "        count[0] += 1\n"
            "        return real(*args, **kwargs)\n"
            "    return step\n"
            "for name in ('replace', 'rename', 'unlink', 'rmdir'):\n"
            "    setattr(os, name, counted(getattr(os, name)))\n"
        )
    code = (
        f"{hook}import sys\nfrom aggregen.generator.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode


def test_the_command_killed_in_its_move_phase_is_finished_by_the_next_command(
    setup: Setup,
) -> None:
    _to_a(setup)
    assert _cli(setup.work, "generate", "B", "--out", "out", kill_after=150) == -signal.SIGKILL
    assert setup.version(_tree(setup.out)) == "mixed"  # what the journal is there for
    assert list(setup.out.glob(".aggregen-journal.json"))
    assert _cli(setup.work, "check", "B", "--out", "out") == 0
    assert setup.version(_tree(setup.out)) == "B"
    assert not [p for p in setup.out.iterdir() if p.name.startswith(".aggregen-staging-")]


def test_a_kill_before_the_commit_leaves_the_old_output_and_staging_that_is_removed(
    setup: Setup,
) -> None:
    _to_a(setup)
    killed = _killed(
        lambda: write(setup.out, setup.b.files, setup.b.inputs),
        steps=0,  # the first rename is the journal's commit
        delay=None,
    )
    assert killed
    staging = [p for p in setup.out.iterdir() if p.name.startswith(".aggregen-staging-")]
    assert len(staging) == 1
    assert any(staging[0].rglob("*.py"))
    assert recover(setup.out)
    assert not staging[0].exists()
    assert _tree(setup.out) == setup.a.tree
