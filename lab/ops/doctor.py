"""The certificate doctor: lint a folder (or a list) of certificates, keys and .pfx bundles.

Why: most mTLS failures are visible in the files before any socket opens (a
server certificate without SAN, a key that belongs to another certificate, a
chain that does not reach the root, a certificate that expires next week), and
each one shows up at run time as a terse handshake error on the *other* machine.
The doctor reads every file, pairs keys with certificates by their public keys,
builds each chain by signature (not by name), and reports findings with a
severity and a fix. ``python -m lab doctor`` exits 1 when any finding is an error.

Severities: ``error`` (will fail, or is unsafe), ``warning`` (works here, fails
somewhere stricter, or soon), ``info`` (what was checked and found fine).
"""

from __future__ import annotations

import datetime as _dt
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from lab.paths import show
from lab.pki.certinfo import common_name, eku_names, key_description, san_strings

SEVERITIES = ("error", "warning", "info")
CERT_SUFFIXES = (".crt", ".pem", ".cer", ".der")
KEY_SUFFIXES = (".key",)
PFX_SUFFIXES = (".pfx", ".p12")
SKIPPED_SUFFIXES = (".csr", ".srl", ".txt", ".md", ".cnf", ".conf", ".ext")
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
class _Cert:
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


# ------------------------------------------------------------------ loading
def _files(paths, directory) -> list[Path]:
    out: list[Path] = []
    if directory is not None:
        out += sorted(
            p for p in Path(directory).iterdir() if p.is_file() and not p.name.startswith(".")
        )
    for p in paths or ():
        p = Path(p)
        out += sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p]
    return out


def _display(path: Path) -> str:
    """Project files relative to the project (certs/server.crt); anything else by its name."""
    shown = show(path)
    return path.name if Path(shown).is_absolute() else shown


def _password_for(path: Path, password: str | None) -> str | None:
    if password:
        return password
    saved = path.parent / "pfx-password.txt"
    return saved.read_text().strip() if saved.exists() else None


def _load(path: Path, password: str | None, report: Report, certs: list[_Cert], keys: list):
    name = _display(path)
    if path.suffix.lower() in SKIPPED_SUFFIXES:
        return
    if not path.exists():
        report.add("error", name, "file does not exist", "check the path")
        return
    report.files.append(name)
    data = path.read_bytes()
    if path.suffix.lower() in PFX_SUFFIXES:
        _load_pfx(path, name, data, password, report, certs, keys)
        return
    if b"PRIVATE KEY-----" in data or path.suffix.lower() in KEY_SUFFIXES:
        _load_key(path, name, data, password, report, keys)
        if b"CERTIFICATE-----" not in data:
            return
    try:
        loaded = (
            x509.load_pem_x509_certificates(data)
            if b"-----BEGIN CERTIFICATE" in data
            else [x509.load_der_x509_certificate(data)]
        )
    except ValueError:
        if path.suffix.lower() in CERT_SUFFIXES:
            report.add(
                "error",
                name,
                "not a readable PEM or DER certificate",
                "re-copy the file (it may be truncated), or check you pointed at the certificate",
            )
        return
    for i, c in enumerate(loaded):
        certs.append(_Cert(c, name, i, loaded[i + 1 :] if i == 0 else []))


def _load_key(path: Path, name: str, data: bytes, password, report: Report, keys: list) -> None:
    loader = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        report.add(
            "warning",
            name,
            f"private key file is readable by others (mode {mode:o})",
            f"chmod 600 {name}",
        )
    try:
        try:
            key = loader(data, None)
        except TypeError:  # encrypted: only now does the passphrase matter
            if not password:
                report.add(
                    "warning",
                    name,
                    "private key is encrypted; cannot check it without its passphrase",
                    "run the doctor with --password",
                )
                return
            key = loader(data, password.encode())
    except ValueError:
        report.add(
            "error",
            name,
            "not a readable private key (or the passphrase is wrong)",
            "check the passphrase, or re-copy the key file",
        )
        return
    keys.append((name, key))
    _check_key_strength(name, key.public_key(), report, "private key")


