"""Turn the suites' merged results into the Markdown table and the target verdicts.

Standard library only. Each cell is the best of all samples (highest rate, lowest
time): on a shared, noisy machine the best run is the one least disturbed, and every
suite had the same number of chances, interleaved with the others. The `paired`
suite's cells are rate ratios of adjacent samples (aggregen / raw); their value is
the median, which the targets against the raw ceiling are also checked with.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from typing import Any

__all__ = ["Target", "best", "evaluate_targets", "render_markdown"]

SUITES = ["aggregen", "protean", "eventsourcing", "raw"]

OPERATIONS: list[tuple[str, str]] = [
    ("register", "register: 1 command per commit"),
    ("rename", "get + rename + add: 1 command per commit"),
    ("append_batch", "append {batch} events per commit"),
    ("rehydrate", "rehydrate {stream:,} events, snapshots off"),
    ("rehydrate_snapshot", "rehydrate {stream:,} events, snapshot threshold 10"),
    ("rehydrate_big", "rehydrate {big_stream:,} events, snapshots off"),
    ("memory_big", "peak memory above the aggregate, {big_stream:,} events"),
    ("consume", "consumer, no-op handler, {category:,} events"),
    ("consume_decoded", "consumer, handler decoding every event, {category:,} events"),
    ("consume_async", "async consumer, no-op handler, {category:,} events"),
    ("project", "exactly-once projection into a PostgreSQL table, {category:,} events"),
    ("project_async", "async exactly-once projection into a PostgreSQL table, {category:,} events"),
    (
        "group_read",
        "consumer-group read, member 0 of 4: one batch of a {category:,}-event category",
    ),
]

Cells = dict[tuple[str, str, str], dict[str, Any]]


def best(kind: str, samples: list[float]) -> float | None:
    """The best sample: the highest rate, the lowest time or size; a ratio's median."""
    if not samples:
        return None
    if kind == "ratio":
        return statistics.median(samples)
    return max(samples) if kind == "rate" else min(samples)


def summarize(documents: list[dict[str, Any]]) -> Cells:
    """Merge the suites' documents: (suite, store, op) -> kind, samples, best, median, note."""
    cells: Cells = {}
    for document in documents:
        for result in document["results"]:
            key = (document["suite"], result["store"], result["op"])
            cell = cells.setdefault(key, {"kind": result["kind"], "samples": [], "note": ""})
            cell["samples"] += result["samples"]
            cell["note"] = result.get("note") or cell["note"]
    for cell in cells.values():
        samples = cell["samples"]
        cell["best"] = best(cell["kind"], samples)
        cell["median"] = statistics.median(samples) if samples else None
    return cells


def value(cells: Cells, suite: str, store: str, op: str) -> float | None:
    cell = cells.get((suite, store, op))
    return None if cell is None else cell["best"]


def fmt(kind: str, number: float | None) -> str:
    if number is None:
        return "—"
    if kind == "rate":
        return f"{number:,.0f}/s"
    if kind == "bytes":
        return f"{number / 1e6:.1f} MB"
    if number >= 1:
        return f"{number:.2f} s"
    return f"{number * 1e3:.2f} ms"


@dataclasses.dataclass(frozen=True)
class Target:
    """One target of issues 5 and 12: a ratio of two measurements and the bound it must meet."""

    store: str
    op: str
    label: str
    ratio: Callable[[Cells], float | None]
    bound: float
    at_least: bool = True

    def verdict(self, cells: Cells) -> tuple[float | None, str]:
        ratio = self.ratio(cells)
        if ratio is None:
            return None, "n/a"
        ok = ratio >= self.bound if self.at_least else ratio <= self.bound
        return ratio, "pass" if ok else "MISS"


def _rate_ratio(store: str, op: str, other: str) -> Callable[[Cells], float | None]:
    def ratio(cells: Cells) -> float | None:
        ours, theirs = value(cells, "aggregen", store, op), value(cells, other, store, op)
        return None if ours is None or not theirs else ours / theirs

    return ratio


def _speedup(store: str, op: str, other: str) -> Callable[[Cells], float | None]:
    """How many times faster aggregen is than `other` (their time / ours)."""

    def ratio(cells: Cells) -> float | None:
        ours, theirs = value(cells, "aggregen", store, op), value(cells, other, store, op)
        return None if not ours or theirs is None else theirs / ours

    return ratio


