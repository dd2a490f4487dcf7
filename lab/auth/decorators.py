"""Authorization on a view (``@authorize``, ``@require_certificate``) and the request's identity.

The Flask counterpart of ASP.NET Core's ``[Authorize]`` attribute and ``HttpContext.User``.
A refusal tells the caller only *that* it is not allowed; which rule refused, with its
allow-list, goes to the ``lab.auth`` log, where the operator reads it.
"""

from __future__ import annotations

import functools

from flask import current_app, g, request

from lab.auth.extension import (
    EXTENSION_KEY,
    AuthConfigurationError,
    AuthenticationResult,
    CertificateAuth,
    log,
    refusal,
)
from lab.auth.policies import Policy
from lab.tls.identity import ClientIdentity


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
