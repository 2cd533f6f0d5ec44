"""Querysets compiled to SQL once per process, for the lookups every write makes.

Django builds and compiles a queryset each time it runs. For the lookups that
every API write makes, the bearer token and the locked consultation, that
costs about 0.2 and 0.4 ms of CPU on the benchmark machine
(docs/benchmarks.md), more than PostgreSQL spends executing them. A
CompiledQuery keeps the SQL that Django compiled for its first call on a
database and runs it again with each call's values through `Manager.raw()`,
which maps the selected columns onto the model's fields.
Annotations are converted from the database's values as the queryset would.

The SQL is Django's own, so a new field or a changed lookup needs no edit
here. Only querysets of one model without select_related fit, because raw()
maps columns by name and the related rows would repeat the names.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model, QuerySet
from django.db.transaction import TransactionManagementError


class _Compiled(NamedTuple):
    model: type[Model]
    sql: str
    params: list
    # The index in `params` of each value of a call.
    positions: list[int]
    # The annotations, with their converters from database values.
    annotations: list[tuple[str, list, object]]
    locks: bool


class CompiledQuery:
    """A queryset built by `build(*values)`, compiled once per database alias.

    `fields` are the model fields that the values are compared with, in
    order. Each field converts its value for the database, as the lookup does.
    The class is meant for lookups by key. An integer value outside its
    column's range matches no row, as with Django's exact lookups. None raises
    ValueError, because the SQL compares with = where the ORM writes IS NULL.
    """

    def __init__(self, build: Callable[..., QuerySet], *fields: Field):
        self._build = build
        self._fields = fields
        self._compiled: dict[str, _Compiled] = {}

    def fetch(self, *values, using: str = DEFAULT_DB_ALIAS) -> list[Model]:
        """Return the rows of `build(*values)`, from the SQL compiled before."""
        connection = connections[using]
        compiled = self._compiled.get(using)
        if compiled is None:
            compiled = self._compiled[using] = self._compile(using)
        if compiled.locks and connection.get_autocommit():
            # Django's compiler checks this, but only on the first call here.
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )

        params = list(compiled.params)
        for position, field, value in zip(
            compiled.positions, self._fields, values, strict=True
        ):
            if value is None:
                raise ValueError(f"a CompiledQuery cannot compare {field} with None")
            if not _in_range(field, value, connection):
                return []
            params[position] = field.get_db_prep_value(value, connection)
        rows = list(compiled.model.objects.using(using).raw(compiled.sql, params))
        for row in rows:
            for name, converters, expression in compiled.annotations:
                value = getattr(row, name)
                for converter in converters:
                    value = converter(value, expression, connection)
                setattr(row, name, value)
        return rows

    def first(self, *values, using: str = DEFAULT_DB_ALIAS) -> Model | None:
        """Return the first row of `build(*values)`, or None when there is none."""
        rows = self.fetch(*values, using=using)
        return rows[0] if rows else None

    def _compile(self, using: str) -> _Compiled:
        """Compile the queryset of marker values and find each value's parameter."""
        connection = connections[using]
        markers = [_marker(field, number) for number, field in enumerate(self._fields)]
        query = self._build(*markers).using(using).query
        if query.select_related:
            raise ValueError(
                "a CompiledQuery reads one model, so remove select_related() "
                "from the queryset"
            )

        compiler = query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        params = list(params)
        positions = []
        for field, marker in zip(self._fields, markers, strict=True):
            prepared = field.get_db_prep_value(marker, connection)
            found = [i for i, param in enumerate(params) if param == prepared]
            if len(found) != 1:
                raise ValueError(
                    f"the value for {field} appears {len(found)} times in the SQL. "
                    "A CompiledQuery needs each value exactly once"
                )
            positions.append(found[0])

        annotations = []
        for name, position in compiler.annotation_col_map.items():
            expression = compiler.select[position][0]
            found = compiler.get_converters([expression])
            converters = found[0][0] if found else []
            annotations.append((name, converters, expression))
        locks = query.select_for_update and connection.features.has_select_for_update
        return _Compiled(query.model, sql, params, positions, annotations, locks)


def _in_range(field: Field, value, connection) -> bool:
    """Return False for an integer that its field's column cannot hold."""
    kind = field.get_internal_type()
    if not isinstance(value, int) or kind not in connection.ops.integer_field_ranges:
        return True
    low, high = connection.ops.integer_field_range(kind)
    return low <= value <= high


def _marker(field: Field, number: int):
    """Return a value of `field`'s type that no query contains as a constant."""
    kind = field.get_internal_type()
    if kind in {"AutoField", "BigAutoField", "BigIntegerField", "IntegerField"}:
        return -(2**31) + 7919 * number + 104729
    if kind == "DateTimeField":
        return datetime(1, 1, 1, 0, 0, number, 104729, tzinfo=UTC)
    if kind in {"CharField", "TextField"}:
        return f"\x1fcompiled-query-marker-{number}\x1f"
    raise ValueError(
        f"a CompiledQuery supports no {kind} values: use an integer, "
        "date-time or text field"
    )
