"""Writing changed fields of many rows in one statement.

`QuerySet.bulk_update` builds a `CASE WHEN pk = … THEN …` expression for every row and
field, and resolving and compiling those expressions is most of what a billing batch costs
in Python (a batch of 50 payments, attempts and invoices spent more time there than in
issuing them). `rows_update` sends the same change as PostgreSQL's `UPDATE … FROM (VALUES
…)`: one row of values for each object, joined on the primary key.

Like `bulk_update`, it writes the objects' current values of the fields named, and only
those: no `save()`, no signals, no `auto_now` (name `updated_at` to write it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router


def rows_update(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write `fields` of `objs` (saved rows of one model) with one UPDATE; the rows updated."""
    if not objs or not fields:
        return 0
    model = type(objs[0])
    if any(type(obj) is not model or obj.pk is None for obj in objs):
        raise ValueError("rows_update writes saved rows of one model.")
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    key = meta.pk
    written = [meta.get_field(name) for name in fields]
    if key is None or not all(_writable(field) for field in written):
        raise ValueError(f"rows_update writes concrete fields other than the key: {fields}.")
    columns: list[models.Field[Any, Any]] = [key, *written]  # type: ignore[list-item]
    # Every value cast to its column's type, so that PostgreSQL never guesses (NULLs, dates).
    casts = [f"%s::{field.db_type(connection)}" for field in columns]
    row = f"({', '.join(casts)})"
    names = [quote(f"v{index}") for index in range(len(columns))]
    # Only quoted identifiers of the model and casts to its columns' types are formatted in;
    # every value is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET "  # noqa: S608
        + ", ".join(
            f"{quote(str(field.column))} = v.{name}"
            for field, name in zip(columns[1:], names[1:], strict=True)
        )
        + f" FROM (VALUES {', '.join([row] * len(objs))}) AS v({', '.join(names)})"
        + f" WHERE t.{quote(str(key.column))} = v.{names[0]}"
    )
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), connection)
        for obj in objs
        for field in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _writable(field: object) -> bool:
    return (
        isinstance(field, models.Field)
        and field.concrete
        and not field.many_to_many
        and not field.primary_key
    )
