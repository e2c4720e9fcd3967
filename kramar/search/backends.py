"""Engine-specific search over the folded `search_text` of contacts and companies.

One query language for both engines: the user's text is folded like `search_text` (`text_fold`) and
split into words; a query of phone punctuation and digits ("(067) 123-45", "+38 067 123") becomes its
digits, which `search_text` holds in international form (380671234567, the national 0671234567 is
inside it). Each word must match.

Candidates are fetched per model in phases, each a capped (CANDIDATE_CAP), index-driven query that
carries the actor's scope filter (so other teams' matches never use up the cap):

A. word prefix — every word starts a word of the text ("петр" → "Петренко");
B. substring — only when A found fewer than `limit` rows (and alone when a word has 8+ characters:
   such a word matches few rows, so prefix matches can't be crowded out of the capped set);
C. typo-tolerant — run by `global_search` only when A and B found nothing anywhere: the longest
   word of letters with one or two letters cut out at each position (a word one typo away keeps one
   of these piece sets intact), one query per piece set, strongest first, until `limit` rows pass a
   trigram similarity check.

The candidates are ranked in Python (`score_row`): exact word > word prefix > inner substring >
similar word, a match inside the record's own name a little higher.

PostgreSQL: `LIKE` patterns served by the pg_trgm GIN index; a B-tree on the first 16 characters for
1-character queries. SQLite: FTS5 trigram phrases (a leading space anchors a phrase at a word start,
`^` at the start of the text); the B-tree on the first 16 characters serves 1–2 character queries at
the start of the text, which trigrams cannot.

pg_trgm's own `similarity` / `word_similarity` (`%`, `<%`) were not used for C: at thresholds low
enough to forgive a swapped pair of letters in a short surname they pass most rows sharing its first
letters, and without an order the capped candidate set is arbitrary; the piece sets keep every
candidate query selective on both engines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from kramar.core.identifiers import text_fold
from kramar.search.ddl import PREFIX_CHARS

CANDIDATE_CAP = 200  # rows fetched per model and phase, ranked in Python
MAX_TOKENS = 6
SELECTIVE_CHARS = 8  # a query word this long skips the word-prefix phase (see search_ranked)
MAX_TOKEN_CHARS = 64
FUZZY_MIN_CHARS = 4
FUZZY_MAX_CHARS = 24
FUZZY_MIN_SIMILARITY = 0.35

_PHONE_LIKE = re.compile(r"^[\d\s()+\-./]+$")
_NON_DIGITS = re.compile(r"\D+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WRAPPING = "*\"«»„“”()[]{},;"  # stripped from both ends of a word: `"петр*"` means петр

TITLE_FIELDS = {"contact": ("first_name", "middle_name", "last_name"), "company": ("name",)}


# --- the query -------------------------------------------------------------------------------------


def parse_query(query: str | None) -> tuple[str, ...]:
    """The folded words of a query, or its digits for a phone-like query; () when nothing is left."""
    text = text_fold(_CONTROL.sub(" ", query or "")).strip()
    if not text:
        return ()
    if _PHONE_LIKE.match(text):
        digits = _NON_DIGITS.sub("", text)
        if len(digits) >= 3:
            return (digits[:MAX_TOKEN_CHARS],)
    tokens: list[str] = []
    for word in text.split():
        word = word.strip(_WRAPPING)[:MAX_TOKEN_CHARS]
        if word and word not in tokens:
            tokens.append(word)
    return tuple(tokens[:MAX_TOKENS])


# --- ranking ---------------------------------------------------------------------------------------


@dataclass
class RankedRow:
    id: int
    title: str
    score: float
    match: str  # "exact" | "prefix" | "substring" | "fuzzy"


_KIND_ORDER = {"exact": 0, "prefix": 1, "substring": 2, "fuzzy": 3}


def _trigrams(word: str) -> set[str]:
    padded = f"  {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def score_row(tokens: tuple[str, ...], search_text: str, title: str) -> tuple[float, str]:
    """(score in 0..1.05, weakest match kind) of one row; (0, "") when a word does not match."""
    words = search_text.split()
    if not words:
        return 0.0, ""
    title_words = set(text_fold(title).split())
    total = 0.0
    weakest = "exact"
    for token in tokens:
        best, kind = 0.0, ""
        for w in words:
            if w == token:
                s, k = 1.0, "exact"
            elif w.startswith(token) or (token[0] == "0" and w.startswith("38" + token)):
                # A national phone number (0XX…) is the international one without its 38.
                s, k = 0.8 + 0.15 * len(token) / len(w), "prefix"
            elif token in w:
                s, k = 0.5 + 0.15 * len(token) / len(w), "substring"
            else:
                continue
            if w in title_words:
                s += 0.05
            if s > best:
                best, kind = s, k
        if not best and len(token) >= FUZZY_MIN_CHARS:
            grams = _trigrams(token)
            for w in words:
                other = _trigrams(w)
                sim = len(grams & other) / len(grams | other)
                if sim >= FUZZY_MIN_SIMILARITY:
                    s = 0.45 * sim + (0.05 if w in title_words else 0.0)
                    if s > best:
                        best, kind = s, "fuzzy"
        if not best:
            return 0.0, ""
        total += best
        if _KIND_ORDER[kind] > _KIND_ORDER[weakest]:
            weakest = kind
    return total / len(tokens), weakest


# --- engines ---------------------------------------------------------------------------------------


def _fts_phrase(text: str) -> str:
    """An FTS5 string literal: everything inside is literal text (quotes doubled)."""
    return '"' + text.replace('"', '""') + '"'


MAX_FUZZY_QUERIES = 12

# A piece of a query word and where it must sit in a word of the text:
# "head" at a word start (or the start of the text), "start" at a word start, "any" anywhere,
# "end" at a word end followed by more text (for 2-letter endings, which trigrams need a space for).
Piece = tuple[str, str]


def _literal_pieces(tokens, *, prefix: bool) -> list[Piece]:
    """Every word of 2+ characters as a piece: word-prefix pieces, or substrings for 3+ characters."""
    return [
        ("head" if prefix else "any", t) if len(t) >= 3 else ("start", t) for t in tokens if len(t) >= 2
    ]


def _typo_variants(token: str) -> list[list[Piece]]:
    """Piece sets of which a word one typo away from `token` (a letter wrong, missing, doubled or two
    letters swapped) contains at least one: the word with 1 or 2 letters cut out at each position,
    its head anchored at a word start. Strongest (most letters kept) first."""
    found: dict[tuple[Piece, ...], int] = {}
    n = len(token)
    for gap in (1, 2):
        for i in range(n - gap + 1):
            left, right = token[:i], token[i + gap :]
            pieces: list[Piece] = []
            if len(left) >= 2:
                pieces.append(("head" if len(left) >= 3 else "start", left))
            if len(right) >= 3:
                pieces.append(("any", right))
            elif len(right) == 2:
                pieces.append(("end", right))
            kept = sum(len(text) for _kind, text in pieces)
            if kept >= 3:
                key = tuple(pieces)
                found[key] = max(found.get(key, 0), kept)
    return [list(k) for k, _kept in sorted(found.items(), key=lambda item: -item[1])]


def _fuzzy_target(tokens: tuple[str, ...]) -> str | None:
    """The word to tolerate a typo in: the longest one made of letters (not e-mails, digits)."""
    words = [t for t in tokens if len(t) >= FUZZY_MIN_CHARS and t.replace("'", "").replace("-", "").isalpha()]
    return max(words, key=len)[:FUZZY_MAX_CHARS] if words else None


class _Engine:
    vendor = ""

    def __init__(self, queryset: QuerySet, tokens: tuple[str, ...], cap: int):
        self.qs = queryset.order_by()
        self.model = queryset.model
        self.tokens = tokens
        self.cap = cap
        self.fields = ("id", "search_text", *TITLE_FIELDS[self.model.scope_entity])

    def fetch(self, pieces: list[Piece]) -> list[tuple]:
        """Up to `cap` rows in scope containing every piece (index-driven)."""
        raise NotImplementedError

    def head_rows(self, token: str) -> list[tuple]:
        """Up to `cap` rows in scope whose text starts with `token` (the B-tree on its first characters)."""
        raise NotImplementedError

    @property
    def has_long_token(self) -> bool:
        return any(len(t) >= 3 for t in self.tokens)

    def word_prefix(self) -> list[tuple]:
        pieces = _literal_pieces(self.tokens, prefix=True)
        rows = self.fetch(pieces) if pieces else []
        if not self.has_long_token:  # 1–2 characters: trigrams don't see the very first word
            rows += self.head_rows(max(self.tokens, key=len))
        return rows

    def substring(self) -> list[tuple]:
        return self.fetch(_literal_pieces(self.tokens, prefix=False))

    def fuzzy_batches(self):
        """Candidate rows for a typo'd word, one index query per variant, strongest variant first."""
        target = _fuzzy_target(self.tokens)
        if target is None:
            return
        others = _literal_pieces([t for t in self.tokens if t != target], prefix=False)
        for variant in _typo_variants(target)[:MAX_FUZZY_QUERIES]:
            yield self.fetch(variant + others)


