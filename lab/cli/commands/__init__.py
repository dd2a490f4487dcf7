"""One module per ``python -m lab`` command: ``register(subparsers)`` adds its parser, whose
``func`` takes the parsed arguments and returns the exit code (see :mod:`lab.cli`)."""
