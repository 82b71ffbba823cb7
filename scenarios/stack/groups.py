"""The process groups a stack started, on file in its work directory, and ``down`` to stop them.

Every service of ``auditor stack`` runs in a process group of its own (its
forked workers, the Erlang VM's helpers with it). Each group is recorded here
the moment it exists, with its leader's start time, so ``auditor stack --down
WORKDIR`` can stop what a killed run left, and never signals a group whose id
was reused by an unrelated process. Processes that left their group are found
by the ``MARKER`` variable in their environment.
"""

from __future__ import annotations

import os
import signal
import time

__all__ = ["FILE_NAME", "MARKER", "Groups", "down", "alive", "rss_bytes", "marked"]

FILE_NAME = "process-groups"
#: Every process of a stack inherits ``MARKER=<its work directory>``: a daemon that leaves
#: its group (``epmd -daemon``, which a booting Erlang VM starts when it finds no port
#: mapper) is still found by it.
MARKER = "AUDITOR_STACK_WORKDIR"


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


def marked(workdir: str) -> list[int]:
    """Pids (not this process) whose environment has ``MARKER`` naming ``workdir`` or a
    directory under it."""
    workdir = os.path.abspath(workdir)
    out = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        if int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(MARKER.encode() + b"="):
                value = item.split(b"=", 1)[1].decode(errors="replace")
                if value == workdir or value.startswith(workdir + "/"):
                    out.append(int(entry))
    return out


def _kill_marked(workdir: str, sig: int) -> None:
    for pid in marked(workdir):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


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
        _kill_marked(workdir, sig)  # what left its group
        if not any(_group_exists(p) for p, _ in targets) and not marked(workdir):
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