class _PostgresEngine(_Engine):
    vendor = "postgresql"

    def _rows(self, q) -> list[tuple]:
        return list(self.qs.filter(q).values_list(*self.fields)[: self.cap])

    @staticmethod
    def _piece_q(kind: str, text: str) -> Q:
        if kind in {"head", "start"}:
            return Q(search_text__startswith=text) | Q(search_text__contains=" " + text)
        if kind == "end":
            return Q(search_text__contains=text + " ") | Q(search_text__endswith=text)
        return Q(search_text__contains=text)

    def fetch(self, pieces: list[Piece]) -> list[tuple]:
        q = Q()
        for kind, text in pieces:
            q &= self._piece_q(kind, text)
        return self._rows(q)

    def head_rows(self, token: str) -> list[tuple]:
        pattern = connections[self.qs.db].ops.prep_for_like_query(token[:PREFIX_CHARS]) + "%"
        head = f"substr(search_text, 1, {PREFIX_CHARS}) LIKE %s"  # a constant; the pattern is a parameter
        return self._rows(Q(RawSQL(head, [pattern], output_field=BooleanField())))  # noqa: S611


class _SqliteEngine(_Engine):
    vendor = "sqlite"

    def __init__(self, queryset, tokens, cap):
        super().__init__(queryset, tokens, cap)
        self.table = self.model._meta.db_table
        self.fts = f"search_{self.model.scope_entity}_fts"
        self.where = self._scope_where()

    def _scope_where(self) -> tuple[str, list] | None:
        """The queryset's WHERE as SQL over the model's table (None: it matches nothing)."""
        query = self.qs.query
        joined = [a for a in query.alias_map if a != self.table and query.alias_refcount.get(a)]
        if joined:  # a scope needing joins: use it as an id subquery
            inner, params = self.qs.values("pk").query.sql_with_params()
            return f'"{self.table}"."id" IN ({inner})', list(params)
        compiler = query.get_compiler(using=self.qs.db)
        try:
            sql, params = compiler.compile(query.where)
        except EmptyResultSet:
            return None
        except FullResultSet:
            return "1=1", []
        return (sql or "1=1"), list(params)

    def _columns(self) -> str:
        return ", ".join(f'"{self.table}"."{f}"' for f in self.fields)

    def _run(self, sql: str, params: list) -> list[tuple]:
        with connections[self.qs.db].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    @staticmethod
    def _term(kind: str, text: str) -> str:
        if kind == "head":
            return f"({_fts_phrase(' ' + text)} OR ^{_fts_phrase(text)})"
        if kind == "start":
            return _fts_phrase(" " + text)
        if kind == "end":
            return _fts_phrase(text + " ")
        return _fts_phrase(text)

    def fetch(self, pieces: list[Piece]) -> list[tuple]:
        if self.where is None or not pieces:
            return []
        where, params = self.where
        expression = " AND ".join(self._term(kind, text) for kind, text in pieces)
        # CROSS JOIN: the FTS match drives, the scope filters each row, LIMIT stops early.
        sql = (
            f'SELECT {self._columns()} FROM {self.fts} CROSS JOIN "{self.table}" '
            f'ON "{self.table}"."id" = {self.fts}.rowid '
            f"WHERE {self.fts} MATCH %s AND ({where}) LIMIT %s"
        )
        return self._run(sql, [expression, *params, self.cap])

    def head_rows(self, token: str) -> list[tuple]:
        if self.where is None:
            return []
        where, params = self.where
        head = f'substr("{self.table}"."search_text", 1, {PREFIX_CHARS})'
        sql = (
            f'SELECT {self._columns()} FROM "{self.table}" INDEXED BY search_{self.model.scope_entity}_prefix '
            f"WHERE {head} >= %s AND {head} < %s AND ({where}) LIMIT %s"
        )
        token = token[:PREFIX_CHARS]
        return self._run(sql, [token, token + "\U0010ffff", *params, self.cap])


