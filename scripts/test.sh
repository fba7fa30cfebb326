#!/usr/bin/env bash
# Set up everything the tests need, then run every check: ruff, mypy --strict, the
# freshness of generated/, and the whole pytest suite against real MessageDB.
# Extra arguments go to pytest (e.g. scripts/test.sh -k snapshot).
# pytest runs on three pytest-xdist workers (AGGREGEN_TEST_WORKERS=0: in one process).
set -euo pipefail
cd "$(dirname "$0")/.."

# MessageDB (psql and npm) is made ready while bootstrap installs the venv (pip).
messagedb_uri=$(mktemp)
messagedb_log=$(mktemp)
scripts/messagedb-setup.sh >"$messagedb_uri" 2>"$messagedb_log" &
messagedb=$!
bootstrapped=0
scripts/bootstrap.sh || bootstrapped=$?
messagedb_ready=0
wait "$messagedb" || messagedb_ready=$?
cat "$messagedb_log" >&2
AGGREGEN_TEST_MESSAGEDB_URI=$(cat "$messagedb_uri")
rm -f "$messagedb_uri" "$messagedb_log"
[ "$bootstrapped" -eq 0 ] || exit "$bootstrapped"
if [ "$messagedb_ready" -ne 0 ]; then
  echo "test: error: MessageDB could not be made ready (see above); MessageDB tests never skip" >&2
  exit 1
fi
export AGGREGEN_TEST_MESSAGEDB_URI
# Property-based schema tests: 2x the default examples, about 2,000 schemas a run.
export AGGREGEN_RELIABILITY_SCALE="${AGGREGEN_RELIABILITY_SCALE:-2}"

# The static checks run beside pytest (its workers spend much of their time waiting);
# their output follows pytest's, and any failure fails the run.
checks_log=$(mktemp)
bench_nats=$(mktemp -d)  # the harness's own JetStream cluster: pytest starts and stops .nats/
trap 'rm -rf "$checks_log" "$bench_nats"' EXIT
(
  set -e
  echo "== ruff"
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  echo "== mypy --strict"
  .venv/bin/mypy
  if [ -d schemas ] && [ -e aggregen/generator/cli.py ]; then
    echo "== aggregen check (generated/ is fresh)"
    .venv/bin/aggregen check
  fi
  echo "== benchmarks, aggregen only, tiny sizes (keeps the harness working)"
  AGGREGEN_NATS_DIR="$bench_nats" benchmarks/run.sh --tiny >/dev/null
) >"$checks_log" 2>&1 &
checks=$!
# Three workers on two cores: much of the suite waits (PostgreSQL, NATS elections,
# subprocesses). AGGREGEN_TEST_WORKERS overrides it; 0 runs in this process.
# tests/conftest.py keeps the PostgreSQL load tests on one worker, the tests of a
# module with an expensive shared fixture together, and starts with the longest.
workers="${AGGREGEN_TEST_WORKERS:-3}"
echo "== pytest ($workers workers; ruff, mypy, aggregen check and the benchmark harness beside it)" >&2
status=0
.venv/bin/pytest -n "$workers" --dist loadgroup --no-loadscope-reorder "$@" || status=$?
checks_status=0
wait "$checks" || checks_status=$?
cat "$checks_log" >&2
if [ "$checks_status" -ne 0 ]; then
  echo "test: error: a static check failed (see above)" >&2
  [ "$status" -ne 0 ] || status=$checks_status
fi
exit "$status"
