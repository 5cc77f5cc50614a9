"""Markdown with LaTeX math to HTML, offline and safe to embed in a TA's or a student's page.

``to_html(text)`` renders CommonMark (raw HTML in the source is escaped, never passed
through), ``$...$`` inline and ``$$...$$`` display math as MathML (latex2mathml; Chromium
and Firefox render MathML without any script or network). latex2mathml copies ``\\text{}``
and ``\\href`` arguments into its output unescaped, so every formula is re-serialised
through a whitelist of MathML elements and attributes; a formula that does not survive is
shown as escaped code. Images are kept only when they are ``data:image/...`` URIs, so a page
never loads anything from outside.

Bounded work: an answer is drawn from at most ``MAX_TEXT`` characters; at most
``MAX_FORMULAS`` formulas, each at most ``MAX_FORMULA`` characters and ``MAX_MATH`` in all,
become MathML, the rest are shown as their LaTeX source (escaped code); a one-line note
in the answer says what was cut. The result is ``Markup`` (the templates escape anything
else) and is cached by text, so an answer is drawn once per process.
"""
from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast
import xml.etree.ElementTree as ET

from latex2mathml.converter import convert
from markupsafe import Markup
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

if TYPE_CHECKING:
    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

MATHML = "http://www.w3.org/1998/Math/MathML"
ELEMENTS = {"math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot", "mstyle",
            "merror", "mpadded", "mphantom", "mfenced", "menclose", "msub", "msup", "msubsup", "munder", "mover",
            "munderover", "mmultiscripts", "mprescripts", "none", "mtable", "mtr", "mtd", "mlabeledtr",
            "semantics", "annotation"}
ATTRIBUTES = {"display", "mathvariant", "mathsize", "mathcolor", "mathbackground", "stretchy", "fence",
              "separator", "lspace", "rspace", "minsize", "maxsize", "symmetric", "largeop", "movablelimits",
              "accent", "accentunder", "form", "width", "height", "depth", "linethickness", "columnalign",
              "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines", "frame", "notation",
              "scriptlevel", "displaystyle", "open", "close", "separators", "encoding", "align"}
MAX_TEXT = 50_000       # characters of one answer that are drawn at all
MAX_FORMULAS = 400      # formulas drawn as MathML per answer
MAX_FORMULA = 2_000     # characters of one formula drawn as MathML
MAX_MATH = 40_000       # characters of formulas drawn as MathML per answer


def _clean(element: ET.Element) -> ET.Element:
    """A copy of ``element`` keeping whitelisted MathML only; other elements become their text."""
    tag = element.tag.split("}", 1)[-1]
    copy = ET.Element(tag, {k: v for k, v in element.attrib.items()
                            if k in ATTRIBUTES and "script:" not in v.lower()})
    copy.text = element.text
    for child in element:
        child_tag = child.tag.split("}", 1)[-1]
        if child_tag in ELEMENTS:
            copy.append(_clean(child))
            if child.tail:
                copy[-1].tail = child.tail
        else:  # not MathML (e.g. <script> smuggled through \text{}): keep its words as text only
            words = "".join(child.itertext()) + (child.tail or "")
            if len(copy):
                copy[-1].tail = (copy[-1].tail or "") + words
            else:
                copy.text = (copy.text or "") + words
    return copy


def math_html(latex: str, display: bool = False) -> str:
    """One formula as sanitised MathML, or escaped code with class ``math-error`` if it cannot be."""
    try:
        tree = ET.fromstring(convert(latex, display="block" if display else "inline"))
        clean = _clean(tree)
        clean.set("xmlns", MATHML)
        return ET.tostring(clean, encoding="unicode", method="xml")
    except Exception:  # latex2mathml raises many kinds; the TA still sees the source
        return f'<code class="math-error">{html.escape(latex)}</code>'


def _renderer(content: str, options: dict[str, Any]) -> str:
    return math_html(content, options.get("display_mode", False))


def _image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    src = cast(str, token.attrGet("src") or "")   # an image's src is always text (attrGet is typed str | int | float)
    if src.startswith("data:image/"):
        return self.image(tokens, idx, options, env)
    alt = html.escape(token.content or "image")
    return f'<span class="external-image">[image not shown: {alt}]</span>'


_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
dollarmath_plugin(_MD, allow_space=True, allow_digits=False, double_inline=True, renderer=_renderer)
_MD.add_render_rule("image", _image)


def _cap_formulas(tokens: Iterable[Token]) -> tuple[int, int]:
    """Turn the formulas past the caps into code tokens (shown as source); ``(formulas, drawn)``."""
    seen = drawn = budget = 0
    for token in tokens:
        for part in [token, *(token.children or [])]:
            if not part.type.startswith("math_"):
                continue
            seen += 1
            size = len(part.content)
            if drawn < MAX_FORMULAS and size <= MAX_FORMULA and budget + size <= MAX_MATH:
                drawn, budget = drawn + 1, budget + size
            else:
                part.type = "code_inline" if part.type.startswith("math_inline") else "code_block"
    return seen, drawn


@lru_cache(maxsize=512)
def _draw(text: str, cut_from: int) -> Markup:
    """``text`` (already at most ``MAX_TEXT`` long) as HTML with the notes; ``cut_from``: the original length."""
    env: dict = {}
    tokens = _MD.parse(text, env)
    seen, drawn = _cap_formulas(tokens)
    notes = []
    if cut_from > len(text):
        notes.append(f"This answer is {cut_from:,} characters long; only the first {len(text):,} are shown.")
    if drawn < seen:
        notes.append(f"{seen:,} formulas: the first {drawn:,} within the limits are drawn, "
                     f"the other {seen - drawn:,} are shown as LaTeX source.")
    body = _MD.renderer.render(tokens, _MD.options, env)
    shown = "".join(f'<p class="render-note">{html.escape(note)}</p>\n' for note in notes)
    return Markup(shown + body)


def to_html(text: str) -> Markup:
    """``text`` (markdown, maybe with math) as HTML safe to place inside a page (see the module docstring)."""
    if not text:
        return Markup("")
    return _draw(text[:MAX_TEXT], len(text))


def inline_html(text: str) -> Markup:
    """A short text (a rubric entry: ``code``, *emphasis*, $math$) as HTML to place inside a line: what
    ``to_html`` draws, without the paragraph around a single one."""
    out = str(to_html(str(text or ""))).strip()
    if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
        out = out[len("<p>"):-len("</p>")]
    return Markup(out)
