"""The homework's policies, as flags for the TA: late submissions and changed imports."""
from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Set


# Imports a notebook may add without a flag: the standard library and the course's own stack.
ORDINARY_MODULES = set(sys.stdlib_module_names) | {"torch", "torchvision", "numpy", "matplotlib", "tqdm", "scipy",
                                                     "IPython", "seaborn", "PIL"}


def _module(statement: str) -> str:
    words = statement.split()
    return (words[1] if words[0] in ("import", "from") else "").lstrip(".").split(".")[0]


def import_flag(mine: Set[str], template_imports: Set[str]) -> str:
    """``"imports changed: ..."`` when the submission's imports ``mine`` (normalised statements, as the
    loader reports them) add a module outside the standard library and the course's stack, or drop
    one of the template's; else ``""``."""
    added = sorted(i for i in mine - template_imports if _module(i) not in ORDINARY_MODULES)
    removed = sorted(template_imports - mine)
    if not added and not removed:
        return ""
    parts = ([f"added {', '.join(added[:8])}"] if added else []) + ([f"removed {', '.join(removed[:8])}"] if removed else [])
    return "imports changed: " + "; ".join(parts)


def late_flag(submitted_at: str | None, deadline: datetime | None) -> str:
    """``"late: ..."`` when ``submitted_at`` (ISO text) is after ``deadline`` (datetime), else ``""``."""
    if deadline is None or not submitted_at:
        return ""
    submitted = datetime.fromisoformat(submitted_at)
    if submitted <= deadline:
        return ""
    hours = (submitted - deadline).total_seconds() / 3600
    return f"late: submitted {submitted:%Y-%m-%d %H:%M}, {hours:.1f} h after the deadline {deadline:%Y-%m-%d %H:%M}"
