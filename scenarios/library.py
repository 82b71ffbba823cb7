"""The built-in scenarios: importing this module registers them all in ``scenarios.api.REGISTRY``."""

from scenarios import concurrent_claims  # noqa: F401 - registers

__all__: list[str] = []
