"""Several writes as one PostgreSQL statement: data-modifying CTEs.

A booking is a seat UPDATE and three or four INSERTs. Sent one by one inside BEGIN … COMMIT, that
is six round trips and six statements for the database to parse, bind and answer; the database
is the one part that does not scale out (docs/deploy.md). As one statement in autocommit it is
one round trip, and still all or nothing: a statement is atomic by itself. Rows are given as
unsaved model instances, so that what a row holds is decided by the same code as on the ORM path
(SQLite keeps that path); only the SQL is built here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Field, Model


@functools.cache
def _insert_head(model: type[Model], with_pk: bool) -> tuple[str, tuple]:
    """The SQL of `_insert_select` for a model, built once per process (the column list and the
    casts ask every field its database type: a fifth of a booking's Python time, rebuilt)."""
    meta = model._meta
    fields = tuple(field for field in meta.concrete_fields if with_pk or not field.primary_key)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    casts = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in fields)
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {casts}", fields


# Fields whose value goes to the database as the attribute holds it: for these,
# `get_db_prep_save(pre_save(…))` only hands back the same id, bool, str (or str-based choice) or
# None, through five calls a field. Every other field keeps them: dates and times, JSON, and the
# integers, which Django wraps for psycopg (Int2, Int4) so that their statement keeps one type.
AS_HELD = (
    models.AutoField,
    models.BigAutoField,
    models.BooleanField,
    models.CharField,
    models.EmailField,
    models.ForeignKey,
    models.TextField,
)


@functools.cache
def _preparers(model: type[Model], with_pk: bool) -> tuple[tuple[str, Field | None, bool], ...]:
    """Per column of `_insert_head`: its attribute, the field where the value needs it, and
    whether an aware datetime (or None) may go as it is (a moment the code set, not `auto_now`)."""
    _, fields = _insert_head(model, with_pk)
    return tuple(
        (
            field.attname,
            None if type(field) in AS_HELD else field,
            type(field) is models.DateTimeField and not (field.auto_now or field.auto_now_add),
        )
        for field in fields
    )


def _insert_values(obj: Model) -> list[Any]:
    """The values an INSERT of `obj` sends, as `Model.save` would prepare them."""
    db = connections[DEFAULT_DB_ALIAS]  # the proxy `connection` looked up once, not per field
    values = []
    for attname, field, moment in _preparers(type(obj), obj.pk is not None):
        value = getattr(obj, attname)
        if field is not None and not (moment and (value is None or _is_aware(value))):
            value = field.get_db_prep_save(field.pre_save(obj, True), db)
        values.append(value)
    return values


def _is_aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _insert_select(obj: Model, *, tail: str = "") -> tuple[str, list[Any]]:
    """`INSERT INTO table (…) SELECT … {tail} RETURNING id` of one unsaved instance, every value
    cast to its column's type (a bare parameter in a SELECT list would be read as text)."""
    head, _ = _insert_head(type(obj), obj.pk is not None)
    return f"{head}{tail} RETURNING id", _insert_values(obj)


def gated_inserts(
    *, gate: str, gate_params: Sequence[Any], needed: int, first: Model, then: Sequence[Model]
) -> tuple[str, list[Any]]:
    """One statement: the CTE `gate` (an `UPDATE … RETURNING`), then `first` inserted only if the
    gate touched `needed` rows, then each of `then` only if `first` was. Its one row answers how
    many rows the gate touched, the id of `first` (None when it was not written), and the id of
    each of `then`. The gate's rows are written whatever the count: a caller whose gate may touch
    some but not all of them runs the statement in a transaction, to roll that back."""
    first_sql, first_values = _insert_select(first, tail=" WHERE (SELECT count(*) FROM gate) = %s")
    parts = [f"gate AS ({gate})", f"r0 AS ({first_sql})"]
    params = [*gate_params, *first_values, needed]
    for index, obj in enumerate(then, start=1):
        sql, values = _insert_select(obj, tail=" FROM r0")
        parts.append(f"r{index} AS ({sql})")
        params += values
    # Names from the models' metadata and this function; every value is a parameter.
    answers = ", ".join(f"(SELECT id FROM r{index})" for index in range(len(then) + 1))  # noqa: S608
    return f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM gate), {answers}", params  # noqa: S608
