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

from lab.course.table import Table

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


def ca_bundle_variables(environ=None) -> Table:
    """Which CA-bundle variables are set in ``environ`` (``os.environ``), and what each changes.

    A table, not part of :func:`report`: its answer differs from machine to machine.
    """
    environ = os.environ if environ is None else environ
    return Table(
        ["Variable", "Here", "What it changes"],
        [
            (name, "set" if environ.get(name) else "not set", effect)
            for name, effect in CA_BUNDLE_VARIABLES.items()
        ],
    )


def report() -> bool:
    """Print the environment check; return True when everything the course needs is there."""
    ok = True
    verdict = "ok" if sys.version_info >= (3, 10) else "too old: need 3.10+"
    print(f"Python {platform.python_version()} ({verdict})")
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
    # The same two lines on every machine: whether a variable is set is shown by
    # ca_bundle_variables(), on request, so a saved notebook never alarms a clean machine.
    print(
        "CA-bundle variables (" + ", ".join(CA_BUNDLE_VARIABLES) + ") change what a client trusts;"
    )
    print("lab sessions ignore them. See which are set here: env.ca_bundle_variables()")
    print("environment ready" if ok else "environment NOT ready: fix the lines above")
    return ok
