"""Build the live target: nova config, migrated SQLite DBs, real placement, Ironic computes.

One ``Environment`` per process (nova's and placement's database layers are
configured once per process); one ``Cluster`` per scenario: a simulated
Ironic, a conductor/scheduler stand-in, K nova-compute services and, for
each, nova's own ``ComputeManager`` with the real ``IronicDriver`` and
``ResourceTracker``. Neutron is a stand-in at its HTTP API
(``scenarios/standins/``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import tempfile
import threading
from typing import Callable, Iterator

from scenarios.backends import Backends
from scenarios.placement_server import PlacementServer
from scenarios.standins.images import ImageAPI
from scenarios.standins.neutron import NeutronStandIn

__all__ = ["Environment", "Cluster", "Compute"]

LOG_FILE = "nova.log"


_NOVA_CONF = """\
[DEFAULT]
transport_url = fake://nova:{transport_password}@/
compute_driver = ironic.IronicDriver
state_path = {workdir}
instances_path = {workdir}/instances
service_down_time = 3600
use_rootwrap_daemon = false
[database]
connection = {nova_db}
[api_database]
connection = {nova_api_db}
[oslo_concurrency]
lock_path = {workdir}/locks
[placement]
auth_type = admin_token
token = admin:{placement_token}
endpoint = {placement}
[key_manager]
fixed_key = {fixed_key}
[neutron]
auth_type = admin_token
token = {neutron_token}
endpoint = {neutron}
endpoint_override = {neutron}
[glance]
# nova's notifications turn image references into URLs with it; no request is made.
endpoint_override = http://glance.invalid:9292
[ironic]
api_retry_interval = 0
api_max_retries = 30
{ironic}[notifications]
notification_format = unversioned
[oslo_messaging_notifications]
driver = noop
"""


def _use_wal(path: str) -> None:
    """Let readers and a writer proceed together, as nova's threads do on a real DB server.

    WAL is a property of the database file, so every later connection gets it.
    """
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")


def _begin_immediate() -> None:
    """Make SQLite transactions take the write lock up front.

    oslo.db drives pysqlite's transactions itself and emits a deferred
    ``BEGIN`` unless ``conn.info["in_transaction"]`` is set. A deferred
    transaction that reads and then writes fails at once with "database is
    locked" when another thread wrote in between, where a real DB server
    would make it wait; ``BEGIN IMMEDIATE`` plus the busy timeout does wait.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "begin")
    def _begin(conn):
        if conn.dialect.name == "sqlite" and "in_transaction" not in conn.info:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.info["in_transaction"] = True


class Environment:
    """Config, databases and placement for this process (built once, see ``get``)."""

    _instance: "Environment | None" = None
    _guard = threading.Lock()

    def __init__(self, workdir: str, extra_config_files: tuple[str, ...] = (),
                 plant: Callable[[str], str] | None = None,
                 backends: Backends | None = None):
        self.workdir = workdir
        self.plant = plant or (lambda source: "s" + secrets.token_hex(8))
        self.extra_config_files = extra_config_files
        self.backends = backends or Backends()
        self.placement: PlacementServer | None = None
        self.neutron = NeutronStandIn()
        self.conf_file = os.path.join(workdir, "nova.conf")
        self._host_lock = threading.RLock()
        #: per host, the ``[ironic]`` options its service runs with (shard, conductor_group ...)
        self.ironic_options: dict[str, dict] = {}

    @classmethod
    def get(cls, workdir: str | None = None, extra_config_files: tuple[str, ...] = (),
            plant: Callable[[str], str] | None = None, ironic: str = "sim",
            db: str = "sqlite") -> "Environment":
        """The process's environment, built on first use, in a fresh 0700 directory
        (inside ``workdir`` if given).

        ``plant(source)`` supplies the secret config values (placement token,
        transport password, key manager key): the auditor's canaries.
        ``ironic`` (sim | real) and ``db`` (sqlite | postgresql | mysql | URL)
        choose the backends; servers they need are stopped when the process exits.
        """
        with cls._guard:
            if cls._instance is None:
                if workdir:  # a fresh directory per run inside it: reruns, both modes, concurrency
                    os.makedirs(workdir, mode=0o700, exist_ok=True)
                env = cls(tempfile.mkdtemp(prefix="run-" if workdir else "nova-rt-auditor-",
                                           dir=workdir or None),
                          extra_config_files, plant, Backends(ironic, db))
                env._build()
                cls._instance = env
            return cls._instance

    def _build(self) -> None:
        os.makedirs(os.path.join(self.workdir, "locks"), exist_ok=True)
        self._configure_logging()
        # -- backends: Ironic sim | real, database engine (stopped at exit) --
        backends = self.backends
        atexit.register(backends.stop)
        backends.start(self.workdir)
        if backends.sqlite:
            _begin_immediate()
        self.placement = PlacementServer(self.workdir,
                                         backends.db_url("placement", self.workdir))
        # -- end of backends --
        self.placement.start()
        self.neutron.start()
        with open(self.conf_file, "w") as f:
            f.write(_NOVA_CONF.format(
                nova_db=backends.db_url("nova", self.workdir),
                nova_api_db=backends.db_url("nova_api", self.workdir),
                ironic=backends.nova_conf(),
                workdir=self.workdir, placement=self.placement.endpoint,
                transport_password=self.plant("conf.DEFAULT.transport_url.password"),
                placement_token=self.plant("conf.placement.token"),
                neutron=self.neutron.endpoint, neutron_token=self.plant("conf.neutron.token"),
                fixed_key=self.plant("conf.key_manager.fixed_key")))

        import nova.conf
        import nova.config
        from nova import objects
        from nova.db import migration

        objects.register_all()
        nova.config.parse_args(
            ["nova-compute"],
            default_config_files=[self.conf_file, *self.extra_config_files])
        migration.db_sync(database="main")
        migration.db_sync(database="api")
        if backends.sqlite:
            for name in ("nova.sqlite", "nova_api.sqlite"):
                _use_wal(os.path.join(self.workdir, name))
        self.conf = nova.conf.CONF

    def _configure_logging(self) -> None:
        """Send nova's logs to a file in the work dir, not to the terminal."""
        handler = logging.FileHandler(os.path.join(self.workdir, LOG_FILE))
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)

    @contextlib.contextmanager
    def as_host(self, host: str) -> Iterator[None]:
        """Run code that reads ``CONF.host`` (the Ironic driver does) as ``host``.

        In a deployment each compute service is its own process; here they
        share one config, so host-scoped work is serialized. The host's
        ``[ironic]`` options (``ironic_options``) apply too.
        """
        options = self.ironic_options.get(host, {})
        with self._host_lock:
            old = self.conf.host
            old_options = {name: self.conf.ironic[name] for name in options}
            self.conf.set_override("host", host)
            for name, value in options.items():
                self.conf.set_override(name, value, group="ironic")
            try:
                yield
            finally:
                for name, value in old_options.items():
                    self.conf.set_override(name, value, group="ironic")
                self.conf.set_override("host", old)

    def admin_context(self):
        from nova import context

        return context.get_admin_context()


