"""Authorization policies over a client certificate's claims: who may call this route.

Why a module of its own: authentication (:mod:`lab.auth`) answers "is this a
valid client certificate?", and every route gets the same answer. Authorization
answers "may *this* caller use *this* route?", and the answer differs per route.
ASP.NET Core spells it ``[Authorize(Policy = "...")]``; here a policy is a small
object you pass to ``@authorize(...)``.

A policy looks at a :class:`~lab.tls.identity.ClientIdentity` and returns ``None``
when the caller is allowed, or a sentence saying why not (that sentence becomes
the ``detail`` of the 403 problem+json body). Policies combine:

* ``@authorize(a, b)`` or two stacked ``@authorize`` decorators: all must pass;
* ``a & b``: both; ``a | b`` (or :func:`any_of`): at least one.

Which claim to authorize on: the guide matches a substring of the subject
(``cert.Subject.Contains("MyTrustedClient")``), which ``CN=NotMyTrustedClient``
also passes. :func:`allow_subjects` compares whole values instead. For services,
prefer a SAN URI (a SPIFFE ID) with :func:`san_matches`; to trust exactly one key,
pin it with :func:`pin_spki` (survives re-issue with the same key) rather than
:func:`pin_thumbprint` (breaks on every re-issue).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from cryptography import x509

from lab.errors import LabError
from lab.pki.certinfo import common_name
from lab.tls.identity import ClientIdentity

Check = Callable[[ClientIdentity], "str | None"]


class PolicyError(LabError, ValueError):
    """A policy was given a value it cannot use (an empty allow-list, a malformed pin)."""


@dataclass(frozen=True)
class Policy:
    """A named rule: ``check(identity)`` is None when allowed, else the reason for refusing."""

    name: str
    check: Check

    def __call__(self, identity: ClientIdentity) -> str | None:
        return self.check(identity)

    def __and__(self, other: "Policy") -> "Policy":
        return all_of(self, other)

    def __or__(self, other: "Policy") -> "Policy":
        return any_of(self, other)

    def __repr__(self) -> str:
        return f"<Policy {self.name}>"


def _names(values: Iterable[str] | str) -> tuple[str, ...]:
    vals = (values,) if isinstance(values, str) else tuple(values)
    if not vals:
        raise PolicyError(
            "a policy needs at least one allowed value; an empty allow-list would refuse everyone"
        )
    return vals


def _short(values: tuple[str, ...]) -> str:
    return ", ".join(values)


# ------------------------------------------------------------------ subjects
def _name_entries(values: Iterable[str] | str, what: str) -> tuple[tuple[str, str], ...]:
    """Each entry as ("DN", canonical RFC 4514 string) or ("CN", value); never both readings.

    An entry starting with ``CN=`` is a whole distinguished name, as
    ``cert.subject.rfc4514_string()`` prints it (most specific first); anything else is a
    common name. Without that rule, a certificate whose CN is the literal text
    ``CN=MyTrustedClient,O=mTLS Lab`` would pass an entry meant as that DN.
    """
    out = []
    for value in _names(values):
        if value.startswith("CN="):
            try:
                out.append(("DN", x509.Name.from_rfc4514_string(value).rfc4514_string()))
            except ValueError:
                raise PolicyError(
                    f"{value!r} starts with CN= but is not an RFC 4514 {what} DN "
                    f"(write it as `pki show` prints it, e.g. CN=alice,O=mTLS Lab)"
                ) from None
        elif "=" in value:
            raise PolicyError(
                f"{value!r} is neither a common name nor a DN: a full {what} DN starts with CN= "
                f"(as `pki show` prints it, e.g. CN=alice,O=mTLS Lab); a common name has no '='"
            )
        else:
            out.append(("CN", value))
    return tuple(out)


def _label(entries: tuple[tuple[str, str], ...]) -> str:
    """The entries as given: a DN starts with CN=, so the two forms read apart unambiguously."""
    return ", ".join(value for _, value in entries)


def _name_matches(entries, cn: str, dn: str) -> bool:
    return any(value == (dn if kind == "DN" else cn) for kind, value in entries)


def allow_subjects(*names: str) -> Policy:
    """Allow callers whose CN, or whole subject DN, is one of ``names`` (exact, case-sensitive).

    ``allow_subjects("MyTrustedClient")`` compares the CN: it matches
    ``CN=MyTrustedClient,O=mTLS Lab`` but not ``CN=NotMyTrustedClient`` (the guide's
    ``Contains`` check would let that one through). An entry that starts with ``CN=``
    (``"CN=MyTrustedClient,O=mTLS Lab"``) is compared with the whole subject DN only.
    """
    allowed = _name_entries(names, "subject")

    def check(identity: ClientIdentity) -> str | None:
        if _name_matches(allowed, identity.common_name, identity.subject):
            return None
        return f"subject {identity.subject} is not in the allow-list ({_label(allowed)})"

    return Policy(f"allow_subjects({_label(allowed)})", check)


def issued_by(*issuers: str) -> Policy:
    """Allow certificates whose issuer CN, or whole issuer DN, is one of ``issuers``.

    The same two forms as :func:`allow_subjects` (an entry starting with ``CN=`` is a DN).
    Useful when one TLS trust store holds several CAs but a route belongs to one
    of them. (To *verify* against one CA, use ``CertificateAuth(trust=...)``; this
    only compares names, after verification.)
    """
    allowed = _name_entries(issuers, "issuer")

    def check(identity: ClientIdentity) -> str | None:
        issuer_cn = _issuer_cn(identity) if identity.certificate is not None else ""
        if _name_matches(allowed, issuer_cn, identity.issuer):
            return None
        return f"issuer {identity.issuer} is not an allowed issuer ({_label(allowed)})"

    return Policy(f"issued_by({_label(allowed)})", check)


def _issuer_cn(identity: ClientIdentity) -> str:
    return common_name(identity.certificate.issuer)


# --------------------------------------------------------------------- pins
def normalize_thumbprint(value: str) -> str:
    """``AB:CD:..`` or ``abcd..`` (64 hex digits, SHA-256) -> lowercase hex without colons."""
    text = value.strip().replace(":", "").replace(" ", "").lower()
    if text.startswith("sha256:"):
        text = text[7:]
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise PolicyError(
            f"{value!r} is not a SHA-256 thumbprint (64 hex digits, colons allowed); "
            f"get one with `python -m lab pki show CERT` or lab.pki.certinfo.thumbprint(cert)"
        )
    return text


def normalize_spki(value: str) -> str:
    """``sha256//BASE64=`` or ``BASE64=`` (curl's --pinnedpubkey form) -> the base64 pin."""
    text = value.strip()
    if text.startswith("sha256//"):
        text = text[len("sha256//") :]
    try:
        ok = len(base64.b64decode(text, validate=True)) == 32
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise PolicyError(
            f"{value!r} is not an SPKI SHA-256 pin (base64 of 32 bytes, optionally prefixed with sha256//); "
            f"get one with lab.pki.certinfo.spki_pin(cert)"
        )
    return text


