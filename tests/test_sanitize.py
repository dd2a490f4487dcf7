"""The nbval sanitize file: well-formed for nbval, and every pattern hides what it is meant to."""

from __future__ import annotations

import re
from pathlib import Path

from nbval.plugin import get_sanitize_patterns

CFG = Path(__file__).with_name("nbval-sanitize.cfg")


def _blocks():
    lines = CFG.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.startswith("regex: "):
            example = lines[i - 1]
            assert example.startswith("# example: "), (
                f"line {i}: a regex must follow an '# example: ' line"
            )
            assert lines[i + 1].startswith("replace: "), (
                f"line {i + 2}: 'replace: ' must follow 'regex: '"
            )
            blocks.append(
                (
                    example[len("# example: ") :],
                    line[len("regex: ") :],
                    lines[i + 1][len("replace: ") :],
                )
            )
    return blocks


def test_every_non_comment_line_is_in_the_format_nbval_reads():
    for n, line in enumerate(CFG.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            assert line.startswith(("regex: ", "replace: ")), (
                f"line {n} is ignored by nbval: {line!r}"
            )


def test_nbval_parses_every_pattern_in_the_file():
    assert len(get_sanitize_patterns(CFG.read_text())) == len(_blocks()) > 10


def test_each_regex_matches_its_example_and_changes_it():
    for example, regex, replace in _blocks():
        assert re.search(regex, example), f"{regex!r} does not match its example {example!r}"
        assert re.sub(regex, replace, example) != example


def test_stable_text_is_left_alone():
    stable = (
        "Hello CN=MyTrustedClient,O=mTLS Lab\nhandshake refused: peer did not return a certificate"
    )
    out = stable
    for _, regex, replace in _blocks():
        out = re.sub(regex, replace, out)
    assert out == stable
