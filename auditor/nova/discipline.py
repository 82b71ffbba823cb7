"""The declared locking discipline of ``ResourceTracker``: which state its semaphore guards.

Data, not behaviour: hooks read it to know what to watch, the ``unheld-lock``
check reads it to know what to demand. Override with ``Discipline(...)``.
"""

from __future__ import annotations

import dataclasses

from auditor.events import SEMAPHORE

__all__ = ["Discipline", "DEFAULT"]


@dataclasses.dataclass(frozen=True)
class Discipline:
    """``guarded_by`` maps a tracker attribute to the lock that must be held to write it.

    Attributes in ``read_guarded`` must also be read under their lock.
    Writes from ``exempt_functions`` (construction, before the object is shared)
    are not checked.
    """

    guarded_by: dict[str, str]
    read_guarded: frozenset[str] = frozenset()
    exempt_functions: frozenset[str] = frozenset({"__init__"})

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self.guarded_by)


DEFAULT = Discipline(guarded_by={
    attr: SEMAPHORE for attr in (
        "compute_nodes", "stats", "tracked_instances", "tracked_migrations", "is_bfv",
        "old_resources", "provider_tree", "assigned_resources", "absent_providers",
    )
})
