"""Audit a TLS server the way an auditor would: sslyze against Mozilla's profile, with mTLS.

>>> audit.scan("https://localhost:5001", cert="certs/client.crt", key="certs/client.key",
...            ca="certs/rootCA.pem").show()

sslyze (https://github.com/nabla-c0d3/sslyze) tries every protocol version, every
cipher suite and every key-exchange group it knows, reads the certificate chain,
probes for downgrade protection, renegotiation, compression and the Extended
Master Secret, then checks the lot against Mozilla's Server Side TLS profile as
it bundles it (sslyze 6.3.1: guideline 5.7, https://ssl-config.mozilla.org/guidelines/5.7.json;
the lab's policy follows 6.0, which only removed suites, see :mod:`lab.tls.policy`).
With the client certificate it can get past a server that demands one.

Where sslyze runs: sslyze 6.3.1 pins ``cryptography<47`` and the lab pins 50.0.2,
so it lives in its own virtual environment, ``.venv/audit`` (``make audit-tools``;
``make test`` builds it). :func:`sslyze_python` finds it; ``$LAB_SSLYZE_PYTHON``
names another interpreter that has sslyze. The scan itself is
:mod:`lab.ops.audit_probe`, run by that interpreter.

The summary (:class:`Audit`) is short and stable: no port, no date, sets sorted,
so a notebook's saved output is the same on every run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import ssl
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lab.errors import LabError
from lab.paths import ROOT
from lab.pki import write_private
from lab.tls import policy as tlspolicy
from lab.tls.contexts import as_identity, trust_pem

PROBE = Path(__file__).with_name("audit_probe.py")
AUDIT_VENV_PYTHON = ROOT / ".venv" / "audit" / "bin" / "python"
INSTALL_HINT = (
    "sslyze is not installed: run `make audit-tools` (a separate .venv/audit, because "
    "sslyze 6.3.1 needs cryptography<47), or set LAB_SSLYZE_PYTHON to a Python that has it"
)


class SslyzeMissingError(LabError):
    """No Python with sslyze was found."""


def sslyze_python() -> str | None:
    """The interpreter that runs sslyze: $LAB_SSLYZE_PYTHON, .venv/audit, or this one."""
    env = os.environ.get("LAB_SSLYZE_PYTHON")
    if env:
        return env
    if AUDIT_VENV_PYTHON.exists():
        return str(AUDIT_VENV_PYTHON)
    if importlib.util.find_spec("sslyze") is not None:
        return sys.executable
    return None


@dataclass
class Audit:
    """What sslyze found, in the words that matter for Mozilla's profile."""

    profile: str
    compliant: bool
    issues: dict[str, str] = field(default_factory=dict)
    client_auth: str = ""  # REQUIRED, OPTIONAL or DISABLED (asked without a certificate)
    connected_with_certificate: bool = False
    protocols: list[str] = field(default_factory=list)
    tls12_suites: list[str] = field(default_factory=list)
    tls13_suites: list[str] = field(default_factory=list)
    legacy_suites: list[str] = field(default_factory=list)
    curves: list[str] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    anchor_sent: bool = False
    chain_trusted: bool = False
    fallback_scsv: bool = False
    secure_renegotiation: bool = False
    extended_master_secret: bool = False
    compression: bool = False
    sslyze: str = ""
    guideline: str = ""  # the Mozilla guideline version sslyze checks against
    error: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        name = f"Mozilla {self.profile} {self.guideline} (sslyze {self.sslyze})"
        return f"compliant with {name}" if self.compliant else f"NOT compliant with {name}"

    def lines(self) -> list[str]:
        """The summary, one fact a line (each under 120 characters)."""
        if not self.connected_with_certificate:
            return [f"no TLS connection with the client certificate: {' '.join(self.error)}"]
        asked = {
            "REQUIRED": "required by the server",
            "OPTIONAL": "asked for, not required",
            "DISABLED": "not asked for",
        }.get(self.client_auth, self.client_auth)
        anchor = "the root (trust anchor) included" if self.anchor_sent else "no root"
        out = [
            f"verdict: {self.verdict}",
            f"client certificate: {asked}; the scan connected with ours",
            f"protocols: {', '.join(self.protocols)}",
            *_wrapped("TLS 1.2 suites", self.tls12_suites),
            *_wrapped("TLS 1.3 suites", self.tls13_suites),
            f"key-exchange groups: {', '.join(self.curves) or 'none'}",
            f"chain sent: {' -> '.join(self.chain)}; {anchor}",
            "downgrade protection (TLS_FALLBACK_SCSV): "
            + _yes(self.fallback_scsv)
            + "; secure renegotiation: "
            + _yes(self.secure_renegotiation),
            "extended master secret: "
            + _yes(self.extended_master_secret)
            + "; compression: "
            + _yes(self.compression),
        ]
        for name, text in self.issues.items():
            out += textwrap.wrap(f"problem ({name}): {text}", 116, subsequent_indent="    ")
        return out

    def show(self) -> None:
        """Print the summary (nothing is returned, so a notebook shows it once)."""
        print("\n".join(self.lines()))

    def __str__(self) -> str:
        return "\n".join(self.lines())


