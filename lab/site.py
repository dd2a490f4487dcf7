"""Render the notebooks, with their saved outputs, into a static site for reading without a kernel.

Why: some readers never start a kernel (a reviewer, a manager, a learner on a
phone). ``make html`` turns every notebook into a page with previous / contents
/ next links and an index page with the course map. Nothing is executed: the
pages show the committed outputs, which CI has just checked.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from lab.paths import ROOT

NAV_STYLE = (
    "position:sticky;top:0;z-index:10;background:#f6f8fa;border-bottom:1px solid #d0d7de;"
    "padding:8px 16px;font:14px sans-serif;display:flex;gap:16px"
)


def notebooks(directory: Path | None = None) -> list[Path]:
    d = Path(directory) if directory else ROOT / "notebooks"
    return sorted(p for p in d.glob("[0-9][0-9]_*.ipynb"))


def title_of(path: Path) -> str:
    """The first Markdown heading of a notebook, e.g. "01 · Building a PKI"."""
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def _nav(pages: list[Path], i: int) -> str:
    links = []
    if i > 0:
        links.append(
            f'<a href="{pages[i - 1].stem}.html">← {html.escape(title_of(pages[i - 1]))}</a>'
        )
    links.append('<a href="index.html">Contents</a>')
    if i < len(pages) - 1:
        links.append(
            f'<a href="{pages[i + 1].stem}.html">{html.escape(title_of(pages[i + 1]))} →</a>'
        )
    return f'<nav class="mtls-lab-nav" style="{NAV_STYLE}">' + "".join(links) + "</nav>"


def build(out: Path | None = None, directory: Path | None = None) -> list[Path]:
    """Write one HTML page per notebook plus ``index.html`` into ``out`` (default ``site/``)."""
    from nbconvert import HTMLExporter

    out = Path(out) if out else ROOT / "site"
    out.mkdir(parents=True, exist_ok=True)
    pages = notebooks(directory)
    exporter = HTMLExporter(template_name="lab")
    written = []
    for i, nb in enumerate(pages):
        body, _ = exporter.from_filename(str(nb))
        # Links between notebooks point at .ipynb files; in the site they must reach the pages.
        body = re.sub(r'href="(\d\d_[\w-]+)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)
        nav = _nav(pages, i)
        start = body.find("<body")
        end = body.find(">", start) + 1
        body = body[:end] + nav + body[end:]
        body = body.replace("</body>", nav + "</body>", 1)
        page = out / f"{nb.stem}.html"
        page.write_text(body)
        written.append(page)
    items = "".join(
        f'<li><a href="{p.stem}.html">{html.escape(title_of(p))}</a></li>' for p in pages
    )
    index = out / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>mTLS Lab</title></head>"
        "<body style='font:16px sans-serif;max-width:760px;margin:40px auto'>"
        "<h1>mTLS Lab</h1><p>Mutual TLS in Python, done for real. These pages show every notebook "
        "with the outputs CI checked; run them yourself with <code>make lab</code>.</p>"
        f"<ol start='0'>{items}</ol></body></html>"
    )
    return [index, *written]
