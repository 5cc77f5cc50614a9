"""What each homework function computes, as a sequence of operations that a rewrite does not change.

The template fixes the eight function names (``CONTRACT``), so two submissions
are compared function by function. Each function is flattened into the
operations it performs, in order (``flatten``):

- every call becomes its API name (``torch.exp(a)`` and ``a.exp()`` are both
  ``exp``; ``a.pow(2)``, ``a ** 2`` and ``torch.square(a)`` are all ``**``);
  arithmetic becomes its operator, with the operands of ``+`` and ``*`` in a
  fixed order; number literals are kept (``1e-08``, ``0.5``);
- a call of the student's own helper function, method or class is replaced by
  the helper's body (depth ``MAX_DEPTH``), so moving code into a helper, a
  shared training loop or a new cell, or inlining a helper into both trainers,
  changes nothing;
- names the student chose (variables, parameters, helpers, classes,
  attributes they set) are dropped; names they did not choose (``torch``,
  ``nn.Linear``, the template's ``MNISTArgs``, ``vae.encoder``, ``args.lr``)
  are kept;
- ``for`` and ``while`` are both a loop (the range and a ``+= 1`` counter are
  dropped); ``nn.Sequential`` is dropped (its layers stay), as are type hints,
  docstrings, prints, logging, asserts and ``if False:`` blocks.

Function names of the contract called from another contract function stay a
call (``elbo`` shows ``reconstruct`` by name, not its body). The texts the
student wrote (comments, strings, printed messages) are collected apart
(``texts``) for ``rare_text``.
"""
import ast
import builtins
import functools
import re
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from typing import cast

from graders.similarity.tokenise import parse

CONTRACT = ("reconstruct", "kl_divergence", "binary_cross_entropy", "elbo", "train_mnist_vae", "creconstruct",
            "celbo", "train_mnist_cvae")
MAX_DEPTH = 4          # helpers inlined at most this deep
MAX_OPS = 5000         # operations kept per function
MAX_INLINED = 20000    # AST nodes of helpers inlined per function at most (a hostile file cannot blow it up)
GLUE = {"range", "enumerate", "zip", "len", "list", "tuple", "float", "int", "iter", "next", "Sequential",
        "super", "__init__", "print", "isinstance", "dict", "str", "format", "items", "append", "extend",
        "set_postfix", "set_description", "tqdm", "trange", "item", "detach", "cpu", "to", "numpy", "train",
        "eval", "add_module"}
SYNONYMS = {"pow": "**", "square": "**", "mul": "*", "multiply": "*", "add": "+", "sub": "-", "subtract": "-",
            "div": "/", "divide": "/", "true_divide": "/", "neg": "neg", "negative": "neg", "xlogy": "xlogy",
            "axis": "dim", "Mult": "*", "Add": "+", "Sub": "-", "Div": "/", "Pow": "**", "USub": "neg",
            "MatMult": "@", "FloorDiv": "//", "Mod": "%"}
OUTPUT_CALLS = {"print", "info", "debug", "warning", "write", "display", "log_metric", "add_scalar"}
LIBRARIES = {"torch", "nn", "F", "np", "math", "optim", "D", "dist", "distributions", "functional", "itertools",
             "random", "copy", "logging", "tqdm", "time"}
BUILTINS = set(dir(builtins))


@dataclass
class StructureDocument:
    """One submission's contract functions as operation sequences, and the texts it wrote."""
    functions: dict = field(default_factory=dict)   # contract name -> tuple of operation strings
    texts: set = field(default_factory=set)         # normalised comment, string and printed lines


@dataclass
class _Definitions:
    """What the student defined: top-level functions, classes, methods by name, names and attributes bound."""
    functions: dict = field(default_factory=dict)
    classes: dict = field(default_factory=dict)
    methods: dict = field(default_factory=dict)
    bound: set = field(default_factory=set)        # names the student chose
    attributes: set = field(default_factory=set)   # attribute and method names the student chose
    template: frozenset = frozenset()


@dataclass(frozen=True)
class _Cell:
    """What one cell defines and binds, read once per distinct cell text (template cells recur)."""
    tree: ast.Module
    names: frozenset     # variables, parameters, functions and classes it binds
    attributes: frozenset  # attributes it sets (self.x = ...) and methods it defines
    texts: frozenset


