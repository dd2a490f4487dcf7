"""One module per ``python -m lab`` command.

Each module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.
:mod:`lab.cli` discovers the modules here, so adding a command touches no other file.
"""
