"""RabbitMQ from Debian on private loopback ports, with its own Erlang port mapper.

``epmd`` runs in the foreground as a process of its own (so it is stopped
with the stack; ``epmd -daemon``, which the broker would start otherwise,
leaves the process group and outlives ``rabbitmqctl stop``). The broker runs
from ``/usr/lib/rabbitmq/bin/rabbitmq-server`` with every file under the work
directory, a user of its own with a random password, and its AMQP, Erlang
distribution and port-mapper ports on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from typing import Callable

from scenarios.backends.process import (
    BackendError, Server, check_bindable, free_port, write_private,
)

__all__ = ["RabbitMQ", "SERVER", "check_installed"]

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
_INSTALL = ("install it: apt-get install --no-install-recommends rabbitmq-server "
            "(.ci/run does)")


def check_installed() -> None:
    """Raise BackendError unless Debian's rabbitmq-server and epmd are installed."""
    if not os.access(SERVER, os.X_OK):
        raise BackendError(f"rabbitmq: {SERVER} is missing; {_INSTALL}")
    if shutil.which("epmd") is None:
        raise BackendError(f"rabbitmq: epmd (Erlang) is missing; {_INSTALL}")


def _connects(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    return ready


class RabbitMQ:
    """The broker and its port mapper; ``transport_url`` once started."""

    def __init__(self, workdir: str, record: Callable[[str, int], None]):
        self.workdir = os.path.join(workdir, "rabbitmq")
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.user, self.password = "nova", secrets.token_urlsafe(12)
        self._record = record
        self._servers: list[Server] = []

    @property
    def transport_url(self) -> str:
        return f"rabbit://{self.user}:{self.password}@127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, "rabbitmq.out")

    def _env(self) -> dict[str, str]:
        w = self.workdir
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": w, "RABBITMQ_CONF_ENV_FILE": os.path.join(w, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(w, "rabbitmq"),  # .conf appended
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(w, "enabled_plugins"),
            "RABBITMQ_NODENAME": f"auditor-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": os.path.join(w, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(w, "log"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> "RabbitMQ":
        check_installed()
        for port in (self.port, self.dist_port, self.epmd_port):
            check_bindable(port)
        os.makedirs(os.path.join(self.workdir, "log"), mode=0o700, exist_ok=True)
        files = {"rabbitmq-env.conf": "", "enabled_plugins": "[].\n",
                 "rabbitmq.conf": (f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
                                   f"default_user = {self.user}\n"
                                   f"default_pass = {self.password}\n")}
        for name, text in files.items():
            write_private(os.path.join(self.workdir, name), text)
        env = self._env()
        epmd = Server("epmd", [shutil.which("epmd"), "-port", str(self.epmd_port),
                               "-address", "127.0.0.1"],
                      os.path.join(self.workdir, "epmd.out"), env=env,
                      ready=_connects(self.epmd_port), record=self._record)
        self._servers.append(epmd)
        epmd.start(timeout_s=20)
        broker = Server("rabbitmq", [SERVER], self.log_path, env=env, cwd=self.workdir,
                        ready=_connects(self.port), record=self._record)
        self._servers.append(broker)
        broker.start(timeout_s=90)
        return self

    def stop(self) -> None:
        while self._servers:
            self._servers.pop().stop()
