"""Hooks for bulk loaders (demo data, imports) around writes that bypass the services.

`bulk_load_begin()` may suspend per-row index maintenance; `bulk_load_end()` must leave the search
index complete for every row written in between. Call them outside the loader's transaction or inside
it — both work; `bulk_load_end()` must run even when the load fails (use try/finally), or the index
stays suspended until the next `bulk_load_end()` / `migrate`.

SQLite: begin drops the FTS sync triggers; end rebuilds both FTS tables from the client tables and
recreates the triggers (one pass over the data instead of a trigger call per row), then refreshes the
planner statistics of both tables.
PostgreSQL: begin drops the trigram GIN and prefix indexes; end recreates them and ANALYZEs the tables
(building a GIN index once is several times faster than growing it row by row during COPY). While a
load runs, searches still work, only slower.
"""

from __future__ import annotations

from django.db import connections, transaction

from kramar.search import ddl


def _execute(using: str, statements: list[str]) -> None:
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def bulk_load_begin(*, using: str = "default") -> None:
    vendor = connections[using].vendor
    if vendor == "sqlite":
        _execute(using, [s for t in ddl.TABLES for s in ddl.sqlite_drop_triggers(t)])
    elif vendor == "postgresql":
        _execute(using, [s for t in ddl.TABLES for s in ddl.pg_drop_indexes(t)])


def bulk_load_end(*, using: str = "default") -> None:
    vendor = connections[using].vendor
    if vendor == "sqlite":
        statements = []
        for t in ddl.TABLES:
            statements += [*ddl.sqlite_rebuild(t), *ddl.sqlite_create_triggers(t)]
        # Planner statistics for the grown tables (sampled: a second at a million rows, not a full scan).
        statements += ["PRAGMA analysis_limit = 1000", *(f'ANALYZE "{t.table}"' for t in ddl.TABLES)]
        _execute(using, statements)
    elif vendor == "postgresql":
        # Deferred FK checks of the load must fire first: an index can't be built over pending events.
        statements = ["SET CONSTRAINTS ALL IMMEDIATE", "SET LOCAL maintenance_work_mem TO '256MB'"]
        statements += [s for t in ddl.TABLES for s in ddl.pg_create_indexes(t)]
        statements += [f'ANALYZE "{t.table}"' for t in ddl.TABLES]
        _execute(using, statements)
