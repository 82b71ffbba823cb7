"""Where the hooks attach in nova (and the libraries it calls): modules, owners, attribute names.

Another nova version that renames one of these shows up as a missing hook point
in the report's coverage, not as an error.
"""

from __future__ import annotations

__all__ = ["TRACKER_MODULE", "TRACKER_CLASS", "SNAPSHOT_ENTRY_POINTS", "REQUIRED_ENTRY_POINTS",
           "REPORT_CLIENT_MODULE", "REPORT_CLIENT_CLASS", "PLACEMENT_VERBS",
           "IRONIC_DRIVER_MODULE", "IRONIC_DRIVER_CLASS", "IRONIC_CONNECTION",
           "LOCKUTILS_MODULE", "LOCK_FUNCTION", "CONFIG_MODULE", "PARSE_ARGS", "RPC_MODULE",
           "RPC_TRANSPORTS"]

TRACKER_MODULE = "nova.compute.resource_tracker"
TRACKER_CLASS = "ResourceTracker"
#: Entry points whose events carry a snapshot of the tracker's accounting (resource claims).
SNAPSHOT_ENTRY_POINTS = ("instance_claim", "rebuild_claim", "resize_claim",
                         "abort_instance_claim")
#: Entry points reported missing if absent (every other public method is wrapped if present).
REQUIRED_ENTRY_POINTS = SNAPSHOT_ENTRY_POINTS + ("update_available_resource",
                                                 "_update_available_resource")

REPORT_CLIENT_MODULE = "nova.scheduler.client.report"
REPORT_CLIENT_CLASS = "SchedulerReportClient"
PLACEMENT_VERBS = ("get", "post", "put", "delete")

IRONIC_DRIVER_MODULE = "nova.virt.ironic.driver"
IRONIC_DRIVER_CLASS = "IronicDriver"
IRONIC_CONNECTION = "ironic_connection"

#: ``synchronized``'s ``inner`` looks ``lock`` up as a module global at call time,
#: so wrapping the module attribute also covers nova's ``utils.synchronized``.
LOCKUTILS_MODULE = "oslo_concurrency.lockutils"
LOCK_FUNCTION = "lock"

#: Once ``parse_args`` returns, the values of ``secret=True`` options are known (tracing).
CONFIG_MODULE = "nova.config"
PARSE_ARGS = "parse_args"

#: nova's message-bus transports (``nova.rpc.init``), recorded at install if made before.
RPC_MODULE = "nova.rpc"
RPC_TRANSPORTS = ("TRANSPORT", "NOTIFICATION_TRANSPORT")
