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
    ``schema.TRACE_LINE``) and which rule, or None if it conforms. It never quotes the
    value: a bad value may be anything, a secret too (jsonschema's messages quote it)."""
    from jsonschema.exceptions import best_match

    validator = _validator(name)
    if validator.is_valid(data):
        return None
    error = best_match(validator.iter_errors(data))
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    if error.validator == "required":   # names the missing property (the schema's words)
        return f"{where}: {error.message[:160]}"
    return f"{where}: breaks the schema's {error.validator!r} ({error.validator_value!r})"[:200]
