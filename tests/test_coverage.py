"""What ``CoverageCounter`` counts, per event type."""

from __future__ import annotations

import dataclasses

from auditor.coverage import CoverageCounter, Universe
from auditor.events import CallEvent, EntryEvent, LockEvent, Site, WireEvent, stamp

SITE = Site("nova/compute/resource_tracker.py", 1, "f")


@dataclasses.dataclass(frozen=True, slots=True)
class _MyCall(CallEvent):
    """A subclass of an event type counts as that type."""


def test_each_event_type_counts_what_it_exercised():
    uni = Universe(log_call_sites=frozenset(), synchronized_entry_points=frozenset({"claim"}),
                   report_client_calls=frozenset({"put_allocations"}))
    counter = CoverageCounter(uni)
    events = [
        LockEvent(*stamp(), "compute_resources", "acquire", SITE, False, 0.0, 0.0, ()),
        EntryEvent(*stamp(), "claim", 1, ()),
        EntryEvent(*stamp(), "not_synchronized", 1, ()),
        CallEvent(*stamp(), "ironic", "put_allocations", SITE, 0.0, None, ()),
        _MyCall(*stamp(), "report-client", "put_allocations", SITE, 0.0, None, ()),
        WireEvent(*stamp(), "placement", "http", "127.0.0.1", 80, False, None, False, 5.0, 0,
                  "none", (), SITE, ()),
    ]
    for event in events * 2:
        counter.observe(event)
    report = counter.report()
    assert report["synchronized_entry_points"]["ids_hit"] == ["claim"]
    assert report["report_client_calls"]["ids_hit"] == ["put_allocations"]
    assert report["endpoints"]["ids_hit"] == ["placement"]
    assert [c.split(";")[0] for c in report["channels"]["ids_hit"]] == [
        "placement: http to loopback 127.0.0.1"]
    assert report["log_call_sites"]["hit"] == 0
