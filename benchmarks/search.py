"""Global search latency: p50 / p95 of `global_search` over 200 realistic queries, for a user who sees
every record and for a sales rep limited to their team, on the database DATABASE_URL points at.

    .venv/bin/python benchmarks/search.py                              # SQLite file /tmp/kramar_bench_search.sqlite3
    DATABASE_URL=postgres://root@127.0.0.1:5432/kramar_bench_search .venv/bin/python benchmarks/search.py
    .venv/bin/python benchmarks/search.py --contacts 1000000 --fill demo   # filled by `kramar demo`

What it does:
1. Migrates the database and, unless it already holds about --contacts contacts, fills it:
   --fill own (default): a quick bulk fill of its own (Ukrainian/Latin names, patronymics, positions,
   company names, e-mails, phones, EDRPOU; 4 teams; executemany on SQLite, COPY on PostgreSQL) between
   `bulk_load_begin()` / `bulk_load_end()`; --fill demo: `kramar.demo.services.demo_load` (reset);
   --fill none: use what is there.
2. Builds 200 queries (seeded) from rows sampled from the database: surname prefixes and whole
   surnames in mixed case, "First Last", e-mail fragments, phone fragments typed in several formats,
   typo'd surnames (~10%), EDRPOU codes and 1–2 letter queries; plus 40 other ones to warm up.
3. Times each query through `global_search(limit=20)` (in process, wall clock, including the loading
   of the hits' titles), once as the user who sees all, once as the team rep; prints p50 / p95 / max
   overall and per kind. Targets at 1,000,000 contacts: p95 < 50 ms PostgreSQL, < 100 ms SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import database_describe, percentile, table  # noqa: E402
from benchmarks._common import django_setup as _django_setup  # noqa: E402

SQLITE_DEFAULT = "sqlite:////tmp/kramar_bench_search.sqlite3"

FIRST_M = ["Олександр", "Іван", "Петро", "Микола", "Василь", "Андрій", "Сергій", "Дмитро", "Юрій", "Олег",
           "Тарас", "Богдан", "Максим", "Віктор", "Роман", "Ярослав", "Степан", "Григорій", "Остап", "Назар"]
FIRST_F = ["Олена", "Ірина", "Наталія", "Оксана", "Тетяна", "Юлія", "Марія", "Ганна", "Світлана", "Людмила",
           "Катерина", "Софія", "Христина", "Соломія", "Дарина", "Галина", "Лариса", "Віра", "Надія", "Любов"]
LAST_ROOTS = ["Шевч", "Ковал", "Бондар", "Ткач", "Кравч", "Олійн", "Поліщ", "Бойк", "Мельн", "Лис", "Мороз",
              "Савч", "Руд", "Петр", "Марч", "Гончар", "Климен", "Павл", "Кузьм", "Левч", "Швец", "Іван", "Литвин",
              "Сидор", "Роман", "Зінч", "Гриц", "Приход", "Кост", "Мазур", "Карп", "Яков", "Тимош", "Дорош",
              "Кирил", "Гнат", "Савч", "Яворськ", "Левицьк", "Марк", "Федор", "Стеф", "Данил", "Ващ", "Гуц",
              "Захарч", "Остапч", "Панас", "Семен", "Тарасюк", "Юрч", "Хоменк", "Чорн", "Білоус", "Сорок",
              "Вовк", "Лев", "Заяц", "Горобц", "Соловй"]
LAST_ENDINGS = ["енко", "ук", "юк", "ич", "ак", "ишин", "ів", "ко", "ович", "ець", "чук", "ський", "ін", "ан"]
INTL_FIRST = ["John", "Anna", "Peter", "Maria", "Thomas", "Julia", "Michael", "Eva", "Daniel", "Laura"]
INTL_LAST = ["Smith", "Müller", "Kowalski", "Novak", "Weber", "Schmidt", "Nowak", "Fischer", "Brown", "Wagner"]
PATRONYMIC_M = ["Олександрович", "Іванович", "Петрович", "Миколайович", "Васильович", "Андрійович", "Сергійович"]
PATRONYMIC_F = ["Олександрівна", "Іванівна", "Петрівна", "Миколаївна", "Василівна", "Андріївна", "Сергіївна"]
POSITIONS = ["директор", "менеджер із закупівель", "головний бухгалтер", "інженер", "керівник відділу продажів",
             "юрист", "логіст", "", "", ""]
COMPANY_ROOTS = ["Агро", "Буд", "Енерго", "Метал", "Тех", "Трейд", "Сервіс", "Логістик", "Фарм", "Хліб", "Транс",
                 "Смарт", "Дніпро", "Карпати", "Поділля", "Світанок", "Галич", "Бук", "Зерно", "Молоко"]
COMPANY_ENDS = ["пром", "інвест", "постач", "груп", "союз", "лайн", "маркет", "альянс", "сфера", "плюс"]
LEGAL = ["ТОВ", "ПП", "ФОП", "ПрАТ"]
OPERATORS = ["67", "50", "63", "66", "68", "73", "93", "95", "96", "97", "98", "99", "44", "32", "56"]
MAIL_DOMAINS = ["gmail.com", "ukr.net", "i.ua", "meta.ua", "outlook.com"]
TRANSLIT = dict(zip("абвгґдеєжзиіїйклмнопрстуфхцчшщьюя'", [
    "a", "b", "v", "h", "g", "d", "e", "ie", "zh", "z", "y", "i", "i", "i", "k", "l", "m", "n", "o", "p", "r",
    "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "iu", "ia", ""], strict=True))
TEAMS = ["Bench Kyiv", "Bench Lviv", "Bench Odesa", "Bench Kharkiv"]


def django_setup() -> None:
    _django_setup(SQLITE_DEFAULT, "/tmp/kramar_bench_search_data")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--contacts", type=int, default=100_000, help="contacts in the database (100000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--limit", type=int, default=20, help="hits per search (20)")
    p.add_argument("--fill", choices=["own", "demo", "none"], default="own")
    p.add_argument("--reload", action="store_true", help="refill even when the size matches")
    p.add_argument("--show", type=int, default=0, help="print the N slowest queries with their hit counts")
    return p.parse_args(argv)


# --- set-up ----------------------------------------------------------------------------------------


def translit(word: str) -> str:
    return "".join(TRANSLIT.get(ch, ch) for ch in word.lower())


def _users(rng: random.Random):
    """4 teams of 3 reps and a lead; a director who sees all. Returns (owners [(user id, team id)], director, rep)."""
    from kramar.accounts.models import Membership, Role, Team, User
    from kramar.accounts.services import roles_ensure_defaults

    roles_ensure_defaults()
    owners = []
    for t, team_name in enumerate(TEAMS):
        team, _ = Team.objects.get_or_create(name=team_name)
        for i in range(4):
            role = "Team lead" if i == 0 else "Sales rep"
            user, created = User.objects.get_or_create(username=f"bench.{t}.{i}")
            if created:
                user.roles.add(Role.objects.get(name=role))
                Membership.objects.create(user=user, team=team, is_primary=True)
            owners.append((user.pk, team.pk))
    director, created = User.objects.get_or_create(username="bench.director")
    if created:
        director.roles.add(Role.objects.get(name="Sales director"))
    return owners, director, User.objects.get(username="bench.0.1")


def _contact_row(rng: random.Random, owners, companies: list[tuple[int, str]], n: int):
    from kramar.core.identifiers import name_key, text_fold

    if rng.random() < 0.08:
        first, last, middle = rng.choice(INTL_FIRST), rng.choice(INTL_LAST), ""
    else:
        male = rng.random() < 0.5
        first = rng.choice(FIRST_M if male else FIRST_F)
        last = rng.choice(LAST_ROOTS) + rng.choice(LAST_ENDINGS)
        if not male and last.endswith("ський"):
            last = last[:-5] + "ська"
        middle = rng.choice(PATRONYMIC_M if male else PATRONYMIC_F) if rng.random() < 0.6 else ""
    position = rng.choice(POSITIONS)
    company_id, company_name = rng.choice(companies) if rng.random() < 0.7 else (None, "")
    email = f"{translit(first)[:1]}.{translit(last)}{n % 1000}@{rng.choice(MAIL_DOMAINS)}"
    national = "0" + rng.choice(OPERATORS) + f"{rng.randrange(10_000_000):07d}"
    owner_id, team_id = rng.choice(owners)
    # Phones as phone_search_digits() writes a Ukrainian number: the international digits (the national
    # form 0XX… is inside them).
    search_text = text_fold(" ".join(p for p in (first, middle, last, position, company_name, email,
                                                  "38" + national) if p))
    return {
        "first_name": first, "middle_name": middle, "last_name": last, "position": position,
        "primary_company_id": company_id, "owner_id": owner_id, "team_id": team_id,
        "search_text": search_text, "name_key": name_key(first, middle, last),
    }


def _company_row(rng: random.Random, owners, n: int):
    from kramar.core.identifiers import name_key, text_fold

    name = f"{rng.choice(LEGAL)} {rng.choice(COMPANY_ROOTS)}{rng.choice(COMPANY_ENDS)} {n}"
    code = f"{rng.randrange(10_000_000, 99_999_999)}"
    email = f"office{n}@{translit(name.split()[1])}.com.ua"
    national = "0" + rng.choice(OPERATORS) + f"{rng.randrange(10_000_000):07d}"
    owner_id, team_id = rng.choice(owners)
    return {
        "name": name, "code": code, "owner_id": owner_id, "team_id": team_id,
        "search_text": text_fold(f"{name} {code} {email} 38{national}"),
        "name_key": name_key(name, strip_legal_forms=True),
    }


def _write(model, rows: list[dict]) -> None:
    """Insert rows (dicts of some columns; every other column gets its model default) in one statement
    stream: COPY on PostgreSQL, executemany on SQLite."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    defaults = {}
    for f in fields:
        value = f.get_default()
        if f.column in {"created_at", "updated_at"}:
            value = now
        defaults[f.column] = value

    def prep(f, value):
        if value is None:
            return None
        if f.get_internal_type() == "JSONField":
            return json.dumps(value)
        if isinstance(value, dt.datetime):
            return value.isoformat() if connection.vendor == "postgresql" else value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    table_name = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cols = ", ".join(f'"{c}"' for c in columns)
            with cursor.cursor.copy(f'COPY "{table_name}" ({cols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([prep(f, row.get(f.column, defaults[f.column])) for f in fields])
        else:
            cols = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            cursor.cursor.executemany(
                f'INSERT INTO "{table_name}" ({cols}) VALUES ({marks})',
                ([prep(f, row.get(f.column, defaults[f.column])) for f in fields] for row in rows),
            )


def fill_own(n_contacts: int, seed: int) -> None:
    from django.db import connection, transaction

    from kramar.clients.models import Company, Contact
    from kramar.search.indexing import bulk_load_begin, bulk_load_end

    rng = random.Random(seed)
    started = time.perf_counter()
    bulk_load_begin()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                for model in (Contact, Company):
                    cursor.execute(f'DELETE FROM "{model._meta.db_table}"')
            owners, _director, _rep = _users(rng)
            n_companies = max(10, n_contacts // 10)
            _write(Company, [_company_row(rng, owners, i) for i in range(n_companies)])
            companies = list(Company.objects.values_list("id", "name"))
            batch = 50_000
            for start in range(0, n_contacts, batch):
                rows = [_contact_row(rng, owners, companies, start + i) for i in range(min(batch, n_contacts - start))]
                _write(Contact, rows)
                print(f"  … {start + len(rows):,} contacts written", file=sys.stderr)
        loaded = time.perf_counter() - started
    finally:
        t0 = time.perf_counter()
        bulk_load_end()
        indexed = time.perf_counter() - t0
    print(f"filled {n_contacts:,} contacts and {n_companies:,} companies: write {loaded:.1f} s, "
          f"bulk_load_end (index build) {indexed:.1f} s")


def fill_demo(n_contacts: int, seed: int) -> None:
    from kramar.demo.services import demo_load

    started = time.perf_counter()
    result = demo_load(contacts=n_contacts, seed=seed, mode="reset", progress=False)
    seconds = {k: round(v, 1) for k, v in result.seconds.items()}
    print(f"kramar demo: {result.counts} in {time.perf_counter() - started:.1f} s {seconds}")


def bench_users():
    """(user who sees all, team rep): the demo's director / rep.kyiv1 when present, else the bench ones."""
    from kramar.accounts.models import User

    for everyone, rep in (("director", "rep.kyiv1"), ("bench.director", "bench.0.1")):
        users = {u.username: u for u in User.objects.filter(username__in=[everyone, rep])}
        if len(users) == 2:
            return users[everyone], users[rep]
    owners, director, rep = _users(random.Random(0))
    return director, rep


# --- queries ---------------------------------------------------------------------------------------


def _sample_rows(rng: random.Random, model, fields: tuple[str, ...], k: int) -> list[tuple]:
    from django.db.models import Max, Min

    bounds = model.objects.aggregate(lo=Min("id"), hi=Max("id"))
    if bounds["lo"] is None:
        return []
    ids = [rng.randint(bounds["lo"], bounds["hi"]) for _ in range(k * 2)]
    rows = list(model.objects.filter(id__in=ids).values_list(*fields))
    rng.shuffle(rows)
    return rows[:k]


def _case(rng: random.Random, text: str) -> str:
    return rng.choice([text, text.lower(), text.upper(), text.capitalize()])


def _typo(rng: random.Random, word: str) -> str:
    w = list(word.lower())
    i = rng.randrange(1, len(w) - 1)
    kind = rng.choice(["swap", "sub", "del", "ins"])
    if kind == "swap":
        w[i], w[i + 1 if i + 1 < len(w) else i - 1] = w[i + 1 if i + 1 < len(w) else i - 1], w[i]
    elif kind == "sub":
        w[i] = rng.choice("аоеиіукнр" if "а" <= w[i] <= "я" or w[i] in "іїєґ" else "aoeiukr")
    elif kind == "del":
        del w[i]
    else:
        w.insert(i, w[i])
    return "".join(w)


def _phone_fragment(rng: random.Random, national: str) -> str:
    """A piece of a national number 0XXYYYYYYY the way people type it."""
    op, rest = national[1:3], national[3:]
    return rng.choice([
        f"0{op} {rest[:3]}", f"+38 0{op} {rest[:3]} {rest[3:5]}", f"(0{op}) {rest[:3]}-{rest[3:5]}",
        f"0{op}{rest[:4]}", f"+380{op}{rest}", rest[-4:] + rest[:0] if rng.random() < 0.3 else f"{op} {rest[:3]}",
    ])


def build_queries(rng: random.Random, n: int) -> list[tuple[str, str]]:
    from kramar.clients.models import Company, Contact

    contacts = _sample_rows(rng, Contact, ("first_name", "last_name", "search_text"), n * 2)
    companies = _sample_rows(rng, Company, ("name", "code"), n)
    mix = [("surname prefix", 0.22), ("surname", 0.12), ("first last", 0.1), ("e-mail", 0.12), ("phone", 0.2),
           ("typo", 0.1), ("company", 0.04), ("edrpou", 0.05), ("short", 0.05)]
    queries: list[tuple[str, str]] = []
    ci = iter(contacts * 3)
    co = iter(companies * 5)
    for kind, share in mix:
        for _ in range(max(1, round(n * share))):
            first, last, text = next(ci)
            words = text.split()
            if kind == "surname prefix":
                q = _case(rng, last[: rng.randint(3, min(6, len(last)))])
            elif kind == "surname":
                q = _case(rng, last)
            elif kind == "first last":
                q = f"{first} {last}"
            elif kind == "e-mail":
                email = next((w for w in words if "@" in w), "x@example.com")
                local, _, domain = email.partition("@")
                q = rng.choice([local[: rng.randint(4, len(local))], f"{local[-3:]}@{domain[:3]}", email])
            elif kind == "phone":
                intl = next((w for w in words if w.isdigit() and len(w) == 12 and w.startswith("380")), "380671234567")
                national = intl[2:]
                q = _phone_fragment(rng, national)
            elif kind == "typo":
                q = _typo(rng, last) if len(last) >= 5 else _typo(rng, last + "ко")
            elif kind == "company":
                name, _code = next(co)
                q = rng.choice(name.split()[1:2] or [name])[:8]
            elif kind == "edrpou":
                _name, code = next(co)
                q = code if rng.random() < 0.7 else code[:5]
            else:
                q = last[: rng.randint(1, 2)]
            queries.append((kind, q))
    rng.shuffle(queries)
    return queries[:n]


def run(actor, queries, limit: int) -> list[tuple[str, str, float, int]]:
    from kramar.search.selectors import global_search

    out = []
    for kind, q in queries:
        t0 = time.perf_counter()
        hits = global_search(actor=actor, query=q, limit=limit)
        out.append((kind, q, (time.perf_counter() - t0) * 1000, len(hits)))
    return out


def report(label: str, results, show: int) -> list:
    times = [r[2] for r in results]
    rows = [[label, "all", len(times), percentile(times, 50), percentile(times, 95), max(times),
             sum(1 for r in results if r[3] == 0)]]
    for kind in sorted({r[0] for r in results}):
        t = [r[2] for r in results if r[0] == kind]
        rows.append(["", kind, len(t), percentile(t, 50), percentile(t, 95), max(t),
                     sum(1 for r in results if r[0] == kind and r[3] == 0)])
    if show:
        for kind, q, ms, hits in sorted(results, key=lambda r: -r[2])[:show]:
            print(f"   slow: {ms:7.1f} ms  {hits:3d} hits  {kind:15s} {q!r}")
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    django_setup()
    from django.core.management import call_command

    from kramar.clients.models import Company, Contact

    call_command("migrate", verbosity=0)
    print(database_describe())
    have = Contact.objects.count()
    if args.fill != "none" and (args.reload or abs(have - args.contacts) > args.contacts * 0.02):
        print(f"filling {args.contacts:,} contacts ({args.fill}; there were {have:,}) …")
        (fill_own if args.fill == "own" else fill_demo)(args.contacts, args.seed)
    print(f"database: {Contact.objects.count():,} contacts, {Company.objects.count():,} companies")

    everyone, rep = bench_users()
    rng = random.Random(args.seed * 7919 + 1)
    warm = build_queries(rng, 40)
    queries = build_queries(rng, args.queries)
    rows = []
    for label, actor in ((f"{everyone.username} (all)", everyone), (f"{rep.username} (team)", rep)):
        run(actor, warm, args.limit)
        results = run(actor, queries, args.limit)
        rows += report(label, results, args.show)
    print(f"\nglobal_search(limit={args.limit}), {len(queries)} queries per user, times in ms")
    print(table(rows, ["user", "kind", "n", "p50", "p95", "max", "no hits"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
