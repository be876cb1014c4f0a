"""What binds ``parcours dev``'s children to it: they die with it however it dies, and a second supervisor on
the same home or ports stops before starting anything.

* Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``, set in the child between fork and exec): the kernel
  signals the child when the supervisor dies, even by ``kill -9``, which no handler of ours could catch.
* An exclusive ``flock`` on ``<home>/dev.lock``, held for the supervisor's life: the kernel releases it when the
  process dies, so a lock left by a crash is never mistaken for a live supervisor; a live one is named by pid.
* A port check before the first child starts: a port still held (an orphan of an older version, another
  program) is reported with the option that moves it, instead of a "ready" answered by someone else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Callable, Mapping

PR_SET_PDEATHSIG = 1
LOCK_FILE = "dev.lock"


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child receive ``sig`` when its parent dies (None off Linux).

    Runs after ``Popen``'s ``user=``/``group=`` switch, which would otherwise clear the setting. The signal is
    tied to the thread that forks: start children from the supervisor's main thread."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died between fork and prctl: follow it now
            os.kill(os.getpid(), sig)

    return preexec


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``port`` or the port cannot be bound (``SO_REUSEADDR``, as servers do, so a
    connection of a previous run left in TIME_WAIT does not count)."""
    with socket.socket() as probe:
        probe.settimeout(0.2)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket() as bind:
        bind.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            bind.bind((host, port))
        except OSError:
            return True
    return False


def taken_ports(ports: Mapping[str, int]) -> list[str]:
    """``"--option N"`` for each port already in use."""
    return [f"{option} {port}" for option, port in ports.items() if port_in_use(port)]


class HomeLockedError(RuntimeError):
    """Another live supervisor holds the home."""


class HomeLock:
    """Exclusive, crash-proof ownership of a ``parcours dev`` home."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the home; the pid of a previous supervisor that ended without stopping (its lock left), if any."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise HomeLockedError(f"another parcours dev (pid {holder}) is running on {self.path.parent}; "
                                      "stop it first, or give this one another PARCOURS_HOME") from None
            raise
        previous = os.read(fd, 32).decode(errors="replace").strip() or None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return previous

    def release(self) -> None:
        """A clean stop empties the file; closing it releases the flock."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None
