"""nginx's error log, made stable to print: no timestamps, pids or connection numbers.

Notebook outputs are compared on every run, so a log line is reduced to its
level and message (``[info] client SSL certificate verify error: ...``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class LogLine:
    """One error-log line without its timestamp, pid and connection number (stable to print)."""

    level: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


_LOG_RE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")


def parse_log(text: str) -> list[LogLine]:
    """Every line of an nginx error log that has nginx's own format, as :class:`LogLine` s."""
    out = []
    for line in text.splitlines():
        m = _LOG_RE.match(line)
        if m:
            # drop nginx's trailing context (", client: 127.0.0.1, server: ...") for a stable line
            out.append(LogLine(m.group(1), m.group(2).split(", client: ", 1)[0]))
    return out


def tail(text: str, n: int = 15) -> str:
    """The last ``n`` non-blank lines: enough of a log to say why nginx failed."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-n:]) or "(the error log is empty)"