def pin_thumbprint(*thumbprints: str) -> Policy:
    """Allow only these exact certificates (SHA-256 of the whole certificate).

    Strictest pin there is, and the most brittle: re-issuing the certificate,
    even with the same key and subject, changes the thumbprint.
    """
    pins = tuple(normalize_thumbprint(t) for t in _names(thumbprints))

    def check(identity: ClientIdentity) -> str | None:
        if identity.thumbprint in pins:
            return None
        return f"certificate thumbprint {identity.thumbprint} is not pinned"

    return Policy(f"pin_thumbprint({len(pins)} pin{'s' if len(pins) != 1 else ''})", check)


def pin_spki(*pins: str) -> Policy:
    """Allow only certificates carrying one of these public keys (SHA-256 of the SubjectPublicKeyInfo).

    Survives re-issue with the same key (renewal), fails when the key changes,
    which is exactly the event a pin is meant to catch.
    """
    normalized = tuple(normalize_spki(p) for p in _names(pins))

    def check(identity: ClientIdentity) -> str | None:
        if identity.spki_pin in normalized:
            return None
        return f"public key pin {identity.spki_pin} is not pinned"

    return Policy(f"pin_spki({len(normalized)} pin{'s' if len(normalized) != 1 else ''})", check)


# ---------------------------------------------------------------------- SAN
def _pattern_regex(pattern: str) -> re.Pattern:
    """``*`` matches any run of characters (slashes and dots included); nothing else is special."""
    return re.compile(
        "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern)),
        re.DOTALL,
    )