def _time_ratio(store: str, op: str, other: str) -> Callable[[Cells], float | None]:
    """aggregen's time over `other`'s (lower is better)."""

    def ratio(cells: Cells) -> float | None:
        ours, theirs = value(cells, "aggregen", store, op), value(cells, other, store, op)
        return None if ours is None or not theirs else ours / theirs

    return ratio


def _rehydrate_vs_orjson(cells: Cells) -> float | None:
    """aggregen's rehydrate time over the raw read decoded with orjson."""
    ours = value(cells, "aggregen", "messagedb", "rehydrate")
    theirs = value(cells, "raw", "messagedb", "rehydrate[orjson.loads]")
    return None if ours is None or not theirs else ours / theirs


def _plain(
    suite: str, store: str, op: str, scale: float = 1.0, *, inverse: bool = False
) -> Callable[[Cells], float | None]:
    """The cell's value times `scale`; `inverse`: one over it (a rate ratio as a time ratio)."""

    def ratio(cells: Cells) -> float | None:
        found = value(cells, suite, store, op)
        if found is None or (inverse and not found):
            return None
        return (1 / found if inverse else found) * scale

    return ratio


def _generator_speedup(cells: Cells) -> float | None:
    ours = value(cells, "aggregen", "generator", "generate_cold_1000")
    theirs = value(cells, "datamodel-code-generator", "generator", "generate_cold_1000")
    return None if not ours or theirs is None else theirs / ours


TARGETS = [
    Target(
        "messagedb", "register", "≥ 0.85x raw", _rate_ratio("messagedb", "register", "raw"), 0.85
    ),
    Target(
        "messagedb",
        "register",
        "≥ 0.85x raw, paired",
        _plain("paired", "messagedb", "register"),
        0.85,
    ),
    Target(
        "messagedb", "register", "≥ 4x Protean", _rate_ratio("messagedb", "register", "protean"), 4
    ),
    Target("messagedb", "rename", "≥ 0.85x raw", _rate_ratio("messagedb", "rename", "raw"), 0.85),
    Target("messagedb", "rename", "≥ 4x Protean", _rate_ratio("messagedb", "rename", "protean"), 4),
    Target(
        "messagedb",
        "append_batch",
        "≥ 0.85x raw",
        _rate_ratio("messagedb", "append_batch", "raw"),
        0.85,
    ),
    Target(
        "messagedb",
        "append_batch",
        "≥ 0.85x raw, paired",
        _plain("paired", "messagedb", "append_batch"),
        0.85,
    ),
    Target(
        "messagedb",
        "rehydrate",
        "≤ 1.5x raw time",
        _time_ratio("messagedb", "rehydrate", "raw"),
        1.5,
        False,
    ),
    Target(
        "messagedb",
        "rehydrate",
        "≤ 1.3x raw time with orjson (issue 12)",
        _rehydrate_vs_orjson,
        1.3,
        False,
    ),
    Target(
        "messagedb",
        "rehydrate",
        "≤ 1.3x raw time with orjson, paired",
        _plain("paired", "messagedb", "rehydrate", inverse=True),
        1.3,
        False,
    ),
    Target(
        "messagedb",
        "rehydrate",
        "≥ 10x faster than Protean",
        _speedup("messagedb", "rehydrate", "protean"),
        10,
    ),
    Target(
        "messagedb",
        "rehydrate",
        "≥ 3x faster than eventsourcing",
        _speedup("messagedb", "rehydrate", "eventsourcing"),
        3,
    ),
    Target(
        "memory",
        "rehydrate",
        "≥ 10x faster than eventsourcing",
        _speedup("memory", "rehydrate", "eventsourcing"),
        10,
    ),
    Target("messagedb", "consume", "≥ 0.8x raw", _rate_ratio("messagedb", "consume", "raw"), 0.8),
    Target(
        "messagedb", "consume", "≥ 0.8x raw, paired", _plain("paired", "messagedb", "consume"), 0.8
    ),
    Target(
        "messagedb",
        "consume_decoded",
        "≥ 0.8x raw, paired, every event decoded",
        _plain("paired", "messagedb", "consume_decoded"),
        0.8,
    ),
    Target("messagedb", "project", "≥ 0.5x raw", _rate_ratio("messagedb", "project", "raw"), 0.5),
    Target(
        "messagedb",
        "project",
        "≥ 3x eventsourcing",
        _rate_ratio("messagedb", "project", "eventsourcing"),
        3,
    ),
    Target(
        "messagedb",
        "group_read",
        "faster than MessageDB's get_category_messages",
        _speedup("messagedb", "group_read", "raw"),
        1,
    ),
    Target(
        "messagedb",
        "async_concurrent",
        "≥ 1.5x the sync rate, paired (issue 14)",
        _plain("async", "messagedb", "async_concurrent"),
        1.5,
    ),
    Target(
        "messagedb",
        "async_latency",
        "≤ 1.15x the sync time, paired (issue 14)",
        _plain("async", "messagedb", "async_latency"),
        1.15,
        False,
    ),
    Target(
        "jetstream",
        "append_batch",
        "≥ 1.5x MessageDB's rate, paired (issue 15)",
        _plain("jetstream", "jetstream", "append_batch"),
        1.5,
    ),
    Target(
        "jetstream",
        "rehydrate",
        "≤ 3x MessageDB's time, paired (issue 15)",
        _plain("jetstream", "jetstream", "rehydrate"),
        3,
        False,
    ),
    Target(
        "messagedb",
        "memory_big",
        "< 50 MB above the aggregate",
        _plain("aggregen", "messagedb", "memory_big", 1e-6),
        50,
        False,
    ),
]


