"""One module per ``python -m lab`` command.

Each module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.
:data:`lab.cli.COMMANDS` lists them; a new command is a new module plus one entry there.
"""
