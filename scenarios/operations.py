"""What scenarios ask of the cloud: the API's part, then nova's own compute manager.

The API's part (flavors, the instance record, the task states the API sets
before it casts) is played here; placement is asked through the conductor
and scheduler stand-in (``scenarios/standins/conductor.py``); builds and
deletes run nova's ``ComputeManager.build_and_run_instance`` and
``terminate_instance`` on the chosen host, unchanged.
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib

from nova import objects
from nova.compute import power_state, task_states, vm_states

from scenarios.environment import Cluster, Compute
from scenarios.standins.conductor import NoValidHost, build_request

__all__ = ["Boot", "Operations", "NoValidHost", "PROJECT", "USER"]

PROJECT = "6f70656e737461636b20697320636f6f"
USER = "a7c4e5b1f0d243fd9b6e6a7e5d0c1b2a"


@dataclasses.dataclass
class Boot:
    """An instance the scenario created, where it landed and how its build ended."""

    instance: objects.Instance
    host: str | None = None
    node: str | None = None
    outcome: str = "pending"  # active | failed | deleted | unscheduled
    error: str | None = None   # why a build failed: the instance fault's message
    attempts: list[str] = dataclasses.field(default_factory=list)  # nodes tried, in order


class Operations:
    """The API's steps over one ``Cluster``; the compute side is nova's manager."""

    def __init__(self, cluster: Cluster, auth_token: str | None = None):
        from nova import context

        self.cluster = cluster
        self.conductor = cluster.conductor
        # The user's request context, as the API hands it to the computes.
        self.ctx = context.RequestContext(user_id=USER, project_id=PROJECT, is_admin=True,
                                          auth_token=auth_token, roles=["admin", "member"])
        self.flavors: dict[str, objects.Flavor] = {}

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
        """The API's instance record, waiting for the scheduler."""
        from nova.network import model as network_model
        from scenarios.standins.images import IMAGE

        inst = objects.Instance(
            context=self.ctx, uuid=str(uuidlib.UUID(int=self.conductor.uuids.getrandbits(128),
                                                    version=4)),
            project_id=PROJECT, user_id=USER, flavor=flavor, instance_type_id=flavor.id,
            memory_mb=flavor.memory_mb, vcpus=flavor.vcpus, root_gb=flavor.root_gb,
            ephemeral_gb=0, vm_state=vm_states.BUILDING, task_state=task_states.SCHEDULING,
            power_state=power_state.NOSTATE, image_ref=IMAGE["id"], display_name="bm-instance",
            numa_topology=None, pci_requests=objects.InstancePCIRequests(requests=[]),
            system_metadata={}, config_drive="",
            info_cache=objects.InstanceInfoCache(network_info=network_model.NetworkInfo([])))
        inst.create()
        self.record_action(inst, "create")
        return inst

    def record_action(self, inst: objects.Instance, action: str) -> None:
        """The API's instance-action record, which nova's manager adds its events to."""
        objects.InstanceAction.action_start(self.ctx, inst.uuid, action, want_result=False)

    def schedule(self, inst: objects.Instance, exclude_host: str | None = None
                 ) -> tuple[Compute, str]:
        """The scheduler's choice for ``inst``, its allocation claimed in placement."""
        return self.conductor.schedule(self.ctx, inst, exclude_host=exclude_host)

    def boot(self, flavor: objects.Flavor, fail_deploy: bool = False, reschedule: bool = True,
             admin_password: str | None = None) -> Boot:
        """Create, schedule and build an instance; returns when nova's build has ended.

        ``fail_deploy``: the first node's deployment fails in Ironic; nova's
        manager then reschedules (or, with ``reschedule=False``, as with
        ``[scheduler] max_attempts = 1``, fails the build).
        """
        boot = Boot(self.create_instance(flavor))
        try:
            compute, node = self.schedule(boot.instance)
        except NoValidHost:
            boot.outcome = "unscheduled"
            return boot
        if fail_deploy:
            self.cluster.ironic.fail_next_deploy(node)
        self.build(boot, compute, node, reschedule=reschedule, admin_password=admin_password)
        return boot

    def build(self, boot: Boot, compute: Compute, node: str, reschedule: bool = True,
              admin_password: str | None = None) -> None:
        """Cast nova's ``build_and_run_instance`` for a scheduled instance and wait for the end."""
        from nova.scheduler import utils as scheduler_utils

        filter_properties: dict = {}
        if reschedule:
            scheduler_utils.populate_retry(filter_properties, boot.instance.uuid)
        boot.host, boot.node = compute.host, node
        self.conductor.cast_build(self.ctx, boot.instance, compute, node, filter_properties,
                                  build_request(admin_password))
        self.conductor.wait(boot.instance.uuid)
        self.refresh(boot)

    def refresh(self, boot: Boot) -> None:
        """Read the instance back: where it is and how its build ended."""
        inst = objects.Instance.get_by_uuid(
            self.ctx, boot.instance.uuid, expected_attrs=["flavor", "system_metadata",
                                                          "info_cache"])
        boot.instance = inst
        boot.attempts = list(self.conductor.attempts.get(inst.uuid, []))
        boot.host, boot.node = inst.host, inst.node
        if inst.vm_state == vm_states.ACTIVE:
            boot.outcome = "active"
        elif inst.vm_state == vm_states.ERROR:
            boot.outcome = "failed"
            fault = objects.InstanceFault.get_latest_for_instance(self.ctx, inst.uuid)
            boot.error = fault.message if fault else "no fault recorded"
        else:
            boot.outcome = f"unexpected: {inst.vm_state}/{inst.task_state}"

    def delete(self, boot: Boot) -> None:
        """The API reads the instance, marks it DELETING and casts nova's ``terminate_instance``."""
        self.refresh(boot)
        inst = boot.instance
        inst.task_state = task_states.DELETING
        inst.save()
        self.record_action(inst, "delete")
        bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(self.ctx, inst.uuid)
        self.cluster.computes[boot.host].manager.terminate_instance(self.ctx, inst, bdms)
        boot.outcome = "deleted"
