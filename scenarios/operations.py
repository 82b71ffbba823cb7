"""What scenarios do to the cloud, each in the order nova's scheduler and compute manager do it.

The tracker, the Ironic driver and placement are nova's own code; this module
only plays the parts of the API, the scheduler and the compute manager's
build/delete flows around them (see ``nova/compute/manager.py``:
``_build_and_run_instance``, ``_delete_instance``, ``_complete_deletion``).
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib

from nova import exception, objects
from nova.compute import power_state, task_states, vm_states
from nova.network import model as network_model

from scenarios.environment import Cluster, Compute

__all__ = ["Boot", "Operations", "NoValidHost"]

PROJECT = "6f70656e737461636b20697320636f6f"
USER = "a7c4e5b1f0d243fd9b6e6a7e5d0c1b2a"
IMAGE = {"id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "name": "baremetal-image",
         "disk_format": "raw", "container_format": "bare", "properties": {}}


class NoValidHost(Exception):
    """The simulated scheduler found no provider with free capacity."""


@dataclasses.dataclass
class Boot:
    """An instance the scenario created and where it landed."""

    instance: objects.Instance
    host: str | None = None
    node: str | None = None
    outcome: str = "pending"  # active | failed | aborted | deleted | unscheduled
    error: str | None = None   # why a build failed: "ExceptionType: message"


class Operations:
    """API, scheduler and compute-manager steps over one ``Cluster``."""

    def __init__(self, cluster: Cluster, rng, auth_token: str | None = None):
        from nova import context

        self.cluster = cluster
        self.rng = rng
        # The user's request context, as the API hands it to the computes.
        self.ctx = context.RequestContext(user_id=USER, project_id=PROJECT, is_admin=True,
                                          auth_token=auth_token, roles=["admin", "member"])
        self.flavors: dict[str, objects.Flavor] = {}

    # -- API -------------------------------------------------------------------

    def flavor(self, resource_class: str, name: str | None = None) -> objects.Flavor:
        """A baremetal flavor asking placement for one unit of ``resource_class``."""
        from nova import utils

        rc = utils.normalize_rc_name(resource_class)
        if rc in self.flavors:
            return self.flavors[rc]
        name = name or f"bm-{resource_class}-{uuidlib.uuid4().hex[:6]}"
        flavor = objects.Flavor(
            context=self.ctx, name=name, flavorid=name, memory_mb=16384, vcpus=8,
            root_gb=100, ephemeral_gb=0, swap=0, rxtx_factor=1.0, is_public=True,
            extra_specs={f"resources:{rc}": "1", "resources:VCPU": "0",
                         "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"})
        flavor.create()
        self.flavors[rc] = flavor
        return flavor

    def create_instance(self, flavor: objects.Flavor) -> objects.Instance:
        inst = objects.Instance(
            context=self.ctx, uuid=str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4)),
            project_id=PROJECT, user_id=USER, flavor=flavor, instance_type_id=flavor.id,
            memory_mb=flavor.memory_mb, vcpus=flavor.vcpus, root_gb=flavor.root_gb,
            ephemeral_gb=0, vm_state=vm_states.BUILDING, task_state=task_states.SCHEDULING,
            power_state=power_state.NOSTATE, image_ref=IMAGE["id"], display_name="bm-instance",
            numa_topology=None, pci_requests=objects.InstancePCIRequests(requests=[]),
            system_metadata={}, config_drive="")
        inst.create()
        return inst

    # -- scheduler ---------------------------------------------------------------

    def schedule(self, inst: objects.Instance, attempts: int = 8,
                 exclude_host: str | None = None) -> tuple[Compute, str, dict]:
        """Pick a provider from placement's allocation candidates and claim it there.

        Concurrent schedulers race for the same node; placement's generation
        check makes the loser retry, as nova's scheduler does.
        """
        sched = self.cluster.scheduler_client
        rc = next(k.split(":", 1)[1] for k, v in inst.flavor.extra_specs.items()
                  if k.startswith("resources:CUSTOM_"))
        for _ in range(attempts):
            resp = sched.get(f"/allocation_candidates?resources={rc}:1", version="1.36")
            mine = set(self.cluster.ironic.uuids())  # other clusters share this placement
            requests = [r for r in (resp.json().get("allocation_requests", []) if resp else [])
                        if next(iter(r["allocations"])) in mine]
            if exclude_host is not None:
                requests = [r for r in requests if self._host_of(next(iter(r["allocations"])))
                            not in (exclude_host, None)]
            if not requests:
                raise NoValidHost(f"no {rc} capacity for {inst.uuid}")
            alloc_req = self.rng.choice(requests)
            rp_uuid = next(iter(alloc_req["allocations"]))
            if sched.claim_resources(self.ctx, inst.uuid, alloc_req, PROJECT, USER,
                                     allocation_request_version="1.36"):
                cn = objects.ComputeNode.get_by_uuid(self.ctx, rp_uuid)
                return self.cluster.computes[cn.host], cn.hypervisor_hostname, alloc_req
        raise NoValidHost(f"placement kept rejecting claims for {inst.uuid}")

    def _host_of(self, rp_uuid: str) -> str | None:
        try:
            return objects.ComputeNode.get_by_uuid(self.ctx, rp_uuid).host
        except exception.NotFound:
            return None

    # -- compute manager -----------------------------------------------------------

    def boot(self, flavor: objects.Flavor, fail_deploy: bool = False,
             admin_password: str | None = None) -> Boot:
        """Create, schedule, claim and deploy an instance (nova's build flow)."""
        boot = Boot(self.create_instance(flavor))
        try:
            compute, node, _ = self.schedule(boot.instance)
        except NoValidHost:
            boot.outcome = "unscheduled"
            return boot
        boot.host, boot.node = compute.host, node
        self.build(compute, boot, fail_deploy=fail_deploy, admin_password=admin_password)
        return boot

    def build(self, compute: Compute, boot: Boot, fail_deploy: bool = False,
              admin_password: str | None = None, midway=None) -> None:
        """Claim, deploy and finish; ``midway()`` runs inside the claim, before the driver."""
        inst, node = boot.instance, boot.node
        allocs = compute.manager.reportclient.get_allocations_for_consumer(self.ctx, inst.uuid)
        try:
            with compute.rt.instance_claim(self.ctx, inst, node, allocs, limits=None):
                if midway is not None:
                    midway()
                compute.driver.prepare_for_spawn(inst)
                if fail_deploy:
                    self.cluster.ironic.fail_next_deploy(node)
                compute.driver.spawn(
                    self.ctx, inst, objects.ImageMeta.from_dict(IMAGE),
                    injected_files=[], admin_password=admin_password, allocations=allocs,
                    network_info=network_model.NetworkInfo(), block_device_info=None)
        except Exception as exc:  # the manager's build flow catches everything too
            boot.outcome = "aborted" if isinstance(
                exc, exception.ComputeResourcesUnavailable) else "failed"
            boot.error = f"{type(exc).__name__}: {exc}"
            compute.driver.failed_spawn_cleanup(inst)
            compute.manager.reportclient.delete_allocation_for_instance(
                self.ctx, inst.uuid, force=True)
            compute.rt.build_failed(node)
            inst.vm_state, inst.task_state = vm_states.ERROR, None
            inst.save()
            return
        inst.vm_state, inst.task_state = vm_states.ACTIVE, None
        inst.power_state = power_state.RUNNING
        inst.save()
        compute.rt.build_succeeded(node)
        boot.outcome = "active"

    def delete(self, boot: Boot, midway=None) -> None:
        """Tear an instance down as ``ComputeManager._delete_instance`` does.

        ``midway()`` runs after the instance is marked DELETED, before the
        tracker and placement are told (where a periodic can interleave).
        """
        compute = self.cluster.computes[boot.host]
        inst = boot.instance
        inst.task_state = task_states.DELETING
        inst.save()
        compute.driver.destroy(self.ctx, inst, network_model.NetworkInfo())
        inst.vm_state, inst.task_state = vm_states.DELETED, None
        inst.power_state = power_state.NOSTATE
        inst.save()
        if midway is not None:
            midway()
        compute.rt.update_usage(self.ctx, inst, inst.node)
        compute.manager.reportclient.delete_allocation_for_instance(
            self.ctx, inst.uuid, force=True)
        inst.destroy()
        boot.outcome = "deleted"
