"""Issue, store and load the certificates of a small PKI.

Why this module exists: the guide's ``openssl`` commands produce certificates with
no SubjectAltName and no ExtendedKeyUsage. Modern TLS stacks match host names only
against the SAN, and a strict verifier checks that a client certificate is *meant*
for client authentication. So the lab makes its own certificates, with every
extension a real CA would set, and keeps the deliberately broken variants behind
explicit, self-describing arguments (``expired=True``, ``san=False``,
``eku=["serverAuth"]`` ...), never behind hidden flags.

The shape follows trustme: one :class:`CertificateAuthority` issues leaves, each
leaf (an :class:`IssuedCertificate`) knows how to write itself to disk, export a
``.pfx`` and configure an :class:`ssl.SSLContext`.

Loading (:func:`load_certificate`, :func:`load_private_key`, :func:`load_pkcs12`,
:func:`load_pair`) accepts files made anywhere, including by the guide's own
openssl commands, and turns every failure into a :mod:`lab.errors` exception.
Inspection lives in :mod:`lab.certinfo`, chain verification in :mod:`lab.verify`.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.errors import (
    CorruptFileError,
    KeyMismatchError,
    MissingFileError,
    PassphraseRequiredError,
    WrongPasswordError,
)

#: Key types the lab can generate. "ec" (ECDSA P-256) is the default: small, fast,
#: and accepted everywhere. The guide uses RSA-4096 for its root and RSA-2048 for
#: leaves. Ed25519 works in TLS 1.3 with OpenSSL 3 (Python's ssl, curl, nginx) but
#: is refused by the WebPKI policy of cryptography's verifier, by browsers, and by
#: many .NET/Windows versions, so use it only to learn that lesson.
KEY_TYPES = ("ec", "rsa2048", "rsa4096", "ed25519")

EKU_NAMES = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
EKU_BY_OID = {oid: name for name, oid in EKU_NAMES.items()}

#: Leaves start five minutes in the past so that a peer whose clock is a little
#: behind does not see a "not yet valid" certificate (the usual CA practice).
BACKDATE = _dt.timedelta(minutes=5)

Key = "rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey"


# --------------------------------------------------------------------------- keys
def generate_key(key_type: str = "ec"):
    """Return a new private key of ``key_type`` (one of :data:`KEY_TYPES`, or "rsa" for RSA-2048)."""
    kt = {"rsa": "rsa2048", "ecdsa": "ec", "p256": "ec"}.get(key_type, key_type)
    if kt == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kt in ("rsa2048", "rsa4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kt[3:]))
    if kt == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {key_type!r}; choose one of {', '.join(KEY_TYPES)}")


def _signature_hash(signing_key):
    """Ed25519 signs without a separate hash; everything else uses SHA-256."""
    return None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def key_matches(cert: x509.Certificate, key) -> bool:
    """True when ``key`` is the private half of the public key in ``cert``."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, fmt) == key.public_key().public_bytes(enc, fmt)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _name(common_name: str, organization: str | None = "mTLS Lab") -> x509.Name:
    attrs = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _validity(
    days: float,
    expired: bool,
    not_yet_valid: bool,
    not_before: _dt.datetime | None,
    not_after: _dt.datetime | None,
):
    """Work out the validity window, including the deliberately wrong ones."""
    now = _now()
    if expired and not_yet_valid:
        raise ValueError("a certificate cannot be both expired and not yet valid")
    if expired:
        return now - _dt.timedelta(days=30), now - _dt.timedelta(days=1)
    if not_yet_valid:
        return now + _dt.timedelta(days=1), now + _dt.timedelta(days=1 + days)
    start = not_before or now - BACKDATE
    end = not_after or start + BACKDATE + _dt.timedelta(days=days)
    if end <= start:
        raise ValueError("not_after must be later than not_before")
    return start, end


