"""The fields a CA fills in: names, the validity window, SAN entries, Key Usage and EKU names.

Kept apart from :mod:`lab.pki.authority` so that what each field means can be read on its own.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def utcnow() -> _dt.datetime:
    """Now, in UTC, to the second: the one clock every certificate date in the lab is compared with."""
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
    now = utcnow()
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
