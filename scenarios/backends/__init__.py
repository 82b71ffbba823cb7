"""The services under nova, embedded or real: Ironic (``sim`` | ``real``) and the database engine.

``Backends(ironic, db)`` starts what the choice needs (``start``), says how
nova and placement reach it (``nova_conf``, ``db_url``), gives each cluster
its Ironic (``new_ironic``), names what ran in the report (``describe``), and
stops everything it started (``stop``, also on a failed start).
"""

from __future__ import annotations

from typing import Any

from scenarios.backends.database import (
    ENGINES, Database, check_engine, check_url, open_database,
)
from scenarios.backends.process import BackendError

__all__ = ["Backends", "BackendError", "IRONIC_BACKENDS", "check", "ENGINES"]

IRONIC_BACKENDS = ("sim", "real")


def check(ironic: str, db: str) -> None:
    """Validate the choice before any work: installed packages, a URL that answers."""
    if ironic not in IRONIC_BACKENDS:
        raise BackendError(f"--ironic: expected sim or real, got {ironic!r}")
    if ironic == "real":
        from scenarios.backends.ironic import check_installed

        check_installed()
    if db not in ENGINES:
        check_url(db)
    elif db != "sqlite":
        check_engine(db)


class Backends:
    """The chosen Ironic and database for one process's environment."""

    def __init__(self, ironic: str = "sim", db: str = "sqlite"):
        check(ironic, db)
        self.ironic, self.db_spec = ironic, db
        self.database: Database | None = None
        self.glance = self.ironic_server = self.proxy = None

    def start(self, workdir: str) -> "Backends":
        """Start the database (and Ironic, its Glance stand-in and the fault proxy)."""
        try:
            self.database = open_database(self.db_spec)
            if self.ironic == "real":
                from scenarios.backends.ironic import IronicServer
                from scenarios.fault_proxy import FaultProxy
                from scenarios.standins.images import IMAGE
                from scenarios.standins.glance import GlanceStandIn

                self.glance = GlanceStandIn()
                self.glance.add(IMAGE)
                self.glance.start()
                self.ironic_server = IronicServer(workdir, self.glance.endpoint).start()
                self.proxy = FaultProxy(self.ironic_server.endpoint).start()
            return self
        except BaseException:
            self.stop()
            raise

    def db_url(self, role: str, workdir: str) -> str:
        """The URL of the database for ``role`` (nova, nova_api, placement)."""
        return self.database.url(role, workdir)

    @property
    def sqlite(self) -> bool:
        return self.database.engine == "sqlite"

    def nova_conf(self) -> str:
        """nova.conf lines for the ``[ironic]`` section: how nova's SDK reaches Ironic."""
        if self.ironic != "real":
            return ""
        # nova -> fault proxy -> Ironic, no keystone; a timeout so a hung call fails
        return f"auth_type = none\nendpoint_override = {self.proxy.endpoint}\n"

    def new_ironic(self, seed: str) -> Any:
        """The Ironic a new cluster manages: a fresh simulator, or the real one's inventory."""
        if self.ironic == "real":
            from scenarios.backends.ironic import RealIronic

            return RealIronic(self.ironic_server.endpoint, self.proxy, self.glance)
        from scenarios.ironic_sim import FakeIronic

        return FakeIronic(seed=seed)

    def nova_connection(self, ironic: Any) -> Any:
        """What a compute's IronicDriver uses as its SDK connection.

        The simulator stands in for the connection; with real Ironic, None lets the
        driver build its own openstacksdk connection from ``[ironic]`` (over HTTP).
        """
        return None if self.ironic == "real" else ironic

    def release_ironic(self, ironic: Any) -> None:
        """A cluster is done with its Ironic: real nodes are deleted for the next cluster."""
        if self.ironic == "real":
            ironic.purge()

    def describe(self) -> dict:
        """The report's ``target`` entries: ``ironic`` and ``database``."""
        from scenarios.ironic_sim import MODELLED_VERSION

        version = self.ironic_server.version if self.ironic == "real" else MODELLED_VERSION
        return {"ironic": {"backend": self.ironic, "version": version},
                "database": self.database.describe() if self.database else self.db_spec}

    def stop(self) -> None:
        for part in (self.proxy, self.ironic_server, self.glance, self.database):
            if part is not None:
                part.stop()
        self.glance = self.ironic_server = self.proxy = self.database = None
