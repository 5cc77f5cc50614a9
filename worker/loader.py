"""Load a notebook the way its author ran it, minus the slow parts (contract section 1).

The rule, as the template states it: in notebook order, every top-level import, function
or class definition and assignment runs (also inside a top-level ``if``, ``try`` or
``with`` made only of those), each within ``STATEMENT_SECONDS``. Skipped, each with a
recorded reason:

- a statement that calls a training function (a function of the notebook whose name
  starts with ``train``) or plotting (matplotlib, seaborn, plotly, ``IPython.display``),
  directly or through a function of the notebook that does;
- every other statement (loops, bare calls such as ``print(...)``, magics);
- the notebook's own copy of the scaffold (the grader provides ``MNISTArgs``,
  ``get_mnist_data``, ``Encoder``, ``VAE``, ``CVAE`` and ``append_class_to_data``).

A statement that raises or runs past its budget is recorded as failed and loading goes
on. Runs inside the sandbox (the parsing too, so a pathological cell costs only its own
submission's time).
"""
from __future__ import annotations

import ast
import linecache
import re
import signal
import time
import traceback
from typing import TYPE_CHECKING, Any, NoReturn, cast

from worker import magics
from worker.protocol import STATEMENT_WALL_BACKSTOP, LoadReport, Skip

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from types import CodeType, FrameType

SCAFFOLD_NAMES = ("MNISTArgs", "get_mnist_data", "Encoder", "VAE", "CVAE", "append_class_to_data")
TRAINERS = ("train_mnist_vae", "train_mnist_cvae")
PLOTTING_MODULES = ("matplotlib", "seaborn", "plotly", "IPython.display", "bokeh")
PLOTTING_NAMES = {"plt", "sns", "display"}      # plotting even where the notebook's import was skipped
RUN = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign,
       ast.AugAssign)
COMPOUND = (ast.If, ast.Try, ast.With) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
MAX_SKIPS = 400


class StatementTimeout(BaseException):
    """Raised in a statement that ran past its budget (a BaseException, so ``except Exception`` passes it)."""


# --- reading cells ----------------------------------------------------------------------------------

def parse_cell(text: str) -> tuple[ast.Module, str]:
    """The cell's module AST and the Python text it was parsed from (IPython magics transformed)."""
    try:
        return ast.parse(text), text
    except SyntaxError:
        python = magics.python_text(text, _parses)
        return ast.parse(python), python


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return base and f"{base}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return None


