"""Check the learner's environment before the course starts, and say what to fix.

Why: most "it doesn't work" moments in a workshop are the environment, not mTLS:
an old OpenSSL, a missing ``curl`` or ``nginx``, or a CA-bundle variable that
silently changes which CAs a client trusts. One cell answers all of it.
"""

from __future__ import annotations

import os
import platform
import shutil
import ssl
import sys
from importlib import metadata

PACKAGES = (
    "cryptography",
    "requests",
    "urllib3",
    "flask",
    "werkzeug",
    "cheroot",
    "jupyterlab",
    "nbval",
)
TOOLS = {
    "openssl": "apt-get install openssl  |  brew install openssl",
    "curl": "apt-get install curl  |  brew install curl",
    "nginx": "apt-get install nginx  |  brew install nginx  (needed from notebook 07)",
}
#: Variables that silently replace the trust store of clients that honour them.
CA_BUNDLE_VARIABLES = {
    "REQUESTS_CA_BUNDLE": "requests replaces Session.verify with it on every request",
    "CURL_CA_BUNDLE": "requests falls back to it, and curl uses it as its default CA bundle",
    "SSL_CERT_FILE": "OpenSSL's default trust store for clients that load defaults",
}


def find_tool(name: str) -> str | None:
    """Path of a system tool; also looks in /usr/sbin, where Debian puts nginx."""
    return shutil.which(name) or shutil.which(
        name, path="/usr/sbin:/usr/local/sbin:/opt/homebrew/bin"
    )


def report() -> bool:
    """Print the environment check; return True when everything the course needs is there."""
    ok = True
    print(
        f"Python {platform.python_version()} ({'ok' if sys.version_info >= (3, 10) else 'too old: need 3.10+'})"
    )
    ok &= sys.version_info >= (3, 10)
    print(f"{ssl.OPENSSL_VERSION} (TLS 1.3: {'yes' if ssl.HAS_TLSv1_3 else 'NO'})")
    ok &= ssl.HAS_TLSv1_3
    for pkg in PACKAGES:
        try:
            print(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            print(f"{pkg} MISSING: run `make venv`")
            ok = False
    for tool, how in TOOLS.items():
        found = find_tool(tool)
        print(f"{tool}: {'found' if found else 'MISSING, install with: ' + how}")
        ok &= bool(found) or tool == "nginx"
    for var, effect in CA_BUNDLE_VARIABLES.items():
        if os.environ.get(var):
            print(f"{var}: set. Careful: {effect}. Lab sessions ignore it (notebook 03 shows why).")
        else:
            print(f"{var}: not set.")
    print("environment ready" if ok else "environment NOT ready: fix the lines above")
    return ok
