"""Aggregates that bring many rows back as one JSON value, on SQLite and PostgreSQL alike.

A statement that needs a few small rows from another table (a user's events, the staff who may be told
of a task) takes them along as one column this way, rather than costing a statement of its own.
"""
from sqlalchemy import JSON
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class _JsonAggregate(FunctionElement):
    """An aggregate whose value is JSON; each subclass says how each database spells it (@compiles).

    Every subclass sets inherit_cache itself: SQLAlchemy reads it from the class's own namespace, and a subclass
    without it makes every statement using it compiled anew each time (with a warning).
    """

    type = JSON()
    inherit_cache = True


class json_list(_JsonAggregate):
    """A column's values over a group as one JSON array: json_group_array on SQLite, json_agg on PostgreSQL."""

    inherit_cache = True


@compiles(json_list)
def _json_agg(element, compiler, **kw):
    return f"json_agg({compiler.process(element.clauses, **kw)})"


@compiles(json_list, "sqlite")
def _json_group_array(element, compiler, **kw):
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


class json_rows(_JsonAggregate):
    """Rows of the given columns over a group as one JSON array of arrays ([[a, b], ...]); a JSON column
    stays JSON inside (not a string of it)."""

    inherit_cache = True


@compiles(json_rows)
def _json_agg_rows(element, compiler, **kw):
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "sqlite")
def _json_group_array_rows(element, compiler, **kw):
    # SQLite keeps JSON as text: json() marks it as JSON, so it is nested as a value, not quoted as a string
    items = ", ".join(f"json({compiler.process(c, **kw)})" if isinstance(c.type, JSON) else compiler.process(c, **kw)
                      for c in element.clauses)
    return f"json_group_array(json_array({items}))"
