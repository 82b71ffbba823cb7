"""The generated configuration of the stack's services: nova (per service) and placement.

nova-compute gets no database section (it reaches the DB through
nova-conductor, as in a deployment); nova-conductor and the stack's driver
get both databases. The periodic task, the service heartbeat and
``service_down_time`` are short, so a node removed from Ironic and a stopped
compute are noticed within seconds.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Timing", "nova_conf", "placement_conf"]


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds: periodic resource update, service heartbeat, when a service counts as down."""

    periodic_s: int = 4
    report_s: int = 2
    down_s: int = 8


_NOVA = """\
[DEFAULT]
host = {host}
transport_url = {transport_url}
compute_driver = ironic.IronicDriver
state_path = {state}
instances_path = {state}/instances
log_file = {log}
debug = false
use_rootwrap_daemon = false
report_interval = {t.report_s}
service_down_time = {t.down_s}
update_resources_interval = {t.periodic_s}
periodic_interval_max = {t.periodic_s}
periodic_fuzzy_delay = 0
heal_instance_info_cache_interval = -1
graceful_shutdown_timeout = 10
{db}[conductor]
workers = 1
[placement]
auth_type = admin_token
token = {placement_token}
endpoint = {placement}
[neutron]
auth_type = admin_token
token = {neutron_token}
endpoint_override = {neutron}
[glance]
endpoint_override = {glance}
[ironic]
auth_type = none
endpoint_override = {ironic}
api_retry_interval = 1
api_max_retries = 120
[oslo_concurrency]
lock_path = {state}/locks
[oslo_messaging_notifications]
driver = noop
[oslo_messaging_rabbit]
heartbeat_timeout_threshold = 0
"""

_DB = """\
[database]
connection = {cell}
[api_database]
connection = {api}
"""


def nova_conf(*, host: str, state: str, log: str, transport_url: str, endpoints: dict,
              tokens: dict, timing: Timing, databases: dict | None = None) -> str:
    """nova.conf for one service; ``databases`` (``cell``, ``api`` URLs) only where allowed."""
    return _NOVA.format(host=host, state=state, log=log, transport_url=transport_url,
                        t=timing, db=_DB.format(**databases) if databases else "",
                        placement_token=tokens["placement"], neutron_token=tokens["neutron"],
                        **endpoints)


_PLACEMENT = """\
[DEFAULT]
log_file = {log}
debug = false
[api]
auth_strategy = noauth2
[placement_database]
connection = {db}
"""


def placement_conf(*, log: str, db: str) -> str:
    return _PLACEMENT.format(log=log, db=db)
