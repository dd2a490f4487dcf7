"""The certificate doctor: lint a folder (or a list) of certificates, keys and .pfx bundles.

Why: most mTLS failures are visible in the files before any socket opens (a
server certificate without SAN, a key that belongs to another certificate, a
chain that does not reach the root, a certificate that expires next week), and
each one shows up at run time as a terse handshake error on the *other* machine.
The doctor reads every file, pairs keys with certificates by their public keys,
builds each chain by signature (not by name), and reports findings with a
severity and a fix (:mod:`lab.ops.lint` judges each certificate on its own).
``python -m lab doctor`` exits 1 when any finding is an error.
"""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lab import pki
from lab.errors import LabError, PassphraseRequiredError, WrongPasswordError
from lab.ops import lint
from lab.ops.lint import SEVERITIES, Finding, LoadedCertificate, Report
from lab.paths import show
from lab.pki.certinfo import common_name, is_ca
from lab.pki.fields import utcnow
from lab.pki.verify import issuer_chain

SKIPPED_SUFFIXES = (".csr", ".srl", ".txt", ".md", ".cnf", ".conf", ".ext")
#: PEM blocks that are not certificates or keys but belong in a PKI folder: noted, not judged.
OTHER_PEM = (b"-----BEGIN X509 CRL", b"-----BEGIN CERTIFICATE REQUEST", b"-----BEGIN PUBLIC KEY")
WRONG_PASSWORD = "could not open the .pfx: wrong password, or not a PKCS#12 file"


class _Reader:
    """What the files hold: certificates (with their file and position) and private keys."""

    def __init__(self, password: str | None, report: Report):
        self.password, self.report = password, report
        self.certs: list[LoadedCertificate] = []
        self.keys: list = []  # (file name, private key)

    def check_mode(self, path: Path, name: str, what: str) -> None:
        """A secret readable by the group or the world: the first copy of it that leaks."""
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            self.report.note("readable", name, what=what, mode=mode, file=name)

    def read(self, path: Path) -> None:
        shown = show(path)
        name = path.name if Path(shown).is_absolute() else shown  # in the project: certs/x.crt
        suffix, report = path.suffix.lower(), self.report
        if path.name == pki.PASSWORD_FILE and path.is_file():
            self.check_mode(path, name, "the .pfx password file")
        if suffix in SKIPPED_SUFFIXES:
            return
        if not path.exists():
            return report.note("missing", name)
        report.files.append(name)
        if suffix in pki.PFX_SUFFIXES:
            self.check_mode(path, name, ".pfx bundle (it holds a private key)")
            return self.read_pfx(path, name)
        data = path.read_bytes()
        has_cert = b"-----BEGIN CERTIFICATE-----" in data
        if b"PRIVATE KEY-----" in data or suffix in pki.KEY_SUFFIXES:
            self.read_key(path, name)
            if suffix in pki.CERT_SUFFIXES and not has_cert:
                report.note("key-in-cert", name, file=name)
            if not has_cert:
                return
        if not has_cert and any(block in data for block in OTHER_PEM):
            return report.note("other-pem", name)
        try:
            loaded = pki.load_certificates(path)
        except LabError:
            return report.note("unreadable", name)
        for i, c in enumerate(loaded):
            self.certs.append(LoadedCertificate(c, name, i, loaded[1:] if i == 0 else []))

    def read_key(self, path: Path, name: str) -> None:
        self.check_mode(path, name, "private key file")
        try:
            key = pki.load_private_key(path, self.password)
        except PassphraseRequiredError:
            return self.report.note("key-encrypted", name)
        except LabError:
            return self.report.note("key-unreadable", name)
        self.keys.append((name, key))
        lint.check_key_strength(name, key.public_key(), self.report, "private key")

    def read_pfx(self, path: Path, name: str) -> None:
        try:  # an explicit password, even "", is used as given; only None falls back to the file
            pw = pki.read_password(path.parent) if self.password is None else self.password
            ident = pki.load_pkcs12(path, pw)
        except PassphraseRequiredError:
            return self.report.note("pfx-no-password", name)
        except LabError as exc:
            return self.report.note("pfx-unopened", name, problem=_pfx_problem(exc, path))
        self.certs.append(LoadedCertificate(ident.cert, name, 0, ident.chain))
        self.certs += [LoadedCertificate(c, name, i, []) for i, c in enumerate(ident.chain, 1)]
        self.keys.append((name, ident.key))
        if not ident.key_matches:
            self.report.note("pfx-mismatch", name)


