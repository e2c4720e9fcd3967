"""Global search over contacts and companies (placeholder: substring over the folded search text).

Replaced by the engine-specific backends (PostgreSQL pg_trgm, SQLite FTS5)."""

from __future__ import annotations

from kramar.core.identifiers import text_fold


def search_ids(*, model, query: str, limit: int = 500):
    q = text_fold(query).strip()
    return model.objects.filter(search_text__contains=q).values_list("pk", flat=True)[:limit]
