"""Authorization on a view (``@authorize``, ``@require_certificate``) and the request's identity.

The Flask counterpart of ASP.NET Core's ``[Authorize]`` attribute and ``HttpContext.User``.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from flask import current_app, g, request

from lab.auth.extension import CertificateAuth
from lab.auth.results import EXTENSION_KEY, AuthConfigurationError, AuthenticationResult, log
from lab.tls.identity import ClientIdentity


# ------------------------------------------------------- request accessors
def _extension() -> CertificateAuth:
    ext = current_app.extensions.get(EXTENSION_KEY)
    if ext is None:
        raise AuthConfigurationError(
            "CertificateAuth is not installed on this app: call CertificateAuth(app) (or auth.init_app(app)) "
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


def authorize(*policies):
    """``[Authorize]``: the view runs only for an authenticated caller every policy allows.

    Policies are :mod:`lab.auth.policies` objects, names registered with
    :meth:`CertificateAuth.add_policy`, or plain callables ``(identity) -> None | reason``.
    Stack decorators or pass several policies: all must pass.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
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
            # ensure_sync: an ``async def`` view runs too (Flask's own dispatch does the same)
            return current_app.ensure_sync(view)(*args, **kwargs)

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
