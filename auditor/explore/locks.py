"""Plain locks made while exploring (threading mode): a blocked acquire is a wait the controller sees.

``threading.Lock`` and ``RLock`` are C types the controller cannot patch, and
a thread blocked on one held by a parked thread (an executor's shutdown lock
held across ``Thread.start``) would show only as a stall. While a controller
runs, ``threading.Lock()``/``RLock()`` return a ``SeenLock`` around the real
lock: an acquire that would block parks the thread until a release wakes it
(first blocked, first woken), then it tries again. A ``SeenLock`` outlives its
schedule; it asks whichever controller is active now (``active``), and with
none it is the plain lock.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SeenLock", "SeenRLock", "active"]

#: The running controller (duck-typed: ``running``, ``_block``, ``_turn_after_wait``,
#: ``wake``), or None.
active: Any = None


class SeenLock:
    """A real ``Lock`` or ``RLock`` whose blocking acquires go through the active controller."""

    __slots__ = ("_inner", "__weakref__")

    def __init__(self, inner: Any):
        self._inner = inner

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        inner = self._inner
        if inner.acquire(False):
            return True
        if not blocking:
            return False
        controller = active
        while controller is not None and controller.running():
            member = controller._block(self, None if timeout < 0 else timeout)
            if member is None:
                break
            if controller._turn_after_wait(member):
                return False             # the (virtual) timeout fired
            if inner.acquire(False):
                return True
            controller = active
        return inner.acquire(True, timeout)

    __enter__ = acquire

    def release(self) -> None:
        self._inner.release()
        controller = active
        if controller is not None:
            controller.wake(self, 1)

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def locked(self) -> bool:
        return self._inner.locked()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)   # _is_owned, _release_save, _at_fork_reinit...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._inner!r}>"


class SeenRLock(SeenLock):
    """A ``SeenLock`` around an ``RLock``; a Condition on it restores its recursion level."""

    __slots__ = ()

    def _acquire_restore(self, state: Any) -> None:
        """For ``Condition.wait``: take the lock as ``acquire`` does, then restore its state."""
        self.acquire()
        self._inner.release()
        self._inner._acquire_restore(state)
