"""Choose a submission's definitions: imports, functions, classes and constant assignments.

Runs in the judge and executes nothing: it parses each cell (after turning
IPython magics into plain Python) and keeps the line spans of the top-level
statements that define something. Training, plotting and prints are left out.
"""
import ast

from IPython.core.inputtransformer2 import TransformerManager

# Calls allowed on the right of a kept assignment: cheap constructors, no side effects worth fearing.
SAFE_CALLS = {"torch.device", "MNISTArgs", "dict", "list", "tuple", "set", "frozenset", "range", "float",
              "int", "str", "bool", "os.environ.get", "os.getenv", "torch.tensor", "np.array", "dataclass",
              "field", "dataclasses.field"}
_ALLOWED_NODES = (ast.Constant, ast.Name, ast.Attribute, ast.Load, ast.Tuple, ast.List, ast.Dict, ast.Set,
                  ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Subscript, ast.Slice, ast.keyword,
                  ast.Call, ast.Starred, ast.BoolOp, ast.boolop, ast.Compare, ast.cmpop, ast.IfExp)


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return base and f"{base}.{node.attr}"
    return None


def _constant_expression(node):
    for sub in ast.walk(node):
        if not isinstance(sub, _ALLOWED_NODES):
            return False
        if isinstance(sub, ast.Call) and _dotted(sub.func) not in SAFE_CALLS:
            return False
    return True


def is_definition(stmt):
    """True for statements the grader runs: imports, defs, classes, constant assignments."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names_only = all(isinstance(t, (ast.Name, ast.Tuple)) for t in targets)
        return names_only and stmt.value is not None and _constant_expression(stmt.value)
    if isinstance(stmt, ast.Try):  # try: import x / except ImportError: ...
        body = stmt.body + stmt.orelse + stmt.finalbody + [s for h in stmt.handlers for s in h.body]
        return all(is_definition(s) or isinstance(s, ast.Pass) for s in body)
    return False


def select(cells):
    """For ``[(label, text)]`` code cells: ``(chunks, notes)``.

    ``chunks`` is ``[{"label", "text", "spans": [[first, last], ...]}]`` with 1-based
    line spans of the kept statements of the transformed cell text; ``notes`` lists
    cells that could not be parsed (their definitions are missing, nothing else is lost).
    """
    transformer = TransformerManager()
    chunks, notes = [], []
    for label, text in cells:
        try:
            python = transformer.transform_cell(text)
            tree = ast.parse(python)
        except SyntaxError as error:
            notes.append(f"{label}: syntax error on line {error.lineno}: {error.msg}; its definitions were not loaded")
            continue
        except Exception as error:  # IPython's transformer rejects some malformed input
            notes.append(f"{label}: could not be read ({type(error).__name__}); its definitions were not loaded")
            continue
        spans = []
        for stmt in tree.body:
            if is_definition(stmt):
                first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
                spans.append([first, stmt.end_lineno])
        if spans:
            chunks.append({"label": label, "text": python, "spans": spans})
    return chunks, notes
