"""nginx with only the directives you write (:class:`HandWrittenNginx`), and what it staples.

:class:`HandWrittenNginx` is :class:`lab.proxy.process.Nginx` under the name the
notebooks use: your ``server { ... }`` body, plus only what nginx cannot start without.
:func:`stapled_ocsp` asks ``openssl s_client -status`` what a server stapled.
"""

from __future__ import annotations

import subprocess

from lab.net import require_loopback
from lab.proxy.binary import NginxError
from lab.proxy.process import Nginx as HandWrittenNginx

__all__ = ["HandWrittenNginx", "stapled_ocsp"]


def stapled_ocsp(port: int, cafile: str, host: str = "127.0.0.1") -> str:
    """What a client finds stapled to the server's handshake (``openssl s_client -status``).

    ``"none"`` when the server sent no OCSP response, else the response status
    and the certificate status it vouches for, e.g. ``"successful (0x0), good"``.
    """
    require_loopback(host)
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", "localhost"]
        + ["-status", "-CAfile", cafile],
        input=b"",
        capture_output=True,
        timeout=30,
    ).stdout.decode(errors="replace")
    if "OCSP response: no response sent" in out:
        return "none"
    fields = {}
    for line in out.splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("OCSP Response Status", "Cert Status") and key not in fields:
            fields[key] = value.strip()
    if "OCSP Response Status" not in fields:
        raise NginxError("openssl s_client printed no OCSP section:\n" + out[-500:])
    return f"{fields['OCSP Response Status']}, {fields.get('Cert Status', '?')}"
