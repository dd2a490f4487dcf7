"""The course as a whole: every notebook keeps the skeleton, every exercise has an executed hidden
solution, every code cell has run and printed something, and the workshop kit is in place.

Why structural tests: strict nbval proves that each notebook reproduces its saved
outputs, but not that the outputs exist (nbval skips a cell with none), nor that the
headings a learner navigates by are there. These read the committed .ipynb files
and the kit's files; nothing is executed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NUMBERS = sorted(p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BY_NUMBER = {p.name[:2]: p for p in NOTEBOOKS}
HIDDEN = {"jupyter": {"source_hidden": True}}


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def markdown(path: Path) -> str:
    return "\n".join(source(c) for c in cells(path) if c["cell_type"] == "markdown")


def headings(path: Path) -> list[str]:
    return [
        line.lstrip("#").strip()
        for line in markdown(path).splitlines()
        if re.match(r"#{1,6} ", line)
    ]


def section(text: str, heading: str) -> str:
    """The Markdown between ``## heading`` and the next heading of level 1 or 2."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^#{{1,2}} |\Z)", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def notebook(number: str) -> Path:
    assert number in BY_NUMBER, f"notebooks/{number}_*.ipynb is missing"
    return BY_NUMBER[number]


def time_to_learn(path: Path) -> int:
    match = re.search(r"Time to learn: (\d+) minutes", markdown(path))
    assert match, f"{path.name}: no 'Time to learn: N minutes' line"
    return int(match.group(1))


# ------------------------------------------------------------------ skeleton
@pytest.mark.parametrize("number", NUMBERS)
def test_notebook_has_every_skeleton_heading(number):
    found = headings(notebook(number))
    for wanted in ("Overview", "Prerequisites", "Key points", "What's next"):
        assert wanted in found, f"{notebook(number).name}: no '{wanted}' heading (found {found})"
    assert found[0][:2] == number, (
        f"{notebook(number).name}: the title should start with its number"
    )


@pytest.mark.parametrize("number", NUMBERS)
def test_overview_is_a_numbered_list_of_objectives(number):
    overview = section(markdown(notebook(number)), "Overview")
    items = re.findall(r"^\d+\. \S", overview, re.M)
    assert len(items) >= 3, f"{notebook(number).name}: Overview needs a numbered list of objectives"


@pytest.mark.parametrize("number", NUMBERS)
def test_every_notebook_links_the_glossary(number):
    assert "](../docs/glossary.md" in markdown(notebook(number)), (
        f"{notebook(number).name}: link the glossary (../docs/glossary.md), in the prerequisites"
    )


@pytest.mark.parametrize("number", NUMBERS)
def test_prerequisites_have_the_table_and_a_time_to_learn(number):
    prerequisites = section(markdown(notebook(number)), "Prerequisites")
    header = re.search(
        r"^\|\s*Concept\s*\|\s*Importance\s*\|\s*Notes\s*\|\s*$", prerequisites, re.M
    )
    assert header, (
        f"{notebook(number).name}: Prerequisites needs a 'Concept | Importance | Notes' table"
    )
    assert re.search(r"Time to learn: \d+ minutes", prerequisites), (
        f"{notebook(number).name}: Prerequisites needs a 'Time to learn: N minutes' line"
    )


# ----------------------------------------------------------------- exercises
@pytest.mark.parametrize("number", NUMBERS[1:])
def test_your_turn_has_a_check_then_an_executed_hidden_solution(number):
    path = notebook(number)
    assert "Your turn" in headings(path), f"{path.name}: no 'Your turn' section"
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    pairs = [
        (a, b)
        for a, b in zip(code, code[1:])
        if "check.exercise_" in source(a)
        and a.get("metadata", {}).get("jupyter") != HIDDEN["jupyter"]
        and "check.exercise_" in source(b)
    ]
    assert pairs, (
        f"{path.name}: no exercise cell calling check.exercise_ followed by a solution cell"
    )
    exercise, solution = pairs[-1]
    assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True, (
        f"{path.name}: the solution cell must be hidden with metadata {HIDDEN}"
    )
    assert solution.get("execution_count") and solution.get("outputs"), (
        f"{path.name}: the solution cell must be executed and keep its output"
    )
    assert "✅" in "".join(_texts(solution)), (
        f"{path.name}: the saved solution output should pass its check"
    )


