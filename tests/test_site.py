"""make html: one page per notebook, with navigation, built from the saved outputs."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from lab import site


def test_build_writes_an_index_and_one_page_per_notebook_with_navigation(tmp_path):
    pages = site.build(tmp_path)
    notebooks = site.notebooks()
    assert len(notebooks) >= 4
    assert {p.name for p in pages} == {"index.html", *(f"{nb.stem}.html" for nb in notebooks)}
    first = (tmp_path / f"{notebooks[0].stem}.html").read_text()
    second = (tmp_path / f"{notebooks[1].stem}.html").read_text()
    assert 'href="index.html">Contents<' in first
    assert (
        f'href="{notebooks[1].stem}.html"' in first and f'href="{notebooks[0].stem}.html"' in second
    )
    index = (tmp_path / "index.html").read_text()
    assert all(f'href="{nb.stem}.html"' in index for nb in notebooks)


def _saved_output_lines(notebook: Path) -> list[str]:
    """Every line a code cell printed (stream outputs), as saved in the notebook."""
    cells = json.loads(notebook.read_text())["cells"]
    return [
        line.strip()
        for cell in cells
        if cell["cell_type"] == "code"
        for out in cell.get("outputs", [])
        if out["output_type"] == "stream"
        for line in "".join(out["text"]).splitlines()
        if line.strip()
    ]


def test_pages_show_the_saved_outputs(tmp_path):
    # Built from a copy of one notebook: nothing runs, so the page can only show what was saved.
    source = tmp_path / "notebooks"
    source.mkdir()
    notebook = shutil.copy(site.notebooks()[1], source)
    site.build(tmp_path / "site", source)
    page = (tmp_path / "site" / f"{Path(notebook).stem}.html").read_text()
    lines = _saved_output_lines(Path(notebook))
    assert len(lines) >= 10
    missing = [line for line in lines if html.escape(line, quote=False) not in page]
    assert not missing, f"saved outputs missing from the page: {missing[:3]}"
    assert html.escape(site.title_of(Path(notebook)), quote=False) in page


def test_links_between_notebooks_point_at_the_html_pages(tmp_path):
    site.build(tmp_path)
    page = (tmp_path / "01_pki.html").read_text()
    assert 'href="02_server.html"' in page
    assert 'href="02_server.ipynb"' not in page
