"""A mixin passed through the sandbox by ``tests/test_worker_memory.py``: its code is the host's, and the
restricted builtins must still refuse it while a workflow runs."""


class ReadsAFile:
    def first_line(self) -> str:
        with open(__file__) as source:
            return source.readline()
