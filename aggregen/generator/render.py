"""Stage 4, render: models become Python source text through Jinja2 templates.

One template per kind of output file (`aggregen/templates/*.jinja2`), loaded as
package resources. Templates only print model fields, which the model stage made
safe (names checked, literals written as black writes them, free text escaped);
`StrictUndefined` turns a misspelled field into an error instead of an empty string.
The `fit` and `fit_lines` filters lay out lines that would be too long
(`layout.fit`), so that most files come out already formatted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from .layout import fit

if TYPE_CHECKING:
    import jinja2

    from .model import DomainModel

__all__ = ["RenderedFile", "environment", "render", "render_domain"]


@dataclass(frozen=True)
class RenderedFile:
    """One output file: its path relative to the output directory, and its text.

    `scaffold` files are hand-written code created once and never overwritten.
    """

    path: str
    text: str
    scaffold: bool = False


def fit_lines(text: str, indent: int) -> str:
    """Each line of a block of statements `fit` at its column; the first at `indent`."""
    lines = []
    for number, line in enumerate(text.split("\n")):
        code = line.lstrip(" ")
        if not code:
            lines.append("")
            continue
        column = indent + len(line) - len(code)
        fitted = fit(code, column)
        lines.append(fitted if number == 0 else " " * column + fitted)
    return "\n".join(lines)


@cache
def environment() -> jinja2.Environment:
    """The template environment: strict, no autoescaping (output is Python, not HTML)."""
    import jinja2  # imported here: the no-change shortcut never renders

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aggregen", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["fit"] = fit
    env.filters["fit_lines"] = fit_lines
    return env


def _render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)


def render_domain(domain: DomainModel) -> list[RenderedFile]:
    """Every file of one domain's package, in path order."""
    package = domain.package
    files = [
        RenderedFile(f"{package}/__init__.py", _render("package_init.py.jinja2", domain=domain)),
        RenderedFile(f"{package}/py.typed", _render("py.typed.jinja2", domain=domain)),
    ]
    if domain.has_values:
        files.append(
            RenderedFile(f"{package}/values.py", _render("values.py.jinja2", domain=domain))
        )
    for aggregate in domain.aggregates:
        context = {"domain": domain, "aggregate": aggregate}
        files += [
            RenderedFile(
                f"{package}/{aggregate.module}.py", _render("aggregate.py.jinja2", **context)
            ),
            RenderedFile(
                f"{package}/{aggregate.base_module}.py",
                _render("aggregate_base.py.jinja2", **context),
            ),
            RenderedFile(
                f"{package}/{aggregate.behavior_module}.py",
                _render("aggregate_behavior.py.jinja2", **context),
                scaffold=True,
            ),
        ]
        if aggregate.upcasters:
            files.append(
                RenderedFile(
                    f"{package}/{aggregate.upcasters_module}.py",
                    _render("aggregate_upcasters.py.jinja2", **context),
                    scaffold=True,
                )
            )
    return sorted(files, key=lambda f: f.path)


def render(domains: tuple[DomainModel, ...]) -> list[RenderedFile]:
    """Every file of every domain, in path order."""
    return sorted((f for d in domains for f in render_domain(d)), key=lambda f: f.path)
