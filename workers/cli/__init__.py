"""The ``parcours`` command line: the root app (``app.py``), one module per command group, and the helpers the
groups share (``common.py``); a command module never imports another one."""


def main() -> None:
    """Entry point of the ``parcours`` script; the app is imported only when run."""
    from workers.cli.app import main as run

    run()
