"""Run the guide's own openssl commands, verbatim, to compare with what the lab makes.

The guide's commands are kept exactly as written, plus ``-subj`` (they would
otherwise prompt for a subject) and ``-passout`` (``pkcs12 -export`` would prompt
for a password). What they make works for a demo and fails in the ways the
course then shows: no SubjectAltName (so hostname checks fail) and no
ExtendedKeyUsage (so any certificate can be used for anything).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab import housekeeping
from lab.course.env import find_tool
from lab.errors import LabError

#: The guide's commands, in order, with the additions marked in the comments.
GUIDE_COMMANDS = [
    "openssl genrsa -out rootCA.key 4096",
    "openssl req -x509 -new -nodes -key rootCA.key -sha256 -days 3650 -out rootCA.pem"
    " -subj /CN=YourRootCA",  # + -subj
    "openssl genrsa -out server.key 2048",
    "openssl req -new -key server.key -out server.csr -subj /CN=localhost",  # + -subj
    "openssl x509 -req -in server.csr -CA rootCA.pem -CAkey rootCA.key"
    " -CAcreateserial -out server.crt -days 365 -sha256",
    "openssl genrsa -out client.key 2048",
    "openssl req -new -key client.key -out client.csr -subj /CN=MyTrustedClient",  # + -subj
    "openssl x509 -req -in client.csr -CA rootCA.pem -CAkey rootCA.key"
    " -CAcreateserial -out client.crt -days 365 -sha256",
    "openssl pkcs12 -export -out client.pfx -inkey client.key -in client.crt -passout pass:{password}",  # + -passout
    "openssl pkcs12 -export -out server.pfx -inkey server.key -in server.crt -passout pass:{password}",  # + -passout
]


@dataclass
class GuideFiles:
    dir: Path
    commands: list[str]

    def __getattr__(self, name):  # guide.server_crt -> dir/server.crt
        if name.startswith("_"):
            raise AttributeError(name)
        return self.dir / name.replace("_", ".", 1)


def run(
    directory: str | os.PathLike | None = None,
    password: str = "pfx-password",
    *,
    echo: bool = False,
) -> GuideFiles:
    """Run every guide command in ``directory`` and return where the files are.

    Without ``directory``, a private temporary folder: its keys are removed when
    the process (the notebook's kernel) exits, or by ``python -m lab reset``.
    """
    openssl = find_tool("openssl")
    if not openssl:
        raise LabError(
            "openssl is not installed: apt-get install openssl (Linux) or brew install openssl (macOS)"
        )
    d = Path(directory) if directory is not None else housekeeping.temporary_folder("guide")
    d.mkdir(parents=True, exist_ok=True)
    done = []
    for template in GUIDE_COMMANDS:
        command = template.format(password=password)
        if echo:
            print("$ " + command.replace(f"pass:{password}", "pass:***"))
        result = subprocess.run(shlex.split(command), cwd=d, capture_output=True, text=True)
        if result.returncode != 0:
            raise LabError(
                f"`{command}` failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}"
            )
        done.append(command)
    for key in d.glob("*.key"):
        key.chmod(0o600)  # genrsa honours the umask; a private key must not be world-readable
    return GuideFiles(d, done)
