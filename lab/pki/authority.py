"""A certificate authority that issues leaves with every extension a real CA sets."""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from lab.pki.fields import (
    BACKDATE,
    EKU_NAMES,
    distinguished_name,
    dns_name,
    email_name,
    key_usage,
    san_entries,
    uri_name,
    utcnow,
)
from lab.pki.files import pem, write_private, write_public
from lab.pki.issued import IssuedCertificate, leaf_files, load_pair
from lab.pki.keys import generate_key, private_key_pem, signature_hash


@dataclass(frozen=True)
class LeafOptions:
    """The options :meth:`~CertificateAuthority.issue_server` and ``issue_client`` share (and
    ``sign`` reads), with their defaults: both take them as keywords (that is how a learner
    writes ``expired=True``), and the dataclass refuses an unknown keyword by name.

    ``eku``: "default" (serverAuth or clientAuth), None (no EKU: any use) or a list of names;
    ``key_type`` or ``key``: the leaf's key; ``days``, ``expired``, ``not_yet_valid``,
    ``not_before``, ``not_after``: the validity window; ``ca_flag``: CA:TRUE, pathlen 0 (an
    issuing CA, or a leaf that is wrongly one); ``mismatched_key``: hand back a key that is not
    the certificate's; ``extra_extensions``: ``(extension, critical)`` pairs added as they are.
    """

    eku: object = "default"
    key_type: str = "ec"
    key: object = None
    days: float = 365
    expired: bool = False
    not_yet_valid: bool = False
    not_before: object = None
    not_after: object = None
    ca_flag: bool = False
    mismatched_key: bool = False
    extra_extensions: object = ()

    def window(self) -> tuple[_dt.datetime, _dt.datetime]:
        """The validity window (notBefore, notAfter), including the deliberately wrong ones."""
        days = self.days
        if not (isinstance(days, (int, float)) and math.isfinite(days) and days > 0):
            raise ValueError(f"days must be a finite number greater than 0, not {days!r}")
        now = utcnow()
        if self.expired and self.not_yet_valid:
            raise ValueError("a certificate cannot be both expired and not yet valid")
        if self.expired:
            return now - _dt.timedelta(days=30), now - _dt.timedelta(days=1)
        if self.not_yet_valid:
            return now + _dt.timedelta(days=1), now + _dt.timedelta(days=1 + days)
        start = self.not_before or now - BACKDATE
        end = self.not_after or start + BACKDATE + _dt.timedelta(days=days)
        if end <= start:
            raise ValueError("not_after must be later than not_before")
        return start, end