def _san_entries(names: Iterable[str]) -> list[x509.GeneralName]:
    """Turn "localhost", "127.0.0.1", "spiffe://...", "a@b" into the right GeneralName."""
    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
            continue
        except ValueError:
            pass
        if "://" in n:
            out.append(x509.UniformResourceIdentifier(n))
        elif "@" in n:
            out.append(x509.RFC822Name(n))
        else:
            out.append(x509.DNSName(n))
    return out


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
        return p.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(
            f"{what} file {p} does not exist; check the path, or create the PKI with "
            f"`python -m lab pki init`"
        ) from None
    except IsADirectoryError:
        raise MissingFileError(f"{p} is a directory, not a {what} file") from None


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


# ------------------------------------------------------------------- leaf object
@dataclass
class IssuedCertificate:
    """A certificate, its private key, and the intermediates that link it to a root.

    ``chain`` lists the intermediates only, nearest first; the root is what the
    peer trusts and is never sent. A server or client presents ``cert + chain``.
    """

    cert: x509.Certificate
    key: object
    chain: list[x509.Certificate] = field(default_factory=list)

    # -- PEM views
    @property
    def cert_pem(self) -> bytes:
        """The certificate alone, PEM."""
        return pem(self.cert)

    @property
    def chain_pem(self) -> bytes:
        """The certificate followed by its intermediates: what a peer is sent."""
        return b"".join(pem(c) for c in [self.cert, *self.chain])

    def key_pem(self, password: str | bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when a password is given."""
        return _key_pem(self.key, password)

    @property
    def common_name(self) -> str:
        cn = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cn[0].value) if cn else ""

    @property
    def key_matches(self) -> bool:
        return key_matches(self.cert, self.key)

    # -- files
    def write(
        self, stem: str | os.PathLike, password: str | bytes | None = None
    ) -> tuple[Path, Path]:
        """Write ``stem.crt`` (leaf + chain) and ``stem.key`` (mode 0600).

        ``stem`` may be given with or without a suffix: ``certs/alice`` and
        ``certs/alice.crt`` both write ``certs/alice.crt`` and ``certs/alice.key``.
        """
        stem = Path(stem)
        if stem.suffix in (".crt", ".pem", ".key"):
            stem = stem.with_suffix("")
        crt = write_public(stem.with_name(stem.name + ".crt"), self.chain_pem)
        key = write_private(stem.with_name(stem.name + ".key"), self.key_pem(password))
        return crt, key

    def to_pkcs12(
        self, path: str | os.PathLike, password: str | bytes, friendly_name: str | None = None
    ) -> Path:
        """Export a ``.pfx`` encrypted with AES-256-CBC and PBKDF2-SHA256.

        cryptography's ``BestAvailableEncryption`` would also pick AES-256, but the
        builder makes the choice explicit (and independent of library defaults):
        PBES2 with AES-256 for key and certificates, a SHA-256 MAC, 100 000 rounds.
        OpenSSL 3 and .NET 4.7.2+/Core read it; Windows 7-era loaders do not.
        """
        if not password:
            raise ValueError(
                "a .pfx must have a password; an unencrypted bundle leaks the private key"
            )
        enc = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(100_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(_b(password))
        )
        name = (friendly_name or self.common_name or "mtls-lab").encode()
        data = pkcs12.serialize_key_and_certificates(
            name, self.key, self.cert, self.chain or None, enc
        )
        return write_private(path, data)

    # -- TLS
    def configure_cert(self, ctx: ssl.SSLContext) -> None:
        """Load this certificate, its chain and key into ``ctx``.

        ``ssl`` only loads from files, so the PEM goes through a private temporary
        directory (0700, files 0600) that is removed straight after.
        """
        with tempfile.TemporaryDirectory(prefix="mtls-lab-") as d:
            crt = write_private(Path(d) / "c.pem", self.chain_pem)
            key = write_private(Path(d) / "k.pem", self.key_pem())
            ctx.load_cert_chain(str(crt), str(key))


# --------------------------------------------------------------------- the CA
class CertificateAuthority:
    """A certificate authority: a root (self-signed) or an intermediate.

    ``create`` makes a root; ``create_intermediate`` makes a CA below it. Both
    issue server and client certificates with :meth:`issue_server` and
    :meth:`issue_client`.
    """

    def __init__(
        self,
        cert: x509.Certificate,
        key,
        parent: "CertificateAuthority | None" = None,
        chain: Sequence[x509.Certificate] | None = None,
    ):
        self.cert = cert
        self.key = key
        self.parent = parent
        #: intermediates above this CA, nearest first, root excluded (empty for a root
        #: and for a CA directly below the root)
        self.chain = list(chain or [])

    def __repr__(self) -> str:
        return f"<CertificateAuthority {self.cert.subject.rfc4514_string()}>"

    # ------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        name: str = "mTLS Lab Root CA",
        *,
        key_type: str = "ec",
        days: float = 3650,
        organization: str | None = "mTLS Lab",
        key=None,
    ) -> "CertificateAuthority":
        """A new self-signed root CA: CA:TRUE (critical), keyCertSign+cRLSign (critical), SKI."""
        key = key or generate_key(key_type)
        subject = _name(name, organization)
        start, end = _validity(days, False, False, None, None)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        cert = builder.sign(key, _signature_hash(key))
        return cls(cert, key)

    def create_intermediate(
        self,
        name: str = "mTLS Lab Issuing CA",
        *,
        key_type: str = "ec",
        days: float = 1825,
        path_length: int | None = 0,
        organization: str | None = "mTLS Lab",
    ) -> "CertificateAuthority":
        """An intermediate CA signed by this one (pathlen 0 by default: it may only issue leaves)."""
        key = generate_key(key_type)
        start, end = _validity(days, False, False, None, None)
        builder = (
            self._builder(_name(name, organization), key.public_key(), start, end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
        )
        cert = builder.sign(self.key, _signature_hash(self.key))
        return CertificateAuthority(cert, key, parent=self, chain=self._chain_below())

    @property
    def is_root(self) -> bool:
        return self.cert.issuer == self.cert.subject

    def _chain_below(self) -> list[x509.Certificate]:
        """What a certificate issued by this CA must carry to reach the root."""
        return [] if self.is_root else [self.cert, *self.chain]

    @property
    def cert_pem(self) -> bytes:
        return pem(self.cert)

    def key_pem(self, password: str | bytes | None = None) -> bytes:
        return _key_pem(self.key, password)

    # ---------------------------------------------------------------- issuing
    def _builder(self, subject: x509.Name, public_key, start, end) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )

    def _issue(
        self,
        common_name: str,
        *,
        default_eku: str,
        san: list[str] | None,
        eku,
        key_type: str,
        key,
        days: float,
        expired: bool,
        not_yet_valid: bool,
        not_before,
        not_after,
        ca_flag: bool,
        mismatched_key: bool,
        organization: str | None,
        extra_extensions=(),
    ) -> IssuedCertificate:
        key = key or generate_key(key_type)
        start, end = _validity(days, expired, not_yet_valid, not_before, not_after)
        builder = self._builder(_name(common_name, organization), key.public_key(), start, end)
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True
        )
        builder = builder.add_extension(_leaf_key_usage(key, ca_flag), critical=True)
        ekus = [default_eku] if eku == "default" else (list(eku) if eku else [])
        if ekus:
            try:
                oids = [EKU_NAMES[e] for e in ekus]
            except KeyError as exc:
                raise ValueError(
                    f"unknown EKU {exc.args[0]!r}; use one of {', '.join(EKU_NAMES)}"
                ) from None
            builder = builder.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(_san_entries(san)), critical=False
            )
        for ext, critical in extra_extensions:
            builder = builder.add_extension(ext, critical=critical)
        cert = builder.sign(self.key, _signature_hash(self.key))
        chain = self._chain_below()
        if mismatched_key:
            key = generate_key(key_type)  # a real key, just not this certificate's
        return IssuedCertificate(cert, key, chain)

    def issue_server(
        self,
        *hosts: str,
        san: bool | Sequence[str] = True,
        eku="default",
        key_type: str = "ec",
        key=None,
        days: float = 365,
        expired: bool = False,
        not_yet_valid: bool = False,
        not_before=None,
        not_after=None,
        ca_flag: bool = False,
        mismatched_key: bool = False,
        common_name: str | None = None,
        organization: str | None = "mTLS Lab",
        extra_extensions=(),
    ) -> IssuedCertificate:
        """A server certificate for ``hosts`` (DNS names and IP addresses).

        Correct by default: SAN with every host, EKU serverAuth, KeyUsage
        digitalSignature (+ keyEncipherment for RSA), CA:FALSE, AKI/SKI.
        Break it on purpose with ``san=False`` (CN only, like the guide's openssl
        commands), ``eku=None`` or ``eku=["clientAuth"]``, ``expired=True``...
        """
        hosts = hosts or ("localhost", "127.0.0.1")
        names = list(hosts) if san is True else (list(san) if san else None)
        return self._issue(
            common_name or hosts[0],
            default_eku="serverAuth",
            san=names,
            eku=eku,
            key_type=key_type,
            key=key,
            days=days,
            expired=expired,
            not_yet_valid=not_yet_valid,
            not_before=not_before,
            not_after=not_after,
            ca_flag=ca_flag,
            mismatched_key=mismatched_key,
            organization=organization,
            extra_extensions=extra_extensions,
        )

    def issue_client(
        self,
        name: str,
        *,
        email: str | None = None,
        uri: str | None = None,
        dns: Sequence[str] = (),
        eku="default",
        key_type: str = "ec",
        key=None,
        days: float = 365,
        expired: bool = False,
        not_yet_valid: bool = False,
        not_before=None,
        not_after=None,
        ca_flag: bool = False,
        mismatched_key: bool = False,
        organization: str | None = "mTLS Lab",
        extra_extensions=(),
    ) -> IssuedCertificate:
        """A client certificate with subject CN=``name`` and EKU clientAuth only.

        ``email`` and ``uri`` (for example a SPIFFE ID ``spiffe://lab.test/ns/payments/sa/api``)
        go into the SAN, which is what modern authorization should match on.
        """
        san = [*dns, *([email] if email else []), *([uri] if uri else [])]
        return self._issue(
            name,
            default_eku="clientAuth",
            san=san or None,
            eku=eku,
            key_type=key_type,
            key=key,
            days=days,
            expired=expired,
            not_yet_valid=not_yet_valid,
            not_before=not_before,
            not_after=not_after,
            ca_flag=ca_flag,
            mismatched_key=mismatched_key,
            organization=organization,
            extra_extensions=extra_extensions,
        )

    # ------------------------------------------------------------------ files
    def write(
        self, stem: str | os.PathLike, password: str | bytes | None = None
    ) -> tuple[Path, Path]:
        """Write ``stem.pem`` (the CA certificate) and ``stem.key`` (mode 0600)."""
        stem = Path(stem)
        if stem.suffix in (".pem", ".crt", ".key"):
            stem = stem.with_suffix("")
        crt = write_public(stem.with_name(stem.name + ".pem"), self.cert_pem)
        key = write_private(stem.with_name(stem.name + ".key"), self.key_pem(password))
        return crt, key

    @classmethod
    def load(
        cls,
        cert_path: str | os.PathLike,
        key_path: str | os.PathLike,
        password: str | bytes | None = None,
    ) -> "CertificateAuthority":
        """Load a CA made by the lab or by openssl (the guide's rootCA.pem/rootCA.key)."""
        certs = load_certificates(cert_path)
        key = load_private_key(key_path, password)
        if not key_matches(certs[0], key):
            raise KeyMismatchError(_mismatch_message(cert_path, key_path, certs[0], key))
        return cls(certs[0], key, chain=certs[1:])

    # -------------------------------------------------------------------- TLS
    def configure_trust(self, ctx: ssl.SSLContext) -> None:
        """Make ``ctx`` trust this CA (and only what else was loaded into it)."""
        ctx.load_verify_locations(cadata=self.cert_pem.decode())


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(key, ca_flag: bool) -> x509.KeyUsage:
    """digitalSignature always; keyEncipherment only for RSA (TLS 1.2 RSA key exchange)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca_flag,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def self_signed_client(name: str, *, key_type: str = "ec", days: float = 365) -> IssuedCertificate:
    """A client certificate that signs itself: no CA vouches for it (a classic mistake)."""
    key = generate_key(key_type)
    subject = _name(name)
    start, end = _validity(days, False, False, None, None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, _signature_hash(key))
    )
    return IssuedCertificate(cert, key, [])


# ----------------------------------------------------------------------- loading
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
        except ValueError as exc:
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
        return certs
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        if data[:2] == b"\x30\x82" and b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07" in data[:64]:
            raise CorruptFileError(
                f"{path} looks like a PKCS#12 (.pfx) bundle; load it with load_pkcs12(path, password)"
            ) from None
        raise CorruptFileError(
            f"{path} is neither a PEM nor a DER certificate; check that you pointed at the .crt/.pem file"
        ) from None


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


def load_pkcs12(path: str | os.PathLike, password: str | bytes | None) -> IssuedCertificate:
    """The key, certificate and chain of a ``.pfx``, as the guide's ``new X509Certificate2(path, password)``."""
    data = _read(path, ".pfx")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            data, _b(password) if password else None
        )
    except ValueError as exc:
        if b"-----BEGIN" in data:
            raise CorruptFileError(
                f"{path} is PEM text, not a PKCS#12 bundle; load it with load_pair()"
            ) from None
        if not password:
            raise PassphraseRequiredError(
                f"{path} is password-protected; give its password (password=... or --password)"
            ) from None
        raise WrongPasswordError(
            f"could not open {path}: wrong password, or the file is not a PKCS#12 bundle "
            f"(OpenSSL says: {_short(exc)}); check the password, or re-export the .pfx"
        ) from None
    if cert is None or key is None:
        raise CorruptFileError(f"{path} holds no certificate and key pair; export it with both")
    return IssuedCertificate(cert, key, list(extra or []))


def load_pair(
    cert_path: str | os.PathLike, key_path: str | os.PathLike, password: str | bytes | None = None
) -> IssuedCertificate:
    """A certificate (with chain) and its key from two files, refusing a key that does not match."""
    certs = load_certificates(cert_path)
    key = load_private_key(key_path, password)
    if not key_matches(certs[0], key):
        raise KeyMismatchError(_mismatch_message(cert_path, key_path, certs[0], key))
    return IssuedCertificate(certs[0], key, certs[1:])


def load_identity(
    path: str | os.PathLike,
    key_path: str | os.PathLike | None = None,
    password: str | bytes | None = None,
) -> IssuedCertificate:
    """Load from a .pfx/.p12 (with its password) or from a certificate + key pair."""
    p = Path(path)
    if p.suffix.lower() in (".pfx", ".p12"):
        return load_pkcs12(p, password)
    if key_path is None:
        key_path = p.with_suffix(".key")
    return load_pair(p, key_path, password)


def _mismatch_message(cert_path, key_path, cert, key) -> str:
    from .certinfo import spki_pin  # local: certinfo imports this module

    return (
        f"{Path(key_path).name} does not belong to {Path(cert_path).name} "
        f"(certificate public key {spki_pin(cert)[:12]}…, key's public key "
        f"{spki_pin(key.public_key())[:12]}…); regenerate the pair or point to the right key"
    )


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
