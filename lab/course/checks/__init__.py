"""One module per notebook, each with ``exercise_*`` functions; see :mod:`lab.course.check`."""
