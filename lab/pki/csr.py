"""The CA's side of a certificate signing request: check what it asks for, then sign.

Why: at work the key is made where it will be used and never travels; only the CSR
(public key, the names asked for, a signature made with the key) goes to the CA. A CA
that signs whatever a CSR says hands out CA certificates and other people's names. So
:func:`sign_csr` checks before it signs: the CSR's own signature, a key strong enough,
a subject of one CN (and the CA's own O, if any), and no name in the SAN that the CA was
not told to grant. It never copies the CSR's extensions: basicConstraints CA:FALSE, Key
Usage and clientAuth are the CA's decision. A CSR that asks for a CA is refused outright.
``python -m lab pki sign`` and notebook 11's self-check use it.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from lab.errors import LabError
from lab.pki.authority import CertificateAuthority, LeafOptions
from lab.pki.fields import check_common_name, distinguished_name

#: The smallest RSA key the CA signs (NIST SP 800-57: 2048 bits until 2030).
MIN_RSA_BITS = 2048


class CSRRefusedError(LabError, ValueError):
    """The CA will not sign this CSR; the message says which check failed."""


def check_csr(
    csr: x509.CertificateSigningRequest, ca: CertificateAuthority, granted_san: list[str]
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


def _organizations(ca: CertificateAuthority) -> list[str]:
    return [a.value for a in ca.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def _subject_common_name(subject: x509.Name, ca: CertificateAuthority) -> str:
    """One CN, checked like any name the lab issues; O only if it is the CA's own."""
    ca_orgs = _organizations(ca)
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
    ca: CertificateAuthority,
    *,
    granted_san: list[str] = (),
    days: float = 365,
) -> x509.Certificate:
    """Check ``csr`` (:func:`check_csr`), then issue the client certificate the CA decides on.

    From the CSR the CA takes the public key, the CN and the SAN entries it granted; the
    rest (its own O, CA:FALSE, Key Usage, clientAuth, validity) it sets itself.
    """
    common_name, names, _ = check_csr(csr, ca, list(granted_san))
    subject = distinguished_name(common_name, (_organizations(ca) or [None])[0])
    return ca.sign(subject, csr.public_key(), ["clientAuth"], names, LeafOptions(days=days))
