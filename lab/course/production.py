"""What production adds to the course: constrained CAs, SPIFFE identities, monitoring figures.

Why a module of its own: notebook 10 turns the guide's "production best
practices" into things a learner can run. Three of them need code the other
modules do not have, because they are about running mTLS rather than doing it:

* **A constrained issuing CA.** A real PKI keeps the root offline and issues
  from an intermediate that can only issue leaves (pathlen 0) and only for the
  names it owns (RFC 5280 Name Constraints). :mod:`lab.pki` makes
  intermediates with pathlen 0 but no name constraints, so
  :func:`constrained_intermediate` builds the extension with cryptography.
* **SPIFFE identities.** :func:`issue_svid` issues an X.509-SVID-shaped client
  certificate (exactly one URI SAN, the SPIFFE ID) and refuses a malformed ID
  with a :class:`SpiffeIdError` that says what is wrong, instead of minting a
  certificate that a mesh would reject later.
* **Monitoring figures.** :func:`failure_tally` counts a server's refused
  handshakes by reason (the figure to alert on), :func:`prometheus_lines`
  renders it as a metrics exporter would, and :func:`freshness` (from
  :mod:`lab.revocation.freshness`, which ``pki status`` uses too) judges a CRL or OCSP
  answer by its thisUpdate/nextUpdate window.
"""

from __future__ import annotations

import collections
import datetime as _dt
import ipaddress
import re
from typing import Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from lab.errors import LabError
from lab.pki import BACKDATE, CertificateAuthority, IssuedCertificate, generate_key
from lab.pki.fields import ca_key_usage, utcnow

# re-exported: notebook 10 judges CRLs and OCSP answers with production.freshness
from lab.revocation.freshness import Freshness as Freshness
from lab.revocation.freshness import freshness as freshness


class SpiffeIdError(LabError, ValueError):
    """A string that is not a valid SPIFFE ID (spiffe://trust-domain/path)."""


class NameConstraintError(LabError, ValueError):
    """A name constraint the lab cannot express (an empty one, or an unparsable entry)."""


# ------------------------------------------------------------ constrained CA
def _subtree(entry: str) -> x509.GeneralName:
    """``payments.lab.test`` -> DNS, ``127.0.0.0/8`` -> IP network, ``spiffe://lab.test`` -> URI host."""
    text = entry.strip()
    if not text:
        raise NameConstraintError(
            "an empty name constraint would match nothing; give a DNS name, "
            "an IP network (10.0.0.0/8) or a URI trust domain (spiffe://lab.test)"
        )
    if "://" in text:
        host = urlsplit(text).hostname
        if not host:
            raise NameConstraintError(
                f"{entry!r} has no host part; a URI constraint is a host, "
                f"for example spiffe://lab.test"
            )
        # RFC 5280 4.2.1.10: a URI constraint is a host name (the SPIFFE trust domain), not a URI.
        return x509.UniformResourceIdentifier(host)
    if "/" in text:
        try:
            return x509.IPAddress(ipaddress.ip_network(text))
        except ValueError:
            raise NameConstraintError(
                f"{entry!r} is not an IP network; write it as 127.0.0.0/8"
            ) from None
    if not re.fullmatch(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", text):
        raise NameConstraintError(
            f"{entry!r} is not a DNS name; write a domain such as payments.lab.test"
        )
    return x509.DNSName(text.lower())


def constrained_intermediate(
    parent: CertificateAuthority,
    name: str,
    *,
    permitted: Sequence[str] = (),
    excluded: Sequence[str] = (),
    days: float = 1825,
    key_type: str = "ec",
    organization: str | None = "mTLS Lab",
) -> CertificateAuthority:
    """An issuing CA signed by ``parent`` that may issue only leaves, and only for ``permitted`` names.

    ``permitted`` and ``excluded`` take DNS names (``payments.lab.test`` covers
    the domain and every name below it), IP networks (``127.0.0.0/8``) and URI
    trust domains (``spiffe://lab.test``). The extension is critical, as
    RFC 5280 requires: a verifier that does not understand it must refuse the
    chain rather than ignore the limit. BasicConstraints pathlen 0 forbids
    sub-CAs.
    """
    permitted_trees = [_subtree(e) for e in permitted]
    excluded_trees = [_subtree(e) for e in excluded]
    if not permitted_trees and not excluded_trees:
        raise NameConstraintError(
            "give at least one permitted or excluded name; without any, use "
            "CertificateAuthority.create_intermediate"
        )
    key = generate_key(key_type)
    now = utcnow()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    subject = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(parent.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=permitted_trees or None, excluded_subtrees=excluded_trees or None
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),
            critical=False,
        )
        .sign(
            parent.key,
            None if isinstance(parent.key, ed25519.Ed25519PrivateKey) else hashes.SHA256(),
        )
    )
    above = [] if parent.is_root else [parent.cert, *parent.chain]
    return CertificateAuthority(cert, key, parent=parent, chain=above)


def _general_name(name: x509.GeneralName) -> str:
    kind = {x509.DNSName: "DNS", x509.IPAddress: "IP", x509.UniformResourceIdentifier: "URI"}.get(
        type(name), "other"
    )
    return f"{kind}:{name.value}"


