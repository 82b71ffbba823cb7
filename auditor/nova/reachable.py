"""What the Ironic driver can never reach in the tracker: left out of the claims view's
reachable totals (nova 34.0.0; the reasons, one per id, are in docs/coverage.md).
"""

from __future__ import annotations

__all__ = ["UNREACHABLE"]

_TRACKER = "nova/compute/resource_tracker.py"

#: coverage section -> ids the Ironic driver cannot exercise
UNREACHABLE: dict[str, frozenset[str]] = {
    # resize and migration claims (Ironic supports neither), PCI (nodes have no devices)
    "synchronized_entry_points": frozenset({
        "resize_claim", "live_migration_claim", "drop_move_claim_at_source",
        "drop_move_claim_at_dest", "claim_pci_devices", "unclaim_pci_devices",
        "allocate_pci_devices_for_instance", "free_pci_device_allocations_for_instance",
        "free_pci_device_claims_for_instance"}),
    # nova 34.0.0 lines: VPMEM, a failing monitor, vcpus, ReshapeNeeded, migrations
    "log_call_sites": frozenset(f"{_TRACKER}:{line}" for line in (
        560, 905, 1159, 1328, 1537, 1550, 1621, 1635, 1746)),
}
