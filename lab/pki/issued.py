"""An issued certificate with its key and chain, and the loaders that give one back."""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from lab.errors import KeyMismatchError, PassphraseRequiredError
from lab.pki.certinfo import common_name, spki_pin
from lab.pki.files import (
    PASSWORD_FILE,
    PFX_SUFFIXES,
    load_certificates,
    load_private_key,
    pem,
    read_password,
    read_pkcs12,
    write_private,
    write_public,
)
from lab.pki.keys import key_matches, password_bytes, private_key_pem


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
        return private_key_pem(self.key, password)

    @property
    def common_name(self) -> str:
        return common_name(self.cert.subject)

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
        crt, key = leaf_files(stem)
        return write_public(crt, self.chain_pem), write_private(key, self.key_pem(password))

    def to_pkcs12(self, path: str | os.PathLike, password: str | bytes) -> Path:
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
            .build(password_bytes(password))
        )
        name = (self.common_name or "mtls-lab").encode()
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


def leaf_files(stem: str | os.PathLike, cert_suffix: str = ".crt") -> tuple[Path, Path]:
    """The certificate and key files a leaf named ``stem`` is written to: ``stem.crt``, ``stem.key``.

    A ``.crt``, ``.pem`` or ``.key`` ending of ``stem`` is dropped first, so ``certs/alice`` and
    ``certs/alice.crt`` name the same pair. The one place that decides these names: a caller
    that must not overwrite a file asks here before anything is written.
    """
    stem = Path(stem)
    if stem.suffix in (".crt", ".pem", ".key"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + cert_suffix), stem.with_name(stem.name + ".key")


def load_pkcs12(path: str | os.PathLike, password: str | bytes | None) -> IssuedCertificate:
    """The key, certificate and chain of a ``.pfx``, as the guide's ``new X509Certificate2(path, password)``.

    Iteration counts above :data:`lab.pki.files.MAC_ITERATION_LIMIT` and its two siblings (the
    defaults of .NET's ``Pkcs12LoaderLimits``) are refused before any key is derived.
    """
    key, cert, chain = read_pkcs12(path, password)
    return IssuedCertificate(cert, key, chain)


def open_pfx(path: str | os.PathLike, password: str | None = None) -> IssuedCertificate:
    """:func:`load_pkcs12` with ``password`` or, when it is None, the one saved beside the file.

    What the command line does with a .pfx (``pki show``, ``pki status``, ``doctor``): an
    explicit password, even "", is used as given; only None reads ``pfx-password.txt``.
    """
    if password is None:
        password = read_password(Path(path).parent)
    try:
        return load_pkcs12(path, password)
    except PassphraseRequiredError:  # the file is whole, and it wants a password
        raise PassphraseRequiredError(
            f"{path} needs its password: --password P (no {PASSWORD_FILE} beside it)"
        ) from None


def load_pair(
    cert_path: str | os.PathLike, key_path: str | os.PathLike, password: str | bytes | None = None
) -> IssuedCertificate:
    """A certificate (with chain) and its key from two files, refusing a key that does not match."""
    certs = load_certificates(cert_path)
    key = load_private_key(key_path, password)
    if not key_matches(certs[0], key):
        raise KeyMismatchError(
            f"{Path(key_path).name} does not belong to {Path(cert_path).name} (certificate public "
            f"key {spki_pin(certs[0])[:12]}…, key's public key {spki_pin(key.public_key())[:12]}…); "
            f"regenerate the pair or point to the right key"
        )
    return IssuedCertificate(certs[0], key, certs[1:])


def load_identity(identity, password: str | bytes | None = None) -> IssuedCertificate:
    """A certificate with its key, from whatever the lab accepts as an identity.

    An :class:`IssuedCertificate` as it is; a ``.pfx``/``.p12`` path (with its password); a
    certificate path whose key sits beside it with the suffix ``.key``; or a ``(crt, key)``
    pair. The one parser of identities: the TLS contexts and the client use it.
    """
    if isinstance(identity, IssuedCertificate):
        return identity
    if isinstance(identity, (tuple, list)) and len(identity) == 2:
        return load_pair(identity[0], identity[1], password)
    if isinstance(identity, (str, os.PathLike)):
        p = Path(identity)
        if p.suffix.lower() in PFX_SUFFIXES:
            return load_pkcs12(p, password)
        return load_pair(p, p.with_suffix(".key"), password)
    raise TypeError(
        f"cannot use {identity!r} as a certificate: give a lab certificate, (crt, key) "
        f"or a .pfx path"
    )
