"""Model rows read by hand-written SQL on the hottest paths, converted exactly as the ORM would.

Composing and compiling a queryset costs more CPU than PostgreSQL spends answering a short
indexed query (py-spy on bench/load.py): the booking request reads its rows with fixed SQL
instead. The select list comes from the model's own metadata, and each value goes through the
converters the ORM applies (SQLite datetimes become aware, JSON is decoded, …).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def select_list(model: type[Model], alias: str) -> str:
    """`alias."col", …` for the model's concrete fields, in `from_row` order."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


@cache
def _converters(model: type[Model], vendor: str) -> list[tuple[str, Any, list]]:
    """Per field: its attribute name, its column expression and the ORM's converters for it (they
    depend on the database vendor and the settings only)."""
    result = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        result.append((field.attname, column, functions))
    return result


def from_row(model: type[M], row: Sequence[Any]) -> M | None:
    """The instance whose `select_list` values `row` holds (None for an outer join's NULL row)."""
    if row[0] is None:
        return None
    converters = _converters(model, connection.vendor)
    names, values = [], []
    for (name, column, functions), value in zip(converters, row, strict=True):
        for function in functions:
            value = function(value, column, connection)
        names.append(name)
        values.append(value)
    return model.from_db(connection.alias, names, values)


def from_joined_row(row: Sequence[Any], *models: type[Model]) -> tuple[Model | None, ...]:
    """One instance per model from a row that holds their `select_list`s one after the other."""
    result, offset = [], 0
    for model in models:
        width = len(model._meta.concrete_fields)
        result.append(from_row(model, row[offset : offset + width]))
        offset += width
    return tuple(result)
