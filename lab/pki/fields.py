"""The fields a CA fills in: names, the clock and backdating, SAN entries, Key Usage and EKU names.

Kept apart from :mod:`lab.pki.authority` so that what each field means can be read on its own.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import unicodedata
import urllib.parse
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.errors import InvalidNameError

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


def utcnow(*, exact: bool = False) -> _dt.datetime:
    """Now, in UTC: the one clock every certificate date in the lab is made with or compared with.

    To the second by default, as certificates carry whole seconds (a date made from it is
    exactly what lands in the certificate). ``exact=True`` keeps the microseconds, for
    comparisons with a date already in a certificate: a certificate issued this second has
    then always *started* its life, so "days left" of a 3-day certificate is 2 right after
    issue on every run, never 3 when the check happens to fall in the same second.
    """
    now = _dt.datetime.now(_dt.timezone.utc)
    return now if exact else now.replace(microsecond=0)


#: RFC 5280 Appendix A: ub-common-name and ub-organization-name are both 64.
UB_NAME = 64

#: Unicode categories refused in any name: controls (newline, escape), format characters (the
#: bidi overrides that reorder text on screen) and the line and paragraph separators.
_REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def check_name(value: str, what: str = "name") -> str:
    """Refuse a name that would make a log line or a screen lie about who the peer is.

    A newline in a CN lets a certificate print a forged second log line ("authorization
    allowed"); a bidi override makes ``alice`` display as someone else. Returns ``value``.
    """
    bad = next((ch for ch in value if unicodedata.category(ch) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        raise InvalidNameError(
            f"the {what} {value!r} contains the control character U+{ord(bad):04X}; names go "
            f"into logs and allow-lists as text: use printable characters only"
        )
    return value


def check_common_name(
    value: str, what: str = "common name (CN)", *, separators: bool = True
) -> str:
    """:func:`check_name`, plus what a subject CN must not hold: DN separators, more than 64.

    ``separators=False`` allows '=' and ',' (an organization such as "Example, Inc." is
    escaped in the DN and is not what allow-lists match on).
    """
    check_name(value, what)
    if not value.strip():
        raise InvalidNameError(f"the {what} is empty; give the certificate a name")
    if separators and ("=" in value or "," in value):
        raise InvalidNameError(
            f"the {what} {value!r} contains '=' or ',': in the subject DN "
            f"(CN={value},O=...) it reads as more than one attribute, so DN and CN allow-lists "
            f"become ambiguous; choose a name without them"
        )
    size = len(value.encode())  # cryptography counts UTF-8 bytes: 'é' is two
    if size > UB_NAME:
        raise InvalidNameError(
            f"the {what} {value[:20]!r}... is {size} bytes in UTF-8; at most {UB_NAME} fit (RFC "
            f"5280's ub-common-name, which cryptography counts in bytes): choose a shorter name"
        )
    return value


def distinguished_name(common_name: str, organization: str | None = "mTLS Lab") -> x509.Name:
    attrs = []
    if organization:
        check_common_name(organization, "organization (O)", separators=False)
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, check_common_name(common_name)))
    return x509.Name(attrs)


def san_entries(names: Iterable[str | x509.GeneralName]) -> list[x509.GeneralName]:
    """Server hosts as SAN entries: an IP address as ``IPAddress``, anything else as ``DNSName``.

    An ``x509.GeneralName`` is kept as it is; the client's options make theirs with
    :func:`dns_name`, :func:`email_name` and :func:`uri_name`, one type each.
    """
    out: list[x509.GeneralName] = []
    for n in names:
        if isinstance(n, x509.GeneralName):
            out.append(n)
            continue
        check_name(n, "SAN entry")
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(dns_name(n))
    return out


#: A host name as a DNS SAN holds it: labels of letters, digits and '-', a leading '*.' allowed.
_DNS = re.compile(
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.I
)


def dns_name(value: str) -> x509.DNSName:
    """A DNS SAN, refused when ``value`` is an address or not a host name."""
    check_name(value, "DNS name")
    if _is_ip(value) or not _DNS.fullmatch(value):
        raise InvalidNameError(
            f"{value!r} is not a DNS host name (letters, digits, '-' and dots); an address "
            f"goes into an IP SAN"
        )
    return x509.DNSName(value)


def email_name(value: str) -> x509.RFC822Name:
    """An email SAN (RFC 5280's rfc822Name): local-part@host, refused otherwise."""
    check_name(value, "email address")
    local, at, host = value.rpartition("@")
    if not (local and at and _DNS.fullmatch(host)) or " " in local:
        raise InvalidNameError(f"{value!r} is not an email address (name@example.org)")
    return x509.RFC822Name(value)


def uri_name(value: str) -> x509.UniformResourceIdentifier:
    """A URI SAN that names a service: ``scheme://host/...`` (a SPIFFE ID, an https URL).

    RFC 5280 4.2.1.6 wants a scheme and, for a URI with an authority, a host; the lab asks
    for the authority too, so ``javascript:alert(1)`` is refused rather than carried along.
    """
    check_name(value, "URI")
    parts = urllib.parse.urlsplit(value)
    if not (parts.scheme and parts.netloc) or " " in value:
        raise InvalidNameError(
            f"{value!r} is not a URI of the form scheme://host/path "
            f"(e.g. spiffe://lab.test/ns/payments/sa/api)"
        )
    return x509.UniformResourceIdentifier(value)


def ip_name(value: str) -> x509.IPAddress:
    """An IP SAN, refused when ``value`` is not an IPv4 or IPv6 address."""
    if not _is_ip(value):
        raise InvalidNameError(f"{value!r} is not an IP address (127.0.0.1, ::1)")
    return x509.IPAddress(ipaddress.ip_address(value))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def key_usage(public_key=None, *, ca: bool = False) -> x509.KeyUsage:
    """digitalSignature always; keyEncipherment only for an RSA ``public_key`` (TLS 1.2 RSA key
    exchange). A CA gets both signing bits (it signs certificates and
    CRLs, and, as the lab's CAs do, OCSP answers)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
