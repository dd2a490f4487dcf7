"""Sign a certificate request the guide's way, plus the extension file (``-extfile``) it lacks.

Why: the guide's ``openssl x509 -req`` makes an X.509 version 1 certificate: no SAN,
no Extended Key Usage, no CA flag. The fix an openssl user makes is a few lines in an
extension file. :func:`sign_request` runs the guide's own command with ``-extfile``
added, in a folder the caller chooses (a temporary one in notebook 01), so the real
openssl accepts, or refuses, those lines. :func:`openssl` runs any other openssl
command the same visible way (``openssl verify`` ...), without a shell.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from lab.course.env import find_tool
from lab.errors import LabError
from lab.pki import write_private

#: The guide's signing command (its client line), with ``-extfile`` added.
SIGN_COMMAND = (
    "openssl x509 -req -in {name}.csr -CA rootCA.pem -CAkey rootCA.key"
    " -CAcreateserial -out {name}.crt -days {days} -sha256 -extfile {name}.ext"
)


def _openssl_exe() -> str:
    exe = find_tool("openssl")
    if not exe:
        raise LabError(
            "openssl is not installed: "
            "apt-get install openssl (Linux) or brew install openssl (macOS)"
        )
    return exe


def openssl_reason(stderr: str) -> str:
    """The line of openssl's error output that says what was wrong, without the error codes."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:  # a malformed line: "x509: Error on line 2 of config file ..."
        if "Error on line" in line:
            return line.split(": ", 1)[-1]
    for line in reversed(lines):  # a bad value: "...:error in extension:...:name=X, value=Y"
        match = re.search(r"name=([^,]+), value=(.*)$", line)
        if match:
            return f"it cannot read `{match.group(1)} = {match.group(2)}`"
    errors = [line for line in lines if ":error:" in line]
    last = errors[-1] if errors else (lines[-1] if lines else "no reason given")
    return last.split(":")[-3] if last.count(":") >= 4 else last


def sign_request(
    directory: str | os.PathLike,
    *,
    csr: str | os.PathLike,
    ca_cert: str | os.PathLike,
    ca_key: str | os.PathLike,
    extfile: str,
    name: str,
    days: int = 365,
    echo: bool = False,
) -> Path:
    """Sign ``csr`` with the CA, adding the extensions written in ``extfile``; return NAME.crt.

    The CSR and the CA files are copied into ``directory`` (the key with mode 0600) and the
    extfile written there as NAME.ext, so the command reads exactly as the guide's does.
    Raises :class:`LabError` with openssl's reason when it refuses the extfile.
    """
    exe = _openssl_exe()
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(csr, d / f"{name}.csr")
    shutil.copyfile(ca_cert, d / "rootCA.pem")
    write_private(d / "rootCA.key", Path(ca_key).read_bytes())  # a private key stays 0600
    (d / f"{name}.ext").write_text(extfile)
    command = SIGN_COMMAND.format(name=name, days=days).split()
    if echo:  # on two lines, as the guide writes it
        shown = " ".join(command).replace(" -CAcreateserial", " \\\n    -CAcreateserial")
        print("$ " + shown)
    result = subprocess.run([exe, *command[1:]], cwd=d, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"openssl refused {name}.ext: {openssl_reason(result.stderr)}")
    return d / f"{name}.crt"


def openssl(*args: str | os.PathLike, cwd: str | os.PathLike, echo: bool = True) -> str:
    """Run ``openssl ARGS`` in ``cwd``; print the command and its output when ``echo``."""
    exe = _openssl_exe()
    words = [str(a) for a in args]
    result = subprocess.run([exe, *words], cwd=cwd, capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if echo:
        print("$ openssl " + " ".join(words))
        print(output)
    return output


__all__ = ["SIGN_COMMAND", "openssl", "openssl_reason", "sign_request"]
