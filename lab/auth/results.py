"""What authentication produces: the result, the contexts the events receive, and the options' values.

The names follow ASP.NET Core's certificate handler (``CertificateValidatedContext``,
``AuthenticationFailedContext``, ``ChallengeContext``), so the guide's C# maps line by line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cryptography import x509

from lab.auth.problem import problem
from lab.auth.text import printable
from lab.errors import LabError
from lab.tls.identity import ClientIdentity

#: Every decision is one line on this logger (INFO); silent unless logging is configured.
log = logging.getLogger("lab.auth")
log.addHandler(logging.NullHandler())


class _PrintableLines(logging.Filter):
    """Every lab.auth line is one line: subjects and paths are caller-controlled (see lab.auth.text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = printable(record.getMessage()), None
        return True


log.addFilter(_PrintableLines())

#: AllowedCertificateTypes: Chained (the default), SelfSigned, All.
CERTIFICATE_TYPES = ("chained", "self_signed", "all")

#: Revocation source: none (ASP.NET's X509RevocationMode.NoCheck), crl (a CRL the app holds or
#: fetches), ocsp (ask the responder). .NET's Online (its default) and Offline only say whether the
#: network may be used, for CRLs and OCSP alike; they name no mechanism, so they map to none of these.
REVOCATION_MODES = ("none", "crl", "ocsp")

EXTENSION_KEY = "lab.auth"

PROBLEM_TYPES = "https://mtls-lab.test/problems/"


class AuthConfigurationError(LabError, ValueError):
    """CertificateAuth was given options that cannot work together."""


# ------------------------------------------------------------------ results
@dataclass
class AuthenticationResult:
    """The outcome of authenticating one request: ``succeeded``, ``failed`` or ``none`` (no certificate)."""

    outcome: str
    identity: ClientIdentity | None = None
    reason: str | None = None
    cached: bool = False

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"

    def __str__(self) -> str:
        if self.outcome == "succeeded":
            return f"authenticated: {self.identity.subject}"
        if self.outcome == "none":
            return "not authenticated: no client certificate"
        return f"refused: {self.reason}"

    __repr__ = __str__


# ------------------------------------------------------------------- events
@dataclass
class _ResultContext:
    """What an event callback may look at and change: the certificate, its claims, the result."""

    certificate: x509.Certificate | None
    chain: list[x509.Certificate]
    identity: ClientIdentity | None
    environ: dict | None
    _result: tuple[str, str | None] | None = field(default=None, repr=False)

    @property
    def claims(self) -> dict:
        return self.identity.claims if self.identity is not None else {}

    def add_claim(self, name: str, value) -> None:
        """Attach a claim (a role, a tenant...) to the identity views will see."""
        if self.identity is None:
            raise AuthConfigurationError("there is no identity to add a claim to (no certificate)")
        self.identity.claims[name] = value

    def fail(self, reason: str) -> None:
        """Refuse: the request is not authenticated, ``reason`` goes into the 403 body."""
        self._result = ("failed", reason)

    def success(self) -> None:
        """Accept. Like ASP.NET's ``context.Success()``, the *last* call wins: a
        ``success()`` after ``fail()`` overwrites the failure (the guide's bug)."""
        if self._result is not None and self._result[0] == "failed":
            log.info("event: success() overwrote an earlier fail(%r)", self._result[1])
        self._result = ("succeeded", None)


@dataclass
class CertificateValidatedContext(_ResultContext):
    """``OnCertificateValidated``: the certificate passed every built-in check."""


@dataclass
class AuthenticationFailedContext(_ResultContext):
    """``OnAuthenticationFailed``: ``reason`` says why; ``fail(other)`` rewords, ``success()`` overrides."""

    reason: str = ""


@dataclass
class ChallengeContext:
    """``OnChallenge``: a protected route was called without a valid certificate.

    ``reason`` is why; ``respond(response)`` replaces the default 403 problem+json.
    """

    reason: str
    result: AuthenticationResult
    environ: dict | None
    response: object = None

    def respond(self, response) -> None:
        self.response = response


def _problem(title: str, detail: str, kind: str, **extra):
    return problem(403, title, detail, type_=PROBLEM_TYPES + kind, **extra)
