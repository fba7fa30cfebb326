"""Draw results/latest.png from results/latest.json (run in the peers' environment).

One panel per operation: each library's result relative to the raw ceiling where
there is one (1.0 = the ceiling), else relative to aggregen, so that bars compare
within the one run, whatever the machine's absolute speed.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SUITES = [
    ("aggregen", "#1f77b4"),
    ("protean", "#ff7f0e"),
    ("eventsourcing", "#2ca02c"),
    ("raw", "#7f7f7f"),
]
PANELS = [
    ("messagedb", "register", "register, 1/commit"),
    ("messagedb", "rename", "get+rename+add, 1/commit"),
    ("messagedb", "append_batch", "100 events/commit"),
    ("messagedb", "rehydrate", "rehydrate, no snapshot"),
    ("messagedb", "rehydrate_snapshot", "rehydrate, snapshot 10"),
    ("memory", "register", "register (memory)"),
    ("memory", "rename", "get+rename+add (memory)"),
    ("memory", "append_batch", "100 events/commit (memory)"),
    ("memory", "rehydrate", "rehydrate (memory)"),
    ("messagedb", "consume", "consumer, no-op handler"),
    ("messagedb", "project", "exactly-once projection"),
    ("messagedb", "group_read", "consumer-group read"),
]


def main(source: str, target: str) -> None:
    with open(source) as handle:
        report = json.load(handle)
    cells = {tuple(c["key"]): c for c in report["cells"]}
    figure, axes = plt.subplots(4, 3, figsize=(13, 13))
    for ax, (store, op, title) in zip(axes.flat, PANELS, strict=False):
        values = {s: cells.get((s, store, op)) for s, _ in SUITES}
        present = {s: c for s, c in values.items() if c and c["best"]}
        if not present:
            ax.set_visible(False)
            continue
        kind = next(iter(present.values()))["kind"]
        reference = present.get("raw") or present.get("aggregen")
        base = reference["best"]
        names, heights, colours = [], [], []
        for suite, colour in SUITES:
            cell = present.get(suite)
            if not cell:
                continue
            # speed relative to the reference: rates divide, times invert
            speed = cell["best"] / base if kind == "rate" else base / cell["best"]
            names.append(suite)
            heights.append(speed)
            colours.append(colour)
        ax.bar(names, heights, color=colours)
        ax.set_yscale("log")
        ax.axhline(1.0, color="black", linewidth=0.6)
        ref_name = "raw" if "raw" in present else "aggregen"
        ax.set_title(f"{title}\n(speed vs {ref_name}; {store})", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        for x, h in enumerate(heights):
            ax.text(x, h, f"{h:.2g}", ha="center", va="bottom", fontsize=8)
    figure.suptitle(
        f"aggregen benchmark {report['date']}: speed relative to the ceiling (log scale)"
    )
    figure.tight_layout()
    figure.savefig(target, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
