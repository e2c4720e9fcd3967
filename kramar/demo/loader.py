"""Bulk writing of generated rows: PostgreSQL COPY (psycopg 3) or SQLite `executemany`, inside the
caller's transaction, with a progress bar per table.

The loader reserves primary keys itself (max(id) + 1 under a table lock on PostgreSQL; SQLite has one
writer per transaction) so the generator can number parents and children up front, and sets the
PostgreSQL sequences past the new rows afterwards."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass

from django.db import connections
from django.db.models import Model
from tqdm import tqdm

from kramar.activities.models import Task
from kramar.clients.models import Address, Company, Contact, ContactCompany, ContactPoint
from kramar.demo.generator import COLUMNS, SALES_TABLE_ORDER, TABLE_ORDER
from kramar.history.models import Interaction
from kramar.sales.models import Deal, DealContact, DealLine, DealStageHistory

SQLITE_CACHE_KIB = 512 * 1024  # page cache while loading on SQLite

MODELS: dict[str, type[Model]] = {
    "company": Company,
    "company_tags": Company.tags.through,
    "address": Address,
    "point": ContactPoint,
    "contact": Contact,
    "contact_tags": Contact.tags.through,
    "contactcompany": ContactCompany,
    "interaction": Interaction,
    "deal": Deal,
    "dealcontact": DealContact,
    "dealline": DealLine,
    "stagehistory": DealStageHistory,
    "task": Task,
}
ALL_TABLES = TABLE_ORDER + SALES_TABLE_ORDER


@dataclass(frozen=True)
class TableSpec:
    key: str
    table: str
    columns: tuple[str, ...]  # database columns, the generated ones then any the generator doesn't know
    extra: tuple  # values for the columns the generator doesn't know (their model defaults)


def table_specs(using: str = "default", keys: tuple[str, ...] = TABLE_ORDER) -> dict[str, TableSpec]:
    """Where each generated row goes (the client tables by default; `ALL_TABLES` adds the sales ones).
    Model fields the generator doesn't fill (added later by another module) get their default value, so the
    loader keeps working when a model grows a column."""
    connection = connections[using]
    specs = {}
    for key in keys:
        model = MODELS[key]
        known = COLUMNS[key]
        fields = {f.attname: f for f in model._meta.concrete_fields}
        missing = [a for a in known if a not in fields]
        if missing:
            raise RuntimeError(f"{model._meta.db_table} has no column(s) {missing}: update kramar.demo.generator")
        extra_fields = [f for a, f in fields.items() if a not in known]
        for f in extra_fields:
            if not f.has_default() and not f.null and not f.blank:
                raise RuntimeError(f"{model._meta.db_table}.{f.column} has no default: update kramar.demo.generator")
        extra = tuple(
            f.get_db_prep_save(f.get_default() if f.has_default() else (None if f.null else ""), connection)
            for f in extra_fields
        )
        specs[key] = TableSpec(
            key=key, table=model._meta.db_table,
            columns=tuple(fields[a].column for a in known) + tuple(f.column for f in extra_fields), extra=extra,
        )
    return specs


def start_ids(specs: dict[str, TableSpec], *, using: str = "default") -> dict[str, int]:
    """Lock the tables against other writers (PostgreSQL) and return max(id) + 1 for each."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = ", ".join(connection.ops.quote_name(s.table) for s in specs.values())
            cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")
            # foreign keys checked per COPY statement, not queued for millions of rows until commit
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        ids = {}
        for key, spec in specs.items():
            cursor.execute(f"SELECT MAX(id) FROM {connection.ops.quote_name(spec.table)}")
            ids[key] = (cursor.fetchone()[0] or 0) + 1
    return ids


