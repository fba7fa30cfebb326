"""Import time of the runtime, against the standard-library modules generated code needs.

Each sample is one fresh interpreter that times, with `time.perf_counter`, first
the baseline imports (dataclasses, typing, datetime, decimal, uuid, enum, orjson),
then `import aggregen.runtime` on top of them, then the generated package
`identity` (from generated/) on top of that. The baseline and the extra cost are
measured in the same process, and processes alternate nothing else, so the extra
cost of the runtime is a difference within one run. The target: the median extra
cost of `import aggregen.runtime` is at most 10 ms.

Results (kind `time`, seconds per sample): `import baseline`, `import
aggregen.runtime (extra)`, `import generated package (extra)`; the notes hold
the medians. Standard library only.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from .common import Result, emit, log, parse_args

ROOT = Path(__file__).resolve().parent.parent

BASELINE = ("dataclasses", "typing", "datetime", "decimal", "uuid", "enum", "orjson")
TARGET_SECONDS = 0.010

CHILD = f"""
import sys, time
sys.path.insert(0, {str(ROOT / "generated")!r})
t0 = time.perf_counter()
import {", ".join(BASELINE)}
t1 = time.perf_counter()
import aggregen.runtime
t2 = time.perf_counter()
import identity
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def sample(python: str) -> tuple[float, float, float]:
    """One fresh interpreter: seconds for the baseline, the runtime, the generated package.

    Bytecode is written and read (as after `pip install`), even where the environment
    sets PYTHONDONTWRITEBYTECODE: compiling the sources would swamp the figure.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [python, "-c", CHILD], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    baseline, runtime, package = (float(word) for word in done.stdout.split())
    return baseline, runtime, package


def measure(python: str, repeat: int) -> list[Result]:
    """`repeat` fresh interpreters; one Result per measured step."""
    names = (
        "import baseline",
        "import aggregen.runtime (extra)",
        "import generated package (extra)",
    )
    results = [Result(op=name, store="python", kind="time") for name in names]
    sample(python)  # writes the bytecode caches; not counted
    for _ in range(repeat):
        for result, seconds in zip(results, sample(python), strict=True):
            result.samples.append(seconds)
    for result in results:
        median = statistics.median(result.samples)
        result.note = f"median {median * 1000:.2f} ms of {repeat} fresh interpreters"
    return results


def main() -> None:
    sizes, config = parse_args(__doc__.split("\n")[0])
    repeat = int(config.get("import_repeat", 5 if sizes.repeat <= 1 else 41))
    results = measure(sys.executable, repeat)
    extra = statistics.median(results[1].samples)
    verdict = "pass" if extra <= TARGET_SECONDS else "MISS"
    log(
        f"benchmarks: import aggregen.runtime costs {extra * 1000:.2f} ms (median) more than "
        f"{', '.join(BASELINE)} ({statistics.median(results[0].samples) * 1000:.2f} ms): "
        f"target <= {TARGET_SECONDS * 1000:.0f} ms {verdict}"
    )
    emit("import", {"python": sys.version.split()[0]}, results)


if __name__ == "__main__":
    main()
