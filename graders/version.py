"""Which grader this is: the package's version (from ``pyproject.toml``, its one source) and a digest of
its code. Results, cached baselines and a cluster's workers are matched on both."""
import functools
import hashlib
import importlib.metadata
import tomllib
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("graders", "worker", "reference")


def _version() -> str:
    try:
        return tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return importlib.metadata.version("a4-grader")


GRADER_VERSION = _version()


@functools.lru_cache(maxsize=None)
def code_digest(root: Path = PACKAGE_ROOT) -> str:
    """SHA-256 (16 hex digits) of the grader's Python files and templates: equal code, equal marks."""
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((Path(root) / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".j2", ".md") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
