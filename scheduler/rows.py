"""Model instances from the rows of a raw statement, as a queryset would build them.

The hot reads of a booking (`venues.selectors.venue_and_procedure`, `bookings.seats`' run of
slots) are hand-written statements; `Manager.raw()` or a per-value lookup of the converters cost
more Python than the statement's round trip. Each value still goes through the converters that the
database and the field ask for (a queryset's own), looked up once per model and connection.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model


def columns(model: type[Model], alias: str) -> str:
    """The model's columns, in the order `instance` reads them."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


@functools.cache
def _loader(model: type[Model], db) -> tuple[list[str], list[tuple[int, list, Any]]]:
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = db.ops.get_db_converters(column) + column.get_db_converters(db)
        if found:
            converters.append((index, found, column))
    return [field.attname for field in fields], converters


def instance(model: type[Model], values: Sequence[Any]) -> Model | None:
    """An instance from the model's columns (`columns`), or None for the NULLs of a LEFT JOIN."""
    if values[0] is None:  # the primary key
        return None
    db = connections[DEFAULT_DB_ALIAS]
    attnames, converters = _loader(model, db)
    values = list(values)
    for index, found, column in converters:
        value = values[index]
        for converter in found:
            value = converter(value, column, db)
        values[index] = value
    return model.from_db(db.alias, attnames, values)


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)
