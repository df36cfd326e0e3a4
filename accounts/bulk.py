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


def rows_update(
    objs: Sequence[models.Model],
    fields: Sequence[str],
    *,
    using: str | None = None,
    batch_size: int | None = None,
) -> int:
    """Write `fields` of `objs` (saved rows of one model) with one UPDATE (one for each
    `batch_size` rows if given); the rows updated. On another database than PostgreSQL (the
    SQLite demo) this is Django's `bulk_update`."""
    if not objs or not fields:
        return 0
    model = type(objs[0])
    if any(type(obj) is not model or obj.pk is None for obj in objs):
        raise ValueError("rows_update writes saved rows of one model.")
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        # The model's plain QuerySet: a manager's own bulk_update may call this function.
        queryset: models.QuerySet[Any] = models.QuerySet(model, using=alias)
        return queryset.bulk_update(objs, fields, batch_size)
    meta = model._meta
    key = meta.pk
    written = [meta.get_field(name) for name in fields]
    if key is None or not all(_writable(field, model) for field in written):
        raise ValueError(f"rows_update writes concrete fields of the model itself: {fields}.")
    columns: list[models.Field[Any, Any]] = [key, *written]  # type: ignore[list-item]
    if any(
        hasattr(getattr(obj, field.attname), "resolve_expression")
        for obj in objs
        for field in columns
    ):
        raise ValueError("rows_update writes values, not expressions.")
    size = batch_size or len(objs)
    with connection.cursor() as cursor:
        updated = 0
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            cursor.execute(
                _sql(connection, meta.db_table, columns, len(batch)),
                _params(connection, batch, columns),
            )
            updated += int(cursor.rowcount)
    return updated


def _sql(connection: Any, table: str, columns: list[models.Field[Any, Any]], rows: int) -> str:
    quote = connection.ops.quote_name
    # Every value cast to its column's type, so that PostgreSQL never guesses (NULLs, dates);
    # strings to varchar without a length, so that a value too long for its column fails on
    # the assignment (as with save()) rather than being cut short by the cast.
    casts = [f"%s::{_cast_type(connection, field)}" for field in columns]
    row = f"({', '.join(casts)})"
    names = [quote(f"v{index}") for index in range(len(columns))]
    # Only quoted identifiers of the model and casts to its columns' types are formatted in;
    # every value is a parameter.
    return (
        f"UPDATE {quote(table)} AS t SET "  # noqa: S608
        + ", ".join(
            f"{quote(str(field.column))} = v.{name}"
            for field, name in zip(columns[1:], names[1:], strict=True)
        )
        + f" FROM (VALUES {', '.join([row] * rows)}) AS v({', '.join(names)})"
        + f" WHERE t.{quote(str(columns[0].column))} = v.{names[0]}"
    )


def _params(
    connection: Any, objs: Sequence[models.Model], columns: list[models.Field[Any, Any]]
) -> list[Any]:
    return [
        field.get_db_prep_save(getattr(obj, field.attname), connection)
        for obj in objs
        for field in columns
    ]


def _cast_type(connection: Any, field: models.Field[Any, Any]) -> str:
    if isinstance(field, models.CharField):
        return str(connection.ops.cast_char_field_without_max_length)
    db_type = field.db_type(connection)
    if db_type is None:
        raise ValueError(f"rows_update cannot cast to the type of {field.name}.")
    return str(db_type)


def _writable(field: object, model: type[models.Model]) -> bool:
    return (
        isinstance(field, models.Field)
        and field.concrete
        and not field.many_to_many
        and not field.primary_key
        and field.model is model
    )
