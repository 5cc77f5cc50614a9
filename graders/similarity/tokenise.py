"""Normalised tokens of the code a submission hands in, so that disguises do not matter.

What is read: the top-level statements the grader loads (imports, function and
class definitions, assignments), cell by cell, found with ``ast``; a cell that
does not parse is read whole. A statement that normalises to one of the
released template's statements is left out (the student did not write it).

How tokens are normalised (``normalise``):

- identifiers become ``V`` (renaming cannot hide a copy); a name right after a
  ``.`` is kept (``.exp``, ``.randn_like``: library API a renamer cannot change);
  keywords are kept;
- numbers become ``N`` and strings ``S``; comments, blank lines and line breaks
  inside brackets are dropped, a trailing comma before a closing bracket too;
- a statement's end is ``;`` (whether a newline or a semicolon), indentation
  is ``{`` / ``}``;
- logical lines that only print or document (``print(...)``, a bare string
  such as a docstring, ``pass``) are dropped: they change no result.

Every token keeps the line it came from in ``CodeDocument.text``, the text
shown to the TA, so matched fingerprints map back to line spans.
"""
import ast
import functools
import io
import keyword
import re
import tokenize
import warnings
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from worker import magics

LOADED = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
          ast.Assign, ast.AnnAssign, ast.AugAssign)
CELL_MAGIC = re.compile(r"\s*%%")        # a cell magic (%%time): its first line is not Python
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
CLOSERS = {")", "]", "}"}
OUTPUT_ONLY = {"print", "pass"}


@dataclass
class CodeDocument:
    """One submission's code as compared: the text shown and its normalised tokens."""
    id: str
    text: str = ""                                 # the student's top-level statements, cell by cell
    tokens: list = field(default_factory=list)     # normalised token strings
    lines: list = field(default_factory=list)      # 1-based line in ``text`` of each token
    template_statements: int = 0                   # statements left out as the template's own
    problem: str = ""                              # why no code could be read, if none was


def _raw_tokens(text: str) -> list[tokenize.TokenInfo]:
    """``tokenize`` tokens of ``text``; on a tokenizer error, the tokens read up to it."""
    tokens = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            tokens.append(token)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return tokens


def normalise(text: str) -> list[tuple[str, int]]:
    """``[(token, line)]`` for Python source ``text`` (lines 1-based within ``text``); see the module doc."""
    logical: list[tuple[str, str, int, int]]
    out: list[tuple[str, int]]
    logical, out = [], []
    previous: str | None = None

    def flush() -> None:
        names = [t for t in logical if t[2] == tokenize.NAME]
        strings_only = logical and all(t[2] == tokenize.STRING for t in logical)
        output_only = names and logical[0][2] == tokenize.NAME and logical[0][0] in OUTPUT_ONLY
        if logical and not strings_only and not output_only:
            out.extend((norm, line) for _, norm, _, line in logical)
            out.append((";", logical[-1][3]))
        logical.clear()

    raw = _raw_tokens(text)
    for index, token in enumerate(raw):
        kind, string, line = token.type, token.string, token.start[0]
        if kind in SKIP:
            continue
        if kind == tokenize.NEWLINE or (kind == tokenize.OP and string == ";"):
            flush()
            previous = None
            continue
        if kind in (tokenize.INDENT, tokenize.DEDENT):
            flush()
            out.append(("{" if kind == tokenize.INDENT else "}", line))
            previous = None
            continue
        if kind == tokenize.NAME:
            norm = string if keyword.iskeyword(string) or previous == "." else "V"
        elif kind == tokenize.NUMBER:
            norm = "N"
        elif kind == tokenize.STRING:
            norm = "S"
        elif kind == tokenize.OP and string == ",":
            following = next((t for t in raw[index + 1:] if t.type not in SKIP), None)
            if following is not None and following.string in CLOSERS:
                continue
            norm = ","
        else:
            norm = string
        logical.append((string, norm, kind, line))
        previous = string
    flush()
    return out


@functools.lru_cache(maxsize=16384)
def parse(text: str) -> ast.Module | None:
    """``ast.parse(text)`` (warnings silenced), or None when it does not parse; cached, so a cell is parsed
    once for the tokens and the structure alike. The tree is shared: never change it."""
    try:
        with warnings.catch_warnings():   # a student's "\m" in a string is their business, not a warning here
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):   # nested too deep for the parser: not read
        return None


@functools.lru_cache(maxsize=16384)
def _python_text(text: str) -> str:
    """``text`` as Python: unchanged when it parses; otherwise a leading cell magic (``%%time``) blanked and
    the rest read by ``worker.magics`` (each magic line on its own: linear in the cell's length)."""
    if parse(text) is not None:
        return text
    if CELL_MAGIC.match(text):
        text = "\n" + text.split("\n", 1)[1] if "\n" in text else ""
    return magics.python_text(text, lambda python: parse(python) is not None)


@functools.lru_cache(maxsize=4096)
def statements(cell_text: str) -> tuple[str, ...]:
    """The loaded top-level statements of one cell as ``(source text, ...)``; the whole cell if it does not parse.

    Cached: the template's cells recur in every submission and are parsed once."""
    text = _python_text(cell_text)
    tree = parse(text)
    if tree is None:
        return (text,) if text.strip() else ()
    lines = text.split("\n")
    found = []
    for node in tree.body:
        if isinstance(node, LOADED):
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            found.append("\n".join(lines[first - 1:node.end_lineno]))
    return tuple(found)


@functools.lru_cache(maxsize=16384)
def _normalised(source: str) -> tuple[tuple[str, int], ...]:
    """``normalise(source)`` as a tuple, cached: template statements recur in every submission."""
    return tuple(normalise(source))


def template_statements(code_cells: Iterable[tuple[str, str]]) -> set[tuple[str, ...]]:
    """Normalised token tuples of every loaded statement of the template's ``[(label, text)]`` cells."""
    return {tuple(t for t, _ in normalise(s)) for _, text in code_cells for s in statements(text)}


def read_document(sub_id: str, code_cells: Iterable[tuple[str, str]],
                  template: Collection[tuple[str, ...]] = frozenset()) -> CodeDocument:
    """The ``CodeDocument`` of a submission's ``[(label, text)]`` code cells, minus ``template`` statements."""
    doc = CodeDocument(sub_id)
    text_lines = []
    for label, cell_text in code_cells:
        header_written = False
        for source in statements(cell_text):
            tokens = _normalised(source)
            if not tokens:
                continue
            if tuple(t for t, _ in tokens) in template:
                doc.template_statements += 1
                continue
            if not header_written:
                text_lines.append(f"# ── {label} ──")
                header_written = True
            offset = len(text_lines)
            text_lines.extend(source.split("\n"))
            text_lines.append("")
            doc.tokens.extend(t for t, _ in tokens)
            doc.lines.extend(offset + line for _, line in tokens)
    doc.text = "\n".join(text_lines)
    return doc
