"""The hot path's statements run on the database driver's cursor, as SQLAlchemy compiled them.

A change of a case reads two rows and writes five or so, each through a prebuilt statement. Executed through
Core, every one of them pays for an execution context (parameter distillation, a result object, the soft
close) that costs several times what the database itself spends on a small insert. Here SQLAlchemy still does
the parts that matter: it compiles each statement once per database and set of columns (the SQL text and the
order of its parameters), and its own types convert every value both ways (`bind_processor` and
`result_processor` of the database's implementation of each type, so a timestamp is stored and read exactly
as SQLAlchemy stores and reads it elsewhere). `run` takes writes that ask nothing back; `fetch` takes reads.
"""
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple  # the statement's parameters, in the order the driver takes them
    processors: tuple  # a converter for each (or None)
    defaults: dict  # parameter -> the column default that fills it when a row does not give it
    positional: bool
    columns: tuple  # a read's result columns
    readers: tuple  # a converter for each result column (or None)


class Prepared:
    """One statement: for `run` an INSERT (`.inline()`), UPDATE or DELETE whose result nobody reads; for `fetch`
    a SELECT."""

    def __init__(self, statement):
        self.statement = statement
        self._compiled = {}

    def compiled(self, dialect, keys: tuple) -> _Compiled:
        """The statement compiled for `dialect` and rows giving `keys`, once."""
        found = self._compiled.get((dialect.name, keys))
        if found is None:
            found = self._compiled[(dialect.name, keys)] = _compile(self.statement, dialect, keys)
        return found


def _compile(statement, dialect, keys) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if compiled.effective_returning:
        raise TypeError(f"a statement run on the driver asks nothing back (an INSERT is .inline()): {compiled.string}")
    if any(bind.expanding for bind in compiled.binds.values()) or compiled.escaped_bind_names:
        raise TypeError(f"not a statement for the driver (expanding or escaped parameters): {compiled.string}")
    positional = compiled.positiontup is not None
    names = tuple(compiled.positiontup) if positional else tuple(compiled.binds)
    processors = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    defaults = {}
    for column in list(compiled.insert_prefetch) + list(compiled.update_prefetch):
        if column.default is None or not (column.default.is_callable or column.default.is_scalar):
            raise TypeError(f"column {column.name}: only Python-side defaults are filled here")
        defaults[column.key] = column.default
    columns = tuple(statement.selected_columns) if statement.is_select else ()
    readers = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    return _Compiled(compiled.string, names, processors, defaults, positional, tuple(c.key for c in columns), readers)


def _value(row, name, defaults):
    if name in row:
        return row[name]
    default = defaults.get(name)
    if default is None:
        raise KeyError(f"no value for parameter {name!r}")
    return default.arg(None) if default.is_callable else default.arg


@contextmanager
def _driver_cursor(connection):
    """A cursor of the connection's driver; a lost connection is dropped from the pool (as SQLAlchemy would for
    its own statements) before the driver's error goes on."""
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except connection.dialect.loaded_dbapi.Error as err:
        if connection.dialect.is_disconnect(err, connection.connection, cursor):
            connection.invalidate()
        raise
    finally:
        if not connection.invalidated:
            cursor.close()


def _parameters(compiled, row):
    values = [_value(row, name, compiled.defaults) for name in compiled.names]
    values = [value if convert is None else convert(value) for value, convert in zip(values, compiled.processors)]
    return tuple(values) if compiled.positional else dict(zip(compiled.names, values))


def run(connection, prepared: Prepared, rows) -> int:
    """Run `prepared` once per row (a dict of parameters, or a list of them) on the connection's driver cursor,
    in its current transaction; returns how many rows it changed (-1 where the driver cannot tell yet: in a
    pipeline). Driver errors are raised as the driver raises them (see writes.send_held); a lost connection is
    dropped from the pool first."""
    rows = [rows] if isinstance(rows, dict) else rows
    if not rows:
        return 0
    compiled = prepared.compiled(connection.dialect, tuple(sorted(rows[0])))
    converted = [_parameters(compiled, row) for row in rows]
    with _driver_cursor(connection) as cursor:
        if len(converted) == 1:
            cursor.execute(compiled.sql, converted[0])
        else:
            cursor.executemany(compiled.sql, converted)
        return cursor.rowcount


def fetch(connection, prepared: Prepared, params: dict) -> list:
    """The rows of a SELECT, each a dict by column key, converted by SQLAlchemy's types; in the connection's
    current transaction. Driver errors are raised as the driver raises them; a lost connection is dropped from the
    pool first."""
    compiled = prepared.compiled(connection.dialect, tuple(sorted(params)))
    if not compiled.columns:
        raise TypeError(f"fetch takes a SELECT, not {compiled.sql}")
    with _driver_cursor(connection) as cursor:
        cursor.execute(compiled.sql, _parameters(compiled, params))
        raw = cursor.fetchall()
    keys, readers = compiled.columns, compiled.readers
    return [{key: value if read is None else read(value) for key, value, read in zip(keys, row, readers)}
            for row in raw]
