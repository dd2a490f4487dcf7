"""``CertificateAuth``: the Flask extension that authenticates every request's client certificate."""

from __future__ import annotations

import datetime as _dt
from typing import Callable, Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID

from lab.auth.cache import CertificateCache
from lab.auth.chain import _load_trust, _validity_problem, is_self_signed, issuer_path
from lab.auth.policies import Policy
from lab.auth.results import (
    CERTIFICATE_TYPES,
    EXTENSION_KEY,
    REVOCATION_MODES,
    AuthConfigurationError,
    AuthenticationFailedContext,
    AuthenticationResult,
    CertificateValidatedContext,
    ChallengeContext,
    _problem,
    log,
)
from lab.errors import ForgedHeaderError, LabError
from lab.pki import verify as _verify
from lab.pki.certinfo import eku_names
from lab.tls.identity import ClientIdentity, peer_certificate

#: Where the certificate comes from: the TLS connection by default, or a proxy header.
CertificateSource = Callable[[dict], "x509.Certificate | None"]
#: A revocation check: the certificate and its chain in, a reason to refuse (or None) out.
RevocationCheck = Callable[[x509.Certificate, "list[x509.Certificate]"], "str | None"]


def is_ca(cert: x509.Certificate) -> bool:
    """Basic Constraints CA:TRUE (a certificate without the extension is not a CA, RFC 5280 4.2.1.9)."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


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
        None, True (a default :class:`~lab.auth.cache.CertificateCache`) or a cache.
    ``certificate_source``
        ``(environ) -> certificate | None``; may raise :class:`~lab.errors.ForgedHeaderError`.
    ``allow_ca_certificates``
        False (default): a certificate with Basic Constraints CA:TRUE is refused as a
        client identity, even when it chains (a root is its own trust anchor).

    Events (ASP.NET's ``CertificateAuthenticationEvents``) are registered the Flask
    way, with the extension's decorators, like flask-login's ``@login_manager.user_loader``::

        @auth.on_certificate_validated      # OnCertificateValidated
        def add_roles(ctx): ...

    ``@auth.on_authentication_failed`` (OnAuthenticationFailed) and ``@auth.on_challenge``
    (OnChallenge) work the same way. One callback per event: a second one replaces the first.
    """

    def __init__(
        self,
        app=None,
        *,
        certificate_source: CertificateSource = peer_certificate,
        allowed_certificate_types: str = "chained",
        validate_certificate_use: bool = True,
        validate_validity_period: bool = True,
        allow_ca_certificates: bool = False,
        revocation: RevocationCheck | None = None,
        revocation_mode: str | None = None,
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
        self.allow_ca_certificates = allow_ca_certificates
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
        self._events: dict[str, Callable] = {}
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

    # -- events: the one way to register them is the decorator, Flask style
    def on_certificate_validated(self, fn: Callable[[CertificateValidatedContext], None]):
        """OnCertificateValidated: every built-in check passed; add claims, or ``ctx.fail()``."""
        self._events["validated"] = fn
        return fn

    def on_authentication_failed(self, fn: Callable[[AuthenticationFailedContext], None]):
        """OnAuthenticationFailed: see every refusal; reword it, or (deliberately) ``ctx.success()``."""
        self._events["failed"] = fn
        return fn

    def on_challenge(self, fn: Callable[[ChallengeContext], None]):
        """OnChallenge: a protected route was called unauthenticated; ``ctx.respond()`` replaces the 403."""
        self._events["challenge"] = fn
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
        reason = self._identity_problem(cert)
        if reason:
            return self._failed(cert, [], environ, reason)
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
        if self.trust is not None:  # the chain comes from the verification, not a second walk
            reason, chain = self._trust_problem(cert, self_signed, now)
            if reason:
                return self._failed(cert, chain, environ, reason)
        else:  # the TLS layer verified the peer; this process never saw the chain it built
            chain = issuer_path(cert, self.additional_chain_certificates)
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
        if "validated" in self._events:
            self._events["validated"](ctx)
        if ctx._result is not None and ctx._result[0] == "failed":
            return self._failed(
                cert,
                chain,
                environ,
                ctx._result[1] or "refused by on_certificate_validated",
                identity=identity,
            )
        return AuthenticationResult("succeeded", identity)

    def _identity_problem(self, cert: x509.Certificate) -> str | None:
        """A certificate that does not name one client: a CA, or a subject with several CNs."""
        if not self.allow_ca_certificates and is_ca(cert):
            return (
                "the certificate is a CA certificate (Basic Constraints CA:TRUE): a CA key signs "
                "certificates, it does not identify a client (allow_ca_certificates=True accepts it)"
            )
        cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if len(cns) > 1:
            return (
                f"the certificate's subject has {len(cns)} common names ({', '.join(cns)}); software "
                f"disagrees on which one names the caller (OpenSSL-based code reads the first, Go the "
                f"last), so it is refused"
            )
        return None

    def _trust_problem(self, cert: x509.Certificate, self_signed: bool, now: _dt.datetime):
        """(reason or None, the issuers: verified by cryptography, or as far as they go)."""
        if self_signed:
            if any(cert == t for t in self.trust):
                return None, []
            return (
                "the self-signed certificate is not one of the certificates in the custom trust store",
                [],
            )
        result = _verify.verify_chain(
            cert, self.trust, self.additional_chain_certificates, purpose="client", at=now
        )
        if result.ok:
            return None, result.issuers
        pool = [*self.additional_chain_certificates, *self.trust]
        return f"custom trust store: {result.reason}", issuer_path(cert, pool)

    def _failed(
        self, cert, chain, environ, reason: str, identity: ClientIdentity | None = None
    ) -> AuthenticationResult:
        """Run OnAuthenticationFailed, which may reword the failure or (rarely, deliberately) accept."""
        if "failed" not in self._events:
            return AuthenticationResult("failed", None, reason)
        if identity is None and cert is not None:
            identity = ClientIdentity.from_certificate(cert)
        ctx = AuthenticationFailedContext(cert, chain, identity, environ, reason=reason)
        self._events["failed"](ctx)
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
        if "challenge" in self._events:
            ctx = ChallengeContext(reason, result, environ)
            self._events["challenge"](ctx)
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
            f"{policy!r} is not a policy: use lab.auth.policies, a name, or a callable"
        )
