"""Compiled code shared by the workflow sandboxes of one process.

The sandbox imports a workflow's module afresh for each workflow run, so that no run sees another's module
state, and the restrictions (``datetime.now``, ``random``, I/O...) apply to the names the module imports.
Python's import reads the module's ``.pyc`` and unmarshals a new set of code objects each time: about 50 KiB
per cached pathway, identical every time. Code objects are immutable, so the sandbox can execute the same
ones in each run's fresh module: the module body still runs per run, with its own globals, and the
restrictions are unchanged. Only modules the sandbox itself loads go through here; passed-through modules are
imported once by the host as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
from types import CodeType

from temporalio.worker.workflow_sandbox._importer import Importer

#: The project's workflow modules (test modules defining workflows keep pytest's own loader).
PACKAGES = ("workflows",)

_codes: dict[tuple[str, int, int], CodeType] = {}
_lock = threading.Lock()


class SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader that compiles (or unmarshals) each version of a file once per process."""

    def get_code(self, fullname: str) -> CodeType:
        stat = os.stat(self.path)
        key = (self.path, stat.st_mtime_ns, stat.st_size)
        code = _codes.get(key)
        if code is None:
            code = super().get_code(fullname)
            with _lock:
                _codes[key] = code
        return code


class SandboxCodeFinder(importlib.abc.MetaPathFinder):
    """Finds modules imported inside a workflow sandbox as usual, with a loader that shares their code."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if Importer.current_importer() is None or fullname.partition(".")[0] not in PACKAGES:
            return None  # outside a sandbox, a module passed through from the host, or not ours
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = SharedCodeLoader(spec.loader.name, spec.loader.path)
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(finder, SandboxCodeFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, SandboxCodeFinder())