def san_matches(*patterns: str, kind: str | None = None) -> Policy:
    """Allow callers with a SAN entry equal to, or matching, one of ``patterns``.

    A pattern without ``*`` must match exactly; ``*`` matches any run of
    characters, so ``spiffe://lab.test/ns/payments/*`` admits every workload of
    the payments namespace (``.../ns/payments/sa/api``) and nothing in
    ``.../ns/payroll/...``. ``kind`` limits the match to ``"dns"``, ``"email"`` or
    ``"uri"`` entries. DNS names compare case-insensitively, as DNS does.
    """
    pats = _names(patterns)
    kinds = {"dns", "email", "uri", None}
    if kind not in kinds:
        raise PolicyError(f"kind must be 'dns', 'email' or 'uri' (or None for any), not {kind!r}")
    compiled = [(p, _pattern_regex(p), _pattern_regex(p.lower())) for p in pats]

    def check(identity: ClientIdentity) -> str | None:
        entries = []
        if kind in (None, "dns"):
            entries += [(d.lower(), True) for d in identity.dns]
        if kind in (None, "email"):
            entries += [(e, False) for e in identity.emails]
        if kind in (None, "uri"):
            entries += [(u, False) for u in identity.uris]
        for value, is_dns in entries:
            for _, rx, rx_lower in compiled:
                if (rx_lower if is_dns else rx).fullmatch(value):
                    return None
        have = ", ".join(v for v, _ in entries) or "none"
        return f"no SAN entry matches {_short(pats)} (the certificate has: {have})"

    return Policy(f"san_matches({_short(pats)})", check)


# ------------------------------------------------------------------ custom
def predicate(fn: Callable[[ClientIdentity], bool], reason: str, name: str | None = None) -> Policy:
    """Any rule you can write as ``fn(identity) -> bool``; ``reason`` is the refusal's detail."""
    label = name or getattr(fn, "__name__", "predicate")

    def check(identity: ClientIdentity) -> str | None:
        return None if fn(identity) else reason

    return Policy(f"predicate({label})", check)


# ---------------------------------------------------------------- combine
def all_of(*policies: Policy) -> Policy:
    """Every policy must allow; the first refusal is the reason."""
    if not policies:
        raise PolicyError("all_of needs at least one policy")

    def check(identity: ClientIdentity) -> str | None:
        for p in policies:
            reason = p(identity)
            if reason is not None:
                return reason
        return None

    return Policy(" & ".join(p.name for p in policies), check)


def any_of(*policies: Policy) -> Policy:
    """At least one policy must allow; when none does, every reason is given."""
    if not policies:
        raise PolicyError("any_of needs at least one policy")

    def check(identity: ClientIdentity) -> str | None:
        reasons = []
        for p in policies:
            reason = p(identity)
            if reason is None:
                return None
            reasons.append(reason)
        return "; and ".join(reasons)

    return Policy("(" + " | ".join(p.name for p in policies) + ")", check)


__all__ = [
    "Policy",
    "PolicyError",
    "allow_subjects",
    "issued_by",
    "pin_thumbprint",
    "pin_spki",
    "san_matches",
    "predicate",
    "all_of",
    "any_of",
    "normalize_thumbprint",
    "normalize_spki",
]