def _engine(queryset: QuerySet, tokens: tuple[str, ...], cap: int) -> _Engine:
    vendor = connections[queryset.db].vendor
    if vendor == "postgresql":
        return _PostgresEngine(queryset, tokens, cap)
    if vendor == "sqlite":
        return _SqliteEngine(queryset, tokens, cap)
    raise NotImplementedError(f"search is not implemented for {vendor}")


def search_ranked(*, queryset: QuerySet, tokens: tuple[str, ...], limit: int, fuzzy: bool = False) -> list[RankedRow]:
    """The best `limit` rows of `queryset` (already scoped) for the parsed query, best first.

    fuzzy=False: word-prefix matches, then substrings when those are fewer than `limit`.
    fuzzy=True: only the typo-tolerant phase (the caller runs it when nothing matched literally)."""
    if not tokens or limit <= 0:
        return []
    engine = _engine(queryset, tokens, max(CANDIDATE_CAP, limit))
    rows: dict[int, tuple] = {}
    ranked: list[RankedRow] = []

    def rank(fetched: list[tuple]) -> None:
        for row in fetched:
            if row[0] in rows:
                continue
            rows[row[0]] = row
            title = " ".join(p for p in row[2:] if p)
            score, kind = score_row(tokens, row[1] or "", title)
            if score > 0:
                ranked.append(RankedRow(id=row[0], title=title, score=round(score, 4), match=kind))

    if fuzzy:
        for batch in engine.fuzzy_batches():
            rank(batch)
            if len(ranked) >= limit:
                break
    elif max(len(t) for t in tokens) >= SELECTIVE_CHARS:
        # A long word (a whole surname, an e-mail, a phone) matches few rows: one substring query
        # finds the word-prefix matches too (ranked in Python) without reading the index twice.
        rank(engine.substring())
    else:
        rank(engine.word_prefix())
        if engine.has_long_token and len(ranked) < limit:
            rank(engine.substring())
    ranked.sort(key=lambda r: (-r.score, r.title.casefold(), r.id))
    return ranked[:limit]


# --- the list filter -------------------------------------------------------------------------------


def search_ids(*, model, query: str, limit: int | None = None):
    """An id subquery of `model` rows matching every word of `query` (substring; 1–2 characters as a
    word prefix), for `filter(pk__in=…)` in list selectors — unranked and unscoped, so the caller's
    scope filter and ordering apply to every match. An empty query matches every row."""
    tokens = parse_query(query)
    qs = model.objects.all()
    vendor = connections[qs.db].vendor
    long_terms = []
    for t in tokens:
        if len(t) >= 3:
            if vendor == "sqlite":
                long_terms.append(_fts_phrase(t))
            else:
                qs = qs.filter(search_text__contains=t)
        else:
            qs = qs.filter(Q(search_text__startswith=t) | Q(search_text__contains=" " + t))
    if long_terms:
        fts = f"search_{model.scope_entity}_fts"
        matching = f"SELECT rowid FROM {fts} WHERE {fts} MATCH %s"  # our table name; the terms are a parameter
        qs = qs.filter(pk__in=RawSQL(matching, [" AND ".join(long_terms)]))  # noqa: S611
    ids = qs.order_by().values("pk")
    return ids[:limit] if limit else ids
