"""Run the real ``curl`` the way the guide's "How to test" does, and report it in one stable line.

Why curl at all: it is what people paste into tickets, and it is a second,
independent TLS client (libcurl + OpenSSL) to check the lab's server against.
Paths are passed as given; output is scrubbed of ports so notebooks stay stable.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.course.env import find_tool
from lab.course.observe import scrub
from lab.errors import LabError
from lab.paths import show


@dataclass
class CurlResult:
    command: str
    returncode: int
    body: str
    error: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def __str__(self) -> str:
        if self.ok:
            return f"curl exit 0: {self.body.strip()}"
        return f"curl exit {self.returncode}: {self.error}"

    __repr__ = __str__


def curl(
    url: str,
    *,
    cert=None,
    key=None,
    cacert=None,
    extra: list[str] | tuple = (),
    timeout: float = 10,
) -> CurlResult:
    """``curl -sS [--cert C --key K] [--cacert CA] URL``: the guide's test, with the server verified."""
    exe = find_tool("curl")
    if not exe:
        raise LabError(
            "curl is not installed: apt-get install curl (Linux) or brew install curl (macOS)"
        )
    args = [exe, "-sS", "--max-time", str(timeout)]
    shown = ["curl"]
    for flag, value in (("--cert", cert), ("--key", key), ("--cacert", cacert)):
        if value is not None:
            args += [flag, str(value)]
            shown += [
                flag,
                show(value)
                if isinstance(value, (str, os.PathLike)) and Path(value).exists()
                else str(value),
            ]
    args += list(extra) + [url]
    shown += list(extra) + [url]
    # CURL_CA_BUNDLE would change curl's trust when --cacert is absent; keep runs explicit.
    environment = {
        k: v for k, v in os.environ.items() if k not in ("CURL_CA_BUNDLE", "SSL_CERT_FILE")
    }
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout + 5, env=environment
    )
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("curl:")]
    return CurlResult(
        scrub(" ".join(shown)),
        proc.returncode,
        proc.stdout,
        scrub(error_lines[-1] if error_lines else proc.stderr.strip()),
    )
