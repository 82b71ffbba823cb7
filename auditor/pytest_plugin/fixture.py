"""The ``audit`` fixture's object: plant canaries, read and assert this test's findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from auditor.findings import Finding
    from auditor.session import AuditSession

__all__ = ["AuditHandle", "describe"]


def describe(finding: "Finding") -> str:
    """One line per finding: severity, rule, where, message (evidence is already masked)."""
    site = finding.site
    return (f"{finding.severity.value} {finding.rule.id} at {site.path}:{site.line} "
            f"{site.function}: {finding.message}")


class AuditHandle:
    """What a test sees of the audit: its own run only.

    ``findings()`` are the findings the test's run would end with if it ended
    now (see ``AuditSession.preview``): every rule of the selected categories,
    ``audit_allow`` markers not applied (they only keep findings out of the report).
    """

    def __init__(self, session: "AuditSession", nodeid: str) -> None:
        self._session = session
        self.nodeid = nodeid

    def plant(self, source: str = "pytest.canary") -> str:
        """A fresh canary registered as a secret from ``source``; any log of it is a finding."""
        return self._session.canaries.plant(source)

    def findings(self, category: str | None = None) -> list["Finding"]:
        """This test's findings so far, optionally of one category."""
        return [f for f in self._session.preview()
                if category is None or f.category == category]

    def assert_none(self, category: str | None = None) -> None:
        """Fail the test if it has any finding (of ``category``) so far."""
        __tracebackhide__ = True
        found = self.findings(category)
        if found:
            what = f" of category {category}" if category else ""
            raise AssertionError(f"{len(found)} audit finding(s){what}:\n"
                                 + "\n".join(describe(f) for f in found))

    def assert_one(self, rule: str) -> "Finding":
        """Fail unless exactly one finding of rule id ``rule`` exists so far; return it."""
        __tracebackhide__ = True
        found = self.findings()
        matching = [f for f in found if f.rule.id == rule]
        if len(matching) != 1:
            listed = "\n".join(describe(f) for f in found) or "(no findings)"
            raise AssertionError(f"expected exactly one {rule} finding, got "
                                 f"{len(matching)}; all findings:\n{listed}")
        return matching[0]
