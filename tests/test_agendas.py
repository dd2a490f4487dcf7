"""Each facilitator agenda runs: the cells it covers, in order, in a fresh kernel, without error.

An agenda skips sections, so a later cell may need a name an earlier, skipped cell made
(a NameError in front of a room). docs/facilitator-guide.md gives each agenda a
machine-readable block below its table:

    <!-- agenda "3-hour": 01: 1-4, 6, exercise; 02: 1, 2, 4, exercise; ... -->

For each notebook it names the numbered sections (``## 3. ...``) covered, and
``exercise`` for *Your turn*. Everything before section 1 (title, overview,
prerequisites, setup) always runs; *Key points* and *What's next* have no code. A
notebook the agenda covers in full (``all``) is left to nbval, which runs it whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "facilitator-guide.md"
BLOCK = re.compile(r'<!-- agenda "([^"]+)":(.*?)-->', re.S)


def agendas() -> dict[str, dict[str, list[str]]]:
    out = {}
    for name, body in BLOCK.findall(GUIDE.read_text()):
        plan = {}
        for part in filter(None, (p.strip() for p in body.split(";"))):
            number, _, sections = part.partition(":")
            plan[number.strip()] = [s.strip() for s in sections.split(",") if s.strip()]
        out[name] = plan
    return out


def expand(tokens: list[str]) -> tuple[set[int], bool]:
    numbers, exercise = set(), False
    for token in tokens:
        if token == "exercise":
            exercise = True
        elif "-" in token:
            a, b = token.split("-")
            numbers.update(range(int(a), int(b) + 1))
        else:
            numbers.add(int(token))
    return numbers, exercise


def selected_cells(path: Path, tokens: list[str]) -> list[dict]:
    """The notebook's cells an agenda covers, in order (markdown kept for readability)."""
    numbers, exercise = expand(tokens)
    cells = json.loads(path.read_text())["cells"]
    keep, section = [], "preamble"
    for cell in cells:
        if cell["cell_type"] == "markdown":
            heading = "".join(cell["source"]).lstrip()
            match = re.match(r"## (\d+)\.", heading)
            if match:
                section = int(match.group(1))
            elif heading.startswith("## Your turn"):
                section = "exercise"
            elif heading.startswith(("## Key points", "## What's next")):
                section = "end"
        wanted = (
            section == "preamble"
            or (isinstance(section, int) and section in numbers)
            or (section == "exercise" and exercise)
        )
        if wanted:
            keep.append(cell)
    return keep


CASES = [
    pytest.param(name, number, tokens, id=f"{name}-{number}")
    for name, plan in agendas().items()
    for number, tokens in plan.items()
    if tokens != ["all"]
]


def test_every_agenda_has_a_machine_readable_block():
    names = re.findall(r"^## Agenda: (.+)$", GUIDE.read_text(), re.M)
    assert names and sorted(names) == sorted(agendas()), (
        "each '## Agenda: NAME' section needs its <!-- agenda \"NAME\": ... --> block"
    )
    for plan in agendas().values():
        for number in plan:
            assert list(ROOT.glob(f"notebooks/{number}_*.ipynb")), f"no notebook {number}"


@pytest.fixture(scope="module")
def agenda_certs(tmp_path_factory):
    """A course PKI of the agendas' own: the kernels write beside it (nb03/, nb05/, ...), and
    under ``make test``'s parallel workers the browser test runs the same notebooks in certs/."""
    return tmp_path_factory.mktemp("agendas") / "certs"


@pytest.mark.parametrize("agenda, number, tokens", CASES)
def test_agenda_cells_run_in_order_in_a_fresh_kernel(
    agenda, number, tokens, agenda_certs, monkeypatch
):
    monkeypatch.setenv("LAB_CERTS_DIR", str(agenda_certs))  # the kernel inherits it
    path = next(ROOT.glob(f"notebooks/{number}_*.ipynb"))
    nb = nbformat.reads(path.read_text(), as_version=4)
    kept = selected_cells(path, tokens)
    ids = {c.get("id") for c in kept}
    nb.cells = [c for c in nb.cells if c.get("id") in ids]
    assert any(c.cell_type == "code" for c in nb.cells), f"{agenda}: nothing of {path.name} runs"
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"the {agenda} agenda breaks in {path.name}:\n{str(exc)[-1500:]}")
