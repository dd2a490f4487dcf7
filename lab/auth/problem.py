"""RFC 9457 problem details: the one shape every refusal in the lab answers with.

Why: a 403 whose body is an HTML error page (or a traceback) tells the caller
nothing. ``application/problem+json`` names the reason in a machine-readable way
and is what ASP.NET Core's ``ProblemDetails`` produces.
"""

from __future__ import annotations

import json

from flask import Response


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra) -> Response:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")