def _load_pfx(
    path: Path, name: str, data: bytes, password, report: Report, certs: list, keys: list
) -> None:
    pw = _password_for(path, password)
    if not pw:
        report.add(
            "warning", name, ".pfx not opened: no password given", "run the doctor with --password"
        )
        return
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, pw.encode())
    except ValueError:
        report.add(
            "error",
            name,
            "could not open the .pfx: wrong password, or not a PKCS#12 file",
            "give the password it was exported with (--password), or re-export it",
        )
        return
    if cert is None or key is None:
        report.add("error", name, ".pfx holds no certificate and key pair", "export it with both")
        return
    extra = list(extra or [])
    certs.append(_Cert(cert, name, 0, extra))
    certs += [_Cert(c, name, i, []) for i, c in enumerate(extra, 1)]
    keys.append((name, key))
    if not _same_key(cert.public_key(), key.public_key()):
        report.add(
            "error",
            name,
            "the .pfx key does not belong to its certificate",
            "re-export the right pair",
        )


# ------------------------------------------------------------------ checks
def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _same_key(a, b) -> bool:
    return _spki(a) == _spki(b)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _role(c: _Cert) -> str:
    """ca, server, client or unknown: the file name states the intent, then the CA flag and the EKU.

    A leaf file called ``client.crt`` is judged as a client certificate even when its
    EKU or CA flag says otherwise: that contradiction is exactly what to report.
    """
    stem = Path(c.file).stem.lower()
    if c.index == 0 and not (_is_ca(c.cert) and c.cert.issuer == c.cert.subject):
        if "client" in stem:
            return "client"
        if "server" in stem:
            return "server"
    if _is_ca(c.cert) or (c.cert.issuer == c.cert.subject and c.index == 0 and "ca" in stem):
        return "ca"
    ekus = eku_names(c.cert) or []
    if "serverAuth" in ekus and "clientAuth" not in ekus:
        return "server"
    if "clientAuth" in ekus and "serverAuth" not in ekus:
        return "client"
    return "server" if san_strings(c.cert) and not eku_names(c.cert) else "unknown"


def _check_key_strength(label: str, public_key, report: Report, what: str = "key") -> None:
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


def _check_certificate(c: _Cert, role: str, now: _dt.datetime, report: Report) -> None:
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
    days_left = (na - now).days
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
    elif days_left < EXPIRY_WARNING_DAYS:
        report.add("warning", label, f"expires in {days_left} days", "renew it now")
    else:
        report.add("info", label, f"valid, {days_left} days left")
    # signature hash
    algo = cert.signature_hash_algorithm
    if algo is not None and algo.name in ("md5", "sha1"):
        report.add(
            "error",
            label,
            f"signed with {algo.name.upper()}, which verifiers refuse",
            "reissue with SHA-256",
        )
    _check_key_strength(label, cert.public_key(), report)
    ekus = eku_names(cert)
    if role == "ca":
        if not _is_ca(cert):
            report.add(
                "error",
                label,
                "used as a CA but has no basicConstraints CA:TRUE; strict verifiers "
                "refuse everything it signed",
                "reissue the CA with basicConstraints=critical,CA:TRUE",
            )
        return
    if _is_ca(cert):
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


def _issuer_of(cert: x509.Certificate, pool: list[x509.Certificate]) -> x509.Certificate | None:
    for cand in pool:
        if cand.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(cand)
            return cand
        except Exception:  # noqa: BLE001 - a bad signature (or key type) just means "not this one"
            continue
    return None


