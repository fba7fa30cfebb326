"""aggregen: typed event-sourced aggregates generated from YAML schemas.

`aggregen.runtime` is what applications and generated code import (standard
library and orjson; psycopg for MessageDB); `aggregen.generator` and
`aggregen.review` are the `aggregen` command (the `generate` extra).
"""

__version__ = "0.1.0"
"""The version of this distribution; generated packages record the one that made them."""
