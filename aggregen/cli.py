"""The `aggregen` console script: the generator's command line, or what to install.

The command needs the `generate` extra (PyYAML, Jinja2, jsonschema and black;
shtab for shell completion);
an application that installed the runtime alone gets one line naming that extra
instead of a traceback. `aggregen copy` is the runtime's (`aggregen.runtime.copy`):
it needs no generator, so it runs before that check.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.util import find_spec

__all__ = ["GENERATE_EXTRA", "main"]

GENERATE_EXTRA = "aggregen[generate]"

_GENERATOR_DEPENDENCIES = {
    "yaml": "PyYAML",
    "jinja2": "Jinja2",
    "jsonschema": "jsonschema",
    "black": "black",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run `aggregen` with `argv`; exit status 1 when the generator is not installed."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["copy"]:
        from aggregen.runtime.copy import main as copy_main

        return copy_main(arguments[1:])
    missing = [
        distribution
        for module, distribution in _GENERATOR_DEPENDENCIES.items()
        if find_spec(module) is None
    ]
    if missing:
        sys.stderr.write(
            f"aggregen: the aggregen command needs the generator's dependencies, and "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed "
            f"(the runtime alone does not bring them): pip install '{GENERATE_EXTRA}'\n"
        )
        return 1
    from aggregen.generator.cli import main as generator_main

    return generator_main(argv)
