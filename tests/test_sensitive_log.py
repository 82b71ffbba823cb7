"""Tests for the sensitive-log check, on synthetic events and on nova's real log calls."""

from __future__ import annotations

import base64
import logging
import traceback

import pytest

from auditor.canaries import CanaryRegistry
from auditor.checks.secrets_scan import variants
from auditor.checks.sensitive_log import (
    CANARY, PATTERN, RULES, SensitiveLogCheck, describe_source)
from auditor.events import LockEvent, LogEvent, Site
from auditor.report import json as json_format, model, sarif, text

SITE = Site("nova/virt/ironic/driver.py", 1488, "power_off")
LOCK_LINE = ('Lock "compute_resources" acquired by '
             '"nova.compute.resource_tracker.ResourceTracker._update_available_resource" '
             ':: waited 0.000s')


def _event(message: str = "", *, args: tuple[str, ...] = (), level: int = logging.DEBUG,
           extra: tuple[tuple[str, str], ...] = (), exc_text: str | None = None,
           template: str | None = None, site: Site = SITE) -> LogEvent:
    return LogEvent(seq=1, t=0.0, owner=1, thread="MainThread",
                    logger="nova.virt.ironic.driver", level=level, site=site,
                    template=message if template is None else template, args=args,
                    message=message, extra=extra, exc_text=exc_text, held=())


def _run(check: SensitiveLogCheck, *events: object) -> list:
    for event in events:
        assert list(check.observe(event)) == []
    return list(check.finish())


@pytest.fixture
def registry() -> CanaryRegistry:
    return CanaryRegistry()


@pytest.fixture
def canary(registry: CanaryRegistry) -> str:
    return registry.plant("ironic.driver_info.ipmi_password")


def _artefacts(findings: list) -> list[str]:
    """Everything a user may see: findings, and the report in every format."""
    report = model.build_report(
        findings=map(model.finding_record, findings),
        runs=[{"id": "t", "outcome": "passed", "duration_s": 0.1}],
        coverage={"log_call_sites": {"total": 2, "hit": 1}}, target={"nova": "34.0.0"},
        events={"LogEvent": 1}, tool_version="0")
    return ([repr(f) for f in findings] + [f.message for f in findings]
            + [json_format.render(report), sarif.render(report), text.render(report)])


def _assert_clean(artefacts: list[str], secret: str) -> None:
    for artefact in artefacts:
        for _form, shown in variants(secret):
            assert shown not in artefact


class TestDescribeSource:
    @pytest.mark.parametrize("source, text", [
        ("ironic.driver_info.ipmi_password", "Ironic driver_info.ipmi_password"),
        ("context.auth_token", "RequestContext auth_token"),
        ("conf.placement.password", "config option [placement]/password"),
        ("conf.database.connection.password",
         "the password in config option [database]/connection"),
        ("custom", "custom"),
    ])
    def test_names(self, source, text):
        """Sources read as the input they came from."""
        assert describe_source(source) == text


