"""Verify a certificate chain in-process, and say in words why it fails.

Why: a TLS handshake failure tells you *that* a chain was refused, with one terse
OpenSSL reason, and only from the side that refused it. Verifying in-process with
cryptography's RFC 5280 / CA-Browser-Forum path builder lets a learner ask "would
this chain be accepted as a client (or server) certificate?" before any socket
exists, and get every reason spelled out.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from lab.pki.certinfo import (
    common_name,
    eku_names,
    is_ca,
    key_usage_names,
    san_strings,
)
from lab.pki.fields import san_entries, utcnow
from lab.pki.files import certificate_of, trust_certificates


@dataclass
class ChainCheck:
    """The outcome of :func:`verify_chain`: ok, the chain that was built, or the reason.

    ``certificates`` is the chain cryptography's verifier built and checked, leaf first,
    root last: reuse it (an issuer for a revocation check, a display) instead of walking
    the chain again. ``chain`` is the same path as names.
    """

    ok: bool
    purpose: str
    chain: list[str] = field(default_factory=list)
    reason: str = ""
    certificates: list[x509.Certificate] = field(default_factory=list, repr=False)

    @property
    def issuers(self) -> list[x509.Certificate]:
        """The verified issuers of the leaf, nearest first (empty when refused)."""
        return self.certificates[1:]

    def __str__(self) -> str:
        if self.ok:
            return f"OK ({self.purpose}): " + " -> ".join(self.chain)
        return f"REFUSED ({self.purpose}): {self.reason}"

    __repr__ = __str__


def verify_chain(
    leaf,
    trust,
    intermediates: Iterable = (),
    *,
    purpose: str = "client",
    hostname: str | None = None,
    at: _dt.datetime | None = None,
) -> ChainCheck:
    """Check that ``leaf`` chains to one of ``trust`` and is fit for ``purpose``.

    ``leaf`` may be a certificate or an :class:`~lab.pki.IssuedCertificate` (whose own chain
    is used as intermediates); ``trust`` CAs, certificates or PEM/DER files. ``purpose`` is
    "client" or "server"; a server check needs the ``hostname`` the client would connect to.
    """
    if purpose not in ("client", "server"):
        raise ValueError("purpose must be 'client' or 'server'")
    inter = trust_certificates(intermediates) + list(getattr(leaf, "chain", []) or [])
    cert = certificate_of(leaf)
    roots = trust_certificates(trust)
    when = at or utcnow(exact=True)
    builder = PolicyBuilder().store(Store(roots)).time(when)
    try:
        if purpose == "client":
            # The WebPKI leaf rules want a SAN (servers are found by name); a client certificate is
            # commonly known by its subject CN, as the guide's MyTrustedClient is, and OpenSSL,
            # .NET and nginx accept it without a SAN: the one rule relaxed here.
            leaf_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
                x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
            )
            builder = builder.extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=leaf_policy
            )
            chain = builder.build_client_verifier().verify(cert, inter).chain
        else:
            if not hostname:
                raise ValueError("a server check needs the hostname the client connects to")
            chain = builder.build_server_verifier(san_entries([hostname])[0]).verify(cert, inter)
    except VerificationError as exc:
        return ChainCheck(
            False,
            purpose,
            reason=explain_failure(cert, roots, inter, purpose, hostname, when, str(exc)),
        )
    return ChainCheck(
        True,
        purpose,
        chain=[common_name(c.subject) or c.subject.rfc4514_string() for c in chain],
        certificates=list(chain),
    )


def explain_failure(
    cert: x509.Certificate,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    purpose: str,
    hostname: str | None,
    when: _dt.datetime,
    raw: str,
) -> str:
    """Turn the verifier's terse message into the most specific plain-language reason.

    The checks below look at the certificate itself first (dates, EKU, SAN, CA flag)
    because the path builder reports only the last candidate it tried.
    """
    if cert.version == x509.Version.v1:
        return (
            "the certificate is X.509 version 1, which cannot carry extensions: no SAN, no EKU, no "
            "CA flag (`openssl x509 -req` without -extfile makes these up to OpenSSL 3.1; from 3.2 "
            "it makes version 3, still without these extensions)"
        )
    if cert.not_valid_after_utc < when:
        return f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if cert.not_valid_before_utc > when:
        return f"the certificate is not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (clock skew?)"
    ekus = eku_names(cert)
    wanted = "clientAuth" if purpose == "client" else "serverAuth"
    if ekus is not None and wanted not in ekus:
        return f"the certificate's Extended Key Usage ({', '.join(ekus) or 'empty'}) does not allow {wanted}"
    if is_ca(cert):
        return "the certificate is a CA certificate (CA:TRUE); a leaf must have CA:FALSE"
    if purpose == "server":
        sans = san_strings(cert)
        if not sans:
            return (
                "the certificate has no Subject Alternative Name; clients match the host name only "
                "against the SAN and ignore the CN"
            )
        if "no matching" in raw.lower() or "subject" in raw.lower():
            return f"the certificate's SAN ({', '.join(sans)}) does not cover {hostname!r}"
    if (
        "forbidden public key algorithm" in raw.lower()
        or "forbidden signature algorithm" in raw.lower()
    ):
        return (
            "the key or signature algorithm is outside the WebPKI set (RSA >= 2048, ECDSA P-256/384/521); "
            "Ed25519 works in OpenSSL-based TLS, but strict verifiers, browsers and many .NET versions refuse it"
        )
    if cert.issuer == cert.subject:
        return "the certificate is self-signed and is not one of the trusted certificates"
    issuers = {c.subject for c in [*roots, *intermediates]}
    if cert.issuer not in issuers:
        return (
            f"no trusted CA issued it: its issuer {cert.issuer.rfc4514_string()!r} is not among the "
            f"trusted roots or supplied intermediates (unknown CA, or a missing intermediate)"
        )
    if "2.5.29.15" in raw:  # the KeyUsage OID: cryptography requires it on every CA in the path
        lacking = [c for c in [*intermediates, *roots] if is_ca(c) and key_usage_names(c) is None]
        if lacking:
            return (
                f"the CA {lacking[0].subject.rfc4514_string()!r} has no Key Usage extension; RFC 5280 "
                f"requires keyCertSign on a CA (OpenSSL lets it pass, cryptography's WebPKI "
                f"verifier does not). Re-make the CA with keyUsage=critical,keyCertSign,cRLSign "
                f"(lab.pki.CertificateAuthority.create sets it)"
            )
    return f"the chain was refused: {raw}"


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject *and* the certificate's own key verifies its signature."""
    return cert.issuer == cert.subject and signed_by(cert, cert)


def issuer_chain(
    cert: x509.Certificate, pool: Iterable[x509.Certificate]
) -> list[x509.Certificate]:
    """The issuers of ``cert`` found in ``pool`` by signature, nearest first.

    For the places with no verified chain to reuse: the doctor (which must follow
    certificates cryptography's verifier refuses, such as the guide's v1 leaves, to report
    on them) and authentication when the TLS layer, not this process, verified the peer.
    Stops at a self-signed certificate, at a certificate whose issuer is not in ``pool``,
    on a loop, and after eight issuers. Where :func:`verify_chain` ran, use its
    ``certificates`` instead.
    """
    pool = list(pool)
    path: list[x509.Certificate] = []
    current = cert
    while len(path) < 8 and not is_self_signed(current):
        named = [c for c in pool if c.subject == current.issuer and c not in [cert, *path]]
        issuer = next((c for c in named if signed_by(current, c)), None)
        if issuer is None:
            break
        path.append(issuer)
        current = issuer
    return path


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key made ``cert``'s signature (and names match): no chain, no policy."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # a bad signature, or another key type: not this issuer
        return False
    return True
