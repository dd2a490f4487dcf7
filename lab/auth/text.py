"""Make caller-controlled text safe to print: control characters become ``\\xNN``, as nginx does.

Why: a certificate subject is chosen by whoever asked for the certificate, and a
request path by whoever sends the request. A CN holding a newline writes a second,
forged line into the decision log (``authentication succeeded: CN=admin``); an ANSI
escape repaints the operator's terminal; a bidi override reverses what the reader
sees. nginx writes such bytes in its logs as ``\\xNN``; :func:`printable` does the
same for every log line and plain-text response that echoes a subject, so one line
stays one line. Backslashes are left alone: RFC 4514 subjects use them as escapes.
"""

from __future__ import annotations

import unicodedata

#: Control (Cc), format (Cf: bidi overrides, zero-width) and line/paragraph separators.
_UNSAFE = {"Cc", "Cf", "Zl", "Zp"}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``str(text)`` with every control, format and separator character written as ``\\xNN``."""
    value = str(text)
    if value.isprintable():  # the common case, fast; isprintable() is stricter than _UNSAFE
        return value
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE else c for c in value)
