"""The built-in scenarios: importing this module registers them all in ``scenarios.framework.REGISTRY``."""

from scenarios import concurrent_claims  # noqa: F401 - registers
from scenarios import instance_lifecycle  # noqa: F401 - registers
from scenarios import node_lifecycle  # noqa: F401 - registers
from scenarios import rebalance  # noqa: F401 - registers
from scenarios import placement_faults  # noqa: F401 - registers
from scenarios import ironic_faults  # noqa: F401 - registers
from scenarios import malformed  # noqa: F401 - registers
from scenarios import outages  # noqa: F401 - registers
from scenarios import shards  # noqa: F401 - registers

__all__: list[str] = []
