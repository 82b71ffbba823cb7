"""A neutron stand-in: the part of the networking API nova's build and delete flows call.

Served over HTTP on 127.0.0.1, so nova's own neutron client code
(``nova.network.neutron``) runs unchanged. Baremetal instances here are
booted with ``--nic none``, so nova never allocates a port; what it still
asks, and what this answers:

- ``GET /v2.0/ports?device_id=...`` (network info refresh after a failed
  build, ``deallocate_for_instance`` on delete): the ports whose fields
  match the query (none unless a test added some with ``add_port``);
- ``GET /v2.0/<collection>`` for any other collection (networks, floating
  IPs, extensions, ...): an empty list;
- ``DELETE /v2.0/ports/<id>``: removes the port (404 if unknown);
- anything else: 404.

``garble(times)`` makes the next answers invalid (a 200 whose body is not
JSON), to show that nova's flows turn a misbehaving neutron into an error
instead of a hang.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections import Counter

from scenarios.standins.http import Served

__all__ = ["NeutronStandIn"]


class NeutronStandIn(Served):
    """An in-memory neutron API on a loopback port; ``requests`` counts "METHOD /path"."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ports: dict[str, dict] = {}
        self._garbled = 0
        self.requests: Counter[str] = Counter()

    def start(self) -> "NeutronStandIn":
        self._serve(self._app)
        return self

    def add_port(self, port_id: str, device_id: str, **fields) -> None:
        """A port bound to ``device_id`` (an instance uuid)."""
        with self._lock:
            self._ports[port_id] = {"id": port_id, "device_id": device_id, **fields}

    def garble(self, times: int = 1) -> None:
        """Answer the next ``times`` requests with a body that is not JSON (0: answer well again)."""
        with self._lock:
            self._garbled = times

    def _answer(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, object]:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "v2.0":
            return 404, {"NeutronError": {"message": f"no such path {path}"}}
        parts = [p.removesuffix(".json") for p in parts[1:]]
        if method == "GET" and len(parts) == 1:
            items = list(self._ports.values()) if parts[0] == "ports" else []
            wanted = {k: set(v) for k, v in query.items() if k != "fields"}
            return 200, {parts[0]: [i for i in items
                                    if all(str(i.get(k)) in v for k, v in wanted.items())]}
        if method == "DELETE" and len(parts) == 2 and parts[0] == "ports":
            if self._ports.pop(parts[1], None) is None:
                return 404, {"NeutronError": {"type": "PortNotFound",
                                              "message": f"Port {parts[1]} could not be found."}}
            return 204, None
        return 404, {"NeutronError": {"message": f"{method} {path} is not answered here"}}

    def _app(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        with self._lock:
            self.requests[f"{method} {path}"] += 1
            garbled = self._garbled > 0
            self._garbled -= garbled
            status, body = (200, None) if garbled else self._answer(method, path, query)
        data = b"<html>garbage" if garbled else (b"" if body is None else json.dumps(body).encode())
        reason = {200: "OK", 204: "No Content", 404: "Not Found"}[status]
        start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(data)))])
        return [data]