class TestSensitiveLogCheck:
    def test_rules(self):
        """The module exposes its two rules with their severities."""
        assert [(r.id, r.severity.value) for r in RULES] == [
            ("sensitive-log/canary", "high"), ("sensitive-log/pattern", "medium")]

    def test_canary_in_message(self, registry, canary):
        """A canary in the message is one high finding naming source, field and form."""
        check = SensitiveLogCheck(registry, run="test_x")
        (finding,) = _run(check, _event(f"node {canary} ok", template="node %s ok",
                                        args=(repr(canary),)))
        assert finding.rule is CANARY and finding.site == SITE and finding.run == "test_x"
        assert finding.key == "ironic.driver_info.ipmi_password|message"
        assert finding.message == (
            "Ironic driver_info.ipmi_password reaches a DEBUG log record from "
            "nova/virt/ironic/driver.py:power_off (message, raw)")
        ev = finding.evidence
        assert ev["source"] == "ironic.driver_info.ipmi_password"
        assert (ev["field"], ev["form"], ev["levels"]) == ("message", "raw", "DEBUG")
        assert ev["note"] == "leaks at DEBUG only"
        assert ev["excerpt"] == "node [SECRET:ironic.driver_info.ipmi_password] ok"
        assert ev["template"] == "node %s ok" and ev["occurrences"] == "1"
        _assert_clean(_artefacts([finding]), canary)

    def test_argument_not_shown_in_message(self, registry, canary):
        """A secret passed in an unused dict argument surfaces as ``args[i]``."""
        check = SensitiveLogCheck(registry)
        (finding,) = _run(check, _event("node n1 ok", args=("'n1'", repr(canary))))
        assert finding.evidence["field"] == "args[1]"

    def test_extra_and_exception_text(self, registry, canary):
        """Secrets in ``extra`` values and in exception text are separate findings."""
        check = SensitiveLogCheck(registry)
        try:
            try:
                raise ValueError(f"ipmitool -P {canary} failed")
            except ValueError as inner:
                raise RuntimeError("power off failed") from inner
        except RuntimeError as exc:
            exc_text = "".join(traceback.format_exception(exc))
        findings = _run(check, _event("failed", extra=(("node", f"<Node pw={canary}>"),),
                                      exc_text=exc_text))
        assert sorted(f.evidence["field"] for f in findings) == ["exc_text", "extra.node"]
        _assert_clean(_artefacts(findings), canary)

    def test_encoded_forms(self, registry, canary):
        """A base64'd canary is reported with form ``base64`` and redacted in the excerpt."""
        blob = base64.b64encode(b"user:" + canary.encode()).decode()
        check = SensitiveLogCheck(registry)
        (finding,) = _run(check, _event(f"Authorization: Basic {blob}"))
        assert finding.evidence["form"] == "base64"
        assert blob not in finding.evidence["excerpt"]
        _assert_clean(_artefacts([finding]), canary)

    def test_aggregates_levels_and_occurrences(self, registry, canary):
        """One finding per fingerprint, with every level seen and the occurrence count."""
        check = SensitiveLogCheck(registry)
        (finding,) = _run(check, _event(f"a {canary}"),
                          _event(f"b {canary}", level=logging.WARNING),
                          _event(f"c {canary}"))
        assert finding.evidence["levels"] == "DEBUG/WARNING"
        assert finding.evidence["occurrences"] == "3"
        assert "note" not in finding.evidence
        assert "a DEBUG/WARNING log record" in finding.message

    def test_sites_are_distinct_findings(self, registry, canary):
        """The same secret at two code sites gives two fingerprints."""
        other = Site("nova/compute/resource_tracker.py", 10, "_update")
        findings = _run(SensitiveLogCheck(registry), _event(canary), _event(canary, site=other))
        assert len({f.fingerprint for f in findings}) == 2

    def test_finish_starts_a_new_run(self, registry, canary):
        """After ``finish()`` the same leak is reported again for the next run."""
        check = SensitiveLogCheck(registry)
        assert len(_run(check, _event(canary))) == 1
        assert len(_run(check, _event(canary))) == 1
        assert _run(check) == []

    def test_follows_registry_growth(self, registry):
        """Canaries planted after the check was built are still found."""
        check = SensitiveLogCheck(registry)
        late = registry.plant("context.auth_token")
        (finding,) = _run(check, _event(f"token {late}"))
        assert finding.evidence["source"] == "context.auth_token"

    def test_a_quiet_event_is_remembered_until_the_secrets_change(self, registry):
        """An event that held nothing is not looked at again while the scanner is the same
        (lockutils' lines recur every pass); a secret added later makes a new scanner, and
        the same text is looked at again and found."""
        text = "connected to s3cr3t-value-added-later-0001 in 2 ms"
        check = SensitiveLogCheck(registry)
        assert _run(check, _event(text), _event(text)) == []
        assert len(check._following.quiet) == 1
        registry.add("s3cr3t-value-added-later-0001", "conf.placement.password")
        (finding,) = _run(check, _event(text))
        assert finding.evidence["source"] == "conf.placement.password"
        assert check._following.quiet == set()

    def test_plain_mapping_registry(self, canary):
        """A plain value->source mapping works as the registry."""
        check = SensitiveLogCheck({canary: "conf.placement.password"})
        (finding,) = _run(check, _event(canary))
        assert "config option [placement]/password" in finding.message

    def test_ignores_other_events(self, registry):
        """Events other than LogEvent are ignored."""
        lock = LockEvent(seq=1, t=0.0, owner=1, thread="t", name="compute_resources",
                         action="acquire", site=SITE, fair=False, wait_s=0.0, hold_s=0.0,
                         held=())
        assert _run(SensitiveLogCheck(registry), lock) == []

    def test_pattern_finding(self, registry):
        """A URL password with no known value is a medium pattern finding."""
        check = SensitiveLogCheck(registry)
        (finding,) = _run(check, _event("db mysql+pymysql://nova:Hunter22x@db/nova",
                                        level=logging.ERROR))
        assert finding.rule is PATTERN
        assert finding.key == "url-credentials|message"
        assert finding.message.startswith("A mysql+pymysql URL with a password reaches an "
                                          "ERROR log record")
        assert "Hunter22x" not in finding.evidence["excerpt"]
        assert finding.evidence["length"] == "9"
        _assert_clean(_artefacts([finding]), "Hunter22x")

    def test_patterns_can_be_turned_off(self, registry):
        """``patterns=False`` reports known secrets only."""
        check = SensitiveLogCheck(registry, patterns=False)
        assert _run(check, _event("password=Hunter22x")) == []

    def test_canary_wins_over_pattern(self, registry, canary):
        """A known secret in a ``password=`` pair is one canary finding, not two."""
        (finding,) = _run(SensitiveLogCheck(registry), _event(f"ipmi_password={canary}"))
        assert finding.rule is CANARY

    @pytest.mark.parametrize("message", [
        LOCK_LINE,
        "{'password': '***', 'auth_token': '***'}",
        "Connecting to placement at http://127.0.0.1:8778/resource_providers",
        "transport_url = rabbit://nova:****@127.0.0.1:5672/",
        "Setting admin_password is not supported",
    ])
    def test_quiet_cases(self, registry, canary, message):
        """Masked passwords, URLs without credentials and ordinary lines are not flagged."""
        assert _run(SensitiveLogCheck(registry), _event(message)) == []

    def test_excerpt_is_a_window(self, registry, canary):
        """The excerpt is about 160 characters around the hit, redacted."""
        check = SensitiveLogCheck(registry)
        (finding,) = _run(check, _event("x" * 400 + f" {canary} " + "y" * 400))
        excerpt = finding.evidence["excerpt"]
        assert "[SECRET:ironic.driver_info.ipmi_password]" in excerpt
        assert len(excerpt) <= 170


