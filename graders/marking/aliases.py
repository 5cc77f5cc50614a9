"""Anonymous marking (``grade.py mark OUT --anonymous``): each student id shown as a stable alias.

An alias is ``S-`` and six hex digits of HMAC-SHA256(key, id), the key kept in ``OUT/marking/alias_key``
(0600, made at the first anonymous start): the same student has the same alias across restarts and
regrades, and no alias can be turned back into a name without the key. The pages send aliases; the app
maps them back to ids at its boundary (``marking.context``), so the store keeps real ids.
"""
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path


def alias_key(out_dir: str | Path) -> bytes:
    """The batch's alias key, made once (atomically, 0600) and kept."""
    path = Path(out_dir) / "marking" / "alias_key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".alias_key.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(16))
    os.replace(temporary, path)
    return bytes.fromhex(path.read_text().strip())


class Aliases:
    """``shown(id)``: what a page shows for a student; ``real(shown)``: the id back (``None`` if unknown)."""

    def __init__(self, ids: Iterable[str], key: bytes | None = None) -> None:
        self.key = key
        self._shown = {sid: self._alias(sid) for sid in ids}
        self._real = {alias: sid for sid, alias in self._shown.items()}

    def _alias(self, sid: str) -> str:
        if self.key is None:
            return sid
        return "S-" + hmac.new(self.key, sid.encode(), hashlib.sha256).hexdigest()[:6].upper()

    def shown(self, sid: str) -> str:
        return self._shown.get(sid) or self._alias(sid)

    def real(self, shown: str) -> str | None:
        return self._real.get(shown)
