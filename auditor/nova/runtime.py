"""The audited nova process: its version, concurrency mode, config secrets, and the report's target.

Declared once for every front door (scenario runs, the pytest plugin, tracing).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["MODES", "nova_version", "concurrency", "target", "process_conf", "seed_canaries"]

#: nova's concurrency modes, in report order (``--mode both`` runs them in this order).
MODES = ("threading", "eventlet")


def nova_version() -> str:
    """The installed nova's version (``unknown`` if it is not installed as a distribution)."""
    from importlib import metadata

    try:
        return metadata.version("nova")
    except Exception:  # noqa: BLE001
        return "unknown"


def concurrency() -> str | None:
    """This process's mode as nova decides it, without importing anything: ``nova.utils``
    if imported, else whether eventlet patched ``thread``; None if neither tells."""
    utils = sys.modules.get("nova.utils")
    try:
        if utils is not None:
            return MODES[0] if utils.concurrency_mode_threading() else MODES[1]
        patcher = sys.modules.get("eventlet.patcher")
        if patcher is not None:
            return MODES[1] if patcher.is_monkey_patched("thread") else MODES[0]
    except Exception:  # noqa: BLE001 - unknown mode: leave it out
        pass
    return None


def target(*, nova: str | None = None, mode: str | None = None, **extra: Any) -> dict[str, Any]:
    """The report's ``target``: nova's version, the concurrency mode (if known), then ``extra``.

    ``nova``/``mode`` default to this process's (``nova_version``, ``concurrency``).
    """
    out: dict[str, Any] = {"nova": nova or nova_version()}
    mode = mode or concurrency()
    if mode:
        out["concurrency"] = mode
    out.update(extra)
    return out


def process_conf(*, parsed: bool = False) -> Any:
    """The process's ``nova.conf.CONF`` if nova's config is imported (and, with ``parsed``,
    once ``parse_args`` ran); else None."""
    module = sys.modules.get("nova.conf")
    conf = getattr(module, "CONF", None)
    if conf is None or (parsed and getattr(conf, "_args", None) is None):
        return None
    return conf


def seed_canaries(session: Any, conf: Any, where: str) -> None:
    """The values of ``conf``'s ``secret=True`` options become the ``AuditSession``'s canaries.

    An error is the session's ``auditor-error`` finding (at ``where``), never the caller's.
    """
    from auditor.canaries import from_config

    try:
        session.canaries.update(from_config(conf))
    except Exception as exc:  # noqa: BLE001
        session.internal_error(exc, where)
