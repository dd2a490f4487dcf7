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

import datetime as _dt
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lab.errors import LabError, PassphraseRequiredError, WrongPasswordError
from lab.ops.lint import (
    SEVERITIES,
    Finding,
    LoadedCertificate,
    Report,
    certificate_role,
    check_certificate,
    check_key_strength,
)
from lab.paths import show
from lab.pki import (
    CERT_SUFFIXES,
    KEY_SUFFIXES,
    PASSWORD_FILE,
    PFX_SUFFIXES,
    load_certificates,
    load_pkcs12,
    load_private_key,
    read_password,
)
from lab.pki.certinfo import common_name, is_ca
from lab.pki.fields import utcnow
from lab.pki.verify import issuer_chain

SKIPPED_SUFFIXES = (".csr", ".srl", ".txt", ".md", ".cnf", ".conf", ".ext")
#: PEM blocks that are not certificates or keys but belong in a PKI folder: noted, not judged.
OTHER_PEM = (b"-----BEGIN X509 CRL", b"-----BEGIN CERTIFICATE REQUEST", b"-----BEGIN PUBLIC KEY")


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


def _check_mode(path: Path, name: str, what: str, report: Report) -> None:
    """A secret readable by the group or the world: the first copy of it that leaks."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        report.add(
            "warning", name, f"{what} is readable by others (mode {mode:o})", f"chmod 600 {name}"
        )


def _load(
    path: Path, password: str | None, report: Report, certs: list[LoadedCertificate], keys: list
):
    name = _display(path)
    suffix = path.suffix.lower()
    if path.name == PASSWORD_FILE and path.is_file():
        _check_mode(path, name, "the .pfx password file", report)
    if suffix in SKIPPED_SUFFIXES:
        return
    if not path.exists():
        report.add("error", name, "file does not exist", "check the path")
        return
    report.files.append(name)
    if suffix in PFX_SUFFIXES:
        _check_mode(path, name, ".pfx bundle (it holds a private key)", report)
        _load_pfx(path, name, password, report, certs, keys)
        return
    data = path.read_bytes()
    has_cert = b"-----BEGIN CERTIFICATE-----" in data
    if b"PRIVATE KEY-----" in data or suffix in KEY_SUFFIXES:
        _load_key(path, name, password, report, keys)
        if suffix in CERT_SUFFIXES and not has_cert:
            report.add(
                "error",
                name,
                "a private key in a certificate file: it is deployed and shared like a "
                "certificate, so the key leaks",
                f"move the key to a .key file (mode 600) and put the certificate in {name}",
            )
        if not has_cert:
            return
    if not has_cert and any(block in data for block in OTHER_PEM):
        report.add("info", name, "not a certificate or key (a CRL, CSR or public key): skipped")
        return
    try:
        loaded = load_certificates(path)
    except LabError:
        report.add(
            "error",
            name,
            "not a readable PEM or DER certificate, key or .pfx",
            "re-copy the file (it may be truncated), or check you pointed at the certificate",
        )
        return
    for i, c in enumerate(loaded):
        certs.append(LoadedCertificate(c, name, i, loaded[i + 1 :] if i == 0 else []))


def _load_key(path: Path, name: str, password, report: Report, keys: list) -> None:
    _check_mode(path, name, "private key file", report)
    try:
        key = load_private_key(path, password)
    except PassphraseRequiredError:
        report.add(
            "warning",
            name,
            "private key is encrypted; cannot check it without its passphrase",
            "run the doctor with --password",
        )
        return
    except LabError:
        report.add(
            "error",
            name,
            "not a readable private key (or the passphrase is wrong)",
            "check the passphrase, or re-copy the key file",
        )
        return
    keys.append((name, key))
    check_key_strength(name, key.public_key(), report, "private key")


def _load_pfx(path: Path, name: str, password, report: Report, certs: list, keys: list) -> None:
    try:
        # an explicit password, even "", is used as given; only None falls back to the file
        pw = read_password(path.parent) if password is None else password
        ident = load_pkcs12(path, pw)
    except PassphraseRequiredError:
        report.add(
            "warning", name, ".pfx not opened: no password given", "run the doctor with --password"
        )
        return
    except LabError as exc:
        report.add(
            "error",
            name,
            _pfx_problem(exc, path),
            "give the password it was exported with (--password), or re-export it",
        )
        return
    certs.append(LoadedCertificate(ident.cert, name, 0, ident.chain))
    certs += [LoadedCertificate(c, name, i, []) for i, c in enumerate(ident.chain, 1)]
    keys.append((name, ident.key))
    if not ident.key_matches:
        report.add(
            "error",
            name,
            "the .pfx key does not belong to its certificate",
            "re-export the right pair",
        )


def _pfx_problem(exc: LabError, path: Path) -> str:
    """The doctor's one line for a .pfx that did not open.

    Read from the error's type and its own words, never from the path: a folder named
    "empty-test" must not turn a wrong password into "the file is empty".
    """
    if isinstance(exc, WrongPasswordError):
        return "could not open the .pfx: wrong password, or not a PKCS#12 file"
    message = str(exc).replace(str(path), "")
    if PASSWORD_FILE in message:
        return str(exc)
    if "truncated" in message or "empty" in message:
        return "unreadable .pfx: the file is empty or truncated"
    if "no certificate and key pair" in message:
        return ".pfx holds no certificate and key pair"
    return "could not open the .pfx: wrong password, or not a PKCS#12 file"


# ------------------------------------------------------------------ checks
def _check_chain(
    c: LoadedCertificate,
    pool: list[x509.Certificate],
    roots: list[x509.Certificate],
    report: Report,
) -> None:
    """Build the chain by signature; note intermediates the leaf's file does not carry.

    By signature, not with cryptography's verifier: that verifier refuses what OpenSSL
    accepts (the guide's v1 certificates, a root without Key Usage), and the doctor reports
    those as findings of their own instead of "no chain".
    """
    chain = [c.cert, *issuer_chain(c.cert, [*c.bundled, *pool])]
    anchor = next((i for i, x in enumerate(chain) if any(_is_root(x, r) for r in roots)), None)
    if anchor is None:
        names = ", ".join(common_name(x.subject) for x in chain)
        top = chain[-1]
        report.add(
            "error",
            c.label,
            f"chain does not reach a trusted root: no certificate here issued "
            f"{common_name(top.issuer) or top.issuer.rfc4514_string()!r} (chain so far: {names})",
            "give the root with --root, or put the CA certificate (and any intermediate) in the folder",
        )
        return
    chain = chain[: anchor + 1]
    from_elsewhere = [
        common_name(x.subject) for x in chain[1:] if x not in c.bundled and x.issuer != x.subject
    ]
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


def _is_root(cert: x509.Certificate, root: x509.Certificate) -> bool:
    return cert.subject == root.subject and cert.public_key() == root.public_key()


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
    certs: list[LoadedCertificate] = []
    keys: list = []
    now = now or utcnow(exact=True)
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
    root_certs = [cert for r in roots for cert in load_certificates(r)]
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


def _pair_keys(certs: list[LoadedCertificate], keys: list, report: Report) -> None:
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
            if partner.cert.public_key() == key.public_key():
                report.add("info", name, f"matches {partner.file}")
            else:
                owner = next(
                    (c.file for c in certs if c.cert.public_key() == key.public_key()),
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
        owner = next((c.file for c in certs if c.cert.public_key() == key.public_key()), None)
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
