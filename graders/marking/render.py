"""Markdown with LaTeX math to HTML, offline and safe to embed in a TA's or a student's page.

``to_html(text)`` renders CommonMark (raw HTML in the source is escaped, never passed
through), ``$...$`` inline and ``$$...$$`` display math as MathML (latex2mathml; Chromium
and Firefox render MathML without any script or network). latex2mathml copies ``\\text{}``
and ``\\href`` arguments into its output unescaped, so every formula is re-serialised
through a whitelist of MathML elements and attributes; a formula that does not survive is
shown as escaped code. Images are kept only when they are ``data:image/...`` URIs, so a page
never loads anything from outside.
"""
import html
import xml.etree.ElementTree as ET

from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

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


def _clean(element):
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


def math_html(latex, display=False):
    """One formula as sanitised MathML, or escaped code with class ``math-error`` if it cannot be."""
    try:
        tree = ET.fromstring(convert(latex, display="block" if display else "inline"))
        clean = _clean(tree)
        clean.set("xmlns", MATHML)
        return ET.tostring(clean, encoding="unicode", method="xml")
    except Exception:  # latex2mathml raises many kinds; the TA still sees the source
        return f'<code class="math-error">{html.escape(latex)}</code>'


def _renderer(content, options):
    return math_html(content, options.get("display_mode", False))


def _image(self, tokens, idx, options, env):
    token = tokens[idx]
    src = token.attrGet("src") or ""
    if src.startswith("data:image/"):
        return self.image(tokens, idx, options, env)
    alt = html.escape(token.content or "image")
    return f'<span class="external-image">[image not shown: {alt}]</span>'


_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
dollarmath_plugin(_MD, allow_space=True, allow_digits=False, double_inline=True, renderer=_renderer)
_MD.add_render_rule("image", _image)


def to_html(text):
    """``text`` (markdown, maybe with math) as HTML safe to place inside a page."""
    if not text:
        return ""
    return _MD.render(text)
