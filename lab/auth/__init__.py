"""Certificate authentication and authorization for Flask, with ASP.NET Core's options as the checklist.

Why: "the TLS handshake succeeded" only means the client holds a key for a
certificate that chains to *something* the TLS layer trusts. It does not mean
this caller may call this route. ASP.NET Core splits the job in two, and so does
this module:

* **Authentication** (``AddCertificate`` + ``UseAuthentication``) turns the
  connection's certificate into an identity, re-checking what the TLS layer may
  not have (or may have checked only once, at the handshake): the certificate
  type (chained or self-signed), its intended use (EKU), its validity period *on
  every request*, a custom trust store, revocation. Then the user's
  ``on_certificate_validated`` event may add claims or refuse.
* **Authorization** (``[Authorize]`` + ``UseAuthorization``) is a view decorator:
  ``@require_certificate`` or ``@authorize(policy, ...)`` with the policies of
  :mod:`lab.policies`.

Shape::

    auth = CertificateAuth(app, trust=course.ca)

    @app.get("/api/secure")
    @authorize(allow_subjects("MyTrustedClient"))
    def secure():
        return f"Hello {current_identity().subject}"

Every refusal is **403** with an RFC 9457 ``application/problem+json`` body whose
``detail`` names the reason. Why 403 and not 401: 401 means "retry with
credentials", and must come with a ``WWW-Authenticate`` challenge the client can
answer in HTTP. A client certificate is not an HTTP credential: it travels in the
TLS handshake, which is over before the request is read, and HTTP/2 and TLS 1.3
forbid asking for it again mid-connection. There is nothing the client can
answer on this connection, so ASP.NET Core's certificate handler answers its
challenge with 403, and so does this one.

Every decision is logged as one line on the ``lab.auth`` logger (INFO; the
library adds a NullHandler, so nothing prints unless you configure logging or
use :func:`capture_decisions`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable

from cryptography import x509

from lab.auth.cache import CertificateCache
from lab.auth.policies import Policy
from lab.errors import ForgedHeaderError, LabError
from lab.pki import verify as _verify
from lab.pki.certinfo import eku_names
from lab.tls.identity import ClientIdentity, peer_certificate

log = logging.getLogger("lab.auth")
log.addHandler(logging.NullHandler())

#: AllowedCertificateTypes: Chained (the default), SelfSigned, All.
CERTIFICATE_TYPES = ("chained", "self_signed", "all")
#: X509RevocationMode: NoCheck, Offline (a CRL you hold), Online (OCSP).
REVOCATION_MODES = ("none", "crl", "ocsp")

EXTENSION_KEY = "lab.auth"
PROBLEM_TYPES = "https://mtls-lab.test/problems/"

CertificateSource = Callable[[dict], "x509.Certificate | None"]
RevocationCheck = Callable[[x509.Certificate, "list[x509.Certificate]"], "str | None"]


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


@dataclass
class CertificateEvents:
    """``CertificateAuthenticationEvents``: three optional callbacks."""

    on_certificate_validated: Callable[[CertificateValidatedContext], None] | None = None
    on_authentication_failed: Callable[[AuthenticationFailedContext], None] | None = None
    on_challenge: Callable[[ChallengeContext], None] | None = None


# --------------------------------------------------------------- extension
class CertificateAuth:
    """The Flask extension: ``CertificateAuth(app, **options)`` or ``init_app(app)`` later.

    Options (ASP.NET's ``CertificateAuthenticationOptions``):

    ``allowed_certificate_types``
        "chained" (default), "self_signed" or "all".
    ``validate_certificate_use``
        True: if the certificate has an EKU extension, it must include clientAuth.
        A certificate *without* EKU is allowed any use (RFC 5280 4.2.1.12), so it passes.
    ``validate_validity_period``
        True: notBefore <= now <= notAfter, checked on **every request**, since a
        keep-alive connection outlives the handshake that checked it.
    ``revocation``
        None, or a callable ``(cert, chain) -> None | reason`` (``lab.revocation``'s
        CRL and OCSP checkers are such callables). ``revocation_mode`` names it.
    ``trust``
        A custom trust store (CAs, certificates, PEM or paths): the certificate
        must chain to one of these, whatever else the TLS layer trusts.
        None: rely on the TLS layer's verification.
    ``additional_chain_certificates``
        Intermediates used to build the chain to ``trust``. The app only receives
        the leaf (Python's ssl before 3.13 does not expose the client's chain).
    ``cache``
        None, True (a default :class:`~lab.certcache.CertificateCache`) or a cache.
    ``certificate_source``
        ``(environ) -> certificate | None``; may raise :class:`~lab.errors.ForgedHeaderError`.
    ``on_certificate_validated``, ``on_authentication_failed``, ``on_challenge``
        Event callbacks (or pass ``events=CertificateEvents(...)``, or use the
        decorators of the same names).
    """

    def __init__(
        self,
        app=None,
        *,
        certificate_source: CertificateSource = peer_certificate,
        allowed_certificate_types: str = "chained",
        validate_certificate_use: bool = True,
        validate_validity_period: bool = True,
        revocation: RevocationCheck | None = None,
        revocation_mode: str | None = None,
        trust=None,
        additional_chain_certificates: Iterable = (),
        cache: CertificateCache | bool | None = None,
        events: CertificateEvents | None = None,
        on_certificate_validated=None,
        on_authentication_failed=None,
        on_challenge=None,
        clock: Callable[[], _dt.datetime] | None = None,
    ):
        if allowed_certificate_types not in CERTIFICATE_TYPES:
            raise AuthConfigurationError(
                f"allowed_certificate_types must be one of {', '.join(CERTIFICATE_TYPES)}, "
                f"not {allowed_certificate_types!r}"
            )
        if revocation is not None and not callable(revocation):
            raise AuthConfigurationError(
                "revocation must be a callable (cert, chain) -> None or a reason string"
            )
        if revocation_mode is not None and revocation_mode not in REVOCATION_MODES:
            raise AuthConfigurationError(
                f"revocation_mode must be one of {', '.join(REVOCATION_MODES)}, not {revocation_mode!r}"
            )
        if revocation is None and revocation_mode not in (None, "none"):
            raise AuthConfigurationError(
                f"revocation_mode={revocation_mode!r} needs a checker: pass revocation=<callable (cert, chain) -> "
                f"reason or None>, for example a CRL or OCSP checker from lab.revocation"
            )
        if revocation is not None and revocation_mode == "none":
            raise AuthConfigurationError(
                "revocation_mode='none' contradicts the revocation checker you passed; "
                "drop one of them"
            )
        mode = (
            "none"
            if revocation is None
            else (revocation_mode or getattr(revocation, "mode", None) or "custom")
        )
        self.certificate_source = certificate_source
        self.allowed_certificate_types = allowed_certificate_types
        self.validate_certificate_use = validate_certificate_use
        self.validate_validity_period = validate_validity_period
        self.revocation = revocation
        self.revocation_mode = mode
        self.trust = _verify._certs(_load_trust(trust)) if trust is not None else None
        self.additional_chain_certificates = _verify._certs(list(additional_chain_certificates))
        # (an empty cache has len() 0, so test identity, never truthiness)
        self.cache = (
            CertificateCache()
            if cache is True
            else (None if cache is None or cache is False else cache)
        )
        self.events = events or CertificateEvents()
        for name, fn in (
            ("on_certificate_validated", on_certificate_validated),
            ("on_authentication_failed", on_authentication_failed),
            ("on_challenge", on_challenge),
        ):
            if fn is not None:
                setattr(self.events, name, fn)
        self.clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self.policies: dict[str, Policy] = {}
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return (
            f"<CertificateAuth types={self.allowed_certificate_types} use={self.validate_certificate_use} "
            f"validity={self.validate_validity_period} revocation={self.revocation_mode} "
            f"trust={'custom' if self.trust is not None else 'tls layer'}>"
        )

    def init_app(self, app) -> None:
        app.extensions[EXTENSION_KEY] = self

    # -- events as decorators, Flask style
    def on_certificate_validated(self, fn):
        self.events.on_certificate_validated = fn
        return fn

    def on_authentication_failed(self, fn):
        self.events.on_authentication_failed = fn
        return fn

    def on_challenge(self, fn):
        self.events.on_challenge = fn
        return fn

    def add_policy(self, name: str, policy: Policy) -> None:
        """A named policy, so a route can say ``@authorize("payments")`` (ASP.NET's AddPolicy)."""
        self.policies[name] = policy

    # -------------------------------------------------------- authentication
    def authenticate(self, environ: dict) -> AuthenticationResult:
        """Authenticate the request whose WSGI environ this is (no per-request memo; see :func:`current_result`)."""
        try:
            cert = self.certificate_source(environ)
        except ForgedHeaderError as exc:
            return self._finish(
                self._failed(None, [], environ, f"forged certificate header: {exc}")
            )
        except LabError as exc:
            return self._finish(self._failed(None, [], environ, str(exc)))
        if cert is None:
            return self._finish(AuthenticationResult("none"))
        return self._finish(self._authenticate_certificate(cert, environ))

    def check(self, cert) -> AuthenticationResult:
        """Run the whole authentication on ``cert`` outside any request: "would this certificate pass?".

        Useful when the TLS layer refuses a certificate before the app sees it,
        to show what the app itself would decide (for example behind a proxy
        that forwards certificates it did not check the same way).
        """
        return self._finish(self._authenticate_certificate(getattr(cert, "cert", cert), None))

    def _finish(self, result: AuthenticationResult) -> AuthenticationResult:
        if result.outcome == "succeeded":
            log.info(
                "authentication succeeded: %s%s",
                result.identity.subject,
                " (cached)" if result.cached else "",
            )
        elif result.outcome == "none":
            log.info("authentication skipped: no client certificate")
        else:
            log.info(
                "authentication failed: %s%s", result.reason, " (cached)" if result.cached else ""
            )
        return result

    def _authenticate_certificate(self, cert: x509.Certificate, environ) -> AuthenticationResult:
        now = self.clock()
        # Validity first and never cached: a cached "good" must not outlive the certificate.
        if self.validate_validity_period:
            reason = _validity_problem(cert, now)
            if reason:
                return self._failed(cert, [], environ, reason)
        if self.cache is not None:
            hit = self.cache.get(cert)
            if hit is not None:
                return AuthenticationResult(hit.outcome, hit.identity, hit.reason, cached=True)
        result = self._validate(cert, environ, now)
        if self.cache is not None:
            self.cache.put(cert, result)
        return result

    def _validate(self, cert: x509.Certificate, environ, now: _dt.datetime) -> AuthenticationResult:
        self_signed = is_self_signed(cert)
        if self_signed and self.allowed_certificate_types == "chained":
            return self._failed(
                cert,
                [],
                environ,
                "the certificate is self-signed and allowed_certificate_types is 'chained' "
                "(only certificates issued by a CA are accepted)",
            )
        if not self_signed and self.allowed_certificate_types == "self_signed":
            return self._failed(
                cert,
                [],
                environ,
                f"the certificate is issued by {cert.issuer.rfc4514_string()} and "
                f"allowed_certificate_types is 'self_signed'",
            )
        if self.validate_certificate_use:
            ekus = eku_names(cert)
            if ekus is not None and "clientAuth" not in ekus:
                return self._failed(
                    cert,
                    [],
                    environ,
                    f"the certificate's Extended Key Usage ({', '.join(ekus) or 'empty'}) "
                    f"does not include clientAuth",
                )
        chain = issuer_path(cert, [*self.additional_chain_certificates, *(self.trust or [])])
        if self.trust is not None:
            reason = self._trust_problem(cert, self_signed, now)
            if reason:
                return self._failed(cert, chain, environ, reason)
        if self.revocation is not None:
            try:
                reason = self.revocation(cert, chain)
            except Exception as exc:  # noqa: BLE001 - a broken checker must fail closed, not open
                reason = f"the revocation checker failed ({type(exc).__name__}: {exc}), so the status is unknown"
            if reason:
                return self._failed(
                    cert, chain, environ, f"revocation check ({self.revocation_mode}): {reason}"
                )
        identity = ClientIdentity.from_certificate(cert)
        ctx = CertificateValidatedContext(cert, chain, identity, environ)
        if self.events.on_certificate_validated is not None:
            self.events.on_certificate_validated(ctx)
        if ctx._result is not None and ctx._result[0] == "failed":
            return self._failed(
                cert,
                chain,
                environ,
                ctx._result[1] or "refused by on_certificate_validated",
                identity=identity,
            )
        return AuthenticationResult("succeeded", identity)

    def _trust_problem(
        self, cert: x509.Certificate, self_signed: bool, now: _dt.datetime
    ) -> str | None:
        if self_signed:
            if any(cert == t for t in self.trust):
                return None
            return "the self-signed certificate is not one of the certificates in the custom trust store"
        result = _verify.verify_chain(
            cert, self.trust, self.additional_chain_certificates, purpose="client", at=now
        )
        if result.ok:
            return None
        return f"custom trust store: {result.reason}"

    def _failed(
        self, cert, chain, environ, reason: str, identity: ClientIdentity | None = None
    ) -> AuthenticationResult:
        """Run OnAuthenticationFailed, which may reword the failure or (rarely, deliberately) accept."""
        if self.events.on_authentication_failed is None:
            return AuthenticationResult("failed", None, reason)
        if identity is None and cert is not None:
            identity = ClientIdentity.from_certificate(cert)
        ctx = AuthenticationFailedContext(cert, chain, identity, environ, reason=reason)
        self.events.on_authentication_failed(ctx)
        if ctx._result is not None and ctx._result[0] == "succeeded" and identity is not None:
            return AuthenticationResult("succeeded", identity)
        if ctx._result is not None and ctx._result[0] == "failed" and ctx._result[1]:
            reason = ctx._result[1]
        return AuthenticationResult("failed", None, reason)

    # --------------------------------------------------------- responses
    def challenge(self, result: AuthenticationResult, environ):
        """The answer to an unauthenticated call of a protected route: 403 problem+json (or the event's)."""
        if result.outcome == "none":
            title, reason = (
                "Client certificate required",
                "this endpoint needs a client certificate and the connection carried none",
            )
            kind = "certificate-required"
        else:
            title, reason, kind = "Client certificate refused", result.reason, "certificate-refused"
        if self.events.on_challenge is not None:
            ctx = ChallengeContext(reason, result, environ)
            self.events.on_challenge(ctx)
            if ctx.response is not None:
                return ctx.response
        return _problem(title, reason, kind, stage="authentication")

    def forbid(self, identity: ClientIdentity, policy: Policy, reason: str):
        return _problem(
            "Forbidden by policy",
            reason,
            "authorization-failed",
            stage="authorization",
            policy=policy.name,
        )

    def resolve(self, policy) -> Policy:
        if isinstance(policy, Policy):
            return policy
        if isinstance(policy, str):
            try:
                return self.policies[policy]
            except KeyError:
                raise AuthConfigurationError(
                    f"no policy named {policy!r}; register it with auth.add_policy({policy!r}, ...)"
                ) from None
        if callable(policy):  # a bare function (identity) -> None | reason
            return Policy(getattr(policy, "__name__", "policy"), policy)
        raise AuthConfigurationError(
            f"{policy!r} is not a policy: use lab.policies, a name, or a callable"
        )


def _problem(title: str, detail: str, kind: str, **extra):
    from lab.auth.problem import problem

    return problem(403, title, detail, type_=PROBLEM_TYPES + kind, **extra)


def _load_trust(trust):
    """Accept what the rest of the lab accepts as trust: CAs, certificates, PEM bytes, paths."""
    from lab.tls.contexts import trust_pem

    return x509.load_pem_x509_certificates(trust_pem(trust).encode())


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


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject *and* the certificate's own key verifies its signature."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError: not self-signed
        return False
    return True


def issuer_path(cert: x509.Certificate, pool: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``cert`` found in ``pool``, nearest first (what a revocation check needs)."""
    pool = list(pool)
    path: list[x509.Certificate] = []
    current = cert
    while not is_self_signed(current) and len(path) < 8:
        issuer = next(
            (
                c
                for c in pool
                if c.subject == current.issuer and c not in path and _signed_by(current, c)
            ),
            None,
        )
        if issuer is None:
            break
        path.append(issuer)
        current = issuer
    return path


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001
        return False


# ------------------------------------------------------- request accessors
def _extension() -> CertificateAuth:
    from flask import current_app

    ext = current_app.extensions.get(EXTENSION_KEY)
    if ext is None:
        raise AuthConfigurationError(
            "CertificateAuth is not installed on this app: call CertificateAuth(app) (or auth.init_app(app)) "
            "before using @require_certificate / @authorize / current_identity()"
        )
    return ext


def current_result() -> AuthenticationResult:
    """This request's authentication result, computed once per request and kept in ``flask.g``."""
    from flask import g, request

    result = g.get("lab_auth_result")
    if result is None:
        result = _extension().authenticate(request.environ)
        g.lab_auth_result = result
        g.client_identity = result.identity
    return result


def current_identity() -> ClientIdentity | None:
    """The authenticated caller's :class:`ClientIdentity`, or None (no certificate, or refused)."""
    return current_result().identity


def authorize(*policies):
    """``[Authorize]``: the view runs only for an authenticated caller every policy allows.

    Policies are :mod:`lab.policies` objects, names registered with
    :meth:`CertificateAuth.add_policy`, or plain callables ``(identity) -> None | reason``.
    Stack decorators or pass several policies: all must pass.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            from flask import request

            ext = _extension()
            result = current_result()
            where = f"{request.method} {request.path}"
            if not result.succeeded:
                log.info(
                    "authorization denied %s: not authenticated (%s)",
                    where,
                    result.reason or "no client certificate",
                )
                return ext.challenge(result, request.environ)
            for item in policies:
                policy = ext.resolve(item)
                reason = policy(result.identity)
                if reason is not None:
                    log.info(
                        "authorization denied %s for %s: %s [%s]",
                        where,
                        result.identity.subject,
                        reason,
                        policy.name,
                    )
                    return ext.forbid(result.identity, policy, reason)
            names = ", ".join(ext.resolve(p).name for p in policies) or "authenticated"
            log.info("authorization allowed %s for %s [%s]", where, result.identity.subject, names)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def require_certificate(view=None):
    """``[Authorize]`` with no policy: any authenticated client certificate. Use with or without ()."""
    if view is None:
        return authorize()
    return authorize()(view)


# ------------------------------------------------------------ log capture
class _Collect(logging.Handler):
    def __init__(self, sink: list):
        super().__init__(logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


@contextlib.contextmanager
def capture_decisions():
    """Collect the ``lab.auth`` decision lines in a list (for a notebook or a test), then stop."""
    lines: list[str] = []
    handler = _Collect(lines)
    previous = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)


__all__ = [
    "CertificateAuth",
    "CertificateEvents",
    "AuthenticationResult",
    "CertificateValidatedContext",
    "AuthenticationFailedContext",
    "ChallengeContext",
    "AuthConfigurationError",
    "authorize",
    "require_certificate",
    "current_identity",
    "current_result",
    "capture_decisions",
    "is_self_signed",
    "issuer_path",
    "CERTIFICATE_TYPES",
    "REVOCATION_MODES",
]
