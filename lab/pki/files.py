"""Certificate and key files: written with safe modes, read with the lab's own errors.

Every loader turns a failure into a :mod:`lab.errors` exception whose message says what to do,
so a notebook or the CLI prints one line instead of a traceback.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from lab.errors import (
    CorruptFileError,
    LabError,
    MissingFileError,
    PassphraseRequiredError,
    WrongPasswordError,
)
from lab.pki.keys import password_bytes

#: File suffixes by what they hold: the one list every scanner (doctor, expiry) reads.
CERT_SUFFIXES = (".crt", ".pem", ".cer", ".der")
PFX_SUFFIXES = (".pfx", ".p12")

#: Where ``pki init`` saves the random .pfx password, beside the bundles (mode 0600).
PASSWORD_FILE = "pfx-password.txt"


#: Larger than any certificate, key, chain or .pfx the course meets (a system CA bundle is about
#: 220 KB): a bigger file is the wrong path (or /dev/zero), and reading it whole would eat memory.
MAX_FILE_BYTES = 4 * 1024 * 1024


# ---------------------------------------------------------------------- file I/O
def make_folder(path: str | os.PathLike) -> Path:
    """Create ``path`` and any missing parent with mode 0700, whatever the umask.

    ``Path.mkdir(parents=True)`` makes the parents with the umask's mode, so a umask of 000
    gives a folder any user may fill or rename. A link to nothing is not "absent": it is
    refused, as is a file where the folder should be.
    """
    target = Path(path)
    missing, existing = [], target
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        what = "a link to nothing" if existing.is_symlink() else "a file, not a folder"
        raise LabError(f"{existing} is {what}; give a folder (or a path not yet used)")
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)  # the umask can only narrow 0700
    return target


def _write(path: str | os.PathLike, data: bytes, mode: int) -> Path:
    """Write ``data`` to a new file beside ``path``, then rename it over ``path``.

    Why: a write cut short (a full disk, ``ulimit -f``) then leaves the old file whole, and a
    symbolic link at ``path`` is replaced, never written through (its target keeps its content
    and mode). The mode is set explicitly, from the first byte, so no umask loosens it.
    """
    path = Path(path)
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_private(path: str | os.PathLike, data: bytes) -> Path:
    """Write secret material (a key, a .pfx, a password) with mode 0600."""
    return _write(path, data, 0o600)


def write_public(path: str | os.PathLike, data: bytes) -> Path:
    """Write a certificate or a CRL with mode 0644: anyone may read it, only you replace it."""
    return _write(path, data, 0o644)


def read_file(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE_BYTES`, or one clear error."""
    p = Path(path)
    try:  # O_NONBLOCK: a named pipe with no writer must not hang the open
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise MissingFileError(
            f"{what} file {p} does not exist; check the path, or create the PKI with "
            f"`python -m lab pki init`"
        ) from None
    except PermissionError:
        raise LabError(f"{p} cannot be read (permission denied); check the path") from None
    st = os.fstat(fd)
    problem = (
        MissingFileError(f"{p} is a directory, not a {what} file")
        if stat.S_ISDIR(st.st_mode)
        else CorruptFileError(f"{p} is not a regular file (a device or a pipe?), not a {what} file")
        if not stat.S_ISREG(st.st_mode)
        else CorruptFileError(
            f"{p} is {st.st_size:,} bytes, larger than any {what} file (the lab reads at most "
            f"{MAX_FILE_BYTES:,}); check the path"
        )
        if st.st_size > MAX_FILE_BYTES
        else None
    )
    if problem is not None:
        os.close(fd)
        raise problem
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if not data:
        raise CorruptFileError(f"{p} is empty, not a {what} file; re-copy it, or re-issue it")
    return data


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def read_password(directory: str | os.PathLike) -> str | None:
    """The .pfx password saved in ``directory``/pfx-password.txt, or None when there is none.

    The one reader of that file, through :func:`read_file`: a file that is not UTF-8 text
    (copied through a tool that re-encoded it, or not a password file at all) is one clear
    error, not a traceback.
    """
    p = Path(directory) / PASSWORD_FILE
    if not p.exists():
        return None
    try:
        return read_file(p, ".pfx password").decode("utf-8").strip()
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
        return certificates_in(bytes(trust), "the trust given as bytes")
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
    return certificates_in(read_file(path, "certificate"), path)