def describe_constraints(ca) -> str:
    """One line: the CA's path length and its name constraints, as a verifier reads them."""
    cert = getattr(ca, "cert", ca)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    path = "any depth" if bc.path_length is None else f"pathlen {bc.path_length}"
    try:
        ext = cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return f"{path}; no name constraints (it may vouch for any name)"
    nc = ext.value
    parts = [f"{path}"]
    if nc.permitted_subtrees:
        parts.append("permitted " + ", ".join(_general_name(n) for n in nc.permitted_subtrees))
    if nc.excluded_subtrees:
        parts.append("excluded " + ", ".join(_general_name(n) for n in nc.excluded_subtrees))
    parts.append("critical" if ext.critical else "NOT critical")
    return "; ".join(parts)


# ------------------------------------------------------------------- SPIFFE
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def parse_spiffe_id(spiffe_id: str) -> tuple[str, str]:
    """Split ``spiffe://trust-domain/path`` into (trust domain, path), enforcing the SPIFFE ID rules.

    The rules (SPIFFE ID specification, section 2): scheme ``spiffe``; a trust
    domain of lowercase letters, digits, ``.``, ``-``, ``_``; no port, user info,
    query or fragment; path segments of letters, digits, ``.``, ``-``, ``_``,
    not ``.`` or ``..``, no empty segment and no trailing slash.
    """
    text = str(spiffe_id)
    if not text.startswith("spiffe://"):
        raise SpiffeIdError(
            f"{text!r} is not a SPIFFE ID: it must start with spiffe:// "
            f"(for example spiffe://lab.test/ns/payments/sa/api)"
        )
    rest = text[len("spiffe://") :]
    domain, _, path = rest.partition("/")
    if any(c in rest for c in "?#"):
        raise SpiffeIdError(f"{text!r}: a SPIFFE ID has no query (?) or fragment (#)")
    if not domain:
        raise SpiffeIdError(f"{text!r} has no trust domain; write spiffe://TRUST-DOMAIN/path")
    if "@" in domain or ":" in domain:
        raise SpiffeIdError(f"{text!r}: the trust domain may not carry a port or user info")
    if not _TRUST_DOMAIN.fullmatch(domain):
        raise SpiffeIdError(
            f"{text!r}: the trust domain {domain!r} may hold only lowercase letters, digits, "
            f"'.', '-' and '_' (write {domain.lower()!r}?)"
        )
    if path:
        for segment in path.split("/"):
            if not segment or segment in (".", "..") or not _PATH_SEGMENT.fullmatch(segment):
                raise SpiffeIdError(
                    f"{text!r}: path segment {segment!r} is not allowed (no empty, '.' or '..' "
                    f"segments, no trailing slash; letters, digits, '.', '-', '_' only)"
                )
    return domain, "/" + path if path else ""


def issue_svid(
    ca: CertificateAuthority, spiffe_id: str, *, hours: float = 1.0, key_type: str = "ec"
) -> IssuedCertificate:
    """A client certificate shaped like an X.509-SVID: one URI SAN (the SPIFFE ID), EKU clientAuth, short-lived.

    SPIRE issues SVIDs that live an hour by default and rotates them long before
    they expire; that is what ``hours`` stands for. The subject CN is the last
    path segment, for humans reading logs: authorization must use the URI SAN.
    """
    domain, path = parse_spiffe_id(spiffe_id)
    name = path.rsplit("/", 1)[-1] if path else domain
    return ca.issue_client(name, uri=spiffe_id, days=hours / 24, key_type=key_type)


# --------------------------------------------------------------- monitoring
def failure_tally(server_or_failures) -> collections.Counter:
    """Refused handshakes counted by reason: the figure to graph and alert on.

    Takes an :class:`~lab.tls.server.MTLSServer` (its record) or a list of
    :class:`~lab.tls.record.HandshakeFailure`. A sudden rise of one reason says
    what broke: ``certificate has expired`` after a missed renewal, ``unknown
    ca`` after a CA rollover done in the wrong order, ``peer did not return a
    certificate`` from a client deployed without its certificate.
    """
    failures = getattr(server_or_failures, "handshake_failures", server_or_failures)
    return collections.Counter(f.reason for f in list(failures))


def format_tally(tally: collections.Counter, handshakes_ok: int | None = None) -> str:
    """The tally as a small table, most frequent reason first (ties by name, so the output is stable)."""
    rows = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    lines = [f"{count:>5}  {reason}" for reason, count in rows] or [
        "    0  (no refused handshakes)"
    ]
    if handshakes_ok is not None:
        lines.insert(0, f"{handshakes_ok:>5}  handshakes completed")
    return "\n".join(lines)


def prometheus_lines(
    tally: collections.Counter,
    handshakes_ok: int | None = None,
    metric: str = "mtls_handshake_failures_total",
) -> str:
    """The tally in Prometheus' text exposition format, one labelled counter per reason."""
    out = [
        f"# HELP {metric} TLS handshakes refused by the server, by reason.",
        f"# TYPE {metric} counter",
    ]
    for reason, count in sorted(tally.items()):
        label = reason.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{metric}{{reason="{label}"}} {count}')
    if handshakes_ok is not None:
        out += [
            "# HELP mtls_handshakes_total TLS handshakes completed.",
            "# TYPE mtls_handshakes_total counter",
            f"mtls_handshakes_total {handshakes_ok}",
        ]
    return "\n".join(out)
