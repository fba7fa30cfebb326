#!/usr/bin/env bash
# benchmarks/run.sh: the one command that reruns aggregen's benchmark (see benchmarks/README.md).
#   benchmarks/run.sh            full run: aggregen, Protean, eventsourcing, raw MessageDB, generator
#   benchmarks/run.sh --tiny     aggregen only, tiny sizes, a few seconds (CI); writes results/tmp/
#   benchmarks/run.sh --help     sizes and other options
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${AGGREGEN_PYTHON:-.venv/bin/python}"
[[ -x "$PYTHON" ]] || { echo "run.sh: $PYTHON not found: create the project venv first (scripts/test.sh does)" >&2; exit 2; }
exec "$PYTHON" -m benchmarks "$@"
