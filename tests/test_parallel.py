"""``make test`` runs the files in parallel; the grouping that keeps each file on one worker holds.

tests/conftest.py marks every test with its file's group (the notebooks and the browser test
share one, since both run the notebooks in certs/). pytest-xdist hands the group to its
scheduler as a suffix on the test's id; with pytest 9.2 the suffix is lost and every test is
scheduled alone (pytest-xdist#1386), so two kernels could run one notebook at once.
"""

from __future__ import annotations

import os
import subprocess
import sys


def test_each_test_carries_its_files_group_and_xdist_schedules_by_it(request):
    if not request.config.pluginmanager.hasplugin("xdist") or not hasattr(
        request.config, "workerinput"
    ):
        # Not on an xdist worker (pytest -p no:xdist, or the controller): run this very test
        # on one worker under --dist loadgroup, as make test does, and require that it passes.
        assert not os.environ.get("LAB_TEST_PARALLEL_CHILD"), "the child ran without a worker"
        child = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "xdist", "-n", "1", "--dist", "loadgroup"]
            + [f"{request.node.path}::{request.node.name}"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LAB_TEST_PARALLEL_CHILD": "1"},
        )
        assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-2000:]
        return
    groups = [mark.args[0] for mark in request.node.iter_markers("xdist_group")]
    assert groups == [str(request.node.path)]
    assert request.node.nodeid.endswith("@" + str(request.node.path)), (
        f"xdist lost the group of {request.node.nodeid}: the tests are not grouped by file"
    )
