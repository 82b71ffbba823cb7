"""Exceptions each tracker entry point may let escape (the ``leaked-exception`` contract)."""

from __future__ import annotations

__all__ = ["ENTRY_POINT_EXPECTED"]

# Exceptions each tracker entry point is expected to let escape (qualified names;
# a name also covers its subclasses' names only if listed). Anything else escaping
# is a ``leaked-exception`` finding; entry points not listed expect none. Sources: the
# entry points' docstrings, and the callers in nova/compute/manager.py that catch them.
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