@functools.lru_cache(maxsize=8192)
def _cell(text: str) -> _Cell | None:
    """The ``_Cell`` of a code cell's Python text; None when it does not parse."""
    tree = parse(text)
    if tree is None:
        return None
    names, attributes, strings = set(), set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                strings.append(node.value)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            attributes.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            attributes.update(item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return _Cell(tree, frozenset(names), frozenset(attributes), frozenset(_comments(text) | _strings(strings)))


def _collect(cells: Iterable[_Cell], template_names: set[str]) -> _Definitions:
    """``_Definitions`` of the student's parsed cells (later definitions win, as when the cells run)."""
    found = _Definitions(template=frozenset(template_names))
    for cell in cells:
        for node in cell.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    node.name in CONTRACT or node.name not in template_names):
                found.functions[node.name] = node
            elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda) and len(node.targets) == 1
                  and isinstance(node.targets[0], ast.Name)):
                found.functions[node.targets[0].id] = node.value   # sample = lambda mu, logvar: ...
            elif isinstance(node, ast.ClassDef) and node.name not in template_names:
                found.classes[node.name] = node
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("__"):
                        found.methods.setdefault(item.name, item)
        found.bound |= cell.names
        found.attributes |= cell.attributes
    found.bound -= set(CONTRACT) | LIBRARIES | set(template_names)
    found.attributes -= set(template_names)
    return found


