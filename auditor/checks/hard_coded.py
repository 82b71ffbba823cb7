"""hard-coded: a credential written into the code the process actually loaded.

Rules
    hard-coded/literal (high)     a string literal assigned to, compared with, passed as
                                  or defaulting a credential-named variable, attribute,
                                  keyword or parameter (Bandit's B105/B106/B107, here on
                                  the loaded code objects rather than the source).
    hard-coded/shape (medium)     a string literal shaped like a secret (URL credentials,
                                  ``password=`` pairs, PEM private keys, Fernet tokens,
                                  ``X-Auth-Token`` headers; the sensitive-log scanner's shapes).

Scanned once per run, at its end: the module globals, default arguments and ``co_consts``
(nested code objects and f-string parts included) of every function and method loaded
from ``nova/compute/resource_tracker.py``, ``nova/virt/ironic/driver.py`` and
``nova/scheduler/client/report.py``, patched methods included. Empty strings and
placeholders (``***``, ``<password>``, ``%s``) are ignored. Evidence names the kind and
the name, never the value.

Example::

    HIGH hard-coded/literal  nova/compute/resource_tracker.py:1780 _update
      A string literal is assigned to 'password' in loaded code (15 characters)

See also: hard-coded/wire (credentials built at run time and sent on the wire, which are
not literals). The claim "no hard-coded sensitive values" is upheld only when both ran.
"""

from __future__ import annotations

import re
from typing import Iterable

from auditor.checks.registry import RunContext, register
from auditor.checks.secrets_scan import Scanner, masked
from auditor.events import LoadedCode
from auditor.findings import Finding, Rule, Severity

__all__ = ["RULES", "LITERAL", "SHAPE", "HardCodedCheck", "CREDENTIAL_NAME"]

LITERAL = Rule(
    "hard-coded/literal", Severity.HIGH, "A credential-named value is a literal in loaded code",
    "A string literal is assigned to, compared with, passed as or is the default of a "
    "password/token/secret-named name in code the process loaded (Bandit B105-B107).")
SHAPE = Rule(
    "hard-coded/shape", Severity.MEDIUM, "A secret-shaped literal in loaded code",
    "A string literal in code the process loaded is shaped like a credential (URL "
    "password, password= pair, private key, token).")
RULES: tuple[Rule, ...] = (LITERAL, SHAPE)

#: Bandit's credential names (``bandit.plugins.general_hardcoded_password.RE_CANDIDATES``).
CREDENTIAL_NAME = re.compile(
    r"(^|_)(pas+wo?r?d|pass(phrase)?|pwd|token|secrete?)(_|$)", re.IGNORECASE)
_VERBS = {"assignment": "is assigned to", "comparison": "is compared with",
          "keyword": "is passed as keyword", "default": "is the default of",
          "module": "is the module global"}
_SHAPES = {"url-credentials": "a {label} URL with a password", "key-value": "a '{label}' pair",
           "private-key": "a PEM private key", "token": "a Fernet token",
           "auth-header": "an {label} header"}


@register(*RULES)
class HardCodedCheck:
    """Judge the loaded code's literals (``LoadedCode``); one finding per place and name."""

    EVENTS = (LoadedCode,)

    def __init__(self) -> None:
        self._scanner = Scanner({})

    @classmethod
    def for_run(cls, ctx: RunContext) -> "HardCodedCheck":
        return cls()

    def observe(self, event: LoadedCode) -> Iterable[Finding]:
        found: dict[str, Finding] = {}
        for lit in event.literals:
            if lit.name and lit.kind != "constant" and CREDENTIAL_NAME.search(lit.name) \
                    and not masked(lit.value):
                f = Finding(LITERAL, f"A string literal {_VERBS[lit.kind]} {lit.name!r} in "
                            f"loaded code ({len(lit.value)} characters)", lit.site,
                            {"kind": lit.kind, "name": lit.name, "length": str(len(lit.value))},
                            key=f"{lit.kind}:{lit.name}")
                found.setdefault(f.fingerprint, f)
            for hit in self._scanner.patterns(lit.value):
                shape = _SHAPES[hit.kind].format(label=hit.label)
                f = Finding(SHAPE, f"A string literal in loaded code holds {shape}", lit.site,
                            {"shape": hit.kind, "label": hit.label}, key=f"{hit.kind}:{hit.label}")
                found.setdefault(f.fingerprint, f)
        return list(found.values())

    def finish(self) -> Iterable[Finding]:
        return ()
