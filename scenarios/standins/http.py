"""Loopback WSGI servers for stand-ins and proxies, with HTTP faults armed by scenarios.

One fault model serves placement (in front of the real placement app) and the
proxy in front of real Ironic: a fault answers matching requests with an
error, answers late, drops the connection, or (proxy only) deletes a listed
node before the listing reaches nova.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import threading
import time
from collections import Counter

__all__ = ["HttpFault", "HttpFaults", "FAULT_KINDS", "faulty", "make_server", "serve",
           "SERVER_THREAD_PREFIX", "Served"]

FAULT_KINDS = ("conflict", "server-error", "unavailable", "timeout", "slow", "disconnect",
               "vanish")
_STATUS = {"conflict": (409, "Conflict", "placement.concurrent_update"),
           "server-error": (500, "Internal Server Error", "placement.undefined_code"),
           "unavailable": (503, "Service Unavailable", "placement.undefined_code"),
           "timeout": (504, "Gateway Timeout", "placement.undefined_code")}
_ANSWERED = ("conflict", "server-error", "unavailable", "timeout", "slow")


@dataclasses.dataclass
class HttpFault:
    """Answer ``times`` requests matching ``method`` and ``path`` (a regex) with ``kind``.

    ``conflict``/``server-error``/``unavailable``: 409 (placement's generation
    conflict code)/500/503; ``timeout``: 504 after ``delay_s``, as a load
    balancer answers when the service behind it does not; ``slow``: answer
    normally after ``delay_s``; ``disconnect``: close the connection without
    answering; ``vanish`` (Ironic proxy): delete ``node`` (or the first listed
    node Ironic lets go) between the listing and nova's next read.
    ``times=None``: every matching request until the fault is cleared (an outage).
    """

    kind: str
    method: str | None = None
    path: str | None = None
    times: int | None = 1
    delay_s: float = 0.0
    node: str | None = None

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown HTTP fault {self.kind!r}; expected one of {FAULT_KINDS}")


class HttpFaults:
    """Faults armed by scenarios, taken by a server's request path (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[HttpFault] = []
        self.hits: Counter[str] = Counter()

    def arm(self, fault: HttpFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str,
             kinds: tuple[str, ...] = FAULT_KINDS) -> HttpFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds:
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.path and not re.search(fault.path, path):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                self.hits[fault.kind] += 1
                return fault
        return None


def faulty(app, faults: HttpFaults):
    """WSGI middleware that answers armed faults before ``app`` sees the request."""

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


#: Threads serving stand-in requests are named with this prefix. They are other
#: services in a deployment; the auditor ignores what these threads do.
SERVER_THREAD_PREFIX = "placement-server-"
_serial = itertools.count(1)


def make_server(app, faults: HttpFaults | None = None):
    """A threading WSGI server on 127.0.0.1 (a free port).

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
                             name=f"{SERVER_THREAD_PREFIX}{next(_serial)}", daemon=True).start()

    return simple_server.make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer,
                                     handler_class=QuietHandler)


def serve(app, faults: HttpFaults | None = None):
    """Serve ``app`` (behind ``faults``) in a background thread; returns the server.

    ``server.shutdown(); server.server_close()`` stops it.
    """
    server = make_server(faulty(app, faults) if faults is not None else app, faults)
    threading.Thread(target=server.serve_forever, name=f"{SERVER_THREAD_PREFIX}listener",
                     daemon=True).start()
    return server


class Served:
    """A service this process serves on loopback: ``_serve(app)``, ``endpoint``, ``stop()``."""

    _server = None

    def _serve(self, app, faults: HttpFaults | None = None) -> None:
        self._server = serve(app, faults)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