# -- nova's real code path ------------------------------------------------------------

def _relpath(pathname: str) -> str:
    return pathname.replace("\\", "/").rsplit("site-packages/", 1)[-1]


class _ToEvents(logging.Handler):
    """Test-only adapter: a LogRecord -> LogEvent, as the logging hook would record it."""

    _STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message", "asctime", "taskName"}

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[LogEvent] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        values = args.values() if isinstance(args, dict) else (args or ())
        exc_text = ("".join(traceback.format_exception(*record.exc_info))
                    if record.exc_info else None)
        self.events.append(LogEvent(
            seq=len(self.events), t=0.0, owner=0, thread=record.threadName or "",
            logger=record.name, level=record.levelno,
            site=Site(_relpath(record.pathname), record.lineno, record.funcName),
            template=str(record.msg), args=tuple(repr(v) for v in values),
            message=record.getMessage(),
            extra=tuple((k, repr(v)) for k, v in record.__dict__.items()
                        if k not in self._STANDARD),
            exc_text=exc_text, held=()))


class _Ironic:
    """Just enough of the openstacksdk baremetal proxy for ``IronicDriver.power_off``."""

    def __init__(self, instance_uuid: str, secret: str, where: str) -> None:
        from openstack.baremetal.v1.node import Node

        self.where = where
        self.secret = secret
        self.node = Node.existing(
            id="1be26c0b-03f2-4d2e-ae87-c02d7f33c123", instance_id=instance_uuid,
            power_state="power on", target_power_state=None, provision_state="active",
            driver_info={"ipmi_address": "10.0.0.5", "ipmi_username": "admin",
                         "ipmi_password": secret},
            last_error=(f"ipmitool -I lanplus -H 10.0.0.5 -U admin -P {secret} "
                        "chassis power soft: timeout" if where == "last_error" else None))

    def nodes(self, **kwargs):
        return iter([self.node])

    def set_node_power_state(self, node_id, action, timeout=None):
        from openstack import exceptions as sdk_exc

        if timeout and self.where == "sdk_error":
            raise sdk_exc.SDKException(
                f"IPMI call failed: ipmitool -I lanplus -H 10.0.0.5 -U admin "
                f"-P {self.secret} chassis power soft")


def _power_off(secret: str, where: str) -> None:
    """Drive nova's real ``IronicDriver.power_off`` against the stub Ironic."""
    from nova import objects
    from nova.virt.ironic import driver as ironic_driver

    objects.register_all()
    instance = objects.Instance(uuid="7d5e0f0c-9f8b-4a0e-8d55-3f5b0f3f6a11")
    drv = ironic_driver.IronicDriver(None)
    drv._ironic_connection = _Ironic(instance.uuid, secret, where)
    drv.power_off(instance, timeout=5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The _compute_attributes method is deprecated")
class TestRealNovaLogCalls:
    @pytest.mark.parametrize("where", ["sdk_error", "last_error"])
    def test_ipmi_password_reaches_nova_info_log(self, registry, where):
        """nova's power_off logs Ironic's error text, and the IPMI password in it."""
        secret = registry.plant("ironic.driver_info.ipmi_password")
        handler = _ToEvents()
        logger = logging.getLogger("nova")
        old_level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            _power_off(secret, where)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
        check = SensitiveLogCheck(registry, run=f"power_off[{where}]")
        findings = _run(check, *handler.events)
        assert [f.rule.id for f in findings] == ["sensitive-log/canary"]
        (finding,) = findings
        assert finding.site.path == "nova/virt/ironic/driver.py"
        assert finding.site.function == "power_off"
        assert finding.evidence["levels"] == "INFO"
        assert finding.evidence["logger"] == "nova.virt.ironic.driver"
        _assert_clean(_artefacts(findings), secret)

    def test_through_the_auditor_hooks(self, registry):
        """Through ``auditor.hooks`` (records captured at DEBUG), the same leak is found."""
        hooks = pytest.importorskip("auditor.hooks")
        secret = registry.plant("ironic.driver_info.ipmi_password")
        events: list = []
        installation = hooks.install(events.append)
        try:
            _power_off(secret, "sdk_error")
        finally:
            installation.uninstall()
        check = SensitiveLogCheck(registry, run="hooks")
        findings = _run(check, *events)
        sites = {(f.rule.id, f.site.path, f.site.function) for f in findings}
        assert ("sensitive-log/canary", "nova/virt/ironic/driver.py", "power_off") in sites
        _assert_clean(_artefacts(findings), secret)
