"""``python -m workers.cli``: the ``parcours`` command line."""

from workers.cli.app import main

main()
