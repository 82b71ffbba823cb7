"""Each check on the real tracker: fires on a planted defect, quiet on unmodified nova 34."""

from __future__ import annotations

import inspect
import json
import threading
import time
import uuid

import pytest

from auditor.canaries import from_config
from auditor.report import claims
from auditor.report.formats import render
from auditor.session import AuditConfig, AuditSession


class Audit:
    """An audit session over a fresh one-host cluster, driven through nova's real code."""

    def __init__(self, env, config: AuditConfig):
        self.env = env
        self.session = AuditSession(config)
        self.cluster = None

    def start(self, nodes: int = 2, capabilities: str | None = "boot_mode:uefi") -> "Audit":
        from scenarios.environment import Cluster
        from scenarios.operations import Operations

        self.session.start()
        self.session.canaries.update(from_config(self.env.conf))
        self.session.begin_run("test")
        self.cluster = Cluster(self.env, [f"checks-{uuid.uuid4().hex[:8]}"])
        plant = self.session.canaries.plant
        self.nodes = [self.cluster.ironic.enroll(
            resource_class="baremetal-gold", capabilities=capabilities,
            driver_info={"ipmi_password": plant("ironic.driver_info.ipmi_password")})
            for _ in range(nodes)]
        self.ops = Operations(self.cluster, auth_token=plant("context.auth_token"))
        self.flavor = self.ops.flavor("baremetal-gold")
        self.compute.periodic(startup=True)
        return self

    @property
    def compute(self):
        return next(iter(self.cluster.computes.values()))

    def boot(self):
        boot = self.ops.boot(self.flavor)
        assert boot.outcome == "active", boot.error
        return boot

    def parallel_boots(self, n: int, alongside=None) -> list:
        """``n`` boots in threads (``alongside()`` in this one meanwhile); their Boot results.

        Outcomes are returned for the test to assert: an assert inside a worker thread
        would only make pytest warn.
        """
        boots: list = []
        threads = [threading.Thread(target=lambda: boots.append(self.ops.boot(self.flavor)))
                   for _ in range(n)]
        for t in threads:
            t.start()
        if alongside is not None:
            alongside()
        for t in threads:
            t.join()
        return boots

    def workload(self) -> None:
        """Builds (one rescheduled after a failed deploy, one failing for good), a delete and
        periodics, each asserted to have done what it was meant to."""
        self.ops.delete(self.boot())
        rescheduled = self.ops.boot(self.flavor, fail_deploy=True)
        assert rescheduled.outcome == "active" and len(rescheduled.attempts) == 2, rescheduled
        failed = self.ops.boot(self.flavor, fail_deploy=True, reschedule=False)
        assert failed.outcome == "failed", failed
        self.compute.periodic()

    def findings(self, category: str | None = None) -> list:
        """The run's findings (of ``category``); asserts that no check crashed (``auditor-error``)."""
        found = self.session.end_run("passed", 0.0)
        self.session.begin_run("test-continued")
        errors = [f for f in found if f.category == "auditor-error"]
        assert not errors, [(f.rule.id, f.message) for f in errors]
        return [f for f in found if category is None or f.category == category]

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
        self.session.stop()


@pytest.fixture
def audit(env, monkeypatch):
    """Factory: patch the tracker first (monkeypatch), then ``audit().start()``.

    Depends on monkeypatch so that hooks are uninstalled before patches are undone.
    """
    made = []

    def make(**config) -> Audit:
        made.append(Audit(env, AuditConfig(**config)))
        return made[-1]

    yield make
    for a in made:
        a.close()


def unlocked(method):
    """The tracker method without its ``@utils.synchronized`` wrapper."""
    return inspect.unwrap(method)


def rules(findings) -> set[str]:
    return {f.rule.id for f in findings}


