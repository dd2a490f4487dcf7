"""Finding the nginx binary, and the errors the proxy raises.

nginx is a course prerequisite, not a Python package: when it is missing, the
learner gets the exact install command instead of a ``FileNotFoundError``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lab.errors import LabError, ServerError

#: What to do when nginx is missing; notebooks and tests print exactly this.
INSTALL_HINT = (
    "nginx is not installed (or not on PATH): install it with `sudo apt-get install nginx` "
    "(Debian/Ubuntu) or `brew install nginx` (macOS), then run this again"
)

#: Where packages put nginx when it is not on PATH (Debian's /usr/sbin, Homebrew's prefixes).
SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/usr/local/bin:/opt/homebrew/bin:/opt/homebrew/sbin"


class NginxNotFoundError(LabError):
    """The nginx binary is not installed (the message says how to install it)."""


class NginxError(ServerError):
    """nginx refused the configuration or failed to start; the message carries its error log."""


def find_nginx() -> str:
    """The nginx binary: $LAB_NGINX, then PATH, then the sbin folders where packages put it."""
    env = os.environ.get("LAB_NGINX")
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise NginxNotFoundError(
            f"LAB_NGINX={env} is not an executable file; unset it, or {INSTALL_HINT}"
        )
    found = shutil.which("nginx") or shutil.which("nginx", path=SEARCH_PATH)
    if not found:
        raise NginxNotFoundError(INSTALL_HINT)
    return found


def require_nginx() -> str:
    """One line for the top of notebook 07: ``nginx -v`` (``nginx/1.22.1``) or how to install it."""
    out = subprocess.run([find_nginx(), "-v"], capture_output=True, text=True, timeout=30)
    version = (out.stderr or out.stdout).strip().split(": ", 1)[-1]
    return f"{version} found: the proxy in this notebook is the real thing"
