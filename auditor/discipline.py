"""The declared locking discipline of ``ResourceTracker``: which state its semaphore guards.

Data, not behaviour: hooks read it to know what to watch, the ``unheld-lock``
check reads it to know what to demand. Override with ``Discipline(...)``.
"""

from __future__ import annotations

import dataclasses

from auditor.events import SEMAPHORE

__all__ = ["Discipline", "DEFAULT", "ENTRY_POINT_EXPECTED"]


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

# Exceptions each tracker entry point is expected to let escape (qualified names;
# a name also covers its subclasses' names only if listed). Anything else escaping
# is a ``leaked-exception`` finding; entry points not listed expect none. Sources: the entry points' docstrings, and the
# callers in nova/compute/manager.py that catch them.
_CLAIM = ("nova.exception.ComputeResourcesUnavailable",)
_PERIODIC = (
    "nova.exception.ComputeHostNotFound", "nova.exception.ReshapeFailed",
    "nova.exception.ReshapeNeeded", "nova.exception.PlacementPciException",
    "nova.exception.InvalidConfiguration",
    # _check_resources: assigned resources missing from the provider config
    "nova.exception.AssignedResourceNotFound",
    # The Ironic driver raises these when Ironic or placement fail; the
    # manager's periodic catches Exception and logs it.
    "nova.exception.VirtDriverNotReady", "nova.exception.NoResourceClass",
    "nova.exception.ResourceProviderUpdateFailed",
    "nova.exception.ResourceProviderSyncFailed",
    "nova.exception.ResourceProviderCreationFailed",
    "nova.exception.ResourceProviderRetrievalFailed",
    "nova.exception.ResourceProviderUpdateConflict",
    "nova.exception.PlacementAPIConnectFailure",
)
ENTRY_POINT_EXPECTED: dict[str, tuple[str, ...]] = {
    # documented "sanity checks" of the service record
    "set_service_ref": ("nova.exception.ComputeServiceInUse",
                        "nova.exception.ServiceNotUnique"),
    "get_node_by_name": ("nova.exception.ComputeHostNotFound",),  # ":raises:" in its docstring
    "update_available_resource": _PERIODIC,
    "_update_available_resource": _PERIODIC,
    "instance_claim": _CLAIM,
    "rebuild_claim": _CLAIM,
    "resize_claim": _CLAIM,
    "live_migration_claim": ("nova.exception.MigrationPreCheckError",),
}
