"""One long explanation, wrapped for a notebook page at word boundaries.

JupyterLab breaks an output line wider than its box at any character ("client cert|ificate").
The lab's explanations (what the client saw, a 403's detail, a self-check's hint) are single
lines in logs and on the command line, where a line is a record; printed in a notebook they
wrap at :data:`WIDTH` columns on spaces, continuation lines indented under their label.
"""

from __future__ import annotations

import re
import textwrap

#: About the width of a JupyterLab output box beside the file browser, with room to spare.
#: ``None`` prints every message on one line (the tests set that, to read messages whole).
WIDTH: int | None = 100


#: Values that are one token to a reader though they hold spaces: a date and time
#: ("2026-12-01 08:26:49 UTC"), "port 8443", "serial 5A3F...", "OpenSSL 3.0.19 27 Jan 2026".
#: They never fold at their spaces (a notebook's sanitize patterns see them whole, too).
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\+00:00| UTC|Z)?"
    r"|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4} GMT"
    r"|\b(?:port|serial|Serial:?|Days left|public key|Python|nginx/|OpenSSL) +\S+"
    r"(?: \d{1,2} [A-Z][a-z]{2} \d{4})?"
)
_KEEP = "\x00"  # stands for a space that must not fold, while textwrap works


def wrap(line: str, indent: int = 4) -> str:
    """``line`` wrapped at :data:`WIDTH`, at spaces only, never inside a word."""
    width = WIDTH
    if width is None:
        return line
    kept = _DATETIME.sub(lambda m: m.group(0).replace(" ", _KEEP), line)
    folded = (
        textwrap.fill(
            part,
            width,
            subsequent_indent=" " * indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        if len(part) > width
        else part
        for part in kept.split("\n")
    )
    return "\n".join(folded).replace(_KEEP, " ")
