"""The database objects behind search, per engine: what the migration creates, what bulk loads suspend.

PostgreSQL: the pg_trgm extension, a GIN trigram index on `search_text` of each table (substring,
word-prefix and similarity queries) and a B-tree on its first 16 characters (1-character prefixes).

SQLite: an FTS5 table with the trigram tokenizer per table, external content over the client table
(the index stores no second copy of the text), kept in sync by triggers on insert, update of
`search_text` and delete; and a B-tree on the first 16 characters (1–2 character prefixes, which
trigrams cannot serve).

Tables rebuilt by a later SQLite migration of the clients app lose their triggers and expression
index (Django copies the table); `sqlite_ensure()` (run after every migrate) puts them back and
rebuilds the index when anything was missing.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX_CHARS = 16


@dataclass(frozen=True)
class SearchTable:
    table: str  # the client table holding search_text
    key: str  # short name used for the search objects

    @property
    def fts(self) -> str:
        return f"search_{self.key}_fts"

    @property
    def gin_index(self) -> str:
        return f"search_{self.key}_trgm"

    @property
    def prefix_index(self) -> str:
        return f"search_{self.key}_prefix"

    @property
    def triggers(self) -> tuple[str, str, str]:
        return (f"{self.fts}_ai", f"{self.fts}_ad", f"{self.fts}_au")


TABLES = (SearchTable("clients_contact", "contact"), SearchTable("clients_company", "company"))


# --- PostgreSQL ------------------------------------------------------------------------------------


def pg_create_indexes(t: SearchTable) -> list[str]:
    return [
        f'CREATE INDEX IF NOT EXISTS {t.gin_index} ON "{t.table}" USING gin (search_text gin_trgm_ops)',
        f'CREATE INDEX IF NOT EXISTS {t.prefix_index} ON "{t.table}" '
        f'((substr(search_text, 1, {PREFIX_CHARS})) text_pattern_ops)',
    ]


def pg_drop_indexes(t: SearchTable) -> list[str]:
    return [f"DROP INDEX IF EXISTS {t.gin_index}", f"DROP INDEX IF EXISTS {t.prefix_index}"]


def pg_forward() -> list[str]:
    sql = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]
    for t in TABLES:
        sql += pg_create_indexes(t)
    return sql


def pg_backward() -> list[str]:
    # The extension stays: other objects may use it, and dropping it needs more rights than creating.
    return [s for t in TABLES for s in pg_drop_indexes(t)]


# --- SQLite ----------------------------------------------------------------------------------------


def sqlite_create_triggers(t: SearchTable) -> list[str]:
    ai, ad, au = t.triggers
    return [
        f'CREATE TRIGGER IF NOT EXISTS {ai} AFTER INSERT ON "{t.table}" BEGIN '
        f"INSERT INTO {t.fts}(rowid, search_text) VALUES (new.id, new.search_text); END",
        f'CREATE TRIGGER IF NOT EXISTS {ad} AFTER DELETE ON "{t.table}" BEGIN '
        f"INSERT INTO {t.fts}({t.fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
        f'CREATE TRIGGER IF NOT EXISTS {au} AFTER UPDATE OF search_text ON "{t.table}" BEGIN '
        f"INSERT INTO {t.fts}({t.fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
        f"INSERT INTO {t.fts}(rowid, search_text) VALUES (new.id, new.search_text); END",
    ]


def sqlite_drop_triggers(t: SearchTable) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {name}" for name in t.triggers]


def sqlite_rebuild(t: SearchTable) -> list[str]:
    return [f"INSERT INTO {t.fts}({t.fts}) VALUES ('rebuild')"]


def sqlite_forward() -> list[str]:
    sql: list[str] = []
    for t in TABLES:
        sql += [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {t.fts} USING fts5("
            f"search_text, content='{t.table}', content_rowid='id', tokenize='trigram')",
            f'CREATE INDEX IF NOT EXISTS {t.prefix_index} ON "{t.table}" (substr(search_text, 1, {PREFIX_CHARS}))',
            *sqlite_create_triggers(t),
            *sqlite_rebuild(t),
        ]
    return sql


def sqlite_backward() -> list[str]:
    sql: list[str] = []
    for t in TABLES:
        sql += [*sqlite_drop_triggers(t), f"DROP INDEX IF EXISTS {t.prefix_index}", f"DROP TABLE IF EXISTS {t.fts}"]
    return sql


def sqlite_ensure(connection) -> list[str]:
    """Recreate triggers / prefix index lost when a migration rebuilt a client table; rebuild the
    index of that table. Returns the tables repaired (nothing when the FTS tables don't exist yet)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger', 'index')")
        present = {name for _type, name in cursor.fetchall()}
        repaired = []
        for t in TABLES:
            if t.fts not in present or t.table not in present:
                continue
            wanted = {*t.triggers, t.prefix_index}
            if wanted <= present:
                continue
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS {t.prefix_index} ON "{t.table}" (substr(search_text, 1, {PREFIX_CHARS}))'
            )
            for sql in (*sqlite_create_triggers(t), *sqlite_rebuild(t)):
                cursor.execute(sql)
            repaired.append(t.table)
    return repaired