class TestUnheldLock:
    def test_fires_when_update_usage_loses_its_lock(self, audit, monkeypatch):
        """update_usage without the semaphore writes tracked state unlocked (declared rule)."""
        from nova.compute.resource_tracker import ResourceTracker

        monkeypatch.setattr(ResourceTracker, "update_usage",
                            unlocked(ResourceTracker.update_usage))
        a = audit().start()
        a.ops.delete(a.boot())
        found = [f for f in a.findings("unheld-lock") if f.rule.id == "unheld-lock/declared"]
        assert found, "no unheld-lock finding for the unlocked update_usage"
        sites = {(f.site.path, f.site.function) for f in found}
        assert ("nova/compute/resource_tracker.py", "_update_usage_from_instance") in sites
        assert any(f.key.startswith("tracked_instances:") for f in found)

    def test_lockset_fires_on_undeclared_state_shared_without_lock(self, audit, monkeypatch):
        """An undeclared attribute written by two threads with no common lock (Eraser)."""
        from nova.compute.resource_tracker import ResourceTracker

        periodic, built = ResourceTracker.update_available_resource, ResourceTracker.build_succeeded

        def update_available_resource(self, context, nodename, startup=False):
            self.last_node = nodename  # planted: shared, unguarded
            return periodic(self, context, nodename, startup)

        def build_succeeded(self, nodename):
            self.last_node = nodename  # planted: the same attribute from the build's thread
            return built(self, nodename)

        monkeypatch.setattr(ResourceTracker, "update_available_resource",
                            update_available_resource)
        monkeypatch.setattr(ResourceTracker, "build_succeeded", build_succeeded)
        a = audit().start(nodes=2)  # the periodic's thread writes it
        a.boot()                    # nova's build thread writes it (holding the instance's lock)
        a.compute.periodic()        # and the periodic again: no lock common to all writes
        found = [f for f in a.findings() if f.rule.id == "unheld-lock/lockset"]
        assert [f.key for f in found] == ["last_node"]

    def test_remove_node_writes_guarded_state_without_the_lock(self, audit):
        """nova's own remove_node (no @synchronized) is reported: a real finding."""
        a = audit().start()
        a.compute.rt.remove_node(a.nodes[0])
        found = [f for f in a.findings("unheld-lock") if f.rule.id == "unheld-lock/declared"]
        assert {f.site.function for f in found} == {"remove_node"}
        assert {f.key.split(":")[0] for f in found} == {"stats", "compute_nodes",
                                                        "old_resources"}

    def test_writes_from_outside_the_tracker_methods_are_not_judged(self, audit):
        """A test poking rt.compute_nodes directly is not the tracker breaking its contract."""
        a = audit().start()
        rt = a.compute.rt
        rt.compute_nodes["poked"] = rt.compute_nodes[a.nodes[0]]
        del rt.compute_nodes["poked"]
        assert a.findings("unheld-lock") == []

    def test_quiet_on_unmodified_tracker(self, audit):
        """Concurrent claims, builds, deletes and periodics on nova 34: no unheld-lock finding."""
        a = audit().start(nodes=4)
        boots = a.parallel_boots(3, alongside=a.compute.periodic)
        assert [b.outcome for b in boots] == ["active"] * 3, [b.error for b in boots]
        a.ops.delete(boots[0])
        a.compute.periodic()
        assert a.findings("unheld-lock") == []


