"""A small table that shows as HTML in a notebook and as aligned text everywhere else.

Why: the course's tables are HTML (they wrap and stay readable in JupyterLab),
but strict nbval and a terminal read ``text/plain``; both views come from the
same rows, so they cannot disagree.
"""

from __future__ import annotations

import html
from collections.abc import Sequence


class Table:
    """``Table(["column", ...], [(cell, ...), ...])``: display it, or ``print`` it."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[object]]):
        self.header = [str(h) for h in header]
        self.rows = [[str(cell) for cell in row] for row in rows]

    def _repr_html_(self) -> str:
        def line(cells, tag):
            return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"

        body = "".join(line(row, "td") for row in self.rows)
        return f"<table><thead>{line(self.header, 'th')}</thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))
        ]
        lines = [self.header, ["-" * w for w in widths], *self.rows]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines
        )

    __str__ = __repr__


__all__ = ["Table"]