def certificates_in(data: bytes, path) -> list[x509.Certificate]:
    """Every certificate in PEM ``data`` (a chain), or the one in DER ``data``, read from ``path``."""
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
        except Exception as exc:  # ValueError, TypeError, UnsupportedAlgorithm...
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
    data = read_file(path, "private key")
    if b"-----BEGIN" in data and b"PRIVATE KEY-----" not in data:
        raise CorruptFileError(
            f"{path} does not contain a private key (no 'PRIVATE KEY' PEM block); did you swap --cert and --key?"
        )
    loader = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    try:  # without a password first: an unencrypted key ignores the one given
        return loader(data, None)
    except TypeError:  # cryptography's "private key is encrypted"
        if not password:
            raise PassphraseRequiredError(
                f"{path} is encrypted; give its passphrase (password=... or --password)"
            ) from None
    except Exception as exc:  # ValueError, or UnsupportedAlgorithm for odd inputs
        raise CorruptFileError(
            f"{path} is not a readable private key ({_short(exc)}); it may be truncated or edited"
        ) from None
    try:
        return loader(data, password_bytes(password))
    except Exception:
        # Whatever the library says: about one wrong password in 256 decrypts to bytes whose
        # padding happens to look right, and the error is then about unreadable key data.
        raise WrongPasswordError(
            f"wrong passphrase for {path}; check it, or re-export the key"
        ) from None


#: The ceilings on PBKDF2 and PKCS#12-KDF iteration counts a .pfx may ask for before any key is
#: derived. .NET's ``X509CertificateLoader`` guards the same door with ``Pkcs12LoaderLimits``,
#: whose defaults are MacIterationLimit 300,000, IndividualKdfIterationLimit 300,000 and
#: TotalKdfIterationLimit 1,000,000; the lab takes the same figures (its own .pfx files use
#: 100,000, OpenSSL's default is 2,048). A count of 2**31 - 1 would keep OpenSSL busy for
#: minutes, deaf to Ctrl-C, since Python handles signals only once OpenSSL returns.
MAC_ITERATION_LIMIT = 300_000
KDF_ITERATION_LIMIT = 300_000
TOTAL_KDF_ITERATION_LIMIT = 1_000_000

_RSADSI = bytes.fromhex("2a864886f70d01")  # 1.2.840.113549.1: PKCS#5 and PKCS#12 live below it
_PBKDF2 = _RSADSI + bytes.fromhex("050c")  # 1.2.840.113549.1.5.12, inside PBES2's parameters
_PBES1 = {_RSADSI + bytes([5, n]) for n in (1, 3, 4, 6, 10, 11)}  # PKCS#5 v1 (salt, count)
_PKCS12_PBE = {_RSADSI + bytes([12, 1, n]) for n in range(1, 7)}  # pbeWithSHAAnd... (salt, count)


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """(tag, content start, content end, next element) of the BER element at ``pos``."""
    if pos + 2 > end:
        raise ValueError("truncated")
    tag, first, pos = data[pos], data[pos + 1], pos + 2
    if first == 0x80:  # BER indefinite length (Java's keytool writes it): up to two zero bytes
        if not tag & 0x20:
            raise ValueError("indefinite length on a primitive element")
        inner = pos
        while data[inner : inner + 2] != b"\0\0":
            inner = _tlv(data, inner, end)[3]
        return tag, pos, inner, inner + 2
    length = first
    if first > 0x80:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise ValueError("bad length")
        length, pos = int.from_bytes(data[pos : pos + count], "big"), pos + count
    if pos + length > end:
        raise ValueError("truncated")
    return tag, pos, pos + length, pos + length


