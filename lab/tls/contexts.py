"""Build the two SSLContexts of mutual TLS: the server's and the client's.

Why one module: the server, the requests client, the raw-socket benchmark and the
failure scenarios must configure TLS *identically*, or a comparison between them
means nothing. Everything that turns "a certificate, a key and the CAs I trust"
into an :class:`ssl.SSLContext` lives here, and nowhere else.

Inputs are forgiving: a trust anchor may be a lab CA, a certificate, PEM bytes or
a path to a PEM bundle; an identity may be a lab certificate, a ``(crt, key)``
pair of paths, or a ``.pfx`` path with its password.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

from lab.errors import CorruptFileError
from lab.pki import load_identity, pem, trust_certificates
from lab.tls import policy as tlspolicy

#: Kestrel's ClientCertificateMode, spelled the Python way.
#: require = RequireCertificate, optional = AllowCertificate, none = NoCertificate.
CLIENT_CERT_MODES = {
    "require": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
}

TLS_VERSIONS = {
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def trust_pem(trust) -> str:
    """All trust anchors in ``trust`` as one PEM string (validated, so typos fail early).

    What counts as trust is :func:`lab.pki.trust_certificates`'s to say; this only refuses
    "nothing", because an SSLContext that trusts nothing fails every handshake.
    """
    certs = trust_certificates(trust)
    if not certs:
        raise ValueError("no trust anchors given: pass the CA certificate(s) you trust")
    return b"".join(pem(c) for c in certs).decode()


def _context(protocol: int, min_version: str, profile: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(protocol)
    ctx.minimum_version = TLS_VERSIONS[min_version]
    return tlspolicy.apply(ctx, profile)


def server_context(
    certificate,
    trust=None,
    *,
    mode: str = "require",
    min_version: str = "1.2",
    crl: str | os.PathLike | None = None,
    crl_check: str = "leaf",
    profile: str = tlspolicy.DEFAULT_PROFILE,
) -> ssl.SSLContext:
    """The server side: present ``certificate``, ask for (or demand) a client certificate.

    ``mode`` mirrors Kestrel's ClientCertificateMode (see :data:`CLIENT_CERT_MODES`).
    With ``mode="none"`` the server never sends a CertificateRequest, so a client
    certificate is never "detected", the guide's second common issue.
    ``crl`` (a PEM CRL file) turns on OpenSSL's revocation check for the leaf
    (``crl_check="leaf"``) or every certificate in the chain (``"chain"``).
    ``profile`` is Mozilla's "intermediate" (default) or "modern" (see :mod:`lab.tls.policy`).
    """
    if mode not in CLIENT_CERT_MODES:
        raise ValueError(f"mode must be one of {', '.join(CLIENT_CERT_MODES)}, not {mode!r}")
    ctx = _context(ssl.PROTOCOL_TLS_SERVER, min_version, profile)
    load_identity(certificate).configure_cert(ctx)
    ctx.verify_mode = CLIENT_CERT_MODES[mode]
    if mode != "none":
        ctx.load_verify_locations(cadata=trust_pem(trust))
    if crl is not None:
        _require_only_crls(crl)
        ctx.load_verify_locations(cafile=str(crl))
        ctx.verify_flags |= (
            ssl.VERIFY_CRL_CHECK_LEAF if crl_check == "leaf" else ssl.VERIFY_CRL_CHECK_CHAIN
        )
    # Session tickets would let a client resume without presenting its certificate
    # again; that is fine (the server keeps the peer certificate in the session),
    # but the lab counts full handshakes, so keep OpenSSL's default of 2 tickets.
    return ctx


def _require_only_crls(path) -> None:
    """OpenSSL trusts every certificate in a CRL file as a CA: accept a file of PEM CRLs only."""
    kinds = sorted(
        {k.decode() for k in re.findall(rb"-----BEGIN ([^-]+)-----", Path(path).read_bytes())}
    )
    if kinds != ["X509 CRL"]:
        raise CorruptFileError(
            f"{path} holds {' and '.join(kinds) or 'no PEM block'}, not only PEM CRLs; OpenSSL would trust "
            f"any certificate in it (lab.revocation.trusted_crl_file makes a clean copy)"
        )


def client_context(
    identity=None,
    trust=None,
    *,
    password: str | bytes | None = None,
    max_version: str | None = None,
) -> ssl.SSLContext:
    """The client side: trust exactly ``trust`` (never the system store), present ``identity``.

    Only the CAs you name are trusted. That is the point of a private PKI: a
    certificate from any public CA must not be able to impersonate your server.
    Mozilla's "intermediate" profile, as the server's default; ``max_version="1.2"``
    makes an old client, for the failure scenarios and the TLS 1.2 figures of the benchmark.
    """
    ctx = _context(ssl.PROTOCOL_TLS_CLIENT, "1.2", tlspolicy.DEFAULT_PROFILE)
    if max_version:
        ctx.maximum_version = TLS_VERSIONS[max_version]
    # Match the host name against the SAN only, as RFC 6125, browsers (Chrome 58+)
    # and Go (1.15+) do. OpenSSL still falls back to the CN when a certificate has
    # no SAN, which hides the guide's missing-SAN bug until the first strict client.
    ctx.hostname_checks_common_name = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=trust_pem(trust))
    if identity is not None:
        load_identity(identity, password=password).configure_cert(ctx)
    return ctx