class TestLockRules:
    def test_order_cycle_when_node_lock_is_taken_before_the_semaphore(self, audit):
        """A node lock then the semaphore, against nova's semaphore then node lock: a cycle.

        nova's claim takes ``compute_resources`` then ``ironic-node-<uuid>``
        (update_provider_tree -> _node_from_cache). The planted code takes
        another node's lock, then the semaphore. Per-node locks are one class
        for ordering, so the two orders form a cycle without deadlocking here.
        """
        from nova import utils

        a = audit().start()
        boot = a.boot()  # nova's order: compute_resources -> ironic-node-<boot.node>
        other = next(n for n in a.nodes if n != boot.node)

        @utils.synchronized(f"ironic-node-{other}")
        def planted():
            a.compute.rt.update_usage(a.ops.ctx, boot.instance, boot.node)

        planted()
        found = [f for f in a.findings() if f.rule.id == "lock-order/cycle"]
        assert len(found) == 1
        assert set(found[0].evidence["cycle"].split(" -> ")) == {"compute_resources",
                                                                 "ironic-node-*"}

    def test_no_order_cycle_or_held_lock_in_unmodified_flows(self, audit):
        """nova's own builds, reschedules, deletes and periodics: locks in one order, all released."""
        a = audit().start(nodes=4)
        a.workload()
        found = a.findings()
        assert {f.rule.id for f in found if f.category in ("lock-order", "lock-held")} == set()

    def test_lock_held_at_exit_of_an_entry_point(self, audit, monkeypatch):
        """An entry point that returns with a lock still taken is reported."""
        from nova.compute.resource_tracker import ResourceTracker
        from oslo_concurrency import lockutils

        original = ResourceTracker.update_usage
        leaked = []

        def update_usage(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            cm = lockutils.lock("planted-leak")
            cm.__enter__()  # planted: never released
            leaked.append(cm)
            return result

        monkeypatch.setattr(ResourceTracker, "update_usage", update_usage)
        a = audit().start()
        boot = a.boot()
        a.compute.rt.update_usage(a.ops.ctx, boot.instance, boot.node)
        found = rules(a.findings("lock-held"))
        for cm in leaked:
            cm.__exit__(None, None, None)
        assert found == {"lock-held/at-exit", "lock-held/at-end"}

    def test_ironic_io_under_the_semaphore_is_reported_with_site(self, audit):
        """A node cache miss makes update_usage call Ironic's get_node under the semaphore."""
        a = audit().start()
        boot = a.boot()
        del a.compute.driver.node_cache[boot.node]
        a.compute.rt.update_usage(a.ops.ctx, boot.instance, boot.node)
        found = [f for f in a.findings("lock-io") if f.key == "ironic:get_node"]
        assert len(found) == 1
        assert (found[0].site.path, found[0].site.function) == ("nova/virt/ironic/driver.py",
                                                                 "_get_node")
        assert int(found[0].evidence["occurrences"]) >= 1
        assert "update_usage" in found[0].evidence["entry points"].split(", ")

    def test_no_ironic_io_under_the_semaphore_with_a_warm_cache(self, audit):
        """Claims and builds with the driver's node cache warm make no Ironic call under it."""
        a = audit().start()
        a.boot()
        assert not [f for f in a.findings("lock-io") if f.key.startswith("ironic:")]

    def test_starvation_when_the_semaphore_is_held_long(self, audit, monkeypatch):
        """A claim waiting behind a slow holder of the semaphore is reported."""
        from nova.compute.resource_tracker import ResourceTracker

        original = ResourceTracker._update

        def slow_update(self, *args, **kwargs):
            time.sleep(0.4)  # planted: slow work under the semaphore
            return original(self, *args, **kwargs)

        a = audit(wait_threshold_s=0.2).start(nodes=3)
        monkeypatch.setattr(ResourceTracker, "_update", slow_update)
        boots = a.parallel_boots(2)
        assert [b.outcome for b in boots] == ["active"] * 2, [b.error for b in boots]
        found = a.findings("lock-wait")
        assert [f.rule.id for f in found] == ["lock-wait/starvation"]
        assert float(found[0].evidence["max_s"]) > 0.2

    def test_no_starvation_at_the_default_threshold(self, audit):
        """A few sequential builds never wait a second for the semaphore."""
        a = audit().start()
        a.boot()
        assert a.findings("lock-wait") == []


class TestLeakedException:
    def test_sdk_error_escaping_update_available_resource(self, audit):
        """An Ironic 500 escapes the tracker as openstacksdk's HttpException: unexpected."""
        from openstack import exceptions as sdk_exc

        from scenarios.ironic_sim import Fault

        a = audit().start()
        del a.compute.driver.node_cache[a.nodes[0]]
        a.cluster.ironic.inject(Fault("server-error", methods=("get_node",), times=5))
        with pytest.raises(sdk_exc.HttpException):
            with a.env.as_host(a.compute.host):
                a.compute.rt.update_available_resource(a.env.admin_context(), a.nodes[0])
        found = [f for f in a.findings("leaked-exception")
                 if f.rule.id == "leaked-exception/unexpected"]
        assert len(found) == 1
        assert found[0].evidence["exception"] == "openstack.exceptions.HttpException"
        assert (found[0].site.path, found[0].site.function) == ("nova/virt/ironic/driver.py",
                                                                 "_get_node")

    def test_secret_in_an_escaping_exception_message(self, audit, monkeypatch):
        """A driver error that quotes a BMC password is reported, masked."""
        from nova import exception
        from nova.virt.ironic import driver

        a = audit().start()
        password = a.session.canaries.plant("ironic.driver_info.ipmi_password")

        def get_node(self, node_id):  # planted: the error carries the credential
            raise exception.NovaException(f"BMC login failed for {node_id} with {password}")

        monkeypatch.setattr(driver.IronicDriver, "_get_node", get_node)
        del a.compute.driver.node_cache[a.nodes[0]]
        with pytest.raises(exception.NovaException):
            with a.env.as_host(a.compute.host):
                a.compute.rt.update_available_resource(a.env.admin_context(), a.nodes[0])
        found = [f for f in a.findings() if f.rule.id == "leaked-exception/secret"]
        assert len(found) == 1
        assert found[0].evidence["source"] == "ironic.driver_info.ipmi_password"
        assert password not in repr(found[0])

    def test_failed_claim_that_changed_state_under_the_lock(self, audit, monkeypatch):
        """instance_claim raising after it tracked the instance leaves inconsistent state."""
        from nova import exception
        from nova.compute.resource_tracker import ResourceTracker

        a = audit().start()

        def failing_update(self, context, compute_node, startup=False):
            raise exception.ComputeResourcesUnavailable(reason="planted")

        monkeypatch.setattr(ResourceTracker, "_update", failing_update)
        boot = a.ops.boot(a.flavor, reschedule=False)
        assert boot.outcome == "failed" and "planted" in boot.error
        found = [f for f in a.findings() if f.rule.id == "leaked-exception/inconsistent-state"]
        assert len(found) == 1 and "tracked_instances" in found[0].evidence["changed"]

    def test_quiet_on_unmodified_flows(self, audit):
        """Builds, a rescheduled and a failed deploy, deletes and periodics: no leaked exception."""
        a = audit().start(nodes=4)
        a.workload()
        assert a.findings("leaked-exception") == []


class TestSensitiveLog:
    def test_secret_in_node_capabilities_reaches_a_warning(self, audit):
        """nova's driver logs a malformed capability verbatim: the secret in it leaks."""
        a = audit()
        secret = a.session.canaries.plant("ironic.properties.capabilities")
        a.start(capabilities=f"boot_mode:uefi,bmc_password={secret}")
        found = a.findings("sensitive-log")
        assert [f.rule.id for f in found] == ["sensitive-log/canary"]
        (f,) = found
        assert (f.site.path, f.site.function) == ("nova/virt/ironic/driver.py", "_node_resource")
        assert f.evidence["source"] == "ironic.properties.capabilities"
        assert "WARNING" in f.evidence["levels"]
        assert secret not in repr(f)

    def test_quiet_with_canaries_in_every_input(self, audit):
        """driver_info passwords, auth token and config secrets do not reach nova's logs."""
        a = audit().start(nodes=4)
        a.workload()
        assert a.findings("sensitive-log") == []

    def test_no_artefact_contains_a_canary(self, audit):
        """The report in every format carries masked evidence, never a planted value."""
        a = audit()
        a.session.canaries.plant("ironic.properties.capabilities")
        secret = a.session.canaries.plant("ironic.properties.capabilities")
        a.start(capabilities=f"x:y,token={secret}")
        a.findings()
        report = a.session.report({"nova": "34.0.0", "concurrency": "threading"})
        artefacts = [render(fmt, report) for fmt in ("json", "sarif", "text")]
        assert report["findings"]
        for value in a.session.canaries.secrets():
            for text in artefacts:
                assert value not in text


class TestInputValidation:
    """Malformed node data announced with a ``BadInput`` event, as the scenarios announce it."""

    def _bad_node(self, a, field: str, description: str, **fields) -> str:
        from auditor.events import BadInput, stamp

        node = a.cluster.ironic.enroll(resource_class="baremetal-gold", **fields)
        a.session.sink(BadInput(*stamp(), node, field, description))
        return node

    def test_fires_when_the_driver_trusts_a_non_numeric_cpus(self, audit, monkeypatch):
        """A driver that converts ``properties.cpus`` with int() crashes on "eight"."""
        from nova.virt.ironic import driver

        original = driver.IronicDriver._node_resource

        def trusting(self, node):
            int(node.properties.get("cpus", 0))  # planted: no validation
            return original(self, node)

        monkeypatch.setattr(driver.IronicDriver, "_node_resource", trusting)
        a = audit().start()
        bad = self._bad_node(a, "properties.cpus", "non-numeric",
                             properties={"cpus": "eight", "memory_mb": 1024, "local_gb": 10,
                                         "cpu_arch": "x86_64"})
        a.compute.periodic()
        found = a.findings("input-validation")
        assert {f.rule.id for f in found} == {"input-validation/crash"}
        assert {f.evidence["node"] for f in found} == {bad}
        assert "builtins.ValueError" in {f.evidence["exception"] for f in found}

    def test_quiet_when_nova_skips_the_bad_node(self, audit):
        """Unmodified nova: the same node and a non-string capability are handled, boots go on."""
        a = audit().start()
        self._bad_node(a, "properties.cpus", "non-numeric",
                       properties={"cpus": "eight", "memory_mb": 1024, "local_gb": 10,
                                   "cpu_arch": "x86_64"})
        self._bad_node(a, "properties.capabilities", "a dict, not a string",
                       properties={"capabilities": {"boot_mode": "uefi"}})
        a.compute.periodic()
        a.boot()
        a.compute.periodic()
        assert a.findings("input-validation") == []


PLANTED = "hunter2-literal"


def _planted_update(monkeypatch):
    """Patch ``ResourceTracker._update`` with a copy holding a credential literal it never sends;
    returns the planted line's (path suffix, line number)."""
    from nova.compute import resource_tracker

    original = resource_tracker.ResourceTracker._update

    def _update(self, *args, **kwargs):
        password = "hunter2-literal"  # noqa: F841,S105 - planted, never sent anywhere
        return original(self, *args, **kwargs)

    monkeypatch.setattr(resource_tracker.ResourceTracker, "_update", _update)
    lines, first = inspect.getsourcelines(_update)
    return first + next(i for i, text in enumerate(lines) if PLANTED in text)


class TestHardCoded:
    def test_fires_on_a_secret_literal_in_a_patched_tracker_method(self, audit, monkeypatch):
        """The planted literal is found at its own line, and is nowhere in any output."""
        line = _planted_update(monkeypatch)
        a = audit().start()
        a.boot()
        found = a.findings("hard-coded")
        assert [(f.rule.id, f.evidence["name"], f.evidence["kind"]) for f in found] == [
            ("hard-coded/literal", "password", "assignment")]
        assert found[0].site.path.endswith("test_checks_real.py")
        assert (found[0].site.line, found[0].site.function.rsplit(".", 1)[-1]) == (
            line, "_update")
        report = a.session.report({"nova": "34"})
        for fmt in ("json", "sarif", "text", "claims", "claims-md", "claims-json"):
            assert PLANTED not in render(fmt, report), fmt
        assert all(PLANTED not in f.message + repr(f.evidence) for f in found)
        assert report["summary"]["events"]["WireEvent"] > 0   # the wire was watched: quiet

    def test_quiet_on_unmodified_nova(self, audit):
        """Tracker, Ironic driver and report client as installed: every module scanned, no finding."""
        a = audit().start()
        a.boot()
        assert a.findings("hard-coded") == []
        assert a.session.coverage.hit["scanned_modules"] == {
            "nova/compute/resource_tracker.py", "nova/virt/ironic/driver.py",
            "nova/scheduler/client/report.py"}


class TestClaimsView:
    """Each verdict path of the claims view, on the report of a real audited run."""

    def _report(self, a) -> dict:
        a.workload()
        a.findings()
        return a.session.report({"nova": "34"})

    def test_refuted_claim_lists_its_findings(self, audit, monkeypatch):
        """The planted literal refutes "no hard-coded values", with the finding's message."""
        _planted_update(monkeypatch)
        report = self._report(audit().start(nodes=4))
        row = {c["area"]: c for c in claims.evaluate(report)}["hard-coded sensitive values"]
        assert row["verdict"] == claims.REFUTED
        assert [(f["rule"], f["message"]) for f in row["refuting"]] == [
            ("hard-coded/literal", "A string literal is assigned to 'password' in loaded code "
                                   "(15 characters)")]
        markdown = render("claims-md", report)
        assert "| No hard-coded sensitive values. | **refuted** |" in markdown
        assert row["refuting"][0]["message"] in markdown
        assert row["refuting"][0]["message"] in render("claims", report)

    def test_unmodified_nova_upheld_and_not_exercised(self, audit):
        """Clean code scan and every credential traced: upheld, with the modules and peers
        named; no planted bad input: input validation not exercised."""
        a = audit().start(nodes=4)
        a.workload()
        a.findings()
        report = a.session.report({"nova": "34", "ironic": {"backend": "sim"}})
        rows = {c["area"]: c for c in claims.evaluate(report)}
        hard = rows["hard-coded sensitive values"]
        assert hard["verdict"] == claims.UPHELD, hard["reason"]
        assert [(c["section"], c["hit"], c["total"]) for c in hard["coverage"]] == [
            ("scanned_modules", 3, 3), ("endpoints", 3, 3)]
        assert hard["events"]["LoadedCode"] >= 1 and hard["events"]["WireEvent"] >= 2
        external = rows["external calls"]
        assert any(line.startswith("placement: http to loopback 127.0.0.1")
                   for line in external["facts"]["channels"])
        assert rows["input validation"]["verdict"] == claims.NOT_EXERCISED
        assert json.loads(render("claims-json", report))["claims"] == list(rows.values())


class TestWire:
    """Credentials on the wire traced to configuration; channels judged from what was used."""

    def test_run_time_credential_sent_to_placement(self, audit, monkeypatch):
        """A service token built at run time and sent with placement GETs is found by the wire
        check alone (the code scan sees no literal), at the patched call site, never shown."""
        from nova.scheduler.client import report

        sent: list[str] = []

        def get(self, url, version=None, global_request_id=None):
            token = "-".join(["svc", uuid.uuid4().hex])   # built at run time, in no config
            sent.append(token)
            return self._client.get(url, microversion=version, headers={"X-Service-Token": token},
                                    global_request_id=global_request_id)

        monkeypatch.setattr(report.SchedulerReportClient, "get", get)
        a = audit().start()
        a.boot()
        found = a.findings()
        hard = [f for f in found if f.category == "hard-coded"]
        assert [(f.rule.id, f.evidence["endpoint"], f.evidence["kind"]) for f in hard] == [
            ("hard-coded/wire", "placement", "X-Service-Token")]
        assert (hard[0].site.path.endswith("test_checks_real.py"), hard[0].site.function) == (
            True, "get")
        assert sent
        out = "".join(render(fmt, a.session.report({"nova": "34"}))
                      for fmt in ("json", "sarif", "text", "claims-md"))
        assert not [t for t in sent if t in out]

    def test_unverified_tls_session(self, audit, monkeypatch):
        """The report client's keystoneauth session with verification off: tls-unverified."""
        a = audit().start()
        monkeypatch.setattr(a.compute.rt.reportclient._client.session, "verify", False)
        a.boot()
        found = [f for f in a.findings() if f.category == "external-call"]
        unverified = [f for f in found if f.rule.id == "external-call/tls-unverified"]
        assert unverified and {f.evidence["endpoint"] for f in unverified} == {"placement"}
        assert "plain http now" in unverified[0].message

    def test_quiet_on_unmodified_nova(self, audit):
        """As installed: every credential traced to configuration, verification on, nothing
        sent in plaintext to a remote peer; placement, database and bus reached. Placement
        requests under the semaphore have no timeout (docs/findings.md, finding 14)."""
        a = audit().start()
        a.boot()
        found = a.findings()
        assert [f.rule.id for f in found if f.rule.id in (
            "hard-coded/wire", "external-call/tls-unverified",
            "external-call/plaintext-credentials")] == []
        assert {(f.site.path, f.evidence["endpoint"]) for f in found
                if f.rule.id == "external-call/no-timeout"} == {
            ("nova/scheduler/client/report.py", "placement")}
        assert {"placement", "database", "message-bus"} <= a.session.coverage.hit["endpoints"]
        assert any(c.startswith("placement:") and c.endswith("credentials X-Auth-Token")
                   for c in a.session.coverage.facts["channels"])
