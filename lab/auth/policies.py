"""Authorization policies over a client certificate's claims: who may call this route.

Authentication answers "is this a valid client certificate?", the same for every route.
Authorization answers "may *this* caller use *this* route?". ASP.NET Core spells it
``[Authorize(Policy = "...")]``; here a policy is a small object you pass to ``@authorize``.

A policy looks at a :class:`~lab.tls.identity.ClientIdentity` and returns ``None`` when
the caller is allowed, or a sentence saying why not. That sentence is the ``detail`` of
the 403 body, so it speaks of the caller's own certificate and never lists who *is*
allowed: the rule itself (``policy.name``) goes only to the log. ``a & b`` needs both; a plain
function ``(identity) -> None | reason`` is a policy too.

Which claim to authorize on: the guide matches a substring of the subject
(``cert.Subject.Contains("MyTrustedClient")``), which ``CN=NotMyTrustedClient`` also
passes. :func:`allow_subjects` compares whole values. For services, prefer a SAN URI (a
SPIFFE ID) with :func:`san_matches`; to trust exactly one key, pin it with :func:`pin_spki`
(survives re-issue with the same key) rather than :func:`pin_thumbprint` (breaks on every
re-issue).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
from dataclasses import dataclass
from typing import Callable

from cryptography import x509

from lab.errors import LabError
from lab.tls.identity import ClientIdentity

Check = Callable[[ClientIdentity], "str | None"]


class PolicyError(LabError, ValueError):
    """A policy was given a value it cannot use (an empty name, a malformed pin)."""


@dataclass(frozen=True)
class Policy:
    """A named rule: ``check(identity)`` is None when allowed, else the reason for refusing."""

    name: str
    check: Check

    def __call__(self, identity: ClientIdentity) -> str | None:
        return self.check(identity)

    def __and__(self, other: Policy) -> Policy:
        def both(identity: ClientIdentity) -> str | None:
            first = self(identity)  # a reason, even "", is a refusal: never fall through on it
            return first if first is not None else other(identity)

        return Policy(f"{self.name} & {other.name}", both)


# ------------------------------------------------------------------ subjects
def subject_entry(value: str) -> tuple[str, str]:
    """One allow-list entry as ("DN", canonical RFC 4514 string) or ("CN", value).

    An entry starting with ``CN=`` is a whole distinguished name, as
    ``cert.subject.rfc4514_string()`` prints it; anything else is a common name. Without
    that rule, a certificate whose CN is the literal text ``CN=alice,O=mTLS Lab`` would pass
    an entry meant as that DN. An empty entry is an error, never a match: a certificate
    without a CN has the common name "", so ``--allow-subject "$UNSET"`` would admit it.
    """
    if not value.strip():
        raise PolicyError(
            "an allow-list entry is empty (an unset variable?); a certificate without a CN "
            "would match it. Name a CN (MyTrustedClient) or a DN (CN=MyTrustedClient,O=mTLS Lab)"
        )
    if value.startswith("CN="):
        try:
            return "DN", x509.Name.from_rfc4514_string(value).rfc4514_string()
        except ValueError:
            raise PolicyError(
                f"{value!r} starts with CN= but is not an RFC 4514 subject DN "
                f"(write it as `pki show` prints it, e.g. CN=alice,O=mTLS Lab)"
            ) from None
    if "=" in value:
        raise PolicyError(
            f"{value!r} is neither a common name nor a DN: a full subject DN starts with CN= "
            f"(as `pki show` prints it, e.g. CN=alice,O=mTLS Lab); a common name has no '='"
        )
    return "CN", value


def subject_argument(value: str) -> str:
    """An argparse ``type=`` for ``--allow-subject``: a bad entry is a usage error (exit 2)."""
    try:
        subject_entry(value)
    except PolicyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def allow_subjects(*names: str) -> Policy:
    """Allow callers whose CN, or whole subject DN, is one of ``names`` (exact, case-sensitive).

    ``allow_subjects("MyTrustedClient")`` matches ``CN=MyTrustedClient,O=mTLS Lab`` but not
    ``CN=NotMyTrustedClient`` (the guide's ``Contains`` check lets that one through). An
    entry starting with ``CN=`` is compared with the whole subject DN only. No names at all
    allows nobody: an empty list must never read as "no restriction".
    """
    allowed = tuple(subject_entry(n) for n in names)
    label = ", ".join(value for _, value in allowed) or "nobody"

    def check(identity: ClientIdentity) -> str | None:
        for kind, value in allowed:
            if value == (identity.subject if kind == "DN" else identity.common_name):
                return None
        return f"subject {identity.subject} is not in the allow-list"

    return Policy(f"allow_subjects({label})", check)


# --------------------------------------------------------------------- pins
def _thumbprint(value: str) -> str:
    """``AB:CD:..`` or ``abcd..`` (64 hex digits, SHA-256) -> lowercase hex without colons."""
    text = value.strip().replace(":", "").replace(" ", "").lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise PolicyError(
            f"{value!r} is not a SHA-256 thumbprint (64 hex digits, colons allowed); "
            f"get one with `python -m lab pki show CERT` or lab.pki.certinfo.thumbprint(cert)"
        )
    return text


def _spki(value: str) -> str:
    """``sha256//BASE64=`` or ``BASE64=`` (curl's --pinnedpubkey form) -> the base64 pin."""
    text = value.strip().removeprefix("sha256//")
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


def _pinned(name: str, pins: tuple[str, ...], claim: str, what: str) -> Policy:
    """A policy admitting identities whose ``claim`` is one of ``pins`` (none: nobody)."""

    def check(identity: ClientIdentity) -> str | None:
        value = getattr(identity, claim)
        return None if value in pins else f"{what} {value} is not pinned"

    return Policy(f"{name}({len(pins)} pin{'s' if len(pins) != 1 else ''})", check)


def pin_thumbprint(*thumbprints: str) -> Policy:
    """Allow only these exact certificates (SHA-256 of the whole certificate).

    The strictest pin there is, and the most brittle: re-issuing the certificate, even
    with the same key and subject, changes the thumbprint. No pins allows nobody.
    """
    pins = tuple(_thumbprint(t) for t in thumbprints)
    return _pinned("pin_thumbprint", pins, "thumbprint", "certificate thumbprint")


def pin_spki(*pins: str) -> Policy:
    """Allow only certificates carrying one of these public keys (SHA-256 of the SubjectPublicKeyInfo).

    Survives re-issue with the same key (renewal), fails when the key changes, which is
    exactly the event a pin is meant to catch. No pins allows nobody.
    """
    return _pinned("pin_spki", tuple(_spki(p) for p in pins), "spki_pin", "public key pin")


# ---------------------------------------------------------------------- SAN
def _pattern_regex(pattern: str) -> re.Pattern:
    """``*`` matches any run of characters (slashes and dots included); nothing else is special."""
    parts = re.split(r"(\*)", pattern)
    return re.compile("".join(".*" if p == "*" else re.escape(p) for p in parts), re.DOTALL)


def san_matches(*patterns: str, kind: str | None = None) -> Policy:
    """Allow callers with a SAN entry equal to, or matching, one of ``patterns``.

    A pattern without ``*`` must match exactly; ``*`` matches any run of characters, so
    ``spiffe://lab.test/ns/payments/*`` admits every workload of the payments namespace and
    nothing in ``.../ns/payroll/...``. ``kind`` limits the match to ``"dns"``, ``"email"``
    or ``"uri"`` entries. DNS names compare case-insensitively, as DNS does.
    """
    if kind not in ("dns", "email", "uri", None):
        raise PolicyError(f"kind must be 'dns', 'email' or 'uri' (or None for any), not {kind!r}")
    label = ", ".join(patterns) or "nobody"
    compiled = [(_pattern_regex(p), _pattern_regex(p.lower())) for p in patterns]

    def check(identity: ClientIdentity) -> str | None:
        entries = []
        if kind in (None, "dns"):
            entries += [(d.lower(), True) for d in identity.dns]
        if kind in (None, "email"):
            entries += [(e, False) for e in identity.emails]
        if kind in (None, "uri"):
            entries += [(u, False) for u in identity.uris]
        for value, is_dns in entries:
            if any((lower if is_dns else rx).fullmatch(value) for rx, lower in compiled):
                return None
        return f"no SAN entry matches {label} (the certificate has: {', '.join(v for v, _ in entries) or 'none'})"

    return Policy(f"san_matches({label})", check)
