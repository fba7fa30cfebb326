#!/usr/bin/env bash
# Set up everything the tests need, then run every check: ruff, mypy --strict, the
# freshness of generated/, and the whole pytest suite against real MessageDB.
# Extra arguments go to pytest (e.g. scripts/test.sh -k snapshot).
# pytest runs on two pytest-xdist workers (AGGREGEN_TEST_WORKERS=0: in one process).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
AGGREGEN_TEST_MESSAGEDB_URI=$(scripts/messagedb-setup.sh) || {
  echo "test: error: MessageDB could not be made ready (see above); MessageDB tests never skip" >&2
  exit 1
}
export AGGREGEN_TEST_MESSAGEDB_URI
# Property-based schema tests: 2x the default examples, about 2,000 schemas a run.
export AGGREGEN_RELIABILITY_SCALE="${AGGREGEN_RELIABILITY_SCALE:-2}"

echo "== ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict" >&2
.venv/bin/mypy
if [ -d schemas ] && [ -e aggregen/generator/cli.py ]; then
  echo "== aggregen check (generated/ is fresh)" >&2
  .venv/bin/aggregen check
fi
echo "== benchmarks, aggregen only, tiny sizes (keeps the harness working)" >&2
benchmarks/run.sh --tiny >/dev/null
# Two workers (the machines have two cores; AGGREGEN_TEST_WORKERS overrides it, 0 runs
# in this process). tests/conftest.py keeps load tests in one serial group, the tests
# of a module with an expensive shared fixture together, and starts with the longest.
workers="${AGGREGEN_TEST_WORKERS:-2}"
echo "== pytest ($workers workers)" >&2
.venv/bin/pytest -n "$workers" --dist loadgroup --no-loadscope-reorder "$@"
