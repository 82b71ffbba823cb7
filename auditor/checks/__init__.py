"""Detectors: events in, findings out. Importing this package registers every check.

Adding a check: a module here (docstring, ``RULES``, a ``@register(*RULES)`` class
satisfying ``registry.Check``) and one import line below. The order of the
imports is the order of the catalogue, the categories and the session's checks.
"""

# isort: off
from auditor.checks import sensitive_log  # noqa: F401
from auditor.checks import locking  # noqa: F401
from auditor.checks import exceptions  # noqa: F401
from auditor.checks import accounting  # noqa: F401
from auditor.checks import input_validation  # noqa: F401
from auditor.checks import hard_coded  # noqa: F401
from auditor.checks import wire_credentials  # noqa: F401
from auditor.checks import channels  # noqa: F401
from auditor.checks import internal  # noqa: F401
# isort: on
from auditor.checks.registry import categories, families, make_checks

__all__ = ["categories", "families", "make_checks"]