def evaluate_targets(cells: Cells) -> list[dict[str, Any]]:
    """Every target's measured ratio and verdict, as JSON-ready rows."""
    rows = []
    for target in TARGETS:
        ratio, verdict = target.verdict(cells)
        rows.append(
            {
                "store": target.store,
                "op": target.op,
                "target": target.label,
                "ratio": ratio,
                "verdict": verdict,
            }
        )
    rows += _generator_targets(cells)
    return rows


def _generator_targets(cells: Cells) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rerun = value(cells, "aggregen", "generator", "generate_rerun_100")
    cold = cells.get(("aggregen", "generator", "generate_cold_1000"), {})
    note = cold.get("note", "")
    unavailable = "not available" in note or (
        rerun is None
        and "not available"
        in cells.get(("aggregen", "generator", "generate_cold_10"), {}).get("note", "")
    )
    rows.append(
        {
            "store": "generator",
            "op": "generate_rerun_100",
            "target": "no-change rerun of 100 aggregates < 0.5 s",
            "ratio": rerun,
            "verdict": "n/a" if rerun is None else ("pass" if rerun < 0.5 else "MISS"),
        }
    )
    speedup = _generator_speedup(cells)
    verdict = "n/a"
    if speedup is not None:
        verdict = "pass" if speedup >= 2 and note == "black-stable" else "MISS"
    rows.append(
        {
            "store": "generator",
            "op": "generate_cold_1000",
            "target": (
                "cold 1,000 aggregates ≥ 2x faster than datamodel-code-generator, black-stable"
            ),
            "ratio": speedup,
            "verdict": verdict,
        }
    )
    if unavailable:
        for row in rows[-2:]:
            row["verdict"] = "n/a (aggregen generate not available yet)"
    return rows


def _target_text(rows: list[dict[str, Any]], store: str, op: str) -> str:
    parts = []
    for row in rows:
        if row["store"] == store and row["op"] == op:
            ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}"
            parts.append(f"{row['target']}: {ratio} **{row['verdict']}**")
    return "<br>".join(parts)