def _pfx_problem(exc: LabError, path: Path) -> str:
    """The doctor's one line for a .pfx that did not open.

    Read from the error's type and its own words, never from the path: a folder named
    "empty-test" must not turn a wrong password into "the file is empty".
    """
    message = str(exc).replace(str(path), "")
    if isinstance(exc, WrongPasswordError):
        return WRONG_PASSWORD
    if pki.PASSWORD_FILE in message:
        return str(exc)
    if "iteration" in message:  # refused before any key was derived (lab.pki.files)
        return "the .pfx" + message
    if "truncated" in message or "empty" in message:
        return "unreadable .pfx: the file is empty or truncated"
    if "no certificate and key pair" in message:
        return ".pfx holds no certificate and key pair"
    return WRONG_PASSWORD


def _check_chain(c: LoadedCertificate, pool: list, roots: list, report: Report) -> None:
    """Build the chain by signature; note intermediates the leaf's file does not carry.

    By signature, not with cryptography's verifier: that verifier refuses what OpenSSL
    accepts (the guide's certificates, a root without Key Usage), and the doctor reports
    those as findings of their own (:mod:`lab.ops.lint`) instead of "no chain".
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


def examine(paths=(), *, directory=None, roots=(), password=None, now=None) -> Report:
    """Lint certificates, keys and .pfx files; ``roots`` are extra trusted CA files."""
    reader = _Reader(password, Report())
    report, now = reader.report, now or utcnow(exact=True)
    files = _files(paths, directory)
    if not files:
        report.note("no-files", str(directory or "."))
    for p in files:
        reader.read(p)
    certs = reader.certs
    root_certs = [cert for r in roots for cert in pki.load_certificates(r)]
    root_certs += [c.cert for c in certs if c.cert.issuer == c.cert.subject and is_ca(c.cert)]
    pool = [c.cert for c in certs if is_ca(c.cert)] + root_certs
    seen: set[bytes] = set()
    for c in certs:
        fp = c.cert.fingerprint(hashes.SHA256())
        if fp in seen and c.index > 0:
            continue
        seen.add(fp)
        role = lint.certificate_role(c)
        lint.check_certificate(c, role, now, report)
        self_signed = c.cert.issuer == c.cert.subject
        if self_signed and role != "ca":
            report.note("self-signed", c.label)
        elif not self_signed:
            _check_chain(c, pool, root_certs, report)
    _pair_keys(certs, reader.keys, report)
    return report


def _pair_keys(certs: list[LoadedCertificate], keys: list, report: Report) -> None:
    """Every key must match a certificate; a key and a certificate that share a file stem, each other."""
    leaves = {
        Path(c.file).with_suffix("").as_posix(): c
        for c in certs
        if c.index == 0 and Path(c.file).suffix.lower() not in pki.PFX_SUFFIXES
    }
    for name, key in keys:
        if Path(name).suffix.lower() in pki.PFX_SUFFIXES:
            continue
        owner = next((c.file for c in certs if c.cert.public_key() == key.public_key()), None)
        partner = leaves.get(Path(name).with_suffix("").as_posix())
        if partner is not None and partner.cert.public_key() != key.public_key():
            also = f"; it is the key of {owner}" if owner else ""
            report.note("key-mismatch", name, file=partner.file, owner=also)
        elif owner or partner:
            report.note("key-matches", name, file=partner.file if partner else owner)
        else:
            report.note("key-orphan", name)


__all__ = ["Finding", "Report", "examine", "SEVERITIES"]
