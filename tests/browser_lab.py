"""Playwright helpers for tests/test_browser.py: the JupyterLab tab, waits, screenshots, report.

Kept apart from the test so that each file stays short; nothing here is a test. The page
scripts select the notebook JupyterLab shows (``.jp-NotebookPanel:not(.lm-mod-hidden)``):
the test opens one notebook at a time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_jupyterlab import MakeLab, plain_http

VIEWPORT = {"width": 1400, "height": 900}
LOAD_DEADLINE_S = 120  # a deadline for a hang, not a timing assertion (the machine is shared)
MEASURE_JS = (Path(__file__).parent / "browser_measure.js").read_text()


class LabTab:
    """One browser tab on JupyterLab for the module; notebooks open from its file browser.

    Loading JupyterLab takes seconds, so the tab is reused: each notebook is opened by a
    double click in the file browser, as a learner does, and its JupyterLab tab closed with
    "Discard" afterwards. After a failure the tab is thrown away and the next test loads a
    fresh one.
    """

    def __init__(self, browser, lab: MakeLab):
        self.browser, self.lab, self.page = browser, lab, None

    def open(self, notebook_file: Path):
        if self.page is None:
            self.page = self.browser.new_page(viewport=VIEWPORT)
            self.page.goto(
                f"http://127.0.0.1:{self.lab.port}/lab/workspaces/browser-test"
                f"/tree/notebooks?reset&token={self.lab.token}"
            )
        self.page.locator("#filebrowser .jp-DirListing-item", has_text=notebook_file.name).dblclick(
            timeout=LOAD_DEADLINE_S * 1000
        )
        return self.page

    def close_notebook(self) -> None:
        """Close the notebook's JupyterLab tab without saving it."""
        page = self.page
        page.click(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon")
        # After a run the notebook has unsaved changes: JupyterLab asks "Save your work".
        page.get_by_role("button", name="Discard").click(timeout=10_000)
        page.wait_for_selector(".jp-NotebookPanel", state="detached", timeout=30_000)

    def discard(self) -> None:
        if self.page is not None:
            self.page.close()  # beforeunload is not run: nothing is saved
            self.page = None


def markdown_report(summary: dict) -> str:
    lines = [
        "# Notebooks in JupyterLab (Chromium, 1400x900, file browser open)",
        "",
        (
            f"Time for the notebooks: {summary['total_seconds']} s"
            " (starting JupyterLab and Chromium not included)"
        ),
        "",
        (
            "| notebook | seconds | code cells | code lines too wide | output lines | wrapped |"
            " scrolled | scrolling boxes | mermaid | budget |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in summary["notebooks"].items():
        lines.append(
            f"| {name} | {r['seconds']} | {r['codeCells']} | {len(r['codeLinesOverflowing'])} "
            f"| {r['outputLines']} | {len(r['outputLinesWrapped'])} "
            f"| {len(r['outputLinesOverflowing'])} | {len(r['boxesScrolling'])} "
            f"| {r['mermaidSvgs']}/{r['mermaidSources']} | {r['overflow']}/{r['budget']} |"
        )
    for name, r in summary["notebooks"].items():
        wide = (
            r["outputLinesWrapped"]
            + r["outputLinesOverflowing"]
            + r["codeLinesWrapped"]
            + r["codeLinesOverflowing"]
        )
        if wide:
            lines += [
                "",
                f"## {name}",
                "",
                "(cell N: the Nth cell from the top, Markdown included)",
                "",
            ]
            lines += [f"- {w['where']}: `{w['text']}`" for w in wide]
    return "\n".join(lines) + "\n"


def overflow_count(measured: dict) -> int:
    """Output lines that wrap or scroll, code lines that wrap or are wider than the editor.

    A line that both wraps and scrolls counts once.
    """
    output = {
        (w["where"], w["text"])
        for w in measured["outputLinesWrapped"] + measured["outputLinesOverflowing"]
    }
    code = {
        (w["where"], w["text"])
        for w in measured["codeLinesWrapped"] + measured["codeLinesOverflowing"]
    }
    return len(output) + len(code)


# Records every code cell the run reaches: its prompt shows "[*]" (queued or running) or its
# old outputs are cleared. The saved notebook already shows numbered prompts before the run,
# and a hidden solution cell shows no prompt at all, so the numbers alone prove nothing.
WATCH_RUNNING_JS = """() => {
  const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  window.__ranCells = new Set();
  const note = (mutations) => {
    for (const prompt of notebook.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')) {
      if (prompt.textContent.includes('*')) window.__ranCells.add(prompt.closest('.jp-CodeCell'));
    }
    for (const m of mutations) {
      const area = m.target.closest && m.target.closest('.jp-OutputArea');
      if (area && m.removedNodes.length) window.__ranCells.add(area.closest('.jp-CodeCell'));
    }
  };
  new MutationObserver(note).observe(notebook, {subtree: true, childList: true,
                                               characterData: true});
}"""

RUN_FINISHED_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return window.__ranCells.size > 0 && indicator.dataset.status === 'idle'
    && prompts.every(p => !p.textContent.includes('*'));
}"""

RUN_STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cells = [...panel.querySelectorAll('.jp-CodeCell')];
  const busy = cells.map((c, i) => [i, c.querySelector('.jp-InputArea-prompt')])
    .filter(([, p]) => p && p.textContent.includes('*')).map(([i]) => i);
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {ran: window.__ranCells ? window.__ranCells.size : -1, busyCodeCells: busy,
          kernel: indicator ? indicator.dataset.status : 'no indicator'};
}"""

NOTEBOOK_STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const indicator = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {
    kernel: indicator ? indicator.dataset.status : 'no notebook',
    cells: panel ? panel.querySelectorAll('.jp-Notebook .jp-Cell').length : 0,
    mermaid: panel ? panel.querySelectorAll('.jp-RenderedMermaid').length : 0,
  };
}"""


def wait_until_notebook_ready(page, cells: int, mermaid: int) -> dict[str, float]:
    """Wait until every cell is attached, every diagram drawn and the kernel idle.

    JupyterLab attaches cells and draws diagrams when the browser is idle, so on a busy
    machine this is where the time goes; return when each condition was first met.
    """
    started, met = time.monotonic(), {}
    deadline = started + LOAD_DEADLINE_S
    while True:
        state = page.evaluate(NOTEBOOK_STATE_JS)
        checks = {
            "cells": state["cells"] == cells,
            "mermaid": state["mermaid"] >= mermaid,
            "kernel": state["kernel"] == "idle",
        }
        for name, ok in checks.items():
            if ok and name not in met:
                met[name] = round(time.monotonic() - started, 1)
        if all(checks.values()):
            return met
        if time.monotonic() > deadline:
            pytest.fail(f"notebook not ready within {LOAD_DEADLINE_S} s: {state}")
        page.wait_for_timeout(250)


NEWS_PROMPT_JS = """() => [...document.querySelectorAll('.jp-toast-message, .Toastify__toast')]
  .map(e => e.textContent).filter(t => /Jupyter news/i.test(t))"""


def full_page_screenshot(page, path: Path) -> None:
    """JupyterLab scrolls inside the notebook, so grow the viewport to the notebook's height."""
    needed = page.evaluate("""() => {
      const outer = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
      return window.innerHeight - outer.clientHeight + outer.scrollHeight;
    }""")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(needed), 16000)})
    page.evaluate("""() => { document.querySelector(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer').scrollTop = 0; }""")
    # Two animation frames: JupyterLab has laid the notebook out at the new size.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)


def shut_down_kernels(lab: MakeLab, path: str) -> list:
    """Delete the notebook's session (which shuts its kernel down); return kernels still running."""
    base, auth = f"http://127.0.0.1:{lab.port}/api", {"Authorization": f"token {lab.token}"}
    with plain_http() as http:
        for session in http.get(f"{base}/sessions", headers=auth, timeout=30).json():
            if session["path"] == path:
                http.delete(f"{base}/sessions/{session['id']}", headers=auth, timeout=60)
        return http.get(f"{base}/kernels", headers=auth, timeout=30).json()


def clear_kernels(lab: MakeLab) -> list:
    """Shut down every kernel of this test's own JupyterLab; return the ids it had to stop.

    Run before each notebook, so that a kernel a failed test left behind fails that test
    only, not every notebook after it.
    """
    base, auth = f"http://127.0.0.1:{lab.port}/api", {"Authorization": f"token {lab.token}"}
    with plain_http() as http:
        left = http.get(f"{base}/kernels", headers=auth, timeout=30).json()
        for kernel in left:
            http.delete(f"{base}/kernels/{kernel['id']}", headers=auth, timeout=60)
        return [k["id"] for k in left]
