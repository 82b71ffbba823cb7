"""The process groups a stack started, on file in its work directory, and ``down`` to stop them.

Every service of ``auditor stack`` runs in a process group of its own (its
forked workers, the Erlang VM's helpers with it). Each group is recorded here
the moment it exists, with its leader's start time, so ``auditor stack --down
WORKDIR`` can stop what a killed run left, and never signals a group whose id
was reused by an unrelated process.
"""

from __future__ import annotations

import os
import signal
import time

__all__ = ["FILE_NAME", "Groups", "down", "alive", "rss_bytes"]

FILE_NAME = "process-groups"


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Groups:
    """Appends ``pgid start-time name`` lines to ``WORKDIR/process-groups``."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, FILE_NAME)

    def record(self, name: str, pgid: int) -> None:
        line = f"{pgid} {_start_time(pgid) or '-'} {name}\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def _recorded(workdir: str) -> list[tuple[int, str, str]]:
    """Every ``(pgid, start time, name)`` recorded under ``workdir`` (any depth)."""
    out = []
    for root, _dirs, files in os.walk(workdir):
        if FILE_NAME in files:
            with open(os.path.join(root, FILE_NAME)) as f:
                for line in f:
                    pgid, started, name = line.rstrip("\n").split(" ", 2)
                    out.append((int(pgid), started, name))
    return out


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def alive(workdir: str) -> list[str]:
    """Names of the recorded groups that still have a process (leader unchanged)."""
    return [name for pgid, started, name in _recorded(workdir)
            if _group_exists(pgid) and _start_time(pgid) in (started, None)]


def down(workdir: str, grace_s: float = 15.0) -> list[str]:
    """Stop every recorded group still running: SIGTERM, then SIGKILL after ``grace_s``.

    A group whose leader is gone but whose members remain (a daemon's worker)
    is still signalled; a group whose leader's start time differs belongs to
    someone else now and is left alone. Returns the names signalled.
    """
    targets = [(pgid, name) for pgid, started, name in _recorded(workdir)
               if _group_exists(pgid) and _start_time(pgid) in (started, None)]
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for pgid, _ in targets:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while any(_group_exists(p) for p, _ in targets) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not any(_group_exists(p) for p, _ in targets):
            break
    return [name for _, name in targets]


def rss_bytes(workdir: str, also: tuple[int, ...] = ()) -> int:
    """Resident memory of every process in the recorded groups (and the pids ``also``)."""
    pgids = {pgid for pgid, _, _ in _recorded(workdir)}
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                pgrp = int(f.read().rsplit(")", 1)[1].split()[2])
            if pgrp in pgids or int(entry) in also:
                with open(f"/proc/{entry}/statm") as f:
                    total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total