def render_markdown(document: dict[str, Any]) -> str:
    """The Markdown report: run facts, the table, the generator table, the raw variants."""
    cells: Cells = {(c["key"][0], c["key"][1], c["key"][2]): c for c in document["cells"]}
    sizes = document["sizes"]
    targets = document["targets"]
    machine = document["machine"]
    lines = [
        f"# aggregen benchmark, {document['date']}",
        "",
        f"Machine: {machine['cpu']}, {machine['nproc']} cores, {machine['memory']}; "
        f"{machine['os']}; PostgreSQL {machine.get('postgresql', '?')}.  ",
        "Versions: "
        + "; ".join(f"{k} {v}" for k, v in sorted(document["versions"].items()))
        + ".  ",
        f"Sizes: {sizes}; {document['rounds']} rounds, suites interleaved; "
        "each cell is the best sample (rates: higher is better; times: lower is better).  ",
        f"Command: `{document['command']}`",
        "",
        "| operation | store | aggregen | Protean 0.18 | eventsourcing 9.5 | raw ceiling "
        "| targets |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for store in ("messagedb", "memory"):
        for op, label in OPERATIONS:
            row = [value(cells, suite, store, op) for suite in SUITES]
            if all(v is None for v in row):
                continue
            kind = next(cells[(s, store, op)]["kind"] for s in SUITES if (s, store, op) in cells)
            store_label = "MessageDB / PostgreSQL" if store == "messagedb" else "in memory"
            texts = [fmt(kind, v) for v in row]
            lines.append(
                f"| {label.format(**sizes)} | {store_label} | "
                + " | ".join(texts)
                + f" | {_target_text(targets, store, op)} |"
            )
    lines += _generator_section(cells, targets)
    lines += _paired_section(cells)
    lines += _async_section(cells, targets)
    lines += _jetstream_section(cells, targets, sizes)
    lines += _variants_section(cells)
    notes = [
        f"- {suite} {store} {op}: {cell['note']}"
        for (suite, store, op), cell in sorted(cells.items())
        if cell.get("note") and store != "generator" and "[" not in op
    ]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def _generator_section(cells: Cells, targets: list[dict[str, Any]]) -> list[str]:
    counts = sorted({int(op.rsplit("_", 1)[1]) for (_, store, op) in cells if store == "generator"})
    if not counts:
        return []
    lines = [
        "",
        "Generator (whole command, interpreter start included):",
        "",
        "| aggregates | aggregen cold | aggregen no-change rerun "
        "| datamodel-code-generator cold | notes |",
        "| ---: | ---: | ---: | ---: | --- |",
    ]
    for n in counts:
        cold = cells.get(("aggregen", "generator", f"generate_cold_{n}"), {})
        rerun = cells.get(("aggregen", "generator", f"generate_rerun_{n}"), {})
        theirs = cells.get(("datamodel-code-generator", "generator", f"generate_cold_{n}"), {})
        note = cold.get("note") or rerun.get("note") or ""
        lines.append(
            f"| {n:,} | {fmt('time', cold.get('best'))} | {fmt('time', rerun.get('best'))} | "
            f"{fmt('time', theirs.get('best'))} | {note} |"
        )
    for row in targets:
        if row["store"] == "generator":
            ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}"
            lines.append(f"\n- {row['target']}: {ratio} **{row['verdict']}**")
    return lines


