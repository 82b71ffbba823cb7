"""Choose nova's concurrency mode (native threads or eventlet) for this process."""

from __future__ import annotations

import os

from auditor.nova.runtime import MODES, concurrency

__all__ = ["MODES", "apply", "current"]


def apply(mode: str) -> None:
    """Select threading or eventlet for this process, as nova's services do at start.

    Call it before anything imports nova, openstacksdk or socketserver: eventlet
    must patch the standard library before they bind to it. The choice holds
    for the life of the process.
    """
    global _applied
    if mode not in MODES:
        raise ValueError(f"unknown concurrency mode {mode!r}: use threading or eventlet")
    if _applied is not None:
        if _applied != mode:
            raise RuntimeError(f"this process already runs in {_applied} mode")
        return
    os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "1" if mode == "threading" else "0"
    from nova import monkey_patch

    monkey_patch.patch()
    _applied = mode


_applied: str | None = None


def current() -> str:
    """The mode this process runs in."""
    from nova import utils  # noqa: F401 - imported, so nova's own answer counts

    return concurrency() or MODES[0]