def _elements(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    out = []
    while start < end:
        out.append(_tlv(data, start, end))
        start = out[-1][3]
    return out


def _kdf_counts(data: bytes, start: int, end: int, found: list[int], depth: int = 0) -> None:
    """Collect every PBKDF2 / PBES1 / PKCS#12-PBE iteration count visible in ``data[start:end]``.

    Walks every constructed element and every OCTET STRING whose bytes parse as BER (the
    AuthenticatedSafe and SafeContents sit inside OCTET STRINGs); encrypted bytes do not
    parse and are skipped. A key bag inside an *encrypted* SafeContents stays out of sight
    until it is decrypted: the MAC and the outer encryption, checked here, come first.
    """
    try:
        items = _elements(data, start, end)
    except (ValueError, IndexError):
        return  # not BER: encrypted content
    if depth > 24:
        raise ValueError("nested too deep")
    for i, (tag, s, e, _) in enumerate(items):
        oid = data[s:e] if tag == 0x06 else b""
        if oid and i + 1 < len(items) and items[i + 1][0] == 0x30:
            params = _elements(data, items[i + 1][1], items[i + 1][2])
            counted = oid == _PBKDF2 or oid in _PBES1 or oid in _PKCS12_PBE
            if counted and len(params) >= 2 and params[1][0] == 0x02:
                found.append(int.from_bytes(data[params[1][1] : params[1][2]], "big"))
        if tag == 0x24:  # a BER OCTET STRING cut in pieces: walk the joined bytes
            joined = b"".join(data[ps:pe] for _, ps, pe, _ in _elements(data, s, e))
            _kdf_counts(joined, 0, len(joined), found, depth + 1)
        elif tag & 0x20 or tag in (0x04, 0x80):
            _kdf_counts(data, s, e, found, depth + 1)


def pkcs12_iterations(data: bytes) -> tuple[int | None, list[int]]:
    """The MAC's iteration count (None without a MAC) and every KDF's, read before any key is derived.

    RFC 7292: ``PFX ::= SEQUENCE { version, authSafe ContentInfo, macData MacData OPTIONAL }``
    and ``MacData ::= SEQUENCE { mac, macSalt, iterations INTEGER DEFAULT 1 }``. Raises
    ValueError when ``data`` is not one BER SEQUENCE that covers it exactly (truncated, padded).
    """
    tag, start, end, after = _tlv(data, 0, len(data))
    if tag != 0x30 or after != len(data):
        raise ValueError("not one PKCS#12 structure")
    top = _elements(data, start, end)
    if len(top) < 2:
        raise ValueError("no authSafe")
    mac = None
    if len(top) > 2 and top[2][0] == 0x30:
        fields = _elements(data, top[2][1], top[2][2])
        has_count = len(fields) > 2 and fields[2][0] == 0x02
        mac = int.from_bytes(data[fields[2][1] : fields[2][2]], "big") if has_count else 1
    kdfs: list[int] = []
    _kdf_counts(data, top[1][1], top[1][2], kdfs)
    return mac, kdfs


def read_pkcs12(path: str | os.PathLike, password: str | bytes | None):
    """(key, certificate, chain) of a ``.pfx``, refusing hostile iteration counts first."""
    data = read_file(path, ".pfx")
    if b"-----BEGIN" in data:
        raise CorruptFileError(
            f"{path} is PEM text, not a PKCS#12 bundle; load it with load_pair()"
        )
    try:
        mac, kdfs = pkcs12_iterations(data)
    except (ValueError, IndexError):
        raise CorruptFileError(
            f"{path} is truncated or not a PKCS#12 bundle: re-copy or re-export the .pfx"
        ) from None
    over = (
        f"a MAC iteration count of {mac:,} (limit {MAC_ITERATION_LIMIT:,})"
        if mac is not None and mac > MAC_ITERATION_LIMIT
        else f"a key-derivation iteration count of {max(kdfs):,} (limit {KDF_ITERATION_LIMIT:,})"
        if kdfs and max(kdfs) > KDF_ITERATION_LIMIT
        else f"{sum(kdfs):,} key-derivation iterations in all (limit {TOTAL_KDF_ITERATION_LIMIT:,})"
        if sum(kdfs) > TOTAL_KDF_ITERATION_LIMIT
        else ""
    )
    if over:
        raise CorruptFileError(
            f"{path} asks for {over}: opening it would keep the CPU busy for minutes, so the "
            f"lab refuses it; re-export the .pfx with the default count"
        )
    try:  # "" is a password like any other (used as given); only None means "no password"
        key, cert, extra = pkcs12.load_key_and_certificates(data, password_bytes(password))
    except x509.InvalidVersion as exc:  # opened, but a certificate inside is damaged
        raise CorruptFileError(f"{path} holds a damaged certificate ({_short(exc)})") from None
    except ValueError as exc:
        if password is None:
            raise PassphraseRequiredError(
                f"{path} is password-protected; give its password (password=... or --password)"
            ) from None
        raise WrongPasswordError(
            f"could not open {path}: wrong password, or the file is not a PKCS#12 bundle "
            f"(OpenSSL says: {_short(exc)}); check the password, or re-export the .pfx"
        ) from None
    if cert is None or key is None:
        raise CorruptFileError(f"{path} holds no certificate and key pair; export it with both")
    return key, cert, checked([cert, *(extra or [])], path)[1:]


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
