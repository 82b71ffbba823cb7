"""Stand the stack up and take it down: RabbitMQ, placement, Ironic, nova-conductor, N computes.

Every service is a process of its own, started by its console script with a
generated configuration, on 127.0.0.1, in a process group recorded in the
work directory (``groups``). The computes are traced the way docs/tracing.md
tells a devstack operator to: the ``.pth`` installed into the venv with
``auditor trace install --venv``, and ``AUDITOR_TRACE`` (plus the interval and
the secrets file) in the unit's environment. Glance and neutron are stand-ins
served from this process (their HTTP APIs, see ``scenarios/standins``).
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Callable

from auditor.hashed_secrets import ENV_SECRETS_FILE
from scenarios.backends.process import (
    BackendError, Server, free_port, log_tail, write_private,
)
from scenarios.stack import conf
from scenarios.stack import groups
from scenarios.stack.groups import Groups
from scenarios.stack.rabbit import RabbitMQ

__all__ = ["Stack", "TRACE_DIR", "SECRETS_FILE", "ENV_SECRETS", "compute_host"]

TRACE_DIR = "traces"
SECRETS_FILE = "secrets"
#: The tracer reads extra secrets to watch from the 0600 file this names (one a line).
ENV_SECRETS = ENV_SECRETS_FILE
_MODE_ENV = {"threading": "1", "eventlet": "0"}


def compute_host(i: int) -> str:
    return f"compute-{i}"


def _script(name: str) -> str:
    """A console script of this venv (the stack runs the venv's own services)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.access(path, os.X_OK):
        raise BackendError(f"{name}: not installed next to {sys.executable}; "
                           f"pip install -c constraints.txt -e '.[backends]'")
    return path


def _service_up(engine, binary: str, host: str) -> Callable[[], bool]:
    """Ready when the service has reported to the cell database at least once."""
    import sqlalchemy

    query = sqlalchemy.text("SELECT report_count FROM services WHERE \"binary\" = :b "
                            "AND host = :h AND deleted = 0")

    def ready() -> bool:
        with engine.connect() as conn:
            row = conn.execute(query, {"b": binary, "h": host}).first()
        return bool(row and row[0] > 0)
    return ready


def _answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    return ready


class Stack:
    """One stack in ``workdir`` for one concurrency ``mode``; ``start``, then ``stop``."""

    def __init__(self, workdir: str, *, mode: str, computes: int, nodes: int,
                 timing: conf.Timing = conf.Timing(), interval_s: float = 5.0):
        self.workdir, self.mode, self.computes, self.nodes = workdir, mode, computes, nodes
        self.timing, self.interval_s = timing, interval_s
        self.groups = Groups(workdir)
        os.environ[groups.MARKER] = os.path.abspath(workdir)  # every child inherits it
        self.trace_dir = os.path.join(workdir, TRACE_DIR)
        self.database = None
        self.tokens = {"placement": "admin", "neutron": secrets.token_hex(8)}
        self.rabbit = RabbitMQ(workdir, self.groups.record)
        self.glance = self.neutron = self.ironic_server = self.ironic = None
        self.servers: dict[str, Server] = {}
        self.driver_conf = os.path.join(workdir, "nova-driver.conf")
        self.node_secrets: list[str] = []
        self.timings: dict[str, float] = {}  # start-up step -> seconds
        self._pth_hold: str | None = None    # venv.hold's token
        self._stopping = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(computes + 5,
                                                           thread_name_prefix="stack-start")
        self.placement_endpoint = f"http://127.0.0.1:{free_port()}"

    # -- start -----------------------------------------------------------------

    def start(self) -> "Stack":
        """Start everything, independent parts at once; on any failure stop what started."""
        try:
            os.makedirs(self.trace_dir, mode=0o700, exist_ok=True)
            self._stage(("postgresql", self._databases), ("stand-ins", self._standins))
            from scenarios.backends.ironic import IronicServer

            self.ironic_server = IronicServer(self.workdir, self.glance.endpoint,
                                              record=self.groups.record)
            self._stage(("rabbitmq", self.rabbit.start), ("ironic", self._ironic),
                        ("placement", self._placement), ("nova databases", self._nova_databases),
                        ("trace install", self._install_pth))
            self._stage(("nova-conductor", lambda: self._service(
                "nova-conductor", "conductor", traced=False)),
                *((compute_host(i), lambda i=i: self._service(
                    "nova-compute", compute_host(i), traced=True))
                  for i in range(1, self.computes + 1)))
            return self
        except BaseException:
            self.stop()
            raise

    def _stage(self, *steps) -> None:
        """Run ``(name, step)`` pairs at once, time each; on a failure (or Ctrl-C) stop at
        once what is up, let the other steps end, and raise the first error.

        The pool's threads live until ``stop``: a child started from a thread gets
        SIGTERM when that thread ends (``PR_SET_PDEATHSIG`` is per thread).
        """
        def timed(name, step):
            t = time.monotonic()
            step()
            self.timings[name] = time.monotonic() - t

        futures = [self._pool.submit(timed, name, step) for name, step in steps]
        try:
            done, _ = concurrent.futures.wait(
                futures, return_when=concurrent.futures.FIRST_EXCEPTION)
            failed = [f.exception() for f in futures if f in done and f.exception()]
            if not failed:
                return
            error: BaseException = failed[0]
        except BaseException as e:  # Ctrl-C while waiting
            error = e
        self._stopping.set()
        groups.down(self.workdir, grace_s=5)  # steps waiting on a stopped service end now
        concurrent.futures.wait(futures)
        raise error

    def _checkpoint(self, what: str) -> None:
        """Refuse to start ``what`` once the stack is being stopped."""
        if self._stopping.is_set():
            raise BackendError(f"{what}: not started, the stack is stopping")

    def _databases(self) -> None:
        """A throwaway PostgreSQL for nova and placement: several processes write at once
        (conductor, placement, this driver), which SQLite answers with "database is locked"."""
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        from scenarios.backends.database import open_database

        self.database = open_database("postgresql", record=self.groups.record)
        self.db_urls = {role: self.database.url(role, self.workdir)
                        for role in ("nova", "nova_api", "nova_cell0", "placement")}
        self.cell_engine = sqlalchemy.create_engine(self.db_urls["nova"], poolclass=NullPool)

    def _standins(self) -> None:
        from scenarios.standins.glance import GlanceStandIn
        from scenarios.standins.images import IMAGE
        from scenarios.standins.neutron import NeutronStandIn

        self.glance = GlanceStandIn()
        self.glance.add(IMAGE)
        self.glance.start()
        self.neutron = NeutronStandIn().start()

    def _ironic(self) -> None:
        """Ironic, then its nodes (``_enrol``)."""
        from scenarios.backends.ironic import RealIronic

        self.ironic_server.start()
        self.ironic = RealIronic(self.ironic_server.endpoint, glance=self.glance)
        self._enrol()

    def _run(self, what: str, argv: list[str], env: dict | None = None) -> None:
        """Run a set-up command to its end (in a recorded process group: a failure elsewhere
        stops it too); its output goes to ``setup.log``."""
        self._checkpoint(what)
        log = os.path.join(self.workdir, "setup.log")
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.groups.record(what.split(" (")[0], proc.pid)
        if proc.wait() != 0:
            raise BackendError(f"{what} failed ({proc.returncode}); {log}: {log_tail(log)}")

    def _placement(self) -> None:
        pdir = os.path.join(self.workdir, "placement")
        os.makedirs(pdir, exist_ok=True)
        conf_file = os.path.join(pdir, "placement.conf")
        write_private(conf_file, conf.placement_conf(log=os.path.join(pdir, "placement.log"),
                                                db=self.db_urls["placement"]))
        self._run("placement-manage db sync",
                  [_script("placement-manage"), "--config-file", conf_file, "db", "sync"])
        env = {**os.environ, "OS_PLACEMENT_CONFIG_DIR": pdir}
        bind = self.placement_endpoint.removeprefix("http://")
        self._start(Server("placement", [_script("cheroot"), "--bind", bind,
                                         "--threads", "8", "placement.wsgi.api:application"],
                           os.path.join(pdir, "placement.out"), env=env,
                           ready=_answers(self.placement_endpoint), record=self.groups.record))

    def log(self, host: str) -> str:
        """The log file of nova service ``host`` (a compute, ``conductor``)."""
        return os.path.join(self.workdir, f"nova-{host}.log")

    def _conf(self, host: str, databases: bool) -> str:
        """Write the nova.conf of ``host`` (``driver``: the stack's own client); its path."""
        state = os.path.join(self.workdir, host)
        os.makedirs(os.path.join(state, "locks"), exist_ok=True)
        path = os.path.join(self.workdir, f"nova-{host}.conf")
        write_private(path, conf.nova_conf(
            host=host, state=state, log=self.log(host),
            transport_url=self.rabbit.transport_url, timing=self.timing, tokens=self.tokens,
            endpoints={"placement": self.placement_endpoint, "neutron": self.neutron.endpoint,
                       "glance": self.glance.endpoint, "ironic": self.ironic_server.endpoint},
            databases={"cell": self.db_urls["nova"], "api": self.db_urls["nova_api"]}
            if databases else None))
        return path

    def _nova_databases(self) -> None:
        """nova's databases by nova-manage's commands (``novadb``): API DB, cell0, cell1."""
        path = self._conf("driver", databases=True)
        os.replace(path, self.driver_conf)
        self._run("nova-manage (api_db sync, cell_v2 map_cell0, create_cell, db sync)",
                  [sys.executable, "-m", "scenarios.stack.novadb", self.driver_conf,
                   self.db_urls["nova_cell0"]])

    def _enrol(self) -> None:
        """Enrol the fake-hardware nodes, each with a secret in ``driver_info``; write the
        secrets file the traced computes watch (0600, one secret a line)."""
        for i in range(self.nodes):
            password = secrets.token_urlsafe(16)
            self.node_secrets.append(password)
            self.ironic.enroll(name=f"node-{i}", driver_info={
                "ipmi_address": "127.0.0.1", "ipmi_username": "admin",
                "ipmi_password": password})
        self.ironic.settle()
        write_private(os.path.join(self.workdir, SECRETS_FILE),
                 "".join(f"{s}\n" for s in self.node_secrets))

    def _install_pth(self) -> None:
        """``auditor trace install --venv`` (docs/tracing.md) unless installed already; held
        so that the last stack of this venv to stop uninstalls it (one installed by hand stays)."""
        from auditor.tracing import venv

        self._pth_hold = venv.hold(sys.prefix, lambda: self._run(
            "auditor trace install",
            [_script("auditor"), "trace", "install", "--venv", sys.prefix]))

    def service_env(self, host: str, traced: bool) -> dict[str, str]:
        """The unit's environment: the concurrency mode; for a traced unit, the recipe's
        ``AUDITOR_TRACE`` (one file per process), interval and secrets file."""
        env = {**os.environ, "OS_NOVA_DISABLE_EVENTLET_PATCHING": _MODE_ENV[self.mode]}
        if traced:
            env["AUDITOR_TRACE"] = os.path.join(self.trace_dir, f"auditor-{host}-{{pid}}.jsonl")
            env["AUDITOR_TRACE_INTERVAL"] = str(self.interval_s)
            env[ENV_SECRETS] = os.path.join(self.workdir, SECRETS_FILE)
        return env

    def _service(self, binary: str, host: str, traced: bool) -> None:
        conf_file = self._conf(host, databases=binary != "nova-compute")
        self._start(Server(
            f"{binary} ({host})", [_script(binary), "--config-file", conf_file],
            self.log(host), env=self.service_env(host, traced),
            ready=_service_up(self.cell_engine, binary, host), record=self.groups.record), key=host)

    def _start(self, server: Server, key: str | None = None) -> None:
        self._checkpoint(server.name)
        self.servers[key or server.name] = server
        server.start(timeout_s=120)

    # -- stop ------------------------------------------------------------------

    def stop_service(self, key: str) -> None:
        """Stop one service as a service manager does: SIGTERM, SIGKILL after a grace."""
        server = self.servers.pop(key, None)
        if server is not None:
            server.stop(grace_s=20)

    def stop(self) -> None:
        """Stop everything started, computes first (idempotent)."""
        for key in reversed(list(self.servers)):
            self.stop_service(key)
        for part in (self.ironic_server, self.neutron, self.glance, self.rabbit, self.database):
            if part is not None:
                part.stop()
        self.ironic_server = self.neutron = self.glance = self.database = None
        if self.ironic is not None:
            self.ironic._pool.shutdown()
            self.ironic = None
        if self._pth_hold is not None:
            from auditor.tracing import venv

            venv.release(sys.prefix, self._pth_hold)
            self._pth_hold = None
        self._pool.shutdown(wait=False)
        groups.down(self.workdir)  # anything a start still in progress launched meanwhile
