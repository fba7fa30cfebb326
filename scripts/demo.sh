#!/usr/bin/env bash
# Set up, generate the example schemas into generated/, and run the example app on
# the generated `identity` package (in-memory store unless AGGREGEN_EVENT_STORE is set).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
.venv/bin/aggregen generate schemas/ --out generated/
PYTHONPATH=generated .venv/bin/python examples/identity_app.py
