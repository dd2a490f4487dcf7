"""Find the system tools the course runs (``openssl``, ``curl``, ``nginx``).

Why a helper: Debian installs ``nginx`` in ``/usr/sbin``, which is not on a user's ``PATH``;
``shutil.which`` alone would report it missing. Notebook 00 checks the whole environment in
its own cell.
"""

from __future__ import annotations

import shutil


def find_tool(name: str) -> str | None:
    """Path of a system tool; also looks in /usr/sbin, where Debian puts nginx."""
    return shutil.which(name) or shutil.which(
        name, path="/usr/sbin:/usr/local/sbin:/opt/homebrew/bin"
    )