# ------------------------------------------------------------------- outputs
def _texts(cell: dict) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        text = o.get("text") or o.get("data", {}).get("text/plain", "")
        out.append("".join(text) if isinstance(text, list) else text)
    return out


@pytest.mark.parametrize("number", NUMBERS)
def test_every_code_cell_was_executed_and_has_output(number):
    path = notebook(number)
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("execution_count") is not None, f"{path.name} cell {i} was never executed"
        assert cell.get("outputs"), f"{path.name} cell {i} has no output (nbval would not check it)"


#: The commands a learner types at work may run as typed, as a ``!`` line in a cell. Anything
#: else in a shell escape (``!rm …``, ``!pip install …``) would change the learner's machine.
TYPED_COMMANDS = re.compile(
    r"\s*!\s*(openssl|curl|nginx|sslyze|\{sys\.executable\} -m lab|python -m lab)\b"
)


@pytest.mark.parametrize("number", NUMBERS)
def test_no_ipython_magics_and_only_the_commands_a_learner_types(number):
    path = notebook(number)
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "code":
            for line in source(cell).splitlines():
                assert not re.match(r"\s*%", line), f"{path.name} cell {i}: magic {line!r}"
                assert not re.match(r"\s*!", line) or TYPED_COMMANDS.match(line), (
                    f"{path.name} cell {i}: a shell escape that is not a command a learner "
                    f"types at work: {line!r}"
                )
                assert not re.search(r"#\s*NBVAL_", line, re.I), (
                    f"{path.name} cell {i}: nbval markers belong in cell tags, not in the source"
                )


# --------------------------------------------------------- notebook 10 links
def test_notebook_10_links_only_to_notebooks_that_exist():
    links = re.findall(r"\]\(([0-9]{2}_[A-Za-z_]+\.ipynb)\)", markdown(notebook("10")))
    assert len(set(links)) >= 9, "the production checklist should link back to the notebooks"
    missing = sorted({name for name in links if not (ROOT / "notebooks" / name).exists()})
    assert not missing, f"notebook 10 links to missing notebooks: {missing}"


def test_the_quiz_check_never_prints_an_answer(capsys):
    from lab.course import check
    from lab.course.checks.nb10_production import QUIZ

    wrong = {q: ("a" if right != "a" else "c") for q, (right, _) in QUIZ.items()}
    assert not check.exercise_quiz(wrong)
    printed = capsys.readouterr().out
    assert printed.count("💡") == len(QUIZ) + 1
    for qid, (right, _) in QUIZ.items():
        line = next(line for line in printed.splitlines() if f" {qid}:" in line)
        assert (
            f"'{right}'" not in line and f" {right})" not in line and not line.endswith(f" {right}")
        )
    assert check.exercise_quiz({q: right.upper() for q, (right, _) in QUIZ.items()})
    assert capsys.readouterr().out.count("✅") == len(QUIZ) + 1


def test_the_quiz_check_refuses_unknown_questions_and_non_dicts(capsys):
    from lab.course import check

    assert not check.exercise_quiz({"q99": "a"})  # q1 to q8 unanswered
    assert not check.exercise_quiz(["b"] * 8)
    out = capsys.readouterr().out
    assert "q1: answer with one of a, b, c" in out and "must be a dict" in out