def _check_chain(
    c: _Cert, pool: list[x509.Certificate], roots: list[x509.Certificate], report: Report
) -> None:
    """Build the chain by signature; note intermediates the leaf's file does not carry."""
    chain = [c.cert]
    cur = c.cert
    from_elsewhere = []
    for _ in range(8):
        if any(
            _same_key(cur.public_key(), r.public_key()) and cur.subject == r.subject for r in roots
        ):
            break
        issuer = _issuer_of(cur, [*c.bundled, *pool])
        if issuer is None or issuer in chain:
            names = ", ".join(common_name(x.subject) for x in chain)
            report.add(
                "error",
                c.label,
                f"chain does not reach a trusted root: no certificate here issued "
                f"{common_name(cur.issuer) or cur.issuer.rfc4514_string()!r} (chain so far: {names})",
                "give the root with --root, or put the CA certificate (and any intermediate) in the folder",
            )
            return
        if issuer not in c.bundled and issuer.issuer != issuer.subject:
            from_elsewhere.append(common_name(issuer.subject))
        chain.append(issuer)
        cur = issuer
    report.add(
        "info", c.label, "chain: " + " -> ".join(common_name(x.subject) or "?" for x in chain)
    )
    if from_elsewhere:
        report.add(
            "warning",
            c.label,
            f"the file does not carry its intermediate ({', '.join(from_elsewhere)}); "
            "a peer presenting only this file sends an incomplete chain",
            "append the intermediate(s) to the certificate file (leaf first)",
        )


def examine(
    paths=(),
    *,
    directory=None,
    roots=(),
    password: str | None = None,
    now: _dt.datetime | None = None,
) -> Report:
    """Lint certificates, keys and .pfx files; ``roots`` are extra trusted CA files."""
    report = Report()
    certs: list[_Cert] = []
    keys: list = []
    now = now or _dt.datetime.now(_dt.timezone.utc)
    files = _files(paths, directory)
    if not files:
        report.add(
            "error",
            str(directory or "."),
            "no certificate, key or .pfx files found",
            "point the doctor at a folder (--dir) or at files",
        )
        return report
    for p in files:
        _load(p, password, report, certs, keys)
    root_certs: list[x509.Certificate] = []
    for r in roots:
        root_certs += x509.load_pem_x509_certificates(Path(r).read_bytes())
    root_certs += [c.cert for c in certs if c.cert.issuer == c.cert.subject and _is_ca(c.cert)]
    pool = [c.cert for c in certs if _is_ca(c.cert)] + root_certs
    seen: set[bytes] = set()
    for c in certs:
        fp = c.cert.fingerprint(hashes.SHA256())
        if fp in seen and c.index > 0:
            continue
        seen.add(fp)
        role = _role(c)
        _check_certificate(c, role, now, report)
        if role != "ca" or c.cert.issuer != c.cert.subject:
            if c.cert.issuer == c.cert.subject and role != "ca":
                report.add(
                    "error",
                    c.label,
                    "self-signed leaf: no CA vouches for it",
                    "have it issued by your CA",
                )
            else:
                _check_chain(c, pool, root_certs, report)
    _pair_keys(certs, keys, report)
    return report


def _pair_keys(certs: list[_Cert], keys: list, report: Report) -> None:
    """Every key must match a certificate; a cert and key that share a file stem must match each other."""
    by_stem = {
        Path(c.file).with_suffix("").as_posix(): c
        for c in certs
        if c.index == 0 and Path(c.file).suffix.lower() not in PFX_SUFFIXES
    }
    for name, key in keys:
        if Path(name).suffix.lower() in PFX_SUFFIXES:
            continue
        stem = Path(name).with_suffix("").as_posix()
        partner = by_stem.get(stem)
        if partner is not None:
            if _same_key(partner.cert.public_key(), key.public_key()):
                report.add("info", name, f"matches {partner.file}")
            else:
                owner = next(
                    (c.file for c in certs if _same_key(c.cert.public_key(), key.public_key())),
                    None,
                )
                report.add(
                    "error",
                    name,
                    f"does not belong to {partner.file} (different public key)"
                    + (f"; it is the key of {owner}" if owner else ""),
                    f"use the key generated with {partner.file}, or reissue the pair",
                )
            continue
        owner = next(
            (c.file for c in certs if _same_key(c.cert.public_key(), key.public_key())), None
        )
        if owner:
            report.add("info", name, f"matches {owner}")
        else:
            report.add(
                "warning",
                name,
                "matches none of the certificates examined",
                "check which certificate this key belongs to",
            )


__all__ = ["Finding", "Report", "examine", "SEVERITIES"]
