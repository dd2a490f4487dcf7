"""The certificate doctor: lint a folder (or a list) of certificates, keys and .pfx bundles.

Why: most mTLS failures are visible in the files before any socket opens (a
server certificate without SAN, a key that belongs to another certificate, a
chain that does not reach the root, a certificate that expires next week), and
each one shows up at run time as a terse handshake error on the *other* machine.
The doctor reads every file, pairs keys with certificates by their public keys,
builds each chain by signature (not by name), and judges each certificate on its own:
the role its file name and extensions give it, its dates, its key and signature, its
CA flag, Key Usage, EKU and SAN. Severities: ``error`` (will fail, or is unsafe),
``warning`` (works here, fails somewhere stricter, or soon), ``info`` (what was
checked and found fine). ``python -m lab doctor`` exits 1 when any finding is an error.

The guide's ``openssl x509 -req`` without ``-extfile`` makes a different certificate on
each side of OpenSSL 3.2: X.509 v1 (no extension at all) up to 3.1, v3 with only the key
identifiers from 3.2 (openssl-x509(1)). What matters is the same for both: no SAN, no EKU,
no Key Usage, no basicConstraints. So the findings read the extensions; only the note on
how such a certificate was made reads the version.
"""

from __future__ import annotations

import datetime as _dt
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from lab import pki
from lab.errors import LabError, PassphraseRequiredError, WrongPasswordError
from lab.paths import show
from lab.pki import certinfo
from lab.pki.certinfo import common_name, is_ca, key_description, san_strings
from lab.pki.fields import utcnow
from lab.pki.verify import issuer_chain

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

    def note(self, name: str, where: str, /, **fields) -> None:
        """Add the finding :data:`FINDINGS` calls ``name``, its words filled with ``fields``."""
        severity, message, fix = FINDINGS[name]
        self.findings.append(
            Finding(severity, where, message.format(**fields), fix.format(**fields))
        )

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def summary(self) -> str:
        errors, warnings, notes = (sum(f.severity == s for f in self.findings) for s in SEVERITIES)
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
    if role == "server" and san_strings(cert):
        report.note("san", label, sans=", ".join(san_strings(cert)))
    elif role == "server":
        report.note("no-san", label, cn=cn)


SKIPPED_SUFFIXES = (".csr", ".srl", ".txt", ".md", ".cnf", ".conf", ".ext")
#: PEM blocks that are not certificates or keys but belong in a PKI folder: noted, not judged.
OTHER_PEM = (b"-----BEGIN X509 CRL", b"-----BEGIN CERTIFICATE REQUEST", b"-----BEGIN PUBLIC KEY")


def _check_mode(path: Path, name: str, what: str, report: Report) -> None:
    """A secret readable by the group or the world: the first copy of it that leaks."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        report.note("readable", name, what=what, mode=mode, file=name)


def _loaded(certs: list[x509.Certificate], name: str) -> list[LoadedCertificate]:
    """The certificates of one file, leaf first, the leaf carrying the rest as its bundle."""
    return [LoadedCertificate(c, name, i, certs[1:] if i == 0 else []) for i, c in enumerate(certs)]


def _read(path: Path, password: str | None, report: Report, certs: list, keys: list) -> None:
    """Add what ``path`` holds to ``certs`` (:class:`LoadedCertificate`) and ``keys`` ((file
    name, private key) of each key file); note what is wrong with the file itself."""
    shown = show(path)
    name = path.name if Path(shown).is_absolute() else shown  # in the project: certs/x.crt
    suffix = path.suffix.lower()
    if path.name == pki.PASSWORD_FILE and path.is_file():
        _check_mode(path, name, "the .pfx password file", report)
    if suffix in SKIPPED_SUFFIXES:
        return
    if not path.exists():
        return report.note("missing", name)
    report.files.append(name)
    if suffix in pki.PFX_SUFFIXES:
        _check_mode(path, name, ".pfx bundle (it holds a private key)", report)
        try:
            ident = pki.open_pfx(path, password)
        except PassphraseRequiredError:
            return report.note("pfx-no-password", name)
        except LabError as exc:
            return report.note("pfx-unopened", name, problem=_pfx_problem(exc, path))
        certs += _loaded([ident.cert, *ident.chain], name)
        if not ident.key_matches:  # its key pairs with its own certificate, nothing else
            report.note("pfx-mismatch", name)
        return
    data = path.read_bytes()
    has_cert = b"-----BEGIN CERTIFICATE-----" in data
    if b"PRIVATE KEY-----" in data or suffix == ".key":
        _check_mode(path, name, "private key file", report)
        try:
            key = pki.load_private_key(path, password)
            keys.append((name, key))
            check_key_strength(name, key.public_key(), report, "private key")
        except PassphraseRequiredError:
            report.note("key-encrypted", name)
        except LabError:
            report.note("key-unreadable", name)
        if suffix in pki.CERT_SUFFIXES and not has_cert:
            report.note("key-in-cert", name, file=name)
        if not has_cert:
            return
    if not has_cert and any(block in data for block in OTHER_PEM):
        return report.note("other-pem", name)
    try:
        certs += _loaded(pki.load_certificates(path), name)
    except LabError:
        report.note("unreadable", name)


def _pfx_problem(exc: LabError, path: Path) -> str:
    """The doctor's one line for a .pfx that did not open: the loader's own words, with "the
    .pfx" for its path (the finding names the file)."""
    if isinstance(exc, WrongPasswordError):  # OpenSSL's words are for the command line
        return "could not open the .pfx: wrong password, or not a PKCS#12 file"
    return str(exc).replace(str(path), "the .pfx")


