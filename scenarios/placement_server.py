"""The real openstack-placement WSGI application served on a loopback port."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import threading
import time
from collections import Counter

__all__ = ["PlacementServer", "SERVER_THREAD_PREFIX", "PlacementFault", "PlacementFaults",
           "PLACEMENT_FAULT_KINDS", "serve", "stop"]

PLACEMENT_FAULT_KINDS = ("conflict", "server-error", "unavailable", "slow", "disconnect")
_STATUS = {"conflict": (409, "Conflict", "placement.concurrent_update"),
           "server-error": (500, "Internal Server Error", "placement.undefined_code"),
           "unavailable": (503, "Service Unavailable", "placement.undefined_code")}


@dataclasses.dataclass
class PlacementFault:
    """Answer ``times`` requests matching ``method`` and ``path`` (a regex) with ``kind``.

    ``conflict``: 409 with placement's generation-conflict code; ``server-error``/
    ``unavailable``: 500/503; ``slow``: answer normally after ``delay_s``;
    ``disconnect``: close the connection without answering (a connection failure).
    """

    kind: str
    method: str | None = None
    path: str | None = None
    times: int = 1
    delay_s: float = 0.0

    def __post_init__(self):
        if self.kind not in PLACEMENT_FAULT_KINDS:
            raise ValueError(f"unknown placement fault {self.kind!r}; "
                             f"expected one of {PLACEMENT_FAULT_KINDS}")


class PlacementFaults:
    """Faults armed by scenarios, taken by the server's request path (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[PlacementFault] = []
        self.hits: Counter[str] = Counter()

    def arm(self, fault: PlacementFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str,
             kinds: tuple[str, ...] = PLACEMENT_FAULT_KINDS) -> PlacementFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds:
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.path and not re.search(fault.path, path):
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                self.hits[fault.kind] += 1
                return fault
        return None


_ANSWERED = ("conflict", "server-error", "unavailable", "slow")


def _faulty(app, faults: PlacementFaults):
    """WSGI middleware in front of placement that answers armed faults."""

    def middleware(environ, start_response):
        path = environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")
        fault = faults.take(environ["REQUEST_METHOD"], path, _ANSWERED)
        if fault is None:
            return app(environ, start_response)
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.kind == "slow":
            return app(environ, start_response)
        status, title, code = _STATUS[fault.kind]
        body = json.dumps({"errors": [{"status": status, "title": title, "code": code,
                                       "detail": f"injected {fault.kind}",
                                       "request_id": "req-injected"}]}).encode()
        start_response(f"{status} {title}", [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body)))])
        return [body]

    return middleware

#: Threads serving placement requests are named with this prefix. Placement is
#: a separate service in a deployment; the auditor ignores what these threads do.
SERVER_THREAD_PREFIX = "placement-server-"
_serial = itertools.count(1)


def _make_server(app, faults: "PlacementFaults | None" = None,
                 thread_prefix: str = SERVER_THREAD_PREFIX):
    """A threading WSGI server on 127.0.0.1 whose request threads are named ``thread_prefix<n>``.

    socketserver binds its selector class at import time, so it is imported
    here, after eventlet's monkey patching (in eventlet mode) has happened.
    """
    import socketserver
    from wsgiref import simple_server

    class QuietHandler(simple_server.WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - stdlib signature
            pass

        def parse_request(self):
            if not super().parse_request():
                return False
            if faults is not None and faults.take(self.command, self.path, ("disconnect",)):
                self.close_connection = True
                return False  # no answer at all: the client sees the connection drop
            return True

    class ThreadingWSGIServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
        daemon_threads = True

        def process_request(self, request, client_address):
            # Named so the auditor can tell the server's threads from nova's.
            threading.Thread(target=self.process_request_thread, args=(request, client_address),
                             name=f"{thread_prefix}{next(_serial)}", daemon=True).start()

    return simple_server.make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer,
                                     handler_class=QuietHandler)


def serve(app, faults: "PlacementFaults | None" = None, thread_prefix: str = SERVER_THREAD_PREFIX):
    """Serve ``app`` on a free 127.0.0.1 port from a daemon thread; ``stop(server)`` ends it."""
    server = _make_server(app, faults, thread_prefix)
    threading.Thread(target=server.serve_forever, name=f"{thread_prefix}listener",
                     daemon=True).start()
    return server


def stop(server) -> None:
    """Stop serving and close the listening socket."""
    server.shutdown()
    server.server_close()


class PlacementServer:
    """Placement with its own config and SQLite database on 127.0.0.1."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.db_path = os.path.join(workdir, "placement.sqlite")
        self._server = None
        self.faults = PlacementFaults()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "PlacementServer":
        from oslo_config import cfg
        from placement import conf as placement_conf
        from placement import db_api, deploy
        from placement.db.sqlalchemy import migration

        conf_file = os.path.join(self.workdir, "placement.conf")
        with open(conf_file, "w") as f:
            f.write(
                "[placement_database]\n"
                f"connection = sqlite:///{self.db_path}?timeout=60\n"
                "[api]\nauth_strategy = noauth2\n"
            )
        conf = cfg.ConfigOpts()
        placement_conf.register_opts(conf)
        conf([], project="placement", default_config_files=[conf_file])
        db_api.configure(conf)
        migration.upgrade("head")
        app = deploy.loadapp(conf)
        self._server = serve(_faulty(app, self.faults), self.faults)
        return self

    def stop(self) -> None:
        if self._server is not None:
            stop(self._server)
            self._server = None
