"""The marking app's token, kept across restarts so that open tabs and bookmarked URLs keep working.

``grade.py mark OUT --token T`` uses ``T``; without it the token is read from
``OUT/marking/token`` (mode 0600, made on the first start), so a restart prints the same URL.
"""
import os
import secrets
from pathlib import Path

TOKEN_FILE = Path("marking") / "token"


def kept_token(out_dir: Path, given: str | None = None) -> str:
    """``given`` if set (checked: 16+ URL-safe characters), else the token kept in ``OUT/marking/token``.

    The file is created with mode 0600 (only the TA's account can read it); a file that others
    can read is tightened to 0600 rather than trusted as is. Raises ``ValueError`` for a weak ``given``.
    """
    if given is not None:
        if len(given) < 16 or not all(c.isalnum() or c in "-_" for c in given):
            raise ValueError("--token: use at least 16 characters from A-Z, a-z, 0-9, '-' and '_'")
        return given
    path = Path(out_dir) / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        token = path.read_text(encoding="ascii").strip()
        if len(token) >= 16:
            os.chmod(path, 0o600)
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return token
