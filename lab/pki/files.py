"""Certificate and key files: written with safe modes, read with the lab's own errors.

Every loader turns a failure into a :mod:`lab.errors` exception whose message says what to do,
so a notebook or the CLI prints one line instead of a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lab.errors import (
    CorruptFileError,
    MissingFileError,
    PassphraseRequiredError,
    WrongPasswordError,
)

#: File suffixes by what they hold: the one list every scanner (doctor, expiry) reads.
CERT_SUFFIXES = (".crt", ".pem", ".cer", ".der")
KEY_SUFFIXES = (".key",)
PFX_SUFFIXES = (".pfx", ".p12")

#: Where ``pki init`` saves the random .pfx password, beside the bundles (mode 0600).
PASSWORD_FILE = "pfx-password.txt"


# ---------------------------------------------------------------------- file I/O
def write_private(path: str | os.PathLike, data: bytes) -> Path:
    """Write secret material with mode 0600 from the first byte (no umask window)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the file may have existed with looser permissions
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def write_public(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _read(path: str | os.PathLike, what: str) -> bytes:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(
            f"{what} file {p} does not exist; check the path, or create the PKI with "
            f"`python -m lab pki init`"
        ) from None
    except IsADirectoryError:
        raise MissingFileError(f"{p} is a directory, not a {what} file") from None
    if not data:
        raise CorruptFileError(f"{p} is empty, not a {what} file; re-copy it, or re-issue it")
    return data


def _key_pem(key, password: str | bytes | None) -> bytes:
    enc = (
        serialization.BestAvailableEncryption(_b(password))
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _b(s: str | bytes | None) -> bytes | None:
    return s.encode() if isinstance(s, str) else s


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def read_password(directory: str | os.PathLike) -> str | None:
    """The .pfx password saved in ``directory``/pfx-password.txt, or None when there is none.

    The one reader of that file: a file that is not UTF-8 text (copied through a tool that
    re-encoded it, or not a password file at all) is one clear error, not a traceback.
    """
    p = Path(directory) / PASSWORD_FILE
    try:
        return p.read_bytes().decode("utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError:
        raise CorruptFileError(f"{p} is a folder, not the .pfx password file") from None
    except UnicodeDecodeError:
        raise CorruptFileError(
            f"{p} is not UTF-8 text, so it cannot be the .pfx password; rewrite it with the "
            f"password on one line, or give the password with --password"
        ) from None


# ----------------------------------------------------------------------- loading
def trust_certificates(trust) -> list[x509.Certificate]:
    """Every trust anchor in ``trust``, as certificates: the one reader of "what do I trust".

    Accepts what the lab accepts everywhere: a lab CA or :class:`~lab.pki.IssuedCertificate`
    (its certificate only, never its chain), an ``x509.Certificate``, PEM bytes, a path to a
    PEM/DER file (every certificate in it), or a list (or any iterable) of those. ``None``
    gives an empty list; the caller decides whether "no trust" is an error.
    """
    if trust is None:
        return []
    if isinstance(trust, x509.Certificate):
        return [trust]
    if isinstance(trust, (str, os.PathLike)):
        return load_certificates(trust)
    if isinstance(trust, (bytes, bytearray)):
        try:
            certs = x509.load_pem_x509_certificates(bytes(trust))
        except (ValueError, x509.InvalidVersion):
            raise CorruptFileError("the trust bytes are not PEM certificates") from None
        return checked(certs, "the trust bytes")
    cert = getattr(trust, "cert", None)
    if isinstance(cert, x509.Certificate):  # a lab CA or IssuedCertificate
        return [cert]
    try:
        items = iter(trust)
    except TypeError:
        raise TypeError(
            f"cannot trust {trust!r}: give a lab CA, a certificate, PEM bytes or a path"
        ) from None
    return [c for item in items for c in trust_certificates(item)]


def certificate_of(obj) -> x509.Certificate:
    """The certificate of a lab CA or :class:`~lab.pki.IssuedCertificate`, or ``obj`` itself."""
    cert = getattr(obj, "cert", obj)
    if not isinstance(cert, x509.Certificate):
        raise TypeError(f"{obj!r} is not a certificate, a lab CA or an issued certificate")
    return cert


def load_certificates(path: str | os.PathLike) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a chain), or the one in a DER file."""
    data = _read(path, "certificate")
    if b"-----BEGIN" in data:
        if b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data:
            raise CorruptFileError(
                f"{path} holds a private key, not a certificate; did you swap --cert and --key?"
            )
        try:
            certs = x509.load_pem_x509_certificates(data)
        except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
            raise CorruptFileError(
                f"{path} is not a readable PEM certificate ({_short(exc)}); it may be truncated or "
                f"edited: re-copy it, or re-issue it"
            ) from None
        blocks = data.count(b"-----BEGIN CERTIFICATE-----")
        if blocks > len(certs):  # cryptography skips a last block that has no END line
            raise CorruptFileError(
                f"{path} has {blocks} certificate blocks but only {len(certs)} complete; it may be "
                f"truncated or edited (a chain would lose its intermediate): re-copy it, or re-issue it"
            )
        return checked(certs, path)
    try:
        return checked([x509.load_der_x509_certificate(data)], path)
    except (ValueError, x509.InvalidVersion):
        if data[:2] == b"\x30\x82" and b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07" in data[:64]:
            raise CorruptFileError(
                f"{path} looks like a PKCS#12 (.pfx) bundle; load it with load_pkcs12(path, password)"
            ) from None
        raise CorruptFileError(
            f"{path} is neither a PEM nor a DER certificate; check that you pointed at the .crt/.pem file"
        ) from None


def checked(certs: list[x509.Certificate], path) -> list[x509.Certificate]:
    """Read every field the lab uses now, so a damaged certificate fails here, in one line.

    cryptography parses the outer structure eagerly and the fields on first use: a
    certificate with a mangled name or extension loads, then raises ValueError or TypeError
    wherever it is first shown (found by tests/test_fuzz_pki.py).
    """
    for cert in certs:
        try:
            cert.version, cert.subject, cert.issuer, cert.extensions, cert.serial_number
            cert.not_valid_before_utc, cert.not_valid_after_utc, cert.public_key()
            cert.signature_hash_algorithm
        except Exception as exc:  # noqa: BLE001 - ValueError, TypeError, UnsupportedAlgorithm...
            raise CorruptFileError(
                f"{path} holds a certificate the lab cannot read ({_short(exc)}); it may be "
                f"damaged: re-copy it, or re-issue it"
            ) from None
    return certs


def load_certificate(path: str | os.PathLike) -> x509.Certificate:
    """The first certificate of a PEM or DER file."""
    return load_certificates(path)[0]


def load_private_key(path: str | os.PathLike, password: str | bytes | None = None):
    """A PEM or DER private key, decrypting it with ``password`` when it is encrypted."""
    data = _read(path, "private key")
    loader = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    if b"-----BEGIN" in data and b"PRIVATE KEY-----" not in data:
        raise CorruptFileError(
            f"{path} does not contain a private key (no 'PRIVATE KEY' PEM block); did you swap --cert and --key?"
        )
    try:
        return loader(data, _b(password))
    except TypeError as exc:
        if "encrypted" in str(exc) and not password:
            raise PassphraseRequiredError(
                f"{path} is encrypted; give its passphrase (password=... or --password)"
            ) from None
        if "not encrypted" in str(exc):
            return loader(data, None)
        raise CorruptFileError(f"{path}: {exc}") from None
    except ValueError as exc:
        msg = str(exc).lower()
        # An encrypted key that a given password does not open is a wrong password,
        # whatever the library says: about one wrong password in 256 decrypts to
        # bytes whose padding happens to look right, and the error is then about
        # unreadable key data instead of the password.
        if password and (
            "decrypt" in msg or "password" in msg or "bad" in msg or _is_encrypted(data, loader)
        ):
            raise WrongPasswordError(
                f"wrong passphrase for {path}; check it, or re-export the key"
            ) from None
        raise CorruptFileError(
            f"{path} is not a readable private key ({_short(exc)}); it may be truncated or edited"
        ) from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for odd inputs
        raise CorruptFileError(
            f"{path} is not a private key the lab can read ({_short(exc)})"
        ) from None


def _is_encrypted(data: bytes, loader) -> bool:
    """Whether a private key needs a password: the loader says so when given none."""
    try:
        loader(data, None)
    except TypeError as exc:
        return "encrypted" in str(exc) and "not encrypted" not in str(exc)
    except Exception:  # noqa: BLE001 - unreadable without a password too: not known to be encrypted
        return False
    return False


def _mismatch_message(cert_path, key_path, cert, key) -> str:
    from .certinfo import spki_pin  # local: certinfo imports this module

    return (
        f"{Path(key_path).name} does not belong to {Path(cert_path).name} "
        f"(certificate public key {spki_pin(cert)[:12]}…, key's public key "
        f"{spki_pin(key.public_key())[:12]}…); regenerate the pair or point to the right key"
    )


def der_length_matches(data: bytes) -> bool:
    """True when ``data`` is one complete DER SEQUENCE: its length field covers the file exactly.

    A PKCS#12 file is one; an empty, truncated or padded file is not. This tells "the
    file is damaged" apart from "the password is wrong", which the parser cannot.
    """
    if len(data) < 2 or data[0] != 0x30:
        return False
    first = data[1]
    if first < 0x80:
        return len(data) == 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return False
    return len(data) == 2 + count + int.from_bytes(data[2 : 2 + count], "big")


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
