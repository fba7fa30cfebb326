"""`python -m aggregen`: the `aggregen` command line."""

from __future__ import annotations

import sys

from aggregen.cli import main

if __name__ == "__main__":
    sys.exit(main())
