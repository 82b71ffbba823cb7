"""A Glance v2 stand-in: the image API answers Ironic (and nova) need to resolve an image id.

Real Ironic resolves the image id nova puts in a node's ``instance_info.image_source``
through Glance (``GET /v2/images/{id}``) before it deploys; this answers that
(and the version document keystoneauth discovers first) for the images it
was given. Unknown ids get Glance's 404.
"""

from __future__ import annotations

import json
import threading

from scenarios.standins.http import Served

__all__ = ["GlanceStandIn"]

_CREATED = "2026-08-01T00:00:00Z"


class GlanceStandIn(Served):
    """``add(image)`` then ``start()``; ``endpoint`` is its URL; ``stop()``."""

    def __init__(self):
        self._images: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._failures = 0

    def fail_next_lookup(self) -> None:
        """Answer the next image lookup with 404 (the image was deleted meanwhile)."""
        with self._lock:
            self._failures += 1

    def add(self, image: dict) -> None:
        """Serve ``image`` (Glance's fields: id, name, disk_format, container_format, ...)."""
        full = {"status": "active", "visibility": "public", "protected": False,
                "min_disk": 0, "min_ram": 0, "size": 1024, "virtual_size": None,
                "checksum": None, "os_hash_algo": None, "os_hash_value": None,
                "owner": None, "tags": [], "created_at": _CREATED, "updated_at": _CREATED,
                "file": f"/v2/images/{image['id']}/file", "schema": "/v2/schemas/image"}
        full.update({k: v for k, v in image.items() if k != "properties"})
        full.update(image.get("properties", {}))  # Glance v2 flattens properties
        full["self"] = f"/v2/images/{image['id']}"
        with self._lock:
            self._images[image["id"]] = full

    def start(self) -> "GlanceStandIn":
        self._serve(self._app)
        return self


    def _app(self, environ, start_response):
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        parts = path.strip("/").split("/")
        if path in ("/", "/v2"):
            status, body = "200 OK", {"versions": [{
                "id": "v2.16", "status": "CURRENT",
                "links": [{"rel": "self", "href": f"{self.endpoint}/v2/"}]}]}
        elif parts[:2] == ["v2", "images"] and len(parts) == 2:
            with self._lock:
                status, body = "200 OK", {"images": list(self._images.values()),
                                          "first": "/v2/images", "schema": "/v2/schemas/images"}
        elif parts[:2] == ["v2", "images"] and len(parts) == 3:
            with self._lock:
                image = self._images.get(parts[2])
                if image is not None and self._failures:
                    self._failures -= 1
                    image = None
            status, body = ("200 OK", image) if image else (
                "404 Not Found", {"message": f"No image found with ID {parts[2]}", "code": 404})
        else:
            status, body = "404 Not Found", {"message": "not served by this stand-in",
                                             "code": 404}
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]