def _number(value: float) -> str:
    """A number literal as text: ``0.5``, ``1e-08``, ``784`` (``1.0`` and ``1`` are the same)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        value = int(value)
    return f"#{value!r}"


class _Flattener:
    """Turns a function body into its operation sequence (see the module doc)."""

    def __init__(self, definitions: _Definitions) -> None:
        self.defs = definitions
        self.stack: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda] = []
        self.sizes: dict[ast.AST, int] = {}          # helper node -> its number of AST nodes
        self.budget = MAX_OPS

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> tuple[str, ...]:
        """The flattened operations of a homework function, written with ``def`` or as
        ``name = lambda ...: ...`` (its body read as the one expression it returns)."""
        self.stack = [node]
        self.constants: dict[str, str] = {}   # name -> number token: a constant given a name is read where it is used
        self.budget = MAX_INLINED
        out: list[str] = []
        if isinstance(node, ast.Lambda):
            self._statement(ast.Return(node.body), out)
        else:
            self._body(node.body, out)
        return tuple(out)

    def _inline(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, out: list[str]) -> None:
        if node not in self.sizes:
            self.sizes[node] = sum(1 for _ in ast.walk(node))
        self.budget -= self.sizes[node]
        if node in self.stack or len(self.stack) > MAX_DEPTH or self.budget < 0:
            out.append("call:?")
            return
        self.stack.append(node)
        if isinstance(node, ast.Lambda):
            self._expr(node.body, out)
        else:
            self._body(node.body, out)
        self.stack.pop()

    def _body(self, statements: Iterable[ast.stmt], out: list[str]) -> None:
        for statement in statements:
            self._statement(statement, out)

    def _statement(self, node: ast.stmt, out: list[str]) -> None:
        if isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant) or _is_output(node.value):
                return
            self._expr(node.value, out)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            number = _literal(node.value)
            if number is not None and all(isinstance(t, ast.Name) for t in targets):
                self.constants.update((cast(ast.Name, t).id, number) for t in targets)   # all Names: checked above
            elif node.value is not None:
                self._expr(node.value, out)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.value, ast.Constant) and node.value.value == 1:
                return   # a loop counter
            self._expr(node.value, out)
            out.append(SYNONYMS.get(type(node.op).__name__, type(node.op).__name__))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            if isinstance(node, ast.For) and not _is_counting(node.iter):
                self._expr(node.iter, out)
            out.append("loop{")
            self._body(node.body, out)
            out.append("}")
        elif isinstance(node, ast.If):
            if isinstance(node.test, ast.Constant):
                return   # if False: dead code
            self._expr(node.test, out)
            out.append("if{")
            self._body(node.body, out)
            self._body(node.orelse, out)
            out.append("}")
        elif isinstance(node, ast.Return):
            if node.value is not None:
                self._expr(node.value, out)
            out.append("return")
        else:
            self._other(node, out)

    def _other(self, node: ast.stmt, out: list[str]) -> None:
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self._expr(item.context_expr, out)
            self._body(node.body, out)
        elif isinstance(node, ast.Try):
            self._body(node.body, out)
            for handler in node.handlers:
                self._body(handler.body, out)
            self._body(node.finalbody, out)
        # nested definitions run when called (inlined by name); assert, pass, global, import: nothing

    def _expr(self, node: ast.expr | None, out: list[str]) -> None:
        if node is None:
            return
        if isinstance(node, ast.Call):
            self._call(node, out)
        elif isinstance(node, ast.BinOp):
            left: list[str]
            right: list[str]
            left, right = [], []
            self._expr(node.left, left)
            self._expr(node.right, right)
            operator = type(node.op).__name__
            divisor = _literal(node.right)
            if isinstance(node.op, ast.Div) and divisor not in (None, "#0"):   # a / 2 is 0.5 * a
                right, operator = [_number(1 / float(divisor[1:]))], "Mult"
            if operator in ("Add", "Mult"):
                left, right = sorted((left, right))
            out.extend(left + right)
            out.append(SYNONYMS.get(operator, operator))
        elif isinstance(node, ast.UnaryOp):
            self._expr(node.operand, out)
            if isinstance(node.op, ast.USub):
                if out and out[-1].startswith("#"):
                    out[-1] = "#-" + out[-1][1:]
                else:
                    out.append("neg")
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                out.append(_number(node.value))
        else:
            self._expr_other(node, out)

    def _expr_other(self, node: ast.expr, out: list[str]) -> None:
        if isinstance(node, ast.Name):
            if node.id in CONTRACT:
                out.append(f"ref:{node.id}")
            elif node.id in self.constants:
                out.append(self.constants[node.id])
        elif isinstance(node, ast.Attribute):
            self._expr(node.value, out)
            if node.attr not in self.defs.attributes and not node.attr.startswith("_"):
                out.append(f".{node.attr}")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
            self._expr(node.value.value, out)   # x.shape[0] is x.size(0)
            self._expr(node.slice, out)
            out.append("call:size")
        elif isinstance(node, ast.Subscript):
            self._expr(node.value, out)
            self._expr(node.slice, out)
            out.append("[]")
        elif isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            for generator in node.generators:
                self._expr(generator.iter, out)
            out.append("loop{")
            self._expr(node.elt, out)
            out.append("}")
        elif isinstance(node, ast.Lambda):
            self._expr(node.body, out)
        elif isinstance(node, ast.keyword):
            self._expr(node.value, out)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self._expr(child, out)

    def _call(self, node: ast.Call, out: list[str]) -> None:
        func = node.func
        helper = self._helper(func)
        if isinstance(func, ast.Attribute) and helper is None:
            self._expr(func.value, out)   # a.sum(1) as torch.sum(a, 1): the receiver is the first operand
        for argument in node.args:
            self._expr(argument, out)
        for keyword in node.keywords:
            self._expr(keyword.value, out)
        if helper is not None:
            self._inline(helper, out)
            return
        if isinstance(func, ast.Attribute):
            name = func.attr if func.attr in GLUE or func.attr not in self.defs.attributes else "?"
        elif isinstance(func, ast.Name):
            name = func.id if func.id in GLUE or func.id not in self.defs.bound else "?"
        else:
            self._expr(func, out)
            name = "?"
        if name.endswith("_") and not name.startswith("_"):
            name = name[:-1]   # in-place variants: exp_, mul_, add_
        if name not in GLUE:
            out.append(f"call:{SYNONYMS.get(name, name)}" if SYNONYMS.get(name, "").isalpha() or
                       name not in SYNONYMS else SYNONYMS[name])

    def _helper(self, func: ast.expr) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | None:
        """The student's function, class ``__init__`` or method that ``func`` calls, if any."""
        if isinstance(func, ast.Name) and func.id not in CONTRACT:
            for scope in reversed(self.stack):   # a nested def first
                for statement in (scope.body if isinstance(scope.body, list) else []):
                    if isinstance(statement, ast.FunctionDef) and statement.name == func.id:
                        return statement
            if func.id in self.defs.functions:
                return self.defs.functions[func.id]
            if func.id in self.defs.classes:
                return next((n for n in self.defs.classes[func.id].body
                             if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.defs.classes:
            return next((n for n in self.defs.classes[func.value.id].body      # Net.encoder(...)
                         if isinstance(n, ast.FunctionDef) and n.name == func.attr), None)
        if isinstance(func, ast.Attribute) and func.attr in self.defs.methods and (
                func.attr not in self.defs.template or isinstance(func.value, ast.Name) and func.value.id == "self"):
            return self.defs.methods[func.attr]
        return None


def _literal(node: ast.expr | None) -> str | None:
    """The number token of a numeric literal (``2``, ``-0.5``, ``1e-8``), else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node, sign = node.operand, -1
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return _number(sign * node.value)
    return None


def _is_output(node: ast.expr) -> bool:
    """A call that only prints or logs."""
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id in OUTPUT_CALLS) or
        (isinstance(node.func, ast.Attribute) and node.func.attr in OUTPUT_CALLS))


def _is_counting(node: ast.expr) -> bool:
    """``range(...)``: the loop counts, what it counts over is in the body."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"


WORDS = re.compile(r"[a-z0-9]+")
MIN_TEXT_WORDS = 3


NAME_TEXTS = {name.replace("_", " ") for name in CONTRACT}


def _normal_text(text: str) -> str | None:
    """A comment or string as compared: lower-case words; None when too short to be evidence or when it
    only spells a homework function's name (``\"\"\"Train mnist vae.\"\"\"``)."""
    words = WORDS.findall(text.lower())
    joined = " ".join(words)
    return joined if len(words) >= MIN_TEXT_WORDS and joined not in NAME_TEXTS else None


def _comments(text: str) -> set[str]:
    """The normalised comments of a cell's text (a ``#`` outside a one-line string starts one)."""
    found = set()
    for line in text.split("\n"):
        at = line.find("#")
        if at >= 0 and line[:at].count('"') % 2 == 0 and line[:at].count("'") % 2 == 0:
            normal = _normal_text(line[at + 1:])
            if normal:
                found.add(normal)
    return found


def _strings(strings: Iterable[str]) -> set[str]:
    """The normalised lines of string literals (docstrings and printed messages included)."""
    return {normal for value in strings for normal in map(_normal_text, value.split("\n")) if normal}


def texts_of(cell_texts: Sequence[str], trees: Iterable[ast.AST]) -> set[str]:
    """The normalised comment lines and string literals of cells (their texts and parsed trees)."""
    found = set().union(*map(_comments, cell_texts)) if cell_texts else set()
    for tree in trees:
        found |= _strings(node.value for node in ast.walk(tree)
                          if isinstance(node, ast.Constant) and isinstance(node.value, str))
    return found


def markdown_texts(markdown_cells: Iterable[str]) -> frozenset[str]:
    """Normalised lines of markdown cells (a ``.py`` export repeats the template's markdown as comments)."""
    return frozenset(filter(None, (_normal_text(line) for text in markdown_cells for line in text.split("\n"))))


def template_facts(cell_texts: Sequence[str]) -> tuple[frozenset[str], frozenset[str]]:
    """``(names, texts)`` of the released template's code cells: the API it gives (top-level functions and
    classes, dataclass fields, attributes it sets) and its normalised comments and strings."""
    trees = []
    for text in cell_texts:
        try:
            trees.append(ast.parse(text))
        except (SyntaxError, ValueError):
            continue
    names = set()
    node: ast.AST
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            if isinstance(node, ast.ClassDef):   # dataclass fields: args.lr, args.epochs
                names.update(item.target.id for item in node.body
                             if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return frozenset(names - set(CONTRACT)), frozenset(texts_of(cell_texts, trees))


def read_structure(cell_texts: Iterable[str], template_names: Set[str] = frozenset(),
                   template_texts: Set[str] = frozenset()) -> StructureDocument:
    """The ``StructureDocument`` of a submission's code cell texts (Python, magics already handled).

    ``template_names``: names the template defines (kept, never inlined); ``template_texts``: normalised
    texts of the template, left out of ``texts``. A cell that does not parse is skipped."""
    cells = [cell for cell in map(_cell, cell_texts) if cell is not None]
    definitions = _collect(cells, set(template_names))
    flattener = _Flattener(definitions)
    functions = {}
    for name in CONTRACT:
        if name in definitions.functions:
            try:
                functions[name] = flattener.function(definitions.functions[name])[:MAX_OPS]
            except RecursionError:   # an expression nested thousands deep: this function says nothing
                functions[name] = ()
    texts = set().union(*(cell.texts for cell in cells)) if cells else set()
    return StructureDocument({n: ops for n, ops in functions.items() if ops}, texts - set(template_texts))