def _blank(
    subject: x509.Name, issuer: x509.Name, public_key, start, end
) -> x509.CertificateBuilder:
    """The fields every certificate has: names, public key (and its SKI), a random serial, the
    validity window."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


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
        chain: Sequence[x509.Certificate] | None = None,
    ):
        self.cert = cert
        self.key = key
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
        organization: str | None = "mTLS Lab",
    ) -> "CertificateAuthority":
        """A new self-signed root CA for ten years: CA:TRUE and keyCertSign+cRLSign (both
        critical), SKI."""
        key = generate_key(key_type)
        subject = distinguished_name(name, organization)
        start, end = LeafOptions(days=3650).window()
        builder = (
            _blank(subject, subject, key.public_key(), start, end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(key_usage(ca=True), critical=True)
        )
        cert = builder.sign(key, signature_hash(key))
        return cls(cert, key)

    def create_intermediate(self, name: str = "mTLS Lab Issuing CA") -> "CertificateAuthority":
        """An intermediate CA signed by this one for five years, ECDSA P-256, pathlen 0: it may
        only issue leaves."""
        key = generate_key("ec")
        options = LeafOptions(days=1825, ca_flag=True)
        cert = self.sign(distinguished_name(name), key.public_key(), [], None, options)
        return CertificateAuthority(cert, key, self._chain_below())

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
        return private_key_pem(self.key, password)

    # ---------------------------------------------------------------- issuing
    def builder(self, subject: x509.Name, public_key, start, end) -> x509.CertificateBuilder:
        """What every certificate this CA signs carries: its issuer name, a random serial, the
        validity window, and the key identifiers (SKI of ``public_key``, AKI of this CA)."""
        return _blank(subject, self.cert.subject, public_key, start, end).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
            critical=False,
        )

    def sign(self, subject: x509.Name, public_key, ekus, san, o: LeafOptions) -> x509.Certificate:
        """A certificate for ``public_key`` signed by this CA: CA:FALSE (or ``o.ca_flag``), the
        Key Usage of its key type, the EKU names ``ekus`` (none: no EKU), the SAN entries
        ``san``, and the validity window and extra extensions of ``o``."""
        start, end = o.window()
        builder = (
            self.builder(subject, public_key, start, end)
            .add_extension(
                x509.BasicConstraints(ca=o.ca_flag, path_length=0 if o.ca_flag else None),
                critical=True,
            )
            .add_extension(key_usage(public_key, ca=o.ca_flag), critical=True)
        )
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
                x509.SubjectAlternativeName(san_entries(san)), critical=False
            )
        for ext, critical in o.extra_extensions:
            builder = builder.add_extension(ext, critical=critical)
        return builder.sign(self.key, signature_hash(self.key))

    def _issue(self, common_name: str, default_eku: str, san, o: LeafOptions) -> IssuedCertificate:
        key = o.key or generate_key(o.key_type)
        ekus = [default_eku] if o.eku == "default" else (list(o.eku) if o.eku else [])
        cert = self.sign(distinguished_name(common_name), key.public_key(), ekus, san, o)
        if o.mismatched_key:
            key = generate_key(o.key_type)  # a real key, just not this certificate's
        return IssuedCertificate(cert, key, self._chain_below())

    def issue_server(
        self,
        *hosts: str,
        san: bool = True,
        **options,
    ) -> IssuedCertificate:
        """A server certificate for ``hosts`` (DNS names and IP addresses).

        Correct by default: SAN with every host, EKU serverAuth, KeyUsage
        digitalSignature (+ keyEncipherment for RSA), CA:FALSE, AKI/SKI.
        Break it on purpose with ``san=False`` (CN only, like the guide's openssl
        commands), ``eku=None`` or ``eku=["clientAuth"]``, ``expired=True``... (the
        ``options`` of :class:`LeafOptions`).
        """
        hosts = hosts or ("localhost", "127.0.0.1")
        names = list(hosts) if san else None
        return self._issue(hosts[0], "serverAuth", names, LeafOptions(**options))

    def issue_client(
        self,
        name: str,
        *,
        email: str | None = None,
        uri: str | None = None,
        dns: Sequence[str] = (),
        **options,
    ) -> IssuedCertificate:
        """A client certificate with subject CN=``name`` and EKU clientAuth only.

        ``email`` and ``uri`` (for example a SPIFFE ID ``spiffe://lab.test/ns/payments/sa/api``)
        go into the SAN, which is what modern authorization should match on. Each keeps the
        type its option names, checked (``email="127.0.0.1"`` is refused, never made an IP
        SAN); ``dns`` holds DNS names, or ``x509.GeneralName`` entries taken as they are. The
        other ``options`` (``expired=True``, ``eku=None``...) are those of :class:`LeafOptions`.
        """
        san = [
            *(entry if isinstance(entry, x509.GeneralName) else dns_name(entry) for entry in dns),
            *([email_name(email)] if email else []),
            *([uri_name(uri)] if uri else []),
        ]
        return self._issue(name, "clientAuth", san or None, LeafOptions(**options))

    # ------------------------------------------------------------------ files
    def write(self, stem: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``stem.pem`` (the CA certificate) and ``stem.key`` (mode 0600)."""
        crt, key = leaf_files(stem, ".pem")
        return write_public(crt, self.cert_pem), write_private(key, self.key_pem())

    @classmethod
    def load(
        cls, cert_path: str | os.PathLike, key_path: str | os.PathLike
    ) -> "CertificateAuthority":
        """Load a CA made by the lab or by openssl (the guide's rootCA.pem/rootCA.key)."""
        pair = load_pair(cert_path, key_path)
        return cls(pair.cert, pair.key, chain=pair.chain)


def self_signed_client(name: str) -> IssuedCertificate:
    """A client certificate that signs itself: no CA vouches for it (a classic mistake)."""
    key = generate_key("ec")
    subject = distinguished_name(name)
    start, end = LeafOptions().window()
    cert = (
        _blank(subject, subject, key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, signature_hash(key))
    )
    return IssuedCertificate(cert, key, [])
