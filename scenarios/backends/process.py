"""Child server processes: a free loopback port, start with a log file, wait until ready, stop.

Every server a backend starts is a child of the auditor's process, in a
process group of its own (so a forking server goes with all its workers),
killed by the kernel if the auditor dies (``PR_SET_PDEATHSIG``), listening
on 127.0.0.1 only, and stopped with SIGTERM (SIGKILL after a grace period).
"""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from typing import Callable

__all__ = ["BackendError", "Server", "free_port", "check_bindable", "log_tail", "write_private"]

_PR_SET_PDEATHSIG = 1


class BackendError(Exception):
    """A backend could not be used: one line saying what and where to look."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_bindable(port: int) -> None:
    """Raise BackendError when 127.0.0.1:``port`` cannot be bound (in use, not allowed)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise BackendError(f"cannot bind 127.0.0.1:{port}: {e.strerror or e}") from None


def write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path``, readable by this user only (0600: configs hold secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def log_tail(path: str, lines: int = 3) -> str:
    """The last non-empty lines of a log file, joined with ' | ' (for a one-line error)."""
    try:
        with open(path, errors="replace") as f:
            tail = [line.strip() for line in f.readlines()[-50:] if line.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(tail[-lines:])[-600:] or "(empty log)"


def _child_setup(user: str | None) -> Callable[[], None]:
    entry = pwd.getpwnam(user) if user else None

    def setup() -> None:
        if entry is not None:
            os.setgid(entry.pw_gid)
            os.setgroups([entry.pw_gid])
            os.setuid(entry.pw_uid)
        # after any credential change, which would clear it
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    return setup


class Server:
    """One server process; ``ready()`` says when it answers."""

    def __init__(self, name: str, argv: list[str], log_path: str, *,
                 ready: Callable[[], bool], user: str | None = None,
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 stop_signal: int = signal.SIGTERM,
                 record: Callable[[str, int], None] | None = None):
        """``record(name, pid)`` is told the process group as soon as it exists."""
        self.name, self.argv, self.log_path = name, argv, log_path
        self._record = record
        self._ready, self._user, self._env, self._cwd = ready, user, env, cwd
        self._stop_signal = stop_signal
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> "Server":
        """Start the process and wait until it answers; on failure stop it and say why."""
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self._env, cwd=self._cwd, start_new_session=True,
                preexec_fn=_child_setup(self._user))
        except OSError as e:
            raise BackendError(f"cannot start {self.name} ({self.argv[0]}): "
                               f"{e.strerror or e}") from None
        finally:
            log.close()
        if self._record is not None:
            self._record(self.name, self.proc.pid)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.stop()
                raise BackendError(f"{self.name} exited ({code}) while starting; "
                                   f"{self.log_path}: {log_tail(self.log_path)}")
            try:
                if self._ready():
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise BackendError(f"{self.name} did not answer within {timeout_s:.0f}s; "
                                   f"{self.log_path}: {log_tail(self.log_path)}")
            time.sleep(0.1)

    def stop(self, grace_s: float = 15.0) -> None:
        """Stop the process and its whole process group (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait_s in ((self._stop_signal, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait_s)
                # workers of a forking server may outlive the master by a moment
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
