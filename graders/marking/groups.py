"""Answer groups on a question page: answers a TA can mark together, each still editable alone.

``group_answers(item, answers, pdf_pages)`` returns ``[Group]`` for one written item:

- ``blank``: no answer in the notebook and no PDF page mapped to the item;
- ``same text``: answers equal once normalised (case, spacing, markdown emphasis, LaTeX
  spacing commands and delimiters, ``\\dfrac`` and ``\\frac``), or near-identical (a
  character-level ratio of at least ``NEAR`` between normalised texts of ``NEAR_MIN`` characters
  or more, linked transitively, never across two different final expressions);
- ``same result``: for the items that ask for one expression (``EXPRESSION_ITEMS``), answers
  whose final expression (the right-hand side of the last equation in their last formula)
  is the same expression, compared by SymPy after ``latex_to_sympy``, not as strings.

Only groups of two or more answers are returned (blank answers: one is enough), largest first.
A group is a suggestion: applying a rubric entry to it is the TA's action, recorded per answer.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sympy import Expr

EXPRESSION_ITEMS = ("q1b", "q1c")
NEAR = 0.92
NEAR_MIN = 80               # characters: a shorter answer is grouped only with equal ones (one symbol matters)
MAX_COMPARE = 4000          # characters of an answer compared for "near-identical"


@dataclass
class Group:
    """Students whose answers to ``item`` match by ``kind``; ``label`` says what they share."""
    item: str
    kind: str                 # "blank", "same text" or "same result"
    label: str
    students: list[str] = field(default_factory=list)


_LATEX_NOISE = re.compile(r"\\[,;:! ]|\\(?:left|right|big|Big|bigg|Bigg|displaystyle|quad|qquad)\b")
_MARKDOWN = re.compile(r"[*_`>#]+")


def normalise(text: str) -> str:
    """``text`` compared as a TA reads it: case, spacing, emphasis and LaTeX layout dropped."""
    text = _LATEX_NOISE.sub(" ", text or "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _MARKDOWN.sub(" ", text.replace("$$", " ").replace("$", " "))
    return " ".join(text.lower().split())


_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_UNICODE = {"λ": r"\lambda ", "√": r"\sqrt ", "·": "*", "×": "*", "−": "-", "ₙ": "_n", "²": "^2", "φ": r"\phi ",
            "σ": r"\sigma ", "L̃": "L", "̃": ""}


def final_expression(text: str) -> str:
    """The right-hand side of the last equation in the answer's last formula (or last line), as LaTeX."""
    spans = [next(g for g in match.groups() if g) for match in _MATH.finditer(text or "")]
    last = spans[-1] if spans else next((line for line in reversed((text or "").splitlines()) if line.strip()), "")
    for old, new in _UNICODE.items():
        last = last.replace(old, new)
    return re.split(r"=|\\approx|\\leq?|\\le\b|≤", last)[-1].strip(" .,;")


_GREEK = {"lambda": "lam", "phi": "phi", "sigma": "sigma", "alpha": "alpha", "beta": "beta", "mu": "mu"}
_NAMES = {"sqrt", *_GREEK.values()}


def latex_to_sympy(latex: str) -> Expr | None:
    """A SymPy expression for a short LaTeX formula (fractions, roots, Greek letters, implicit
    products), or ``None`` when it is not one (words, unknown commands, more than 200 characters)."""
    from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                            standard_transformations)
    text = _LATEX_NOISE.sub(" ", latex).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r"\\(?:tilde|hat|bar)\s*\{?(\w)\}?", r"\1", text)
    for _ in range(4):   # nested \frac and \sqrt, innermost first
        text = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r" ((\1)/(\2)) ", text)
        text = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r" sqrt(\1) ", text)
    text = re.sub(r"\\sqrt\s*(\w)", r" sqrt(\1) ", text)
    text = re.sub(r"\\(" + "|".join(_GREEK) + r")(?![a-zA-Z])", lambda m: f" {_GREEK[m.group(1)]} ", text)
    text = text.replace("\\cdot", "*").replace("\\times", "*").replace("{", "(").replace("}", ")")
    text = re.sub(r"_\(?(\w+)\)?", r"_\1", text)
    words = set(re.findall(r"[A-Za-z]{2,}", text))
    if not text.strip() or "\\" in text or len(text) > 200 or words - _NAMES:
        return None
    try:
        import sympy
        names = {name: sympy.Symbol(name) for name in _GREEK.values()}
        return parse_expr(text, local_dict=names, evaluate=True,
                          transformations=standard_transformations + (implicit_multiplication_application,
                                                                      convert_xor))
    except Exception:  # noqa: BLE001 - any text SymPy cannot read is simply not an expression
        return None


def _canonical(expression: Expr) -> str | None:
    import sympy
    try:
        return sympy.srepr(sympy.simplify(sympy.expand(expression)))
    except Exception:  # noqa: BLE001
        return None


def _near(x: str, y: str) -> bool:
    if x == y:
        return True
    if min(len(x), len(y)) < NEAR_MIN:
        return False
    x, y = x[:MAX_COMPARE], y[:MAX_COMPARE]
    matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
    return matcher.real_quick_ratio() >= NEAR and matcher.quick_ratio() >= NEAR and matcher.ratio() >= NEAR


def _linked(keys: dict[str, str], results: dict[str, str]) -> list[list[str]]:
    """Students linked transitively by equal or near-identical normalised answers (``keys``), never
    two whose final expressions (``results``, canonical forms) differ."""
    parent = {sid: sid for sid in keys}

    def root(sid: str) -> str:
        while parent[sid] != sid:
            parent[sid] = parent[parent[sid]]
            sid = parent[sid]
        return sid
    students = sorted(keys)
    for i, a in enumerate(students):
        for b in students[i + 1:]:
            differ = a in results and b in results and results[a] != results[b]
            if not differ and _near(keys[a], keys[b]):
                parent[root(b)] = root(a)
    clusters: dict[str, list[str]] = {}
    for sid in students:
        clusters.setdefault(root(sid), []).append(sid)
    return [members for members in clusters.values() if len(members) > 1]


def group_answers(item: str, answers: dict[str, str], pdf_pages: dict[str, list[int]] | None = None) -> list[Group]:
    """The groups of ``item``'s answers (``answers``: student -> notebook answer text; ``pdf_pages``:
    student -> pages mapped to the item). See the module docstring."""
    pdf_pages = pdf_pages or {}
    blank = sorted(sid for sid, text in answers.items() if not normalise(text) and not pdf_pages.get(sid))
    groups = [Group(item, "blank", "no answer", blank)] if blank else []
    written = {sid: normalise(text) for sid, text in answers.items() if normalise(text)}
    results: dict = {}
    shown: dict = {}
    if item in EXPRESSION_ITEMS:
        for sid, text in answers.items():
            latex = final_expression(text)
            expression = latex_to_sympy(latex) if latex else None
            key = _canonical(expression) if expression is not None else None
            if key:
                results[sid] = key
                shown.setdefault(key, latex)
    for members in _linked(written, results):
        same = len({written[sid] for sid in members}) == 1
        groups.append(Group(item, "same text", "identical answers" if same else "near-identical answers", members))
    for key in sorted(set(results.values())):
        members = sorted(sid for sid, result in results.items() if result == key)
        if len(members) > 1:
            groups.append(Group(item, "same result", f"final expression {shown[key]}", members))
    order = {"blank": 0, "same result": 1, "same text": 2}
    return sorted(groups, key=lambda g: (order[g.kind], -len(g.students), g.students))