def _check_chain(c: LoadedCertificate, pool: list, roots: list, report: Report) -> None:
    """Build the chain by signature; note intermediates the leaf's file does not carry.

    By signature, not with cryptography's verifier: that verifier refuses what OpenSSL
    accepts (the guide's certificates, a root without Key Usage), and the doctor reports
    those as findings of their own (:func:`check_certificate`) instead of "no chain".
    """
    chain = [c.cert, *issuer_chain(c.cert, [*c.bundled, *pool])]
    anchor = next((i for i, x in enumerate(chain) if any(_is_root(x, r) for r in roots)), None)
    if anchor is None:
        issuer = common_name(chain[-1].issuer) or chain[-1].issuer.rfc4514_string()
        names = ", ".join(common_name(x.subject) for x in chain)
        return report.note("no-root", c.label, issuer=issuer, names=names)
    chain = chain[: anchor + 1]
    report.note("chain", c.label, names=" -> ".join(common_name(x.subject) or "?" for x in chain))
    elsewhere = [x for x in chain[1:] if x not in c.bundled and x.issuer != x.subject]
    if elsewhere:
        names = ", ".join(common_name(x.subject) for x in elsewhere)
        report.note("no-intermediate", c.label, names=names)


def _is_root(cert: x509.Certificate, root: x509.Certificate) -> bool:
    return cert.subject == root.subject and cert.public_key() == root.public_key()


def _files(paths, directory) -> list[Path]:
    found = []
    if directory is not None:
        found += sorted(p for p in Path(directory).iterdir() if p.is_file() and p.name[0] != ".")
    for p in map(Path, paths or ()):
        found += sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p]
    return found


def examine(paths=(), *, directory=None, roots=(), password=None) -> Report:
    """Lint certificates, keys and .pfx files; ``roots`` are extra trusted CA files."""
    report, now = Report(), utcnow(exact=True)
    certs: list[LoadedCertificate] = []
    keys: list = []  # (file name, private key) of the key files
    files = _files(paths, directory)
    if not files:
        report.note("no-files", str(directory or "."))
    for p in files:
        _read(p, password, report, certs, keys)
    root_certs = [cert for r in roots for cert in pki.load_certificates(r)]
    root_certs += [c.cert for c in certs if c.cert.issuer == c.cert.subject and is_ca(c.cert)]
    pool = [c.cert for c in certs if is_ca(c.cert)] + root_certs
    seen: set[bytes] = set()
    for c in certs:
        fp = c.cert.fingerprint(hashes.SHA256())
        if fp in seen and c.index > 0:
            continue
        seen.add(fp)
        role = certificate_role(c)
        check_certificate(c, role, now, report)
        self_signed = c.cert.issuer == c.cert.subject
        if self_signed and role != "ca":
            report.note("self-signed", c.label)
        elif not self_signed:
            _check_chain(c, pool, root_certs, report)
    _pair_keys(certs, keys, report)
    return report


def _pair_keys(certs: list[LoadedCertificate], keys: list, report: Report) -> None:
    """Every key must match a certificate; a key and a certificate that share a file stem, each other."""
    leaves = {
        Path(c.file).with_suffix("").as_posix(): c
        for c in certs
        if c.index == 0 and Path(c.file).suffix.lower() not in pki.PFX_SUFFIXES
    }
    for name, key in keys:
        owner = next((c.file for c in certs if c.cert.public_key() == key.public_key()), None)
        partner = leaves.get(Path(name).with_suffix("").as_posix())
        if partner is not None and partner.cert.public_key() != key.public_key():
            also = f"; it is the key of {owner}" if owner else ""
            report.note("key-mismatch", name, file=partner.file, owner=also)
        elif owner or partner:
            report.note("key-matches", name, file=partner.file if partner else owner)
        else:
            report.note("key-orphan", name)