def constraints_restore(*, using: str = "default") -> None:
    """PostgreSQL: back to checking foreign keys at commit (start_ids() made them immediate for the load), so
    later ORM deletes in the same transaction, which rely on deferred checks, keep working."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def sequences_reset(specs: dict[str, TableSpec], *, using: str = "default") -> None:
    """PostgreSQL: move each id sequence past the rows written with explicit ids. (SQLite's
    AUTOINCREMENT follows explicit ids by itself.)"""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for spec in specs.values():
            table = connection.ops.quote_name(spec.table)
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), m) FROM (SELECT MAX(id) AS m FROM {table}) t "
                "WHERE m IS NOT NULL",
                [spec.table],
            )


class BulkWriter:
    """Writes batches of row tuples to their tables: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, specs: dict[str, TableSpec], *, using: str = "default", progress: bool | None = None,
                 totals: dict[str, int] | None = None):
        self.specs = specs
        self.connection = connections[using]
        self.connection.ensure_connection()
        self.raw = self.connection.connection  # psycopg.Connection or sqlite3.Connection
        self.vendor = self.connection.vendor
        self.counts: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.bars: dict[str, tqdm] = {}
        self.progress = progress
        self.totals = totals or {}
        self.cache_size = None
        if self.vendor == "sqlite":
            # SQLite's default page cache is 2 MB: with a million rows every index insert would go back
            # to the OS cache. A bigger cache for this connection while loading; restored by close().
            self.cache_size = self.raw.execute("PRAGMA cache_size").fetchone()[0]
            self.raw.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        qn = self.connection.ops.quote_name
        self.sql = {}
        for key, spec in specs.items():
            cols = ", ".join(qn(c) for c in spec.columns)
            if self.vendor == "postgresql":
                self.sql[key] = f"COPY {qn(spec.table)} ({cols}) FROM STDIN"
            else:
                marks = ", ".join("?" for _ in spec.columns)
                self.sql[key] = f"INSERT INTO {qn(spec.table)} ({cols}) VALUES ({marks})"

    def _bar(self, key: str) -> tqdm:
        bar = self.bars.get(key)
        if bar is None:
            bar = tqdm(
                total=self.totals.get(key), desc=f"{self.specs[key].table:<28}", unit=" rows", unit_scale=True,
                position=len(self.bars), file=sys.stderr, leave=True, dynamic_ncols=True,
                disable=None if self.progress is None else not self.progress,  # None: only on a terminal
            )
            self.bars[key] = bar
        return bar

    def write(self, key: str, rows: list[tuple]) -> None:
        start = time.perf_counter()
        extra = self.specs[key].extra
        if extra:
            rows = [row + extra for row in rows]
        if self.vendor == "postgresql":
            with self.raw.cursor() as cursor, cursor.copy(self.sql[key]) as copy:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
        else:
            self.raw.executemany(self.sql[key], rows)
        self.seconds[key] += time.perf_counter() - start
        self.counts[key] += len(rows)
        self._bar(key).update(len(rows))

    def update_column(self, key: str, column: str, rows: list[tuple[int, object]]) -> int:
        """Set `column` of the rows of table `key` to the given values: rows are (id, value). PostgreSQL: COPY
        into a temporary table and one UPDATE … FROM; SQLite: executemany of keyed UPDATEs."""
        if not rows:
            return 0
        start = time.perf_counter()
        qn = self.connection.ops.quote_name
        table, col = qn(self.specs[key].table), qn(column)
        if self.vendor == "postgresql":
            with self.raw.cursor() as cursor:
                cursor.execute("CREATE TEMPORARY TABLE kramar_demo_update (id bigint PRIMARY KEY, v text) ON COMMIT DROP")
                with cursor.copy("COPY kramar_demo_update (id, v) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attname = %s", (self.specs[key].table, column),
                )
                db_type = cursor.fetchone()[0]
                cursor.execute(f"UPDATE {table} t SET {col} = u.v::{db_type} FROM kramar_demo_update u WHERE t.id = u.id")
                cursor.execute("DROP TABLE kramar_demo_update")
        else:
            self.raw.executemany(f"UPDATE {table} SET {col} = ? WHERE id = ?", [(v, i) for i, v in rows])
        self.seconds[f"{key}.{column}"] += time.perf_counter() - start
        return len(rows)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        if self.cache_size is not None:
            self.raw.execute(f"PRAGMA cache_size = {int(self.cache_size)}")
            self.cache_size = None
