"""The course's scaffolding: what the notebooks use to show, compare and check.

* :mod:`lab.course.coursepki`: the guide's file set in ``certs/`` (``ensure()`` for notebooks).
* :mod:`lab.course.demo`, :mod:`lab.course.auth_demo`: the guide's ``SecureController`` and
  notebook 04's printouts.
* :mod:`lab.course.observe`: one call seen from both ends.
* :mod:`lab.course.diagnose`: ``explain()`` for a pasted error.
* :mod:`lab.course.table`: one set of rows as an HTML table in a notebook, aligned text elsewhere.
* :mod:`lab.course.extensions`, :mod:`lab.course.extfile`: every extension of a certificate as a
  table; the guide's ``openssl x509 -req`` with an ``-extfile`` (notebook 01).
* :mod:`lab.course.scenarios`, :mod:`lab.course.faults`: the failure catalogue of notebook 05, and
  its notebook views (both sides of one call, the catalogue as one HTML table).
* :mod:`lab.course.rollover`, :mod:`lab.course.production`,
  :mod:`lab.course.env`: the demonstrations of notebooks 01, 08 and 10; finding system tools.
* :mod:`lab.course.check` and :mod:`lab.course.checks`: the exercises' self-checks.

Stands on everything below it; nothing below imports it.
"""
