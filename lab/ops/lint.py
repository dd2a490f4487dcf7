"""What is wrong with one certificate or key, as findings with a severity and a fix.

The doctor (:mod:`lab.ops.doctor`) reads the files, builds chains and pairs keys; this
module judges each certificate on its own: the role its file name and extensions give it,
its dates, its key and signature, its CA flag, EKU and SAN. Severities: ``error`` (will
fail, or is unsafe), ``warning`` (works here, fails somewhere stricter, or soon), ``info``
(what was checked and found fine).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from lab.pki.certinfo import (
    common_name,
    days_left,
    eku_names,
    is_ca,
    key_description,
    role,
    san_strings,
)

SEVERITIES = ("error", "warning", "info")
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class Finding:
    severity: str
    file: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        tail = f"\n    fix: {self.fix}" if self.fix else ""
        return f"{self.severity.upper():7} {self.file}: {self.message}{tail}"


@dataclass
class LoadedCertificate:
    """A certificate the doctor read, where it came from, and what its file carries with it."""

    cert: x509.Certificate
    file: str
    index: int  # position in its file (0 = the leaf of a chain file)
    bundled: list[x509.Certificate] = field(default_factory=list)  # the rest of its file

    @property
    def label(self) -> str:
        return self.file if self.index == 0 else f"{self.file}[{self.index}]"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def add(self, severity: str, file: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(severity, file, message, fix))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def messages(self, severity: str | None = None) -> list[str]:
        return [f"{f.file}: {f.message}" for f in self.findings if severity in (None, f.severity)]

    def summary(self) -> str:
        return (
            f"{len(self.files)} files: {len(self.errors)} errors, {len(self.warnings)} warnings, "
            f"{sum(f.severity == 'info' for f in self.findings)} notes"
        )

    def as_text(self, *, show_info: bool = True) -> str:
        order = {s: i for i, s in enumerate(SEVERITIES)}
        shown = [
            f
            for f in sorted(self.findings, key=lambda f: (order[f.severity], f.file))
            if show_info or f.severity != "info"
        ]
        return "\n".join([*(str(f) for f in shown), self.summary()])

    __str__ = as_text


def certificate_role(c: LoadedCertificate) -> str:
    """ca, server, client or unknown: the file name states the intent, then the CA flag and the EKU.

    A leaf file called ``client.crt`` is judged as a client certificate even when its
    EKU or CA flag says otherwise: that contradiction is exactly what to report.
    """
    stem = Path(c.file).stem.lower()
    self_signed = c.cert.issuer == c.cert.subject
    if c.index == 0 and not (is_ca(c.cert) and self_signed):
        if "client" in stem:
            return "client"
        if "server" in stem:
            return "server"
    if is_ca(c.cert) or (self_signed and c.index == 0 and "ca" in stem):
        return "ca"
    use = role(c.cert)
    if use in ("server", "client"):
        return use
    return "server" if use == "leaf (any use)" and san_strings(c.cert) else "unknown"


def check_key_strength(label: str, public_key, report: Report, what: str = "key") -> None:
    desc = key_description(public_key)
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        report.add(
            "error",
            label,
            f"{what} is {desc}: too weak (below 2048 bits)",
            "use RSA-2048+ or ECDSA P-256",
        )
    elif isinstance(public_key, dsa.DSAPublicKey):
        report.add(
            "error",
            label,
            f"{what} is {desc}: DSA is obsolete for TLS",
            "use ECDSA P-256 or RSA-2048+",
        )
    elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        report.add(
            "warning",
            label,
            f"{what} is {desc}: fine for OpenSSL 3, refused by many .NET versions, "
            "browsers and WebPKI verifiers",
            "use ECDSA P-256 for broad compatibility",
        )
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size < 256:
        report.add("error", label, f"{what} is {desc}: curve too small", "use P-256 or larger")


def check_certificate(c: LoadedCertificate, role: str, now: _dt.datetime, report: Report) -> None:
    cert, label = c.cert, c.label
    cn = common_name(cert.subject) or cert.subject.rfc4514_string()
    report.add("info", label, f"{role} certificate CN={cn}, {key_description(cert.public_key())}")
    if cert.version == x509.Version.v1:
        report.add(
            "warning",
            label,
            "X.509 v1 certificate: it cannot carry any extension (no SAN, EKU, "
            "CA flag); the guide's `openssl x509 -req` without -extfile makes these",
            "reissue with -extfile (subjectAltName, extendedKeyUsage, basicConstraints)",
        )
    # validity
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    left = days_left(na, now)
    if na < now:
        report.add(
            "error", label, f"expired on {na:%Y-%m-%d}", "renew it (python -m lab pki issue NAME)"
        )
    elif nb > now:
        report.add(
            "error",
            label,
            f"not valid until {nb:%Y-%m-%d %H:%M} UTC (clock skew, or issued in the future)",
            "check the clocks of issuer and verifier; reissue backdated by a few minutes",
        )
    elif left < EXPIRY_WARNING_DAYS:
        report.add("warning", label, f"expires in {left} days", "renew it now")
    else:
        report.add("info", label, f"valid, {left} days left")
    # signature hash
    algo = cert.signature_hash_algorithm
    if algo is not None and algo.name in ("md5", "sha1"):
        report.add(
            "error",
            label,
            f"signed with {algo.name.upper()}, which verifiers refuse",
            "reissue with SHA-256",
        )
    check_key_strength(label, cert.public_key(), report)
    ekus = eku_names(cert)
    if role == "ca":
        if not is_ca(cert):
            report.add(
                "error",
                label,
                "used as a CA but has no basicConstraints CA:TRUE; strict verifiers "
                "refuse everything it signed",
                "reissue the CA with basicConstraints=critical,CA:TRUE",
            )
        return
    if is_ca(cert):
        report.add(
            "error",
            label,
            f"a {role} certificate with CA:TRUE: OpenSSL may accept it as a client "
            "identity, strict verifiers refuse it",
            "reissue the leaf with basicConstraints=CA:FALSE",
        )
    wanted = {"server": "serverAuth", "client": "clientAuth"}.get(role)
    if wanted:
        if ekus is None:
            report.add(
                "warning",
                label,
                f"no Extended Key Usage: any use is allowed, so it does not say it is "
                f"a {role} certificate (OpenSSL and ASP.NET accept it; policy-checking verifiers may not)",
                f"add extendedKeyUsage={wanted}",
            )
        elif wanted not in ekus:
            report.add(
                "error",
                label,
                f"Extended Key Usage {', '.join(ekus) or '(empty)'} does not allow "
                f"{wanted}: peers refuse it as a {role} certificate",
                f"reissue with extendedKeyUsage={wanted}",
            )
    if role == "server":
        sans = san_strings(cert)
        if not sans:
            report.add(
                "error",
                label,
                f"server certificate has no Subject Alternative Name (only CN={cn}): "
                "requests/urllib3, browsers and Go refuse it; curl and Python's ssl still fall back to "
                "the CN",
                "reissue with subjectAltName=DNS:<host>,IP:<address> (-extfile)",
            )
        else:
            report.add("info", label, f"SAN {', '.join(sans)}")


__all__ = ["Finding", "Report", "SEVERITIES", "check_certificate", "certificate_role"]
