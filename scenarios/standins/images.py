"""An image service stand-in at nova's image API client (``ComputeManager.image_api``).

Builds get their image as a dict from the conductor; only a same-host rebuild
makes nova's manager read the image (``ImageMeta.from_image_ref`` ->
``image_api.get``) and turn its reference into a URL for notifications
(``generate_image_url``). This answers those two calls from a table of known
images; an unknown image gets nova's own ``ImageNotFound``, as the glance
client raises it. No glance service runs.
"""

from __future__ import annotations

import copy

__all__ = ["ImageAPI", "IMAGE"]

#: The image every build and rebuild uses.
IMAGE = {"id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "name": "baremetal-image",
         "status": "active", "disk_format": "raw", "container_format": "bare",
         "min_ram": 0, "min_disk": 0, "size": 1073741824, "properties": {}}


class ImageAPI:
    """What the compute manager asks ``nova.image.glance.API``, answered from ``images``."""

    def __init__(self, images: tuple[dict, ...] = (IMAGE,)):
        self.images = {image["id"]: image for image in images}

    def get(self, context, image_id, include_locations=False, show_deleted=True) -> dict:
        from nova import exception

        try:
            return copy.deepcopy(self.images[image_id])
        except KeyError:
            raise exception.ImageNotFound(image_id=image_id) from None

    def generate_image_url(self, image_ref, context) -> str:
        return f"http://glance.invalid/images/{image_ref}"
