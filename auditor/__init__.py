"""nova-rt-auditor: a dynamic runtime auditor for nova's compute resource tracker."""

__all__ = ["__version__"]
__version__ = "0.1.0"
