"""The homework's policies, as flags for the TA: late submissions and changed imports."""
from datetime import datetime


def import_flag(mine, template_imports):
    """``"imports changed: ..."`` when the submission's imports ``mine`` (normalised statements, as the
    loader reports them) differ from the template's, else ``""``."""
    added, removed = sorted(mine - template_imports), sorted(template_imports - mine)
    if not added and not removed:
        return ""
    parts = ([f"added {', '.join(added[:8])}"] if added else []) + ([f"removed {', '.join(removed[:8])}"] if removed else [])
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
