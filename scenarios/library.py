"""The built-in scenarios: importing this module registers them all in ``scenarios.api.REGISTRY``."""

from scenarios import concurrent_claims  # noqa: F401 - registers
from scenarios import lifecycle  # noqa: F401 - registers
from scenarios import node_lifecycle  # noqa: F401 - registers
from scenarios import rebalance  # noqa: F401 - registers
from scenarios import faults  # noqa: F401 - registers
from scenarios import malformed  # noqa: F401 - registers
from scenarios import outages  # noqa: F401 - registers

__all__: list[str] = []
