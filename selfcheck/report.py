"""What the self-check prints: the grader's item ids, check names and marks, in the grader's words."""
from selfcheck.results import CheckResult, ItemVerdict

HEADER = "Self-check of {path}: the public checks (the grader runs more, and trains your models itself)"


def marks(value: float) -> str:
    """A mark as the contract writes it: 3, 0.5, 3.75 (never 0.571429)."""
    return f"{round(value, 4):g}"


def check_line(check: CheckResult) -> str:
    """One check, worded as the grader's ``Check.message`` (``name: lost M of M; expected ...``)."""
    if check.state == "pass":
        return f"✔ {check.name} ({marks(check.marks)})"
    if check.state == "unverified":
        return f"? {check.name} ({marks(check.marks)}): not verified here; the grader checks it against the reference"
    if check.state == "not_here":
        return f"· {check.name} ({marks(check.marks)}): {check.hint}"
    parts = [f"{check.name}: lost {marks(check.marks)} of {marks(check.marks)}"]
    parts += [f"expected {check.expected}"] if check.expected else []
    parts += [f"got {check.received}"] if check.received else []
    text = "; ".join(parts)
    return "✘ " + (f"{text}. Hint: {check.hint}" if check.hint else text + ".")


def item_lines(verdict: ItemVerdict) -> list[str]:
    """The item's line (symbol, id, marks judged here) and its indented checks or message."""
    head = f"{verdict.symbol} {verdict.id:<24} "
    if verdict.not_done:
        return [head + f"not done yet (0/{marks(verdict.marks)})"]
    if verdict.error:
        lines = [head + f"0/{marks(verdict.marks)}"]
        return lines + ["    " + line for line in verdict.error.splitlines()]
    judged = verdict.judged_marks
    summary = f"{marks(verdict.awarded)}/{marks(verdict.marks)}"
    elsewhere = [c for c in verdict.checks if c.state == "not_here"]
    if elsewhere:
        summary = (f"{marks(verdict.awarded)}/{marks(judged)} checked here; "
                   + ", ".join(f"{c.key} {marks(c.marks)}" for c in elsewhere)
                   + f" of the item's {marks(verdict.marks)}: the grader trains your function and scores it")
    lines = [head + summary]
    lines += ["    " + check_line(c) for c in verdict.checks if c.state in ("fail", "unverified")]
    lines += ["    note: " + note for note in verdict.notes]
    return lines


def render(path: str, verdicts: list[ItemVerdict], load_notes: list[str]) -> str:
    lines = [HEADER.format(path=path)]
    for verdict in verdicts:
        lines += item_lines(verdict)
    lines += [f"note: {note}" for note in load_notes]
    judged = sum(v.judged_marks for v in verdicts if not v.error and not v.not_done) + sum(
        v.marks for v in verdicts if v.error or v.not_done)
    lines.append(f"Checked here: {marks(sum(v.awarded for v in verdicts))} of {marks(judged)} marks "
                 f"(of {marks(sum(v.marks for v in verdicts))}). ✔ passes the public check, ✘ differs from it, "
                 "? cannot be verified here (the grader checks it), … not done yet. Training ran briefly "
                 "(2 epochs on 1,000 images): layout, steps and optimizer only.")
    return "\n".join(lines)
