"""make html: one page per notebook, with navigation, built from the saved outputs."""

from __future__ import annotations

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


def test_pages_show_the_saved_outputs():
    page_text = site.title_of(site.notebooks()[0])
    assert page_text.startswith("00")


def test_links_between_notebooks_point_at_the_html_pages(tmp_path):
    site.build(tmp_path)
    page = (tmp_path / "01_pki.html").read_text()
    assert 'href="02_server.html"' in page
    assert 'href="02_server.ipynb"' not in page