def unhardened_context(certificate, trust) -> ssl.SSLContext:
    """A server context as Python's defaults leave it, with the root in the chain file.

    What an audit catches: Python 3.11's default TLS 1.2 list (``ECDH+AES``) still
    has CBC suites, OpenSSL 3's default groups include X448 and secp521r1, and the
    certificate file carries the root (a "full chain" copied with its anchor). Only
    for demonstrations: :func:`lab.tls.contexts.server_context` is the hardened one.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    anchors = trust_pem(trust)
    ctx.load_verify_locations(cadata=anchors)
    identity = as_identity(certificate)
    with tempfile.TemporaryDirectory(prefix="mtls-lab-") as d:
        crt = write_private(Path(d) / "c.pem", identity.chain_pem + anchors.encode())
        key = write_private(Path(d) / "k.pem", identity.key_pem())
        ctx.load_cert_chain(str(crt), str(key))
    return ctx


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _wrapped(label: str, names: list[str], width: int = 110) -> list[str]:
    if not names:
        return [f"{label}: none"]
    out, line = [], f"{label}:"
    for name in names:
        if len(line) + len(name) + 1 > width:
            out.append(line)
            line = " " * (len(label) + 1)
        line += f" {name}"
    return out + [line]


def _host_port(url_or_host: str, port: int | None) -> tuple[str, int]:
    if "://" in url_or_host:
        parts = urlsplit(url_or_host)
        host, port = parts.hostname, port or parts.port or 443
    else:
        host = url_or_host
    if port is None:
        raise ValueError("give a port, or a URL such as https://localhost:5001")
    # sslyze connects to an IP address; the lab serves loopback only.
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def scan(
    url_or_host: str,
    port: int | None = None,
    *,
    cert,
    key,
    ca,
    profile: str = tlspolicy.DEFAULT_PROFILE,
    timeout: float = 120,
) -> Audit:
    """Run sslyze against a server with the client certificate ``cert``/``key``.

    ``ca`` is the CA file the server's chain must verify against (sslyze uses it
    next to the public trust stores). ``profile`` is Mozilla's "intermediate" or
    "modern". Raises :class:`SslyzeMissingError` (one line) when sslyze is missing.
    """
    tlspolicy.check_profile(profile)
    host, port = _host_port(url_or_host, port)
    for label, path in (("client certificate", cert), ("client key", key), ("CA file", ca)):
        if not Path(path).is_file():
            raise LabError(f"{label} {path} does not exist")
    python = sslyze_python()
    if python is None:
        raise SslyzeMissingError(INSTALL_HINT)
    request = json.dumps(
        {
            "host": host,
            "port": port,
            "cert": str(Path(cert).resolve()),
            "key": str(Path(key).resolve()),
            "ca": str(Path(ca).resolve()),
            "profile": profile,
        }
    )
    # -I: the probe's folder (lab/) must not shadow any module sslyze imports.
    proc = subprocess.run(
        [python, "-I", str(PROBE), request],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if "No module named 'sslyze'" in proc.stderr:
            raise SslyzeMissingError(INSTALL_HINT)
        raise LabError(f"sslyze failed: {last}")
    facts = json.loads(proc.stdout)
    facts.setdefault("compliant", False)  # no connection with the certificate: nothing to judge
    return Audit(**facts)
