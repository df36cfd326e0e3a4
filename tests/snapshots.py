"""What a fixture wrote to the test database (and to MEDIA_ROOT), kept so that a later test
gets the same rows in a fraction of the time it took to write them.

A snapshot is taken only of a database that held nothing but what migrate leaves (content
types and permissions), and given back only to a database in that same state: every row of
every table is the snapshot's, content types and permissions included (their ids change with
every flush of a transactional test), and each sequence is moved past the ids it holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from psycopg import sql

# The tables migrate fills (post_migrate, which a flush runs again; the data migrations, whose
# rows tests/conftest.py `_migrated_data` puts back after a flush); every other table of a
# test database starts empty.
DATA_MIGRATION_TABLES = frozenset({"invoices_taxrate"})
MIGRATION_TABLES = frozenset({"django_content_type", "auth_permission"}) | DATA_MIGRATION_TABLES


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, bytes]  # table -> its rows, in COPY's text format (non-empty tables only)
    sequences: tuple[tuple[str, str, str], ...]  # (sequence, table, column) of those tables
    migration_rows: dict[str, int]  # how many rows migrate had left (restored onto as many)
    files: dict[str, bytes]  # MEDIA_ROOT-relative path -> content, of the files written
    taken_at: float  # time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self.taken_at


def _tables() -> list[str]:
    return sorted(connection.introspection.django_table_names(only_existing=True))


def row_counts() -> dict[str, int]:
    """Every table's number of rows, in one query."""
    tables = _tables()
    counts = sql.SQL(", ").join(
        sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(table)) for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT {}").format(counts).as_string(cursor.cursor.connection))
        return dict(zip(tables, cursor.fetchone(), strict=True))


def is_pristine(counts: dict[str, int]) -> bool:
    """Whether the database holds only what migrate leaves."""
    return not any(n for table, n in counts.items() if table not in MIGRATION_TABLES)


def media_files(root: Path) -> dict[str, tuple[int, int]]:
    """The files under `root`: relative path -> (size, modification time)."""
    if not root.is_dir():
        return {}
    return {
        str(path.relative_to(root)): (stat.st_size, stat.st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file() and (stat := path.stat())
    }


def take(
    *, before: dict[str, int], media_root: Path, media_before: dict[str, tuple[int, int]]
) -> Snapshot:
    """The database as it is now (the current transaction's rows too), and the files
    written under `media_root` since `media_before`; `before` is `row_counts()` of the
    pristine database the rows were written to."""
    rows: dict[str, bytes] = {}
    sequences: list[tuple[str, str, str]] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for table in _tables():
            statement = sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))
            with raw.copy(statement) as copy:
                data = b"".join(bytes(chunk) for chunk in copy)
            if data:
                rows[table] = data
                sequences += [
                    (sequence["name"], table, sequence["column"])
                    for sequence in connection.introspection.get_sequences(cursor, table)
                ]
    files = {
        name: (media_root / name).read_bytes()
        for name, stamp in media_files(media_root).items()
        if media_before.get(name) != stamp
    }
    return Snapshot(
        rows=rows,
        sequences=tuple(sequences),
        migration_rows={table: before[table] for table in MIGRATION_TABLES},
        files=files,
        taken_at=time.monotonic(),
    )


def fits(snapshot: Snapshot, counts: dict[str, int]) -> bool:
    """Whether `snapshot` can be restored onto a database with these `row_counts()`."""
    # A data migration's rows are the snapshot's own after a restore, however many are there.
    return is_pristine(counts) and all(
        counts[table] == n
        for table, n in snapshot.migration_rows.items()
        if table not in DATA_MIGRATION_TABLES
    )


def restore(snapshot: Snapshot, *, media_root: Path) -> None:
    """Make the database (which `fits` the snapshot) and `media_root` hold what it holds.

    In a test's transaction (`db`) the rows go when it is rolled back; in autocommit
    (`transactional_db`) they are committed, for the live server to see, and go with the
    test's flush. Content types are cached by id: the cache is cleared here, and the caller
    clears it again once the test's rows are gone.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        for table in sorted(MIGRATION_TABLES):
            delete = sql.SQL("DELETE FROM {}").format(sql.Identifier(table))
            cursor.execute(delete.as_string(raw.connection))
        for table, data in snapshot.rows.items():
            statement = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
            with raw.copy(statement) as copy:
                copy.write(data)
        if snapshot.sequences:
            # Never backwards: a sequence a rolled-back test moved stays ahead of its ids.
            moves = sql.SQL(", ").join(
                sql.SQL(
                    "setval({name}, GREATEST("
                    "(SELECT COALESCE(max({column}), 1) FROM {table}),"
                    " (SELECT last_value FROM {sequence})))"
                ).format(
                    name=sql.Literal(sequence),
                    column=sql.Identifier(column),
                    table=sql.Identifier(table),
                    sequence=sql.Identifier(sequence),
                )
                for sequence, table, column in snapshot.sequences
            )
            cursor.execute(sql.SQL("SELECT {}").format(moves).as_string(raw.connection))
    ContentType.objects.clear_cache()
    for name, content in snapshot.files.items():
        path = media_root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
