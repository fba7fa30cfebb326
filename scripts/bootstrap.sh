#!/usr/bin/env bash
# Create .venv (Python 3.11 or later) and install aggregen with its development tools.
# Re-installs only when pyproject.toml changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

python=""
for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then
  echo "bootstrap: error: Python 3.11 or later is needed (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi

stamp=.venv/.aggregen-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "bootstrap: installing aggregen and its development tools into .venv" >&2
  # Editable installs from pyproject.toml need pip 21.3; a newer one saves nothing.
  if ! .venv/bin/python -c 'import sys, pip; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (21, 3))'; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' >&2
  echo "$wanted" > "$stamp"
fi
