"""The course's scaffolding: what the notebooks use to show, compare and check.

* :mod:`lab.course.coursepki`: the guide's file set in ``certs/`` (``ensure()`` for notebooks).
* :mod:`lab.course.demo`: the guide's ``SecureController``, the app every notebook calls.
* :mod:`lab.course.observe`: one call seen from both ends.
* :mod:`lab.course.diagnose`: ``explain()`` for a pasted error.
* :mod:`lab.course.table`, :mod:`lab.course.text`: one set of rows as an HTML table in a
  notebook (aligned text elsewhere); a long line wrapped for the page.
* :mod:`lab.course.scenarios`: the failure catalogue of ``python -m lab break`` and notebook 05.
* :mod:`lab.course.check` and :mod:`lab.course.checks`: the exercises' self-checks.

Stands on everything below it; nothing below imports it.
"""