class Compute:
    """One nova-compute service: its Service record, manager, driver and tracker."""

    def __init__(self, env: Environment, host: str, ironic, conductor):
        from nova import objects

        self.env = env
        self.host = host
        self.ironic = ironic
        self.conductor = conductor
        ctx = env.admin_context()
        self.service = objects.Service(
            ctx, host=host, binary="nova-compute", topic="compute", report_count=0)
        self.service.create()
        self._start()

    def _start(self) -> None:
        from nova.compute import manager as compute_manager

        with self.env.as_host(self.host):
            self.manager = compute_manager.ComputeManager(
                compute_driver="ironic.IronicDriver")
        # Client boundaries: Ironic's SDK connection, the conductor's RPC API, the image API.
        self.manager.compute_task_api = self.conductor
        self.manager.image_api = ImageAPI()
        self.driver = self.manager.driver
        self.driver._ironic_connection = self.env.backends.nova_connection(self.ironic)
        self.rt = self.manager.rt
        self.manager.service_ref = self.service
        self.rt.set_service_ref(self.service)

    def restart(self, new_service: bool = False) -> None:
        """Restart this nova-compute: a fresh manager, driver and tracker on the same host.

        ``new_service``: the Service record was deleted and the service
        registers anew (a new service id; nova soft-deletes the old record's
        compute nodes with it).
        """
        from nova import objects

        if new_service:
            self.close()
            self.service = objects.Service(
                self.env.admin_context(), host=self.host, binary="nova-compute",
                topic="compute", report_count=0)
            self.service.create()
        self._start()

    def periodic(self, startup: bool = False) -> None:
        """nova's own ``update_available_resource`` periodic task for this service."""
        with self.env.as_host(self.host):
            self.manager.update_available_resource(self.env.admin_context(), startup=startup)

    def configure_ironic(self, **options) -> None:
        """Set this service's ``[ironic]`` options (shard, conductor_group, peer_list)."""
        self.env.ironic_options[self.host] = dict(options)

    @property
    def partition(self) -> tuple[str | None, str | None]:
        """The ``(shard, conductor_group)`` this service is configured for (None: unset)."""
        options = self.env.ironic_options.get(self.host, {})
        return options.get("shard"), options.get("conductor_group")

    def set_up(self, up: bool) -> None:
        """Mark the service up or (forced) down, as the hash ring sees it."""
        self.service.forced_down = not up
        self.service.save()

    def close(self) -> None:
        """Remove the service so later clusters do not hash nodes onto it."""
        from nova import exception

        try:
            self.service.destroy()
        except exception.ServiceNotFound:
            pass  # already deleted (a scenario deleted the record)


class Cluster:
    """An Ironic deployment (simulated or real) and the compute services that manage it."""

    def __init__(self, env: Environment, hosts: list[str], seed: int = 0):
        self.env = env
        from scenarios.standins.conductor import Conductor

        # Seeded by the hosts too: clusters share one DB, so node uuids must differ.
        self.ironic = env.backends.new_ironic(seed=f"{','.join(hosts)}:{seed}")
        self.computes: dict[str, Compute] = {}
        self.conductor = Conductor(self, hosts, seed)
        self.computes.update({h: Compute(env, h, self.ironic, self.conductor) for h in hosts})

    def close(self) -> None:
        """Remove the services and the providers of this cluster's nodes from placement."""
        for compute in self.computes.values():
            compute.close()
            self.env.ironic_options.pop(compute.host, None)
        placement = self.conductor.placement
        for node in self.ironic.uuids():
            for consumer in placement.get(
                    f"/resource_providers/{node}/allocations").json().get("allocations", {}):
                placement.delete(f"/allocations/{consumer}")
            placement.delete(f"/resource_providers/{node}")
        self.env.backends.release_ironic(self.ironic)
