"""Open a file another local user may have planted: a regular file this user (or root) owns
and no one else can write, checked on the open descriptor (no race with a swapped path)."""

from __future__ import annotations

import os
import stat
from typing import Callable, Mapping

from auditor.tracing.environment import untrusted

__all__ = ["open_trusted_regular"]


def open_trusted_regular(path: str, error: Callable[[str], Exception],
                         refusals: Mapping[str, str], *, follow: bool = True,
                         check: Callable[[os.stat_result], None] | None = None) -> int:
    """A blocking read-only descriptor of ``path`` if it is a trusted regular file, else
    ``error(line)``, the line from ``refusals[reason]`` formatted with ``path`` and ``detail``:
    ``open`` (detail: the OS's words), ``type`` (not a regular file) or ``owner`` (detail:
    ``untrusted``'s line). ``follow=False`` refuses a symbolic link; ``check(st)`` may refuse
    more by raising. A FIFO or device is refused without blocking."""
    def refuse(reason: str, detail: str = "") -> Exception:
        return error(refusals[reason].format(path=path, detail=detail))

    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise refuse("open", exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise refuse("type")
        why = untrusted(path, st)
        if why:
            raise refuse("owner", why)
        if check is not None:
            check(st)
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise
