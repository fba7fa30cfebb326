#!/usr/bin/env bash
# Set up, generate the example schemas into generated/, and run the example apps on
# generated packages: the write side (identity_app.py) and the read side
# (read_side_app.py), in memory unless AGGREGEN_EVENT_STORE is set.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
.venv/bin/aggregen generate schemas/ --out generated/
PYTHONPATH=generated .venv/bin/python examples/identity_app.py
echo
PYTHONPATH=generated .venv/bin/python examples/read_side_app.py
