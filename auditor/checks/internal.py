"""auditor-error: the auditor itself failed; the audited code was not affected.

A hook, a check or the session raised. The error never reaches the audited
code: it becomes this finding (low severity, at the auditor's frame that
raised), and the rest of the run goes on, possibly with fewer events or
findings than it should have. The evidence names where it happened and the
exception's type. Please report it with the message.

Example: ``auditor-error/internal: KeyError in LockingCheck.observe: 'x'``.
"""

from __future__ import annotations

from auditor.checks.registry import register_rules
from auditor.findings import Rule, Severity

__all__ = ["AUDITOR_ERROR", "RULES"]

AUDITOR_ERROR = Rule("auditor-error/internal", Severity.LOW,
                     "The auditor itself failed; the audited code was not affected")
RULES = (AUDITOR_ERROR,)
register_rules(__name__, *RULES)
