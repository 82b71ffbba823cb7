"""Checking a report or a trace line against the shipped JSON Schemas (``auditor.report.schema``)."""

from __future__ import annotations

import functools

from auditor.report import schema

__all__ = ["problem"]


@functools.cache
def _validator(name: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema.load(name))


def problem(data: object, name: str) -> str | None:
    """One line saying where ``data`` breaks schema ``name`` (``schema.REPORT``,
    ``schema.TRACE_LINE``), or None if it conforms."""
    from jsonschema.exceptions import best_match

    validator = _validator(name)
    if validator.is_valid(data):
        return None
    error = best_match(validator.iter_errors(data))
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    return f"{where}: {error.message[:160]}"
