"""One module per ``mmrnn`` subcommand.

Each module defines ``NAME`` (the subcommand), ``HELP`` (one line for ``mmrnn --help``),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are listed in :data:`apps.cli.COMMANDS`.
"""
