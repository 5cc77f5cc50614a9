"""One action on a whole answer group (``groups.group_answers``): a rubric entry, a comment or a mark.

Each member's record is changed on its own (its own version, its own ``by``), so each stays
editable alone afterwards; a member whose record says otherwise is reported, not overwritten.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graders.marking.store import Conflict, Mark, MarkStore

if TYPE_CHECKING:
    from types import EllipsisType


@dataclass
class GroupResult:
    """``done``: the members changed (their new records); ``conflicts``: member -> why it was left."""
    done: dict[str, Mark] = field(default_factory=dict)
    conflicts: dict[str, str] = field(default_factory=dict)


def apply_to_group(store: MarkStore, item: str, students: list[str], by: str, *, apply: Iterable[str] = (),
                   remove: Iterable[str] = (), comment: str | None = None,
                   manual: float | None | EllipsisType = ...) -> GroupResult:
    """Apply one change to each of ``students``' answers to ``item``.

    ``apply``/``remove``: entry ids (the wanted state: re-sending changes nothing); ``comment``:
    set on members with no comment or the same one; a member with its own comment is reported
    ("has its own comment") and keeps it; ``manual``: set on members without a different manual
    mark (else reported). A member changed by someone else between the read and the write is
    read again once, then reported. Raises ``ValueError`` for an unknown entry or a bad mark.
    """
    result = GroupResult()
    for sid in dict.fromkeys(students):
        for attempt in range(2):
            current = store.get(item, sid)
            changes: dict = {"apply": list(apply), "remove": list(remove)}
            if comment is not None:
                if current.comment.strip() and current.comment != comment:
                    result.conflicts[sid] = "has its own comment (kept; add to it on its page)"
                    break
                changes["comment"] = comment
            if manual is not ...:
                if current.manual is not None and manual is not None and float(manual) != current.manual:
                    result.conflicts[sid] = f"has its own manual mark {current.manual:g} (kept)"
                    break
                changes["manual"] = manual
            try:
                result.done[sid] = store.update(item, sid, current.version, by=by, **changes)
                break
            except Conflict:
                if attempt:
                    result.conflicts[sid] = "changed by someone else meanwhile; not changed"
    return result
