"""``python -m lab pki sign CSR``: the course CA signs a certificate signing request.

Why a command: at work the key is made where it will be used and never travels; only
the CSR (public key, the names asked for, a signature made with the key) goes to the CA.
A CA that signs whatever a CSR says hands out CA certificates and other people's names.
So this command checks before it signs: the CSR's own signature, a key strong enough,
a subject of one CN (and the CA's own O, if any), and no name in the SAN that the CA
was not told to grant (``--san``). It never copies the CSR's extensions: basicConstraints
CA:FALSE, Key Usage and clientAuth are the CA's decision. A CSR that asks for a CA is
refused outright. The certificate goes next to the CSR (``NAME.crt``), never over an
existing file without ``--force``.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab import pki
from lab.cli.commands._days import days_type
from lab.course import coursepki
from lab.errors import LabError, MissingFileError, PKIExistsError
from lab.paths import show
from lab.pki.fields import check_common_name

#: The smallest RSA key the CA signs (NIST SP 800-57: 2048 bits until 2030).
MIN_RSA_BITS = 2048


class CSRRefusedError(LabError, ValueError):
    """The CA will not sign this CSR; the message says which check failed."""


def register_pki(pki_subparsers) -> None:
    p = pki_subparsers.add_parser(
        "sign",
        help="check a certificate signing request (CSR) and sign it as a client certificate",
        description="Check CSR (its signature, key, subject and requested names) and sign it "
        "with the course CA as a client certificate. The key never leaves its owner.",
    )
    p.add_argument("csr", type=Path, help="the CSR file (PEM or DER), e.g. client.csr")
    p.add_argument("--dir", type=Path, default=None, help="the PKI folder (default: certs/)")
    p.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="a SAN entry the CA grants (e-mail, URI, DNS name); repeat for more. "
        "A CSR asking for any other name is refused",
    )
    p.add_argument("--out", type=Path, default=None, help="the certificate (default: CSR.crt)")
    p.add_argument(
        "--days", type=days_type("--days"), default=365, help="validity in days (default 365)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing certificate")
    p.set_defaults(func=_sign)


def load_csr(path: Path) -> x509.CertificateSigningRequest:
    """PEM or DER; anything else is one clear line, not a parser's traceback."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(f"{show(path)}: no such file") from None
    except IsADirectoryError:
        raise LabError(f"{show(path)} is a folder, not a CSR file") from None
    loader = x509.load_pem_x509_csr if b"-----BEGIN" in data else x509.load_der_x509_csr
    try:
        return loader(data)
    except ValueError:
        raise CSRRefusedError(
            f"{show(path)} is not a certificate signing request (expected PEM "
            f"'-----BEGIN CERTIFICATE REQUEST-----' or DER)"
        ) from None


def check_csr(
    csr: x509.CertificateSigningRequest, ca: pki.CertificateAuthority, granted_san: list[str]
) -> tuple[str, list[x509.GeneralName], list[str]]:
    """Everything the CA checks before signing.

    Returns the CN, the SAN entries asked for (each one granted), and the names of the
    requested extensions the CA does not copy.
    """
    if not csr.is_signature_valid:
        raise CSRRefusedError(
            "the CSR's signature does not verify with the key it carries: "
            "it was altered, or not made by the key's owner"
        )
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise CSRRefusedError(f"RSA-{key.key_size} key: the CA signs RSA keys of 2048 bits or more")
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise CSRRefusedError(f"{type(key).__name__}: the CA signs RSA, ECDSA and Ed25519 keys")
    common_name = _subject_common_name(csr.subject, ca)
    names: list[x509.GeneralName] = []
    ignored = []
    for ext in csr.extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints) and value.ca:
            raise CSRRefusedError(
                "the CSR asks for a CA certificate (basicConstraints CA:TRUE); "
                "this CA signs client certificates only"
            )
        if isinstance(value, x509.SubjectAlternativeName):
            names = list(value)
            refused = [str(n.value) for n in names if str(n.value) not in granted_san]
            if refused:
                raise CSRRefusedError(
                    f"the CSR asks for names the CA does not grant: {', '.join(refused)} "
                    f"(grant one with --san NAME)"
                )
        elif not isinstance(value, x509.BasicConstraints):
            ignored.append(type(value).__name__)
    return common_name, names, ignored


def _subject_common_name(subject: x509.Name, ca: pki.CertificateAuthority) -> str:
    """One CN, checked like any name the lab issues; O only if it is the CA's own."""
    ca_orgs = [a.value for a in ca.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    cns = []
    for attr in subject:
        if attr.oid == NameOID.COMMON_NAME:
            cns.append(attr.value)
        elif not (attr.oid == NameOID.ORGANIZATION_NAME and attr.value in ca_orgs):
            raise CSRRefusedError(
                f"the CSR asks for {attr.rfc4514_string()} in its subject; "
                f"the CA grants a CN and its own O ({', '.join(ca_orgs) or 'none'}) only"
            )
    if len(cns) != 1:
        raise CSRRefusedError(f"the CSR's subject must hold one CN, not {len(cns)}")
    try:
        return check_common_name(cns[0])
    except ValueError as exc:
        raise CSRRefusedError(f"the CSR's CN: {exc}") from None


def sign_csr(
    csr: x509.CertificateSigningRequest,
    ca: pki.CertificateAuthority,
    *,
    granted_san: list[str] = (),
    days: float = 365,
) -> x509.Certificate:
    """Check ``csr`` (:func:`check_csr`), then issue the client certificate the CA decides on.

    From the CSR the CA takes the public key, the CN and the SAN entries it granted; the
    rest (CA:FALSE, Key Usage, clientAuth, validity) it sets itself.
    """
    common_name, names, _ = check_csr(csr, ca, list(granted_san))
    key = csr.public_key()
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    ca_orgs = ca.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(list(ca_orgs[:1]) + subject))
        .issuer_name(ca.cert.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - pki.BACKDATE)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.key, pki.signature_hash(ca.key))


def _key_usage(key) -> x509.KeyUsage:
    """digitalSignature; keyEncipherment too for RSA (TLS 1.2 RSA key exchange)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(args) -> int:
    csr = load_csr(args.csr)
    ca = coursepki.load_ca(args.dir)
    *_, ignored = check_csr(csr, ca, args.san)  # a refused CSR says why, whatever exists
    out = args.out or args.csr.with_suffix(".crt")
    if out.exists() and not args.force:
        raise PKIExistsError(f"{show(out)} exists; add --force to replace it")
    cert = sign_csr(csr, ca, granted_san=args.san, days=args.days)
    pki.write_public(out, pki.pem(cert) + b"".join(pki.pem(c) for c in ca.chain))
    print(f"{show(out)}: {cert.subject.rfc4514_string()}, clientAuth, {args.days:g} day(s)")
    print(f"  signed by {ca.cert.subject.rfc4514_string()}")
    if ignored:
        print(f"  requested and not copied (the CA sets its own): {', '.join(ignored)}")
    return 0


__all__ = ["CSRRefusedError", "check_csr", "load_csr", "sign_csr"]