def _paired_section(cells: Cells) -> list[str]:
    paired = sorted((key, cell) for key, cell in cells.items() if key[0] == "paired")
    if not paired:
        return []
    lines = [
        "",
        "Paired with the raw ceiling (`suite_paired.py`: one process, aggregen and raw "
        "alternating, A B then B A; each sample's rate ratio aggregen / raw):",
        "",
        "| operation | pairs | median | middle half | lowest | highest |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (_, _, op), cell in paired:
        samples = sorted(cell["samples"])
        quarters = statistics.quantiles(samples, n=4) if len(samples) > 1 else samples * 3
        lines.append(
            f"| {op} | {len(samples)} | {statistics.median(samples):.2f} | "
            f"{quarters[0]:.2f} to {quarters[2]:.2f} | {samples[0]:.2f} | {samples[-1]:.2f} |"
        )
    return lines


ASYNC_WORKLOADS = [
    ("async_concurrent", "", "get + rename + add: 64 tasks against 8 threads"),
    ("async_latency", "", "get + rename + add: one task against one thread"),
    ("async_concurrent", "8 categories", "64 tasks against 8 threads, users in 8 categories"),
    (
        "async_concurrent",
        "synchronous_commit=off",
        "64 tasks against 8 threads, commits not waiting for the disk",
    ),
    (
        "async_concurrent",
        "no coalescing",
        "64 tasks against 8 threads, the async store not coalescing",
    ),
]
ASYNC_OPERATIONS = [
    (
        f"{op}[{', '.join(filter(None, (tag, loop)))}]" if tag or loop else op,
        f"{label}{', uvloop' if loop else ''}",
    )
    for loop in ("", "uvloop")
    for op, tag, label in ASYNC_WORKLOADS
]
"""The rows of `suite_async.py`: each workload on asyncio's own loop, then on uvloop."""


def _async_section(cells: Cells, targets: list[dict[str, Any]]) -> list[str]:
    """Issue 14's rows: the async repository against the sync one (`suite_async.py`)."""
    found = [(op, label) for op, label in ASYNC_OPERATIONS if ("async", "messagedb", op) in cells]
    if not found:
        return []
    lines = [
        "",
        "Async against sync on MessageDB (`suite_async.py`: one process, an "
        "`AsyncRepository` sample and a `Repository` sample alternating, A B then B A; "
        "ratio: async rate / sync rate, or async time / sync time per command; "
        "CPU: the client process's, per command):",
        "",
        "| workload | pairs | median ratio | middle half | async best | sync best "
        "| async CPU | sync CPU | targets |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for op, label in found:
        samples = sorted(cells[("async", "messagedb", op)]["samples"])
        quarters = statistics.quantiles(samples, n=4) if len(samples) > 1 else samples * 3
        sides = []
        for side in ("async", "sync", "async CPU", "sync CPU"):
            cell = cells.get(("async", "messagedb", f"{op} {side}"), {})
            sides.append(fmt(cell.get("kind", "time"), cell.get("best")))
        lines.append(
            f"| {label} | {len(samples)} | {statistics.median(samples):.2f} | "
            f"{quarters[0]:.2f} to {quarters[2]:.2f} | "
            + " | ".join(sides)
            + f" | {_target_text(targets, 'messagedb', op)} |"
        )
    return lines


JETSTREAM_OPERATIONS = [
    ("register", "register: 1 command per commit"),
    ("register_concurrent", "register: 1 command per commit, 8 threads, one category"),
    ("append_batch", "append {batch} events per commit"),
    ("rehydrate", "rehydrate {stream:,} events, snapshots off"),
    ("consume", "consumer, no-op handler, {jetstream_category:,} events"),
]


def _jetstream_section(
    cells: Cells, targets: list[dict[str, Any]], sizes: dict[str, Any]
) -> list[str]:
    """Issue 15's rows: the JetStream store (R3) against MessageDB (`suite_jetstream.py`)."""
    found = [op for op, _ in JETSTREAM_OPERATIONS if ("jetstream", "jetstream", op) in cells]
    if not found:
        return []
    labels = dict(JETSTREAM_OPERATIONS)
    lines = [
        "",
        "JetStream R3 against MessageDB (`suite_jetstream.py`: one process, a JetStream "
        "sample and a MessageDB sample alternating, A B then B A; ratio: JetStream rate / "
        "MessageDB rate, or JetStream time / MessageDB time):",
        "",
        "| workload | pairs | median ratio | middle half | JetStream best | MessageDB best "
        "| targets |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for op in found:
        samples = sorted(cells[("jetstream", "jetstream", op)]["samples"])
        quarters = statistics.quantiles(samples, n=4) if len(samples) > 1 else samples * 3
        sides = []
        for side in ("jetstream", "messagedb"):
            cell = cells.get(("jetstream", "jetstream", f"{op} {side}"), {})
            sides.append(fmt(cell.get("kind", "time"), cell.get("best")))
        label = labels[op].format(**{"jetstream_category": 0, **sizes})
        lines.append(
            f"| {label} | {len(samples)} | {statistics.median(samples):.2f} | "
            f"{quarters[0]:.2f} to {quarters[2]:.2f} | "
            + " | ".join(sides)
            + f" | {_target_text(targets, 'jetstream', op)} |"
        )
    return lines


def _variants_section(cells: Cells) -> list[str]:
    variants = sorted(
        (key, cell) for key, cell in cells.items() if key[0] == "raw" and "[" in key[2]
    )
    if not variants:
        return []
    lines = [
        "",
        "Raw MessageDB variants (where a library's time can go):",
        "",
        "| variant | best | median |",
        "| --- | ---: | ---: |",
    ]
    for (_, _, op), cell in variants:
        lines.append(
            f"| {op} | {fmt(cell['kind'], cell['best'])} | {fmt(cell['kind'], cell['median'])} |"
        )
    return lines