# ------------------------------------------------------------ workshop kit
def test_devcontainer_parses_and_forwards_the_jupyterlab_port():
    text = (ROOT / ".devcontainer" / "devcontainer.json").read_text()
    # devcontainer.json is JSON with comments; strip whole-line // comments, then parse strictly
    config = json.loads(
        "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    )
    assert "3.11" in config["image"]
    assert 8888 in config["forwardPorts"]
    create = config["postCreateCommand"]
    assert "apt-get install -y openssl curl nginx" in create and "make venv" in create
    attach = json.dumps(config["postAttachCommand"])
    assert "make lab" in attach and "--ServerApp.port=8888" in attach


def test_binder_installs_the_pins_the_tools_and_starts_a_session_pki():
    binder = ROOT / "binder"
    assert (binder / "requirements.txt").read_text().count("-r ../requirements.txt") == 1
    assert set((binder / "apt.txt").read_text().split()) >= {"openssl", "curl", "nginx"}
    start = (binder / "start").read_text()
    assert "pki init" in start and start.rstrip().endswith('exec "$@"')
    for script in ("start", "postBuild"):
        assert (binder / script).stat().st_mode & 0o111, f"binder/{script} must be executable"
    assert (
        "urlpath=lab/tree/notebooks/00_welcome.ipynb"
        in (ROOT / "docs" / "facilitator-guide.md").read_text()
    )


def test_facilitator_guide_minutes_match_each_notebooks_time_to_learn():
    guide = (ROOT / "docs" / "facilitator-guide.md").read_text()
    table = dict(
        re.findall(r"^\| (\d{2}) \| \[[^\]]+\]\(\.\./notebooks/[^)]+\) \| (\d+) \|$", guide, re.M)
    )
    assert sorted(table) == NUMBERS, (
        f"the guide's course table should list every notebook, lists {sorted(table)}"
    )
    for number in NUMBERS:
        assert int(table[number]) == time_to_learn(notebook(number)), (
            f"the guide says {table[number]} minutes for {number}, the notebook says {time_to_learn(notebook(number))}"
        )


def test_readme_course_map_minutes_match_each_notebooks_time_to_learn():
    readme = (ROOT / "README.md").read_text()
    table = dict(
        re.findall(r"^\| (\d{2}) \| \[[^\]]+\]\(notebooks/[^)]+\) \| .+ \| (\d+) \|$", readme, re.M)
    )
    assert sorted(table) == NUMBERS, (
        f"the README's course map should list every notebook: {sorted(table)}"
    )
    for number in NUMBERS:
        assert int(table[number]) == time_to_learn(notebook(number)), (
            f"the README says {table[number]} minutes for {number}, "
            f"the notebook says {time_to_learn(notebook(number))}"
        )


def test_welcome_course_map_minutes_match_each_notebooks_time_to_learn():
    """00's course map is what a learner plans by: its minutes are each notebook's own."""
    welcome = markdown(notebook("00"))
    table = dict(re.findall(r"^\| (\d{2}) \| [^|]+ \| .+ \| (\d+) \|$", welcome, re.M))
    assert sorted(table) == NUMBERS, f"00's course map should list every notebook: {sorted(table)}"
    for number in NUMBERS:
        assert int(table[number]) == time_to_learn(notebook(number)), (
            f"00's course map says {table[number]} minutes for {number}, "
            f"the notebook says {time_to_learn(notebook(number))}"
        )


@pytest.mark.parametrize("agenda", ["3-hour workshop", "90 minutes"])
def test_each_agenda_adds_up_to_its_length(agenda):
    guide = (ROOT / "docs" / "facilitator-guide.md").read_text()
    body = section(guide, f"Agenda: {agenda}")
    minutes = [int(m) for m in re.findall(r"^\| \d:\d{2} \| (\d+) \|", body, re.M)]
    assert sum(minutes) == (180 if agenda.startswith("3") else 90)


def test_every_check_a_notebook_calls_is_found_and_an_unknown_one_is_refused():
    from lab.course import check

    called = {
        n: re.findall(
            r"check\.(exercise_\w+)\(",
            "\n".join(source(c) for c in cells(notebook(n)) if c["cell_type"] == "code"),
        )
        for n in NUMBERS
    }
    assert all(called[n] for n in NUMBERS if n != "00"), f"a notebook without a check: {called}"
    assert all(callable(getattr(check, name)) for names in called.values() for name in names)
    with pytest.raises(AttributeError):
        check.exercise_that_does_not_exist  # noqa: B018
