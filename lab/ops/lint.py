"""What is wrong with one certificate or key, as findings with a severity and a fix.

The doctor (:mod:`lab.ops.doctor`) reads the files, builds chains and pairs keys; this
module judges each certificate on its own: the role its file name and extensions give it,
its dates, its key and signature, its CA flag, Key Usage, EKU and SAN. Severities: ``error``
(will fail, or is unsafe), ``warning`` (works here, fails somewhere stricter, or soon),
``info`` (what was checked and found fine).

The guide's ``openssl x509 -req`` without ``-extfile`` makes a different certificate on
each side of OpenSSL 3.2: X.509 v1 (no extension at all) up to 3.1, v3 with only the key
identifiers from 3.2 (openssl-x509(1)). What matters is the same for both: no SAN, no EKU,
no Key Usage, no basicConstraints. So the findings read the extensions; only the note on
how such a certificate was made reads the version.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from lab.pki import certinfo
from lab.pki.certinfo import common_name, is_ca, key_description, san_strings

SEVERITIES = ("error", "warning", "info")
EXPIRY_WARNING_DAYS = 30
#: The extensions an ``-extfile`` adds and a bare ``openssl x509 -req`` never writes.
NEEDED = (x509.SubjectAlternativeName, x509.KeyUsage, x509.ExtendedKeyUsage, x509.BasicConstraints)

#: Every finding of the doctor and of this module, one per line: key, severity, message | fix,
#: with ``str.format`` fields. In one table, so the words stay consistent (diagnose reads them).
_TABLE = """
cert            info     {role} certificate CN={cn}, {key}
expired         error    expired on {date:%Y-%m-%d} | renew it (python -m lab pki issue NAME)
not-yet-valid   error    not valid until {date:%Y-%m-%d %H:%M} UTC (clock skew, or issued in the future) | check the clocks of issuer and verifier; reissue backdated by a few minutes
expires-soon    warning  expires in {days} days | renew it now
valid           info     valid, {days} days left
weak-hash       error    signed with {hash}, which verifiers refuse | reissue with SHA-256
weak-rsa        error    {what} is {desc}: too weak (below 2048 bits) | use RSA-2048+ or ECDSA P-256
dsa             error    {what} is {desc}: DSA is obsolete for TLS | use ECDSA P-256 or RSA-2048+
eddsa           warning  {what} is {desc}: fine for OpenSSL 3, refused by many .NET versions, browsers and WebPKI verifiers | use ECDSA P-256 for broad compatibility
small-curve     error    {what} is {desc}: curve too small | use P-256 or larger
ca-not-ca       error    used as a CA but has no basicConstraints CA:TRUE; strict verifiers refuse everything it signed | reissue the CA with basicConstraints=critical,CA:TRUE
ca-no-ku        warning  CA certificate without Key Usage: OpenSSL accepts what it signs, but RFC 5280 requires keyCertSign on it and cryptography's verifier refuses its chains | reissue the CA with keyUsage=critical,keyCertSign,cRLSign
ca-no-certsign  error    CA certificate whose Key Usage lacks keyCertSign: verifiers refuse every certificate it signed | reissue the CA with keyUsage=critical,keyCertSign,cRLSign
bare-v1         warning  X.509 v1 certificate: it cannot carry any extension (no SAN, EKU, Key Usage, CA flag); `openssl x509 -req` without -extfile makes these up to OpenSSL 3.1 | reissue with -extfile (subjectAltName, extendedKeyUsage, keyUsage, basicConstraints)
bare-v3         warning  X.509 v3 certificate without SAN, EKU, Key Usage or CA flag: what `openssl x509 -req` without -extfile makes from OpenSSL 3.2 on (only key identifiers) | reissue with -extfile (subjectAltName, extendedKeyUsage, keyUsage, basicConstraints)
leaf-ca         error    a {role} certificate with CA:TRUE: OpenSSL may accept it as a client identity, strict verifiers refuse it | reissue the leaf with basicConstraints=CA:FALSE
no-eku          warning  no Extended Key Usage: any use is allowed, so it does not say it is a {role} certificate (OpenSSL and ASP.NET accept it; policy-checking verifiers may not) | add extendedKeyUsage={wanted}
wrong-eku       error    Extended Key Usage {ekus} does not allow {wanted}: peers refuse it as a {role} certificate | reissue with extendedKeyUsage={wanted}
ku-no-signature error    Key Usage {ku} does not let the key sign the handshake: OpenSSL refuses it as a {role} certificate ('unsuitable certificate purpose') | reissue with keyUsage=critical,digitalSignature
no-san          error    server certificate has no Subject Alternative Name (only CN={cn}): requests/urllib3, browsers and Go refuse it; curl and Python's ssl still fall back to the CN | reissue with subjectAltName=DNS:<host>,IP:<address> (-extfile)
san             info     SAN {sans}
readable        warning  {what} is readable by others (mode {mode:o}) | chmod 600 {file}
missing         error    file does not exist | check the path
key-in-cert     error    a private key in a certificate file: it is deployed and shared like a certificate, so the key leaks | move the key to a .key file (mode 600) and put the certificate in {file}
other-pem       info     not a certificate or key (a CRL, CSR or public key): skipped
unreadable      error    not a readable PEM or DER certificate, key or .pfx | re-copy the file (it may be truncated), or check you pointed at the certificate
key-encrypted   warning  private key is encrypted; cannot check it without its passphrase | run the doctor with --password
key-unreadable  error    not a readable private key (or the passphrase is wrong) | check the passphrase, or re-copy the key file
pfx-no-password warning  .pfx not opened: no password given | run the doctor with --password
pfx-unopened    error    {problem} | give the password it was exported with (--password), or re-export it
pfx-mismatch    error    the .pfx key does not belong to its certificate | re-export the right pair
no-root         error    chain does not reach a trusted root: no certificate here issued {issuer!r} (chain so far: {names}) | give the root with --root, or put the CA certificate (and any intermediate) in the folder
chain           info     chain: {names}
no-intermediate warning  the file does not carry its intermediate ({names}); a peer presenting only this file sends an incomplete chain | append the intermediate(s) to the certificate file (leaf first)
self-signed     error    self-signed leaf: no CA vouches for it | have it issued by your CA
no-files        error    no certificate, key or .pfx files found | point the doctor at a folder (--dir) or at files
key-mismatch    error    does not belong to {file} (different public key){owner} | use the key generated with {file}, or reissue the pair
key-matches     info     matches {file}
key-orphan      warning  matches none of the certificates examined | check which certificate this key belongs to
"""
FINDINGS = {
    key: (severity, *text.partition(" | ")[::2])
    for key, severity, text in (line.split(maxsplit=2) for line in _TABLE.strip().splitlines())
}


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

    def note(self, name: str, where: str, /, **fields) -> None:
        """Add the finding :data:`FINDINGS` calls ``name``, its words filled with ``fields``."""
        severity, message, fix = FINDINGS[name]
        self.add(severity, where, message.format(**fields), fix.format(**fields))

    def of(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    errors = property(lambda self: self.of("error"))
    warnings = property(lambda self: self.of("warning"))
    ok = property(lambda self: not self.errors)

    def messages(self, severity: str | None = None) -> list[str]:
        return [f"{f.file}: {f.message}" for f in self.findings if severity in (None, f.severity)]

    def summary(self) -> str:
        errors, warnings, notes = (len(self.of(s)) for s in SEVERITIES)
        return f"{len(self.files)} files: {errors} errors, {warnings} warnings, {notes} notes"

    def as_text(self, *, show_info: bool = True) -> str:
        shown = sorted(
            (f for f in self.findings if show_info or f.severity != "info"),
            key=lambda f: (SEVERITIES.index(f.severity), f.file),
        )
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
        for intent in ("client", "server"):
            if intent in stem:
                return intent
    if is_ca(c.cert) or (self_signed and c.index == 0 and "ca" in stem):
        return "ca"
    use = certinfo.role(c.cert)
    if use in ("server", "client"):
        return use
    return "server" if use == "leaf (any use)" and san_strings(c.cert) else "unknown"


def check_key_strength(label: str, public_key, report: Report, what: str = "key") -> None:
    """Keys that verifiers refuse (weak RSA, DSA, small curves) or that many do not know (EdDSA)."""
    key = None
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        key = "weak-rsa"
    elif isinstance(public_key, dsa.DSAPublicKey):
        key = "dsa"
    elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        key = "eddsa"
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size < 256:
        key = "small-curve"
    if key:
        report.note(key, label, what=what, desc=key_description(public_key))


def check_certificate(c: LoadedCertificate, role: str, now: _dt.datetime, report: Report) -> None:
    """One certificate on its own: dates, signature hash, key, then what its role needs."""
    cert, label = c.cert, c.label
    cn = common_name(cert.subject) or cert.subject.rfc4514_string()
    report.note("cert", label, role=role, cn=cn, key=key_description(cert.public_key()))
    if cert.not_valid_after_utc < now:
        report.note("expired", label, date=cert.not_valid_after_utc)
    elif cert.not_valid_before_utc > now:
        report.note("not-yet-valid", label, date=cert.not_valid_before_utc)
    else:
        left = certinfo.days_left(cert, now)
        report.note("expires-soon" if left < EXPIRY_WARNING_DAYS else "valid", label, days=left)
    algo = cert.signature_hash_algorithm
    if algo is not None and algo.name.upper() in ("MD5", "SHA1"):
        report.note("weak-hash", label, hash=algo.name.upper())
    check_key_strength(label, cert.public_key(), report)
    usage = certinfo.key_usage_names(cert)  # the Key Usage bits by name; None without it
    if role == "ca":  # RFC 5280 4.2.1.9 and 4.2.1.3: CA:TRUE, and a key that may sign certificates
        if not is_ca(cert):
            report.note("ca-not-ca", label)
        elif usage is None or "keyCertSign" not in usage:
            report.note("ca-no-ku" if usage is None else "ca-no-certsign", label)
        return
    if not any(isinstance(e.value, NEEDED) for e in cert.extensions):  # the guide's, either way
        report.note("bare-v1" if cert.version == x509.Version.v1 else "bare-v3", label)
    if is_ca(cert):
        report.note("leaf-ca", label, role=role)
    wanted = {"server": "serverAuth", "client": "clientAuth"}.get(role)
    if not wanted:
        return
    eku = certinfo.eku_names(cert)
    if eku is None:
        report.note("no-eku", label, role=role, wanted=wanted)
    elif wanted not in eku:
        ekus = ", ".join(eku) or "(empty)"
        report.note("wrong-eku", label, ekus=ekus, wanted=wanted, role=role)
    # OpenSSL's purpose check: a client signs; a server signs, or decrypts (TLS 1.2 RSA key exchange)
    signs = {"digitalSignature", "keyAgreement"} | (
        {"keyEncipherment"} if role == "server" else set()
    )
    if usage is not None and not signs & set(usage):
        report.note("ku-no-signature", label, ku=", ".join(usage), role=role)
    if role == "server":
        sans = san_strings(cert)
        report.note("san", label, sans=", ".join(sans)) if sans else report.note(
            "no-san", label, cn=cn
        )


__all__ = ["FINDINGS", "Finding", "Report", "SEVERITIES", "check_certificate", "certificate_role"]
