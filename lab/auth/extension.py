"""``CertificateAuth``, the Flask extension that authenticates every request's client certificate,
and authorization on a view (``@authorize``, ``@require_certificate``, ``current_identity()``).

It does what notebook 04's hand-written check does (issuer by key, clientAuth, validity on
every request, one subject), and adds what a hand-written check rarely has: ASP.NET's
``OnCertificateValidated`` event, a validation cache, a revocation hook, and one decision
line per request on the ``lab.auth`` logger. ``@authorize`` is ASP.NET Core's ``[Authorize]``,
``current_identity()`` its ``HttpContext.User``. A refusal tells the caller only *that* it is
not allowed; which rule refused, with its allow-list, goes to the ``lab.auth`` log, where the
operator reads it.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID
from flask import Response, current_app, g, request

from lab.auth.cache import CertificateCache
from lab.auth.policies import Policy
from lab.auth.text import printable
from lab.errors import ForgedHeaderError, LabError
from lab.pki.certinfo import eku_names, is_ca
from lab.pki.fields import utcnow
from lab.pki.files import trust_certificates
from lab.pki.verify import is_self_signed, issuer_chain, verify_chain
from lab.tls.identity import ClientIdentity, peer_certificate

#: Every decision is one line on this logger (INFO); silent unless logging is configured.
log = logging.getLogger("lab.auth")
log.addHandler(logging.NullHandler())


def _printable_lines(record: logging.LogRecord) -> bool:
    """Every lab.auth line is one line: subjects and paths are caller-controlled (see lab.auth.text)."""
    record.msg, record.args = printable(record.getMessage()), None
    return True


log.addFilter(_printable_lines)

#: AllowedCertificateTypes: Chained (the default), SelfSigned, All.
CERTIFICATE_TYPES = ("chained", "self_signed", "all")
EXTENSION_KEY = "lab.auth"
PROBLEM_TYPES = "https://mtls-lab.test/problems/"

#: Where the certificate comes from: the TLS connection by default, or a proxy header.
CertificateSource = Callable[[dict], "x509.Certificate | None"]
#: A revocation check: the certificate and its chain in, a reason to refuse (or None) out.
RevocationCheck = Callable[[x509.Certificate, "list[x509.Certificate]"], "str | None"]


class AuthConfigurationError(LabError, ValueError):
    """CertificateAuth was given options that cannot work together."""


@dataclass
class AuthenticationResult:
    """The outcome of authenticating one request: ``succeeded``, ``failed`` or ``none`` (no certificate)."""

    outcome: str
    identity: ClientIdentity | None = None
    reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"


@dataclass
class CertificateValidatedContext:
    """``OnCertificateValidated``: the certificate passed every built-in check; add claims or refuse."""

    certificate: x509.Certificate
    identity: ClientIdentity
    failure: str | None = field(default=None, repr=False)

    def add_claim(self, name: str, value) -> None:
        """Attach a claim (a role, a tenant...) to the identity views will see."""
        self.identity.claims[name] = value

    def fail(self, reason: str) -> None:
        """Refuse: the request is not authenticated, ``reason`` goes into the 403 body."""
        self.failure = reason or "refused by on_certificate_validated"

    def success(self) -> None:
        """Accept. Like ASP.NET's ``context.Success()``, the *last* call wins: a
        ``success()`` after ``fail()`` overwrites the failure (the guide's bug)."""
        if self.failure is not None:
            log.info("event: success() overwrote an earlier fail(%r)", self.failure)
        self.failure = None


def refusal(title: str, detail: str, kind: str, stage: str) -> Response:
    """An RFC 9457 problem details 403: the one shape every refusal answers with.

    Why: a 403 whose body is an HTML error page (or a traceback) tells the caller nothing.
    ``application/problem+json`` names the reason (``kind`` names the problem type) in a
    machine-readable way and is what ASP.NET Core's ``ProblemDetails`` produces.
    """
    body = {"type": PROBLEM_TYPES + kind, "title": title, "status": 403, "detail": detail}
    body["stage"] = stage
    return Response(json.dumps(body), status=403, mimetype="application/problem+json")


def _validity_problem(cert: x509.Certificate, now: _dt.datetime) -> str | None:
    if now > cert.not_valid_after_utc:
        return (
            f"the certificate expired at {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC "
            f"(validity is checked on every request, not only at the handshake)"
        )
    if now < cert.not_valid_before_utc:
        return (
            f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
        )
    return None


def _identity_problem(cert: x509.Certificate) -> str | None:
    """What the hand-written check does not ask: is this one client, named once?"""
    if is_ca(cert):
        return (
            "the certificate is a CA certificate (Basic Constraints CA:TRUE): a CA key signs "
            "certificates, it does not identify a client"
        )
    cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if len(cns) > 1:
        return (
            f"the certificate's subject has {len(cns)} common names ({', '.join(cns)}); software "
            f"disagrees on which one names the caller (OpenSSL-based code reads the first, Go the "
            f"last), so it is refused"
        )
    ekus = eku_names(cert)  # no EKU extension: any use (RFC 5280 4.2.1.12)
    if ekus is not None and "clientAuth" not in ekus:
        return (
            f"the certificate's Extended Key Usage ({', '.join(ekus) or 'empty'}) "
            f"does not include clientAuth"
        )
    return None


class CertificateAuth:
    """The Flask extension: ``CertificateAuth(app, **options)``; without ``app``, only :meth:`check`.

    Options (ASP.NET's ``CertificateAuthenticationOptions``); the usage (clientAuth when
    the certificate has an EKU), the validity period on every request, and one client per
    certificate (no CA, one CN) are always checked:

    ``allowed_certificate_types``
        "chained" (default), "self_signed" or "all".
    ``revocation``
        None, or a callable ``(cert, chain) -> None | reason`` (``lab.revocation``'s
        CRL and OCSP checkers are such callables; their ``mode`` names them).
    ``trust``
        A custom trust store (CAs, certificates, PEM or paths): the certificate must
        chain to one of these by signature, whatever else the TLS layer trusts.
        None: rely on the TLS layer's verification.
    ``additional_chain_certificates``
        Intermediates used to build the chain to ``trust`` (the app only receives the leaf).
    ``cache``
        None, True (a default :class:`~lab.auth.cache.CertificateCache`) or a cache.
    ``certificate_source``
        ``(environ) -> certificate | None``; may raise :class:`~lab.errors.ForgedHeaderError`.
    ``clock``
        ``() -> aware datetime``, so a test moves time instead of sleeping.

    ``@auth.on_certificate_validated`` registers ASP.NET's ``OnCertificateValidated``.
    """

    def __init__(
        self,
        app=None,
        *,
        certificate_source: CertificateSource = peer_certificate,
        allowed_certificate_types: str = "chained",
        revocation: RevocationCheck | None = None,
        trust=None,
        additional_chain_certificates: Iterable = (),
        cache: CertificateCache | bool | None = None,
        clock: Callable[[], _dt.datetime] | None = None,
    ):
        if allowed_certificate_types not in CERTIFICATE_TYPES:
            raise AuthConfigurationError(
                f"allowed_certificate_types must be one of {', '.join(CERTIFICATE_TYPES)}, "
                f"not {allowed_certificate_types!r}"
            )
        if revocation is not None and not callable(revocation):  # a path, say: say so at once
            raise AuthConfigurationError(
                "revocation must be a callable (cert, chain) -> None or a reason string"
            )
        self.certificate_source = certificate_source
        self.allowed_certificate_types = allowed_certificate_types
        self.revocation = revocation
        self.revocation_mode = (
            "none" if revocation is None else getattr(revocation, "mode", "custom")
        )
        self.trust = trust_certificates(trust) if trust is not None else None
        self.additional_chain_certificates = trust_certificates(list(additional_chain_certificates))
        self.cache = CertificateCache() if cache is True else (cache or None)
        self.clock = clock or (lambda: utcnow(exact=True))
        self.validated_event: Callable[[CertificateValidatedContext], None] | None = None
        if app is not None:
            app.extensions[EXTENSION_KEY] = self

    def __repr__(self) -> str:
        return (
            f"<CertificateAuth types={self.allowed_certificate_types} revocation={self.revocation_mode} "
            f"trust={'custom' if self.trust is not None else 'tls layer'}>"
        )

    def on_certificate_validated(self, fn: Callable[[CertificateValidatedContext], None]):
        """OnCertificateValidated: every built-in check passed; add claims, or ``ctx.fail()``."""
        self.validated_event = fn
        return fn

    def authenticate(self, environ: dict) -> AuthenticationResult:
        """Authenticate the request whose WSGI environ this is."""
        try:
            cert = self.certificate_source(environ)
        except LabError as exc:
            forged = "forged certificate header: " if isinstance(exc, ForgedHeaderError) else ""
            return self._finish(AuthenticationResult("failed", reason=f"{forged}{exc}"))
        if cert is None:
            return self._finish(AuthenticationResult("none"))
        return self.check(cert)

    def check(self, cert) -> AuthenticationResult:
        """Run the whole authentication on ``cert`` outside any request: "would this certificate pass?"."""
        cert, now = getattr(cert, "cert", cert), self.clock()
        # Validity first and never cached: a cached "good" must not outlive the certificate.
        reason = _validity_problem(cert, now)
        if reason:
            return self._finish(AuthenticationResult("failed", reason=reason))
        result = self.cache.get(cert) if self.cache is not None else None
        if result is None:
            result = self._validate(cert, now)
            if self.cache is not None:
                self.cache.put(cert, result)
        return self._finish(result)

    def _finish(self, result: AuthenticationResult) -> AuthenticationResult:
        if result.succeeded:
            log.info("authentication succeeded: %s", result.identity.subject)
        elif result.outcome == "none":
            log.info("authentication skipped: no client certificate")
        else:
            log.info("authentication failed: %s", result.reason)
        return result

    def _validate(self, cert: x509.Certificate, now: _dt.datetime) -> AuthenticationResult:
        reason = self._type_problem(cert) or _identity_problem(cert)
        chain: list[x509.Certificate] = []
        if not reason and self.trust is not None:
            reason, chain = self._trust_problem(cert, now)
        elif not reason:  # the TLS layer verified the peer; this process never saw its chain
            chain = issuer_chain(cert, self.additional_chain_certificates)
        if not reason and self.revocation is not None:
            try:
                reason = self.revocation(cert, chain)
            except Exception as exc:  # a broken checker must fail closed, not open
                reason = f"the revocation checker failed ({type(exc).__name__}: {exc}), so the status is unknown"
            if reason:
                reason = f"revocation check ({self.revocation_mode}): {reason}"
        if reason:
            return AuthenticationResult("failed", reason=reason)
        ctx = CertificateValidatedContext(cert, ClientIdentity.from_certificate(cert))
        if self.validated_event is not None:
            self.validated_event(ctx)
        if ctx.failure is not None:
            return AuthenticationResult("failed", reason=ctx.failure)
        return AuthenticationResult("succeeded", ctx.identity)

    def _type_problem(self, cert: x509.Certificate) -> str | None:
        self_signed = is_self_signed(cert)
        if self_signed and self.allowed_certificate_types == "chained":
            return (
                "the certificate is self-signed and allowed_certificate_types is 'chained' "
                "(only certificates issued by a CA are accepted)"
            )
        if not self_signed and self.allowed_certificate_types == "self_signed":
            return (
                f"the certificate is issued by {cert.issuer.rfc4514_string()} and "
                f"allowed_certificate_types is 'self_signed'"
            )
        return None

    def _trust_problem(self, cert: x509.Certificate, now: _dt.datetime):
        """(reason or None, the issuers cryptography verified)."""
        if is_self_signed(cert):
            if cert in self.trust:
                return None, []
            return (
                "the self-signed certificate is not one of the certificates in the custom trust store",
                [],
            )
        result = verify_chain(
            cert, self.trust, self.additional_chain_certificates, purpose="client", at=now
        )
        return (None if result.ok else f"custom trust store: {result.reason}"), result.issuers


# ------------------------------------------------------------------ authorization
def _extension() -> CertificateAuth:
    ext = current_app.extensions.get(EXTENSION_KEY)
    if ext is None:
        raise AuthConfigurationError(
            "CertificateAuth is not installed on this app: call CertificateAuth(app) "
            "before using @require_certificate / @authorize / current_identity()"
        )
    return ext


def current_result() -> AuthenticationResult:
    """This request's authentication result, computed once per request and kept in ``flask.g``."""
    result = g.get("lab_auth_result")
    if result is None:
        result = _extension().authenticate(request.environ)
        g.lab_auth_result = result
        g.client_identity = result.identity
    return result


def current_identity() -> ClientIdentity | None:
    """The authenticated caller's :class:`ClientIdentity`, or None (no certificate, or refused)."""
    return current_result().identity


def _policy(item) -> Policy:
    if isinstance(item, Policy):
        return item
    if callable(item):  # a bare function (identity) -> None | reason
        return Policy(getattr(item, "__name__", "policy"), item)
    raise AuthConfigurationError(f"{item!r} is not a policy: use lab.auth.policies or a callable")


def authorize(*policies):
    """``[Authorize]``: the view runs only for an authenticated caller every policy allows.

    Policies are :mod:`lab.auth.policies` objects or plain callables ``(identity) -> None |
    reason``. Stack decorators or pass several policies: all must pass.
    """
    rules = [_policy(p) for p in policies]
    names = ", ".join(p.name for p in rules) or "authenticated"

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            result = current_result()
            where = f"{request.method} {request.path}"
            if not result.succeeded:  # no certificate at all is "required", a refused one "refused"
                missing = result.outcome == "none"
                why = "no client certificate" if missing else result.reason
                log.info("authorization denied %s: not authenticated (%s)", where, why)
                return refusal(
                    f"Client certificate {'required' if missing else 'refused'}",
                    "this endpoint needs a client certificate and the connection carried none"
                    if missing
                    else result.reason,
                    f"certificate-{'required' if missing else 'refused'}",
                    stage="authentication",
                )
            for policy in rules:
                reason = policy(result.identity)
                if reason is not None:
                    subject = result.identity.subject
                    log.info(
                        "authorization denied %s for %s: %s [%s]",
                        where,
                        subject,
                        reason,
                        policy.name,
                    )
                    return refusal(
                        "Forbidden by policy", reason, "authorization-failed", stage="authorization"
                    )
            log.info("authorization allowed %s for %s [%s]", where, result.identity.subject, names)
            # ensure_sync: an ``async def`` view runs too (Flask's own dispatch does the same)
            return current_app.ensure_sync(view)(*args, **kwargs)

        return wrapper

    return decorator


def require_certificate(view=None):
    """``[Authorize]`` with no policy: any authenticated client certificate. Use with or without ()."""
    return authorize() if view is None else authorize()(view)
