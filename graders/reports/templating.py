"""The one Jinja environment every page of the grader is drawn with.

Contract: every ``{{ }}`` in every template under ``graders/reports/templates`` is HTML-escaped,
whatever the template's suffix (``autoescape=True``, not Flask's choice by file name,
which leaves ``.html.j2`` raw). The only way to put markup into a page is a
``markupsafe.Markup`` value, and only the sanitising renderer (``graders.reports.render``)
makes those; templates never use ``| safe``.
"""
from functools import lru_cache

from jinja2 import Environment, PackageLoader


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The shared environment (built once; templates are compiled once and cached by Jinja). Its one
    filter, ``md_inline``, draws a short text with the sanitising renderer (``render.inline_html``)."""
    from graders.reports.render import inline_html
    env = Environment(loader=PackageLoader("graders.reports", "templates"), autoescape=True)
    env.filters["md_inline"] = inline_html
    return env


def render_page(name: str, **context: object) -> str:
    """Template ``name`` drawn with ``context``; every value escaped unless it is ``Markup``."""
    return environment().get_template(name).render(**context)
