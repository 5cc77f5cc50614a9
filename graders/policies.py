"""The homework's policies, as flags for the TA: late submissions and changed imports."""
import ast
from datetime import datetime

from IPython.core.inputtransformer2 import TransformerManager


def imports_of(code_cells):
    """The set of top-level import statements (normalised text) in ``[(label, text)]`` cells."""
    found, transformer = set(), TransformerManager()
    for _, text in code_cells:
        try:
            tree = ast.parse(transformer.transform_cell(text))
        except Exception:  # unparsable cells are reported elsewhere
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:  # one name per entry, so "import a, b" equals two lines
                    single = type(node)(names=[alias], **({"module": node.module, "level": node.level}
                                                         if isinstance(node, ast.ImportFrom) else {}))
                    found.add(ast.unparse(single))
    return found


def import_flag(code_cells, template_imports):
    """``"imports changed: ..."`` when the submission's imports differ from the template's, else ``""``."""
    mine = imports_of(code_cells)
    added, removed = sorted(mine - template_imports), sorted(template_imports - mine)
    if not added and not removed:
        return ""
    parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
    return "imports changed: " + "; ".join(parts)


def late_flag(submitted_at, deadline):
    """``"late: ..."`` when ``submitted_at`` (ISO text) is after ``deadline`` (datetime), else ``""``."""
    if deadline is None or not submitted_at:
        return ""
    submitted = datetime.fromisoformat(submitted_at)
    if submitted <= deadline:
        return ""
    hours = (submitted - deadline).total_seconds() / 3600
    return f"late: submitted {submitted:%Y-%m-%d %H:%M}, {hours:.1f} h after the deadline {deadline:%Y-%m-%d %H:%M}"