def _executed_nodes(stmt: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``stmt`` that may run when it runs: function bodies are left out (a lambda's body
    is kept: a lambda at the top level is usually called at once, e.g. ``run(lambda: train())``)."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d])
            continue
        stack.extend(ast.iter_child_nodes(node))


def _calls(nodes: Iterable[ast.AST]) -> set[str]:
    """Dotted names of the functions called in ``nodes`` (``plt.plot``, ``train_mnist_vae`` ...)."""
    return {name for node in nodes if isinstance(node, ast.Call) for name in [_dotted(node.func)] if name}


def defined_names(stmt: ast.stmt) -> list[str]:
    """Names a top-level statement binds."""
    names = []
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"]
    for node in _executed_nodes(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
    return names


class Plan:
    """Which names of a notebook train or plot: from its imports and its top-level functions."""

    def __init__(self, trees: Iterable[ast.Module]) -> None:
        self.plot_roots = set(PLOTTING_NAMES)
        functions = {}
        for tree in trees:
            for stmt in tree.body:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    module = getattr(stmt, "module", None) or ""
                    for alias in stmt.names:
                        full = f"{module}.{alias.name}" if module else alias.name
                        if full.startswith(PLOTTING_MODULES):
                            self.plot_roots.add((alias.asname or alias.name).split(".")[0])
                elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    functions[stmt.name] = {name.split(".")[0] for name in _calls(ast.walk(stmt))}
        self.training = {name for name in functions if name.startswith("train")} | set(TRAINERS)
        self.plotting: set[str] = set()
        changed = True
        while changed:  # a function that calls a training (plotting) function trains (plots)
            changed = False
            for name, called in functions.items():
                if name not in self.training and called & self.training:
                    self.training.add(name)
                    changed = True
                if name not in self.plotting and called & (self.plotting | self.plot_roots):
                    self.plotting.add(name)
                    changed = True

    def why_skipped(self, stmt: ast.stmt) -> str:
        """The reason the loading rule skips ``stmt``, or ``""`` when it runs."""
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.name in SCAFFOLD_NAMES:
            return "the grader provides the scaffold's " + stmt.name
        if isinstance(stmt, COMPOUND):
            if any(not isinstance(s, RUN + COMPOUND + (ast.Pass,)) for s in _nested_statements(stmt)):
                return f"a top-level {type(stmt).__name__.lower()} block that does more than define and assign"
        elif not isinstance(stmt, RUN):
            kind = {ast.For: "a loop", ast.While: "a loop", ast.Expr: "not an import, definition or assignment"}
            return kind.get(type(stmt), f"not an import, definition or assignment ({type(stmt).__name__})")
        for name in sorted(_calls(_executed_nodes(stmt))):
            root, last = name.split(".")[0], name.split(".")[-1]
            if root in self.training or last in TRAINERS:
                return f"it calls {name}(), a training function"
            if root in self.plot_roots or root in self.plotting:
                return f"it calls {name}(), plotting"
            if root == "get_ipython":
                return "an IPython magic or shell command"
        return ""


def _nested_statements(stmt: ast.AST) -> Iterator[ast.stmt]:
    """The statements inside a compound statement, not descending into function or class bodies."""
    for child in ast.iter_child_nodes(stmt):
        if isinstance(child, ast.stmt):
            yield child
            if isinstance(child, COMPOUND):
                yield from _nested_statements(child)
        elif isinstance(child, ast.excepthandler):
            yield from _nested_statements(child)


def _first_line(text: str, stmt: ast.stmt) -> str:
    line = text.splitlines()[stmt.lineno - 1] if stmt.lineno <= len(text.splitlines()) else ""
    line = line.strip()
    return line if len(line) <= 60 else line[:57] + "..."


DEFINES_AT_LINE_START = re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)|^(\w+)\s*=(?!=)", re.MULTILINE)


def _names_at_line_start(text: str) -> list[str]:
    """Names an unparsable cell seems to define (``def f``, ``class C``, ``x =`` at the start of a line)."""
    return sorted({a or b for a, b in DEFINES_AT_LINE_START.findall(text)})


def import_texts(cell_texts: Iterable[str]) -> set[str]:
    """The normalised top-level imports of trusted cells (the template's), one name each."""
    found = set()
    for text in cell_texts:
        try:
            tree, _ = parse_cell(text)
        except Exception:  # noqa: BLE001
            continue
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                found.update(_import_text(stmt))
    return found


def _import_text(stmt: ast.Import | ast.ImportFrom) -> list[str]:
    out = []
    for alias in stmt.names:
        single = type(stmt)(names=[alias], **cast("dict[str, Any]", {"module": stmt.module, "level": stmt.level}
                                                  if isinstance(stmt, ast.ImportFrom) else {}))
        out.append(ast.unparse(single))
    return out


# --- running ----------------------------------------------------------------------------------------

def _on_alarm(signum: int, frame: FrameType | None) -> NoReturn:
    raise StatementTimeout()


def _arm(seconds: float) -> None:
    """A statement's budget: ``seconds`` of this process's CPU time (the same on an idle and on a busy
    machine), and ``STATEMENT_WALL_BACKSTOP`` times that of wall-clock time for code that waits. Student code can
    disarm both: the load's total is also enforced from outside the loader (``worker.__main__``)."""
    for kind, signum, limit in ((signal.ITIMER_PROF, signal.SIGPROF, seconds),
                                (signal.ITIMER_REAL, signal.SIGALRM, seconds * STATEMENT_WALL_BACKSTOP)):
        signal.signal(signum, _on_alarm)
        signal.setitimer(kind, limit)


def _disarm() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)


