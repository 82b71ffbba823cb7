"""A fault-injecting HTTP proxy between nova and a real service (Ironic).

Nova's SDK connection points at the proxy; the proxy forwards every request
to the service unchanged unless a fault is armed: then it answers 503/500/
409, answers 504 after a delay (a load balancer's timeout), drops the
connection, or, for ``vanish``, deletes a listed node in Ironic between the
listing and nova's next read of it (Ironic refuses to delete nodes it would
refuse an operator, e.g. active ones). ``times=None`` faults last until
cleared: a sustained outage.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

from scenarios.standins.http import HttpFault, HttpFaults, Served

__all__ = ["FaultProxy", "http_fault", "SDK_CALLS"]

#: openstacksdk baremetal call (as the simulator names it) -> (HTTP method, path regex)
SDK_CALLS = {
    "nodes": ("GET", r"^/v1/nodes/?(\?|$)"),
    "get_node": ("GET", r"^/v1/nodes/[^/?]+/?(\?|$)"),
    "update_node": ("PATCH", r"^/v1/nodes/[^/?]+/?(\?|$)"),
    "patch_node": ("PATCH", r"^/v1/nodes/[^/?]+/?(\?|$)"),
    "set_node_provision_state": ("PUT", r"/states/provision"),
    "set_node_power_state": ("PUT", r"/states/power"),
    "validate_node": ("GET", r"/validate"),
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade",
               "proxy-authenticate", "proxy-authorization", "trailer", "content-length"}


def http_fault(fault) -> HttpFault:
    """The HTTP equivalent of a simulator ``Fault`` (same kind, methods, node, times)."""
    method, path = None, None
    if len(fault.methods) == 1:
        method, path = SDK_CALLS[fault.methods[0]]
        if fault.node and fault.methods[0] != "nodes":
            path = path.replace("[^/?]+", fault.node)
    elif fault.methods:
        raise ValueError(f"one SDK call per fault on real Ironic, got {fault.methods}")
    if fault.kind == "vanish":
        method, path = SDK_CALLS["nodes"]
    kind = {"unavailable": "unavailable", "timeout": "timeout", "server-error": "server-error",
            "conflict": "conflict", "vanish": "vanish"}[fault.kind]
    return HttpFault(kind, method, path, times=fault.times, delay_s=fault.delay_s,
                     node=fault.node)


class FaultProxy(Served):
    """Forwards HTTP to ``upstream`` (``http://127.0.0.1:PORT``); ``faults`` arms failures."""

    def __init__(self, upstream: str):
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname, parsed.port)
        self.faults = HttpFaults()

    def start(self) -> "FaultProxy":
        self._serve(self._app, self.faults)
        return self


    def _forward(self, method: str, target: str, headers: dict, body: bytes | None):
        conn = http.client.HTTPConnection(*self._upstream, timeout=120)
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _app(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        target = environ.get("PATH_INFO", "/")
        if environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_") and k[5:].lower() not in _HOP_BY_HOP}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        status, reason, resp_headers, data = self._forward(method, target, headers, body)
        if status == 200:
            vanish = self.faults.take(method, target, ("vanish",))
            if vanish is not None:
                self._vanish(vanish, data, headers)
        start_response(f"{status} {reason}",
                       [(k, v) for k, v in resp_headers if k.lower() not in _HOP_BY_HOP]
                       + [("Content-Length", str(len(data)))])
        return [data]

    def _vanish(self, fault: HttpFault, listing: bytes, headers: dict) -> None:
        """Delete the fault's node (or the first listed one Ironic lets go) in Ironic."""
        try:
            listed = [n.get("uuid") for n in json.loads(listing).get("nodes", [])]
        except ValueError:
            return
        candidates = [fault.node] if fault.node in listed else ([] if fault.node else listed)
        for node in candidates:
            status, *_ = self._forward("DELETE", f"/v1/nodes/{node}", headers, None)
            if status < 300:
                return
