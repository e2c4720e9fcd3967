"""How fast `kramar demo` loads N contacts, against a raw floor measured in the same run.

    DATABASE_URL=sqlite:////tmp/kramar_bench_demo.sqlite3 .venv/bin/python benchmarks/demo_load.py --fresh
    DATABASE_URL=postgres://root@127.0.0.1:5432/kramar_bench_demo .venv/bin/python benchmarks/demo_load.py --fresh

Loads `--contacts` (default 1,000,000) contacts with their companies, points, links, tags and about three
interactions each, through the demo loader's own path (DemoGenerator → BulkWriter, id reservation,
sequence reset, one audit row), into a freshly migrated database.

Timed apart:
- generation: inventing the rows in Python (the same for both paths, so counted once);
- insert path: the loader's writes plus its preparation (table lock, max ids) and finish (setval,
  audit row), excluding the search-index hooks, which are timed on their own;
- floor: the same row tuples, batch by batch, written with a bare psycopg COPY (PostgreSQL) or a bare
  sqlite3 `executemany` (SQLite), in the same transaction, into fresh copies of the same tables with
  the same indexes and foreign keys as the real tables have during the load (created after
  bulk_load_begin(), so the search indexes/triggers it suspends are absent from both).
Floor and loader alternate which goes first in each batch, so neither gets the warmer cache.
The ratio is insert-path rows/s ÷ floor rows/s (target ≥ 0.5).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kramar.config.settings.base")

FLOOR_PREFIX = "floor_"


def fresh_database(url: str) -> None:
    """Drop and recreate the benchmark database (only names/paths meant for benchmarks)."""
    import dj_database_url

    cfg = dj_database_url.parse(url)
    if cfg["ENGINE"].endswith("sqlite3"):
        path = Path(cfg["NAME"])
        if not str(path).startswith("/tmp/"):
            sys.exit(f"--fresh deletes SQLite files under /tmp only, not {path}")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = cfg["NAME"]
    if not name.startswith("kramar_bench"):
        sys.exit(f"--fresh recreates PostgreSQL databases named kramar_bench* only, not {name}")
    import psycopg

    with psycopg.connect(
        host=cfg.get("HOST") or None, port=cfg.get("PORT") or None, user=cfg.get("USER") or None,
        password=cfg.get("PASSWORD") or None, dbname="postgres", autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def floor_tables_create(connection, specs) -> list[str]:
    """Empty copies of the target tables: same columns, indexes, checks and foreign keys (pointing at
    the copies where the parent is copied too). Returns warnings (e.g. triggers not copied)."""
    tables = [s.table for s in specs.values()]
    warnings = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f'CREATE TABLE "{FLOOR_PREFIX}{table}" (LIKE "{table}" INCLUDING ALL)')
            for table in tables:
                cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'", [table],
                )
                for name, definition in cursor.fetchall():
                    definition = re.sub(
                        r"REFERENCES (\w+)\(",
                        lambda m: f"REFERENCES {FLOOR_PREFIX + m[1] if m[1] in tables else m[1]}(", definition,
                    )
                    constraint = ("f_" + name)[:63]
                    cursor.execute(f'ALTER TABLE "{FLOOR_PREFIX}{table}" ADD CONSTRAINT "{constraint}" {definition}')
            cursor.execute(
                "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid::regclass::text = ANY(%s)", [tables],
            )
            warnings += [f"trigger {n} on {t} not copied to the floor" for n, t in cursor.fetchall()]
        else:
            def rename(sql: str) -> str:
                for table in sorted(tables, key=len, reverse=True):
                    sql = sql.replace(f'"{table}"', f'"{FLOOR_PREFIX}{table}"')
                return sql

            for table in tables:
                cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
                cursor.execute(rename(cursor.fetchone()[0]))
            for table in tables:
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                    [table],
                )
                for name, sql in cursor.fetchall():
                    sql = rename(sql)
                    sql = re.sub(rf'(INDEX\s+(?:IF NOT EXISTS\s+)?)"?{re.escape(name)}"?', rf'\1"{FLOOR_PREFIX}{name}"', sql)
                    cursor.execute(sql)
                cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table])
                warnings += [f"trigger {n} on {table} not copied to the floor" for (n,) in cursor.fetchall()]
    return warnings


def floor_tables_drop(connection, specs) -> None:
    children_first = ("interaction", "contactcompany", "contact_tags", "point", "address", "company_tags", "contact",
                      "company")
    with connection.cursor() as cursor:
        for key in children_first:
            cursor.execute(f'DROP TABLE IF EXISTS "{FLOOR_PREFIX}{specs[key].table}"')


class FloorWriter:
    """The floor: a bare COPY / executemany of the given rows, nothing else."""

    def __init__(self, connection, specs):
        self.raw = connection.connection
        self.vendor = connection.vendor
        self.sql = {}
        for key, spec in specs.items():
            cols = ", ".join(f'"{c}"' for c in spec.columns)
            table = f'"{FLOOR_PREFIX}{spec.table}"'
            if self.vendor == "postgresql":
                self.sql[key] = f"COPY {table} ({cols}) FROM STDIN"
            else:
                self.sql[key] = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in spec.columns)})"

    def write(self, key, rows):
        if self.vendor == "postgresql":
            with self.raw.cursor() as cursor, cursor.copy(self.sql[key]) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            self.raw.executemany(self.sql[key], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    parser.add_argument("--keep-floor", action="store_true", help="don't drop the floor tables afterwards")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("Set DATABASE_URL (a SQLite file under /tmp or a PostgreSQL database named kramar_bench*)")
    if args.fresh:
        fresh_database(url)

    import datetime as dt

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from kramar.core.models import AuditEntry
    from kramar.demo.generator import DemoGenerator
    from kramar.demo.loader import BulkWriter, sequences_reset, start_ids, table_specs
    from kramar.demo.services import clients_count, demo_tags_ensure, demo_users_ensure
    from kramar.search.indexing import bulk_load_begin, bulk_load_end

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - t0:.1f} s")
    if any(clients_count()):
        sys.exit("The database already has clients: give a fresh one (--fresh).")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT version(), current_setting('shared_buffers'), current_setting('max_wal_size'), "
                           "current_setting('synchronous_commit')")
            version, shared_buffers, max_wal, sync = cursor.fetchone()
            print(f"{version.split(',')[0]}; shared_buffers={shared_buffers}, max_wal_size={max_wal}, "
                  f"synchronous_commit={sync}")
        else:
            import sqlite3

            cursor.execute("PRAGMA journal_mode")
            mode = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            print(f"SQLite {sqlite3.sqlite_version}; journal_mode={mode}, synchronous={cursor.fetchone()[0]}")

    seconds: Counter[str] = Counter()
    t0 = time.perf_counter()
    bulk_load_begin()
    seconds["index suspend (bulk_load_begin)"] = time.perf_counter() - t0
    specs = table_specs()
    warnings = floor_tables_create(connection, specs)
    for w in warnings:
        print("WARNING:", w)

    floor_s: Counter[str] = Counter()
    try:
        with transaction.atomic():
            t0 = time.perf_counter()
            owners, _logins = demo_users_ensure(password="bench")
            tag_ids = demo_tags_ensure()
            seconds["setup: 11 users (user_create, password hashing) and tags"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            ids = start_ids(specs)
            if connection.vendor == "postgresql":  # the floor tables are locked too, to be fair
                with connection.cursor() as cursor:
                    cursor.execute("LOCK TABLE " + ", ".join(f'"{FLOOR_PREFIX}{s.table}"' for s in specs.values())
                                   + " IN SHARE ROW EXCLUSIVE MODE")
            seconds["insert path: prepare (lock, max ids)"] = time.perf_counter() - t0
            generator = DemoGenerator(
                seed=args.seed, contacts=args.contacts, owners=owners, tag_ids=tag_ids, start_ids=ids,
                anchor=dt.date(2026, 1, 1), aware_datetimes=connection.vendor == "postgresql",
                batch_size=args.batch_size,
            )
            writer = BulkWriter(specs, progress=False, totals={"company": generator.n_companies, "contact": args.contacts})
            floor = FloorWriter(connection, specs)
            batches = generator.batches()
            i = 0
            while True:
                t0 = time.perf_counter()
                item = next(batches, None)
                seconds["generation"] += time.perf_counter() - t0
                if item is None:
                    break
                key, rows = item
                extra = specs[key].extra
                floor_rows = [r + extra for r in rows] if extra else rows
                order = ("floor", "loader") if i % 2 == 0 else ("loader", "floor")
                for who in order:
                    t0 = time.perf_counter()
                    if who == "floor":
                        floor.write(key, floor_rows)
                        floor_s[key] += time.perf_counter() - t0
                    else:
                        writer.write(key, rows)
                        seconds["insert path: writes"] += time.perf_counter() - t0
                i += 1
            writer.close()
            t0 = time.perf_counter()
            sequences_reset(specs)
            AuditEntry.objects.create(
                action=AuditEntry.Action.CREATE, source=AuditEntry.Source.DEMO, entity="demo", object_id=0,
                object_repr=f"Demo benchmark: {args.contacts} contacts", extra={"counts": dict(writer.counts)},
            )
            seconds["insert path: finish (setval, audit row)"] = time.perf_counter() - t0
            t0 = time.perf_counter()
        seconds["commit (floor and loader rows together)"] = time.perf_counter() - t0
    finally:
        t0 = time.perf_counter()
        bulk_load_end()
        seconds["index rebuild (bulk_load_end)"] = time.perf_counter() - t0
        if not args.keep_floor:
            floor_tables_drop(connection, specs)

    rows = sum(writer.counts.values())
    insert_s = sum(v for k, v in seconds.items() if k.startswith("insert path"))
    floor_total = sum(floor_s.values())
    print(f"\n{connection.vendor}: {args.contacts} contacts, seed {args.seed}, batch {args.batch_size}")
    print(f"{'table':<28}{'rows':>11}{'loader s':>10}{'floor s':>10}{'loader r/s':>12}{'floor r/s':>12}")
    for key, spec in specs.items():
        n = writer.counts[key]
        ls, fs = writer.seconds[key], floor_s[key]
        print(f"{spec.table:<28}{n:>11}{ls:>10.1f}{fs:>10.1f}{n / ls if ls else 0:>12,.0f}{n / fs if fs else 0:>12,.0f}")
    print(f"{'all tables':<28}{rows:>11}")
    print()
    for k, v in seconds.items():
        print(f"{k:<48}{v:>8.1f} s")
    gen = seconds["generation"]
    print(f"\ngeneration: {rows / gen:,.0f} rows/s ({gen:.1f} s)")
    print(f"insert path: {rows / insert_s:,.0f} rows/s ({insert_s:.1f} s, prepare + writes + finish)")
    print(f"floor (bare {'COPY' if connection.vendor == 'postgresql' else 'executemany'}): "
          f"{rows / floor_total:,.0f} rows/s ({floor_total:.1f} s)")
    print(f"ratio insert path / floor: {floor_total / insert_s:.2f}  (target >= 0.50)")
    load_s = gen + insert_s + sum(v for k, v in seconds.items() if k.startswith(("index", "setup")))
    print(f"the demo load itself (setup + generation + insert path + search index), without the floor: {load_s:.0f} s")


if __name__ == "__main__":
    main()
