"""Where the course keeps its files, and how to show a path without leaking yours.

Notebook outputs are compared in CI on a fresh clone in another folder, so a
path is always displayed relative to the project root (``certs/client.crt``),
never as an absolute path.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def certs_dir() -> Path:
    """The course PKI folder: $LAB_CERTS_DIR if set, else ``certs/`` in the project."""
    env = os.environ.get("LAB_CERTS_DIR")
    return Path(env).resolve() if env else ROOT / "certs"


def state_dir() -> Path:
    """This checkout's record of what it started: $LAB_STATE_DIR, else ``.lab-state/`` in the project."""
    env = os.environ.get("LAB_STATE_DIR")
    return Path(env) if env else ROOT / ".lab-state"


def show(path: str | os.PathLike) -> str:
    """``path`` relative to the project root when it is inside it, else as given."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(path)
