"""lab.course.table: one set of rows, shown as HTML in a notebook and as aligned text elsewhere."""

from __future__ import annotations

from lab.course.table import Table


def test_text_view_aligns_columns_under_the_header():
    text = repr(Table(["variable", "requests"], [("SSL_CERT_FILE", "verify failed"), ("x", "ok")]))
    assert text.splitlines() == [
        "variable       requests",
        "-------------  -------------",
        "SSL_CERT_FILE  verify failed",
        "x              ok",
    ]


def test_html_view_escapes_cells():
    html = Table(["a"], [("<b>&",)])._repr_html_()
    assert "<th>a</th>" in html and "<td>&lt;b&gt;&amp;</td>" in html
