"""The live target is real: placement over HTTP, nova's migrated DB, the real Ironic driver."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
import requests
from openstack import exceptions as sdk_exc

from scenarios.ironic_sim import Fault


@pytest.fixture
def cluster(env):
    from scenarios.environment import Cluster

    cl = Cluster(env, [f"harness-{uuid.uuid4().hex[:8]}"])
    yield cl
    cl.close()


def _compute(cluster):
    return next(iter(cluster.computes.values()))


def _provider(cluster, node_uuid):
    client = cluster.conductor.placement
    rps = client.get(f"/resource_providers?name={node_uuid}", version="1.14").json()
    return rps["resource_providers"]


class TestPlacement:
    def test_answers_over_http_on_loopback(self, env):
        """The placement WSGI app answers a plain HTTP request on 127.0.0.1."""
        assert env.placement.endpoint.startswith("http://127.0.0.1:")
        resp = requests.get(env.placement.endpoint + "/", timeout=10)
        assert resp.status_code == 200
        assert resp.json()["versions"][0]["id"] == "v1.0"

    def test_rejects_unauthenticated_requests(self, env):
        """Placement's own auth middleware is in the path (no token, no answer)."""
        resp = requests.get(env.placement.endpoint + "/resource_providers", timeout=10)
        assert resp.status_code == 401


class TestNovaDatabase:
    def test_schema_created_by_nova_migrations(self, env):
        """nova's alembic migrations created the main and API schemas on SQLite."""
        for name, table in (("nova.sqlite", "compute_nodes"), ("nova_api.sqlite", "flavors")):
            db = sqlite3.connect(f"{env.workdir}/{name}")
            tables = {r[0] for r in db.execute("select name from sqlite_master")}
            assert table in tables and "alembic_version" in tables

    def test_periodic_writes_compute_node_records(self, cluster):
        """nova's periodic task writes one ComputeNode row per Ironic node."""
        from nova import objects

        nodes = {cluster.ironic.enroll() for _ in range(3)}
        compute = _compute(cluster)
        compute.periodic(startup=True)
        records = objects.ComputeNodeList.get_all_by_host(compute.env.admin_context(),
                                                          compute.host)
        assert {cn.hypervisor_hostname for cn in records} == nodes
        assert {cn.hypervisor_type for cn in records} == {"ironic"}


class TestIronicDriver:
    def test_driver_code_builds_inventory_from_resource_class(self, cluster):
        """The driver turns a node's resource_class and traits into placement inventory."""
        node = cluster.ironic.enroll(resource_class="baremetal-gold", traits=["CUSTOM_RAID"])
        _compute(cluster).periodic(startup=True)
        (rp,) = _provider(cluster, node)
        client = cluster.conductor.placement
        inv = client.get(f"/resource_providers/{rp['uuid']}/inventories").json()["inventories"]
        assert inv == {"CUSTOM_BAREMETAL_GOLD": {
            "total": 1, "reserved": 0, "min_unit": 1, "max_unit": 1, "step_size": 1,
            "allocation_ratio": 1.0}}
        traits = client.get(f"/resource_providers/{rp['uuid']}/traits",
                            version="1.6").json()["traits"]
        assert "CUSTOM_RAID" in traits

    def test_maintenance_node_is_reserved(self, cluster):
        """A node in maintenance is reported fully reserved (driver logic, not ours)."""
        node = cluster.ironic.enroll(maintenance=True)
        _compute(cluster).periodic(startup=True)
        (rp,) = _provider(cluster, node)
        inv = cluster.conductor.placement.get(
            f"/resource_providers/{rp['uuid']}/inventories").json()["inventories"]
        assert inv["CUSTOM_BAREMETAL"]["reserved"] == 1


class TestFaults:
    def test_ironic_5xx_surfaces_in_the_tracker(self, cluster):
        """A 500 from Ironic's get_node escapes the tracker's update for that node."""
        node = cluster.ironic.enroll()
        cluster.ironic.enroll()  # a second node keeps the driver cache non-empty
        compute = _compute(cluster)
        compute.periodic(startup=True)
        del compute.driver.node_cache[node]  # the driver must ask Ironic for it
        cluster.ironic.inject(Fault("server-error", methods=("get_node",), times=10))
        with pytest.raises(sdk_exc.HttpException, match="500"):
            with compute.env.as_host(compute.host):
                compute.rt.update_available_resource(compute.env.admin_context(), node)

    def test_api_down_escapes_the_driver_as_sdk_error(self, cluster):
        """Ironic down: the SDK's lazy listing raises past the driver's handler.

        openstacksdk's ``nodes()`` is a generator, so the request (and its
        error) happens in ``list(...)``, outside ``_get_node_list``'s try: the
        driver raises HttpException, not VirtDriverNotReady (docs/findings.md).
        """
        cluster.ironic.enroll()
        cluster.ironic.inject(Fault("unavailable", methods=("nodes",)))
        with pytest.raises(sdk_exc.HttpException, match="503"):
            _compute(cluster).driver.get_available_nodes()

    def test_node_vanishing_mid_listing_is_skipped(self, cluster):
        """A node deleted while the driver iterates the listing is not returned by the driver."""
        first, second = cluster.ironic.enroll(), cluster.ironic.enroll()
        cluster.ironic.inject(Fault("vanish", node=second))
        compute = _compute(cluster)
        with compute.env.as_host(compute.host):
            assert set(compute.driver.get_available_nodes(refresh=True)) == {first}
        assert second not in cluster.ironic.uuids()

    def test_missing_node_raises_sdk_not_found(self, cluster):
        """The simulator raises what openstacksdk raises, which the driver catches."""
        with pytest.raises(sdk_exc.NotFoundException):
            cluster.ironic.get_node("no-such-node")
        assert _compute(cluster).driver.is_node_deleted("no-such-node") is True

    def test_fields_filter_keeps_driver_info_inside(self, cluster):
        """Like the Ironic API, a fields-limited listing does not carry driver_info."""
        cluster.ironic.enroll(driver_info={"ipmi_password": "not-for-nova"})
        (node,) = list(cluster.ironic.nodes(fields=("uuid", "properties")))
        assert node.driver_info is None
