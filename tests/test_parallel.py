"""``make test`` runs the files in parallel; the grouping that keeps each file on one worker holds.

tests/conftest.py marks every test with its file's group (the notebooks and the browser test
share one, since both run the notebooks in certs/). pytest-xdist hands the group to its
scheduler as a suffix on the test's id; with pytest 9.2 the suffix is lost and every test is
scheduled alone (pytest-xdist#1386), so two kernels could run one notebook at once.
"""

from __future__ import annotations


def test_each_test_carries_its_files_group_and_xdist_schedules_by_it(request):
    groups = [mark.args[0] for mark in request.node.iter_markers("xdist_group")]
    assert groups == [str(request.node.path)]
    worker = getattr(request.config, "workerinput", None)
    if worker is not None and getattr(request.config.option, "loadgroup", False):
        assert request.node.nodeid.endswith("@" + str(request.node.path)), (
            f"xdist lost the group of {request.node.nodeid}: the tests are not grouped by file"
        )