def _run(code: CodeType, namespace: dict[str, Any], seconds: float) -> None:
    _arm(seconds)
    try:
        exec(code, namespace)
    finally:
        _disarm()


def load(cells: Iterable[Sequence[str]], namespace: dict[str, Any], statement_seconds: float = 5.0,
         on_failure: Callable[[Skip], object] | None = None, dry_run: bool = False) -> LoadReport:
    """Run ``cells`` (``[(label, text)]``) into ``namespace`` by the loading rule; returns a ``LoadReport``.

    ``on_failure(skip)`` is called as soon as a statement fails (the worker records it before any later
    statement runs). ``dry_run``: run nothing, only read and plan (the worker's own record of what is
    skipped and imported, made in a process where no student code runs)."""
    started = time.monotonic()
    report = LoadReport()
    parsed = []
    for position, (label, text) in enumerate(cells, start=1):
        try:
            _arm(statement_seconds)
            try:
                tree, python = parse_cell(text)
            finally:
                _disarm()
        except SyntaxError as error:
            report.skips.append(Skip(label, error.lineno or 0, "failed", f"syntax error: {error.msg}; "
                                     "nothing in this cell was loaded", _names_at_line_start(text), ""))
            continue
        except StatementTimeout:
            report.skips.append(Skip(label, 0, "failed", f"could not be read within {statement_seconds:g} s", []))
            continue
        except Exception as error:  # noqa: BLE001 - IPython rejects some malformed input
            report.skips.append(Skip(label, 0, "failed", f"could not be read ({type(error).__name__})", []))
            continue
        parsed.append((label, python, tree, cell_filename(label, position, text)))
    plan = Plan([tree for _, _, tree, _ in parsed])
    for label, python, tree, filename in parsed:
        linecache.cache[filename] = (len(python), None, python.splitlines(keepends=True), filename)
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                report.imports.extend(_import_text(stmt))
            if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
                continue  # no effect: nothing to say
            reason = plan.why_skipped(stmt)
            if reason:
                report.skips.append(Skip(label, stmt.lineno, "skipped", reason, defined_names(stmt),
                                         _first_line(python, stmt)))
                continue
            if dry_run:
                report.statements += 1
                continue
            code = compile(ast.Module(body=[stmt], type_ignores=[]), filename, "exec")
            failure = None
            try:
                _run(code, namespace, statement_seconds)
                report.statements += 1
            except StatementTimeout:
                failure = f"ran past its {statement_seconds:g} s budget"
            except BaseException as error:  # noqa: BLE001 - a student's SystemExit must not end the loader
                if isinstance(error, KeyboardInterrupt):
                    raise
                failure = f"{type(error).__name__}: {error}"[:200]
            if failure is not None:
                report.skips.append(Skip(label, stmt.lineno, "failed", failure, defined_names(stmt),
                                         _first_line(python, stmt)))
                if on_failure is not None:
                    on_failure(report.skips[-1])
    if len(report.skips) > MAX_SKIPS:
        report.skips = report.skips[:MAX_SKIPS]
    report.seconds = round(time.monotonic() - started, 3)
    return report


def cell_filename(label: str, position: int, text: str) -> str:
    """A traceback's name for a cell, as a student sees it: ``<submission code cell 7: def kl(mu, logvar):>``
    (its position among the code cells and its first line; a .py export's cells keep ``line N``)."""
    if not label.startswith("cell "):
        return f"<submission {label}>"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"<submission code cell {position}: {first if len(first) <= 60 else first[:57] + '...'}>"


def student_traceback(error: BaseException) -> str:
    """The traceback of ``error`` limited to frames in the submission, as text."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("<submission")]
    lines = traceback.format_list(frames[-6:]) if frames else []
    return ("".join(lines) + f"{type(error).__name__}: {error}").strip()[:2000]


def explain_name_error(error: NameError, report: LoadReport) -> str:
    """For a ``NameError`` on a name the loading rule skipped or that failed: which statement, and why."""
    name = getattr(error, "name", None)
    skip = report.skip_for(name) if name else None
    return f"'{name}' is not defined because {skip.describe()}" if skip else ""
