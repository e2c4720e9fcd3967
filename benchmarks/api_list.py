"""The contacts list API (a page of 50 with owner and company) under concurrent load, against a bare
Django JSON view of the same rows served by the same server the same way.

    .venv/bin/python benchmarks/api_list.py                        # SQLite file in data/bench-api/
    DATABASE_URL=postgres://root@127.0.0.1:5432/kramar_bench_api .venv/bin/python benchmarks/api_list.py

What it does, bounded (under two minutes once the data is loaded):
1. Migrates the benchmark database and fills it with --contacts contacts (default 100,000; bulk
   executemany on SQLite, COPY on PostgreSQL; kept between runs while the size matches).
2. Creates an API user (role --role, default "Sales director") and a fresh token.
3. In process, with django.test.Client: counts the SQL queries of one request of each view at
   limit=5 and limit=50 (equal counts = no N+1), checks both return the same items, and times
   --inprocess-calls interleaved calls of each (service time without a server).
4. For each of --servers — uvicorn with 2 workers (what `kramar serve` runs), the same with
   TCP_NODELAY restored (kramar/config/uvicorn_protocol.py, what `kramar serve` uses), gunicorn with 2 sync workers — starts it as
   a subprocess on 127.0.0.1 with benchmarks.bench_settings, warms up, loads
   GET /api/v1/contacts/?limit=50 and GET /bench/bare/contacts?limit=50 with `wrk` (a second process,
   keep-alive connections) in alternating slices, then the API alone over one connection, and
   always stops it.
5. Prints requests/s, p50/p99, non-200 and socket errors, and the ratio API / bare per server.
   Target: the API at least 60% of the bare view's requests/s, and no N+1 queries.

A run with any non-200 response or socket error is reported INVALID and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    PYTHON,
    REPO_ROOT,
    LoadResult,
    database_describe,
    http_get,
    median,
    postgres_database_ensure,
    running_server,
    table,
    wrk_available,
    wrk_run,
)

API_PATH = "/api/v1/contacts/"  # the route of kramar.clients.api.contact_list_op
BARE_PATH = "/bench/bare/contacts"
TARGET_RATIO = 0.60
BENCH_USER = "bench-api"
OWNER_COUNT = 20
TEAM_NAMES = ["Bench sales 1", "Bench sales 2", "Bench sales 3", "Bench sales 4"]


def _words(text: str) -> list[str]:
    return text.split()


FIRST_M = _words(
    "Олександр Андрій Іван Дмитро Сергій Микола Тарас Богдан Юрій Василь Петро Олег Максим "
    "Віктор Роман Ярослав"
)
FIRST_F = _words(
    "Олена Марія Наталія Ірина Оксана Тетяна Юлія Світлана Анна Катерина Людмила Галина Софія "
    "Вікторія Христина Ганна"
)
LAST = _words(
    "Шевченко Коваленко Бондаренко Ткаченко Кравченко Олійник Шевчук Поліщук Бойко Мельник "
    "Лисенко Мороз Савченко Руденко Петренко Марченко Гончаренко Клименко Павленко Кузьменко "
    "Коваль Левченко Швець Ткачук Іваненко Литвиненко Сидоренко Романенко Зінченко Бондар "
    "Гриценко Приходько Костенко Мазур Кравець Карпенко Яковенко Тимошенко Дорошенко Кириленко"
)
PATRONYMIC_M = ["Олександрович", "Іванович", "Петрович", "Миколайович", "Васильович", "Андрійович"]
PATRONYMIC_F = ["Олександрівна", "Іванівна", "Петрівна", "Миколаївна", "Василівна", "Андріївна"]
POSITIONS = [
    "директор",
    "менеджер із закупівель",
    "головний бухгалтер",
    "інженер",
    "керівник відділу продажів",
    "юрист",
    "логіст",
    "",
]
COMPANY_WORDS = _words(
    "Агро Буд Енерго Метал Тех Трейд Сервіс Логістик Фарм Хліб Транс Смарт Дніпро Карпати Поділля Світанок"
)
LEGAL = ["ТОВ", "ПП", "ФОП", "ПрАТ"]
STAGES = ["lead", "prospect", "customer", "former", "partner"]
TAGS = ["VIP", "опт", "роздріб", "тендер", "дилер", "новий", "ризик", "Київ"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--contacts", type=int, default=100_000, help="contacts in the benchmark database (100000)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit", type=int, default=50, help="page size requested from both views (50)")
    p.add_argument(
        "--servers",
        default="uvicorn,uvicorn-nodelay,gunicorn",
        help="comma list of uvicorn, uvicorn-nodelay, gunicorn (all three)",
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections of wrk (8)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of one measured slice (4)")
    p.add_argument(
        "--rounds", type=int, default=3, help="API/bare slice pairs per server, order alternating (3)"
    )
    p.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unmeasured load per target first (2)"
    )
    p.add_argument(
        "--inprocess-calls",
        type=int,
        default=200,
        help="in-process timed calls of each view before the load, 0 to skip (200)",
    )
    p.add_argument(
        "--probe-seconds",
        type=float,
        default=2.0,
        help="then load the API with a single connection for this long, 0 to skip (2)",
    )
    p.add_argument(
        "--role", default="Sales director", help='role of the API user ("Sales director" = all records)'
    )
    p.add_argument(
        "--conn-max-age",
        default="auto",
        help="KRAMAR_DB_CONN_MAX_AGE for the servers on PostgreSQL; auto = 0 under uvicorn (ASGI), "
        "as configured (60) under gunicorn",
    )
    p.add_argument(
        "--reload", action="store_true", help="rebuild the benchmark database even if its size matches"
    )
    p.add_argument(
        "--data-dir",
        default=str(REPO_ROOT / "data" / "bench-api"),
        help="KRAMAR_DATA_DIR of the benchmark when DATABASE_URL is unset (SQLite file there)",
    )
    return p.parse_args(argv)


# --- environment and database ---------------------------------------------------------------------


def configure_environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment for this process and the servers: bench settings, the benchmark database."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.bench_settings"
    os.environ.setdefault("KRAMAR_DATA_DIR", args.data_dir)
    (Path(os.environ["KRAMAR_DATA_DIR"]) / "static").mkdir(parents=True, exist_ok=True)  # STATIC_ROOT
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        postgres_database_ensure(url)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def database_recreate() -> None:
    """Drop every table's data by recreating the benchmark database, then migrate."""
    from django.core.management import call_command
    from django.db import connection

    settings_dict = connection.settings_dict
    connection.close()
    if connection.vendor == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(str(settings_dict["NAME"]) + suffix).unlink(missing_ok=True)
    else:
        import psycopg

        name = settings_dict["NAME"]
        admin = psycopg.connect(
            host=settings_dict.get("HOST") or "127.0.0.1",
            port=settings_dict.get("PORT") or 5432,
            user=settings_dict.get("USER") or None,
            password=settings_dict.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        )
        with admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0, interactive=False)


def database_prepare(args: argparse.Namespace) -> tuple[int, float | None]:
    """Migrate; (re)load the data when the contact count differs. Returns (contacts, load seconds)."""
    from django.core.management import call_command

    from kramar.clients.models import Contact

    call_command("migrate", verbosity=0, interactive=False)
    existing = Contact.objects.count()
    if existing == args.contacts and not args.reload:
        return existing, None
    if existing:
        database_recreate()
    started = time.perf_counter()
    bulk_load(contacts=args.contacts, seed=args.seed)
    return Contact.objects.count(), time.perf_counter() - started


def bulk_load(*, contacts: int, seed: int) -> None:
    """Teams, 20 owners, contacts/10 companies, `contacts` contacts each with a primary company, a
    primary e-mail and a primary phone, a third of them with one or two of 8 tags. Rows go in with
    explicit ids, in one transaction: executemany on SQLite, COPY on PostgreSQL (the ORM row by row
    would take minutes)."""
    from django.db import connection, transaction

    with transaction.atomic():
        _bulk_load(contacts=contacts, seed=seed)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")


def _bulk_load(*, contacts: int, seed: int) -> None:
    from django.db import connection

    from kramar.accounts.models import Team
    from kramar.accounts.services import user_create
    from kramar.clients.normalize import company_search_text, contact_search_text
    from kramar.core.identifiers import name_key

    rng = random.Random(seed)
    teams = [Team.objects.get_or_create(name=name)[0] for name in TEAM_NAMES]
    owners = []
    for i in range(OWNER_COUNT):
        team = teams[i % len(teams)]
        owners.append(
            user_create(
                username=f"bench-owner-{i + 1:02d}",
                first_name=rng.choice(FIRST_M + FIRST_F),
                last_name=rng.choice(LAST),
                teams=[team],
                roles=["Sales rep"],
            )
        )
    owner_team = {o.pk: teams[i % len(teams)].pk for i, o in enumerate(owners)}
    now = datetime.now(UTC)
    adapt = connection.ops.adapt_datetimefield_value

    class Row:  # what the search-text helpers read
        def __init__(self, **kw):
            self.__dict__.update(kw)

    n_companies = max(1, contacts // 10)
    company_rows, company_names = [], []
    for cid in range(1, n_companies + 1):
        name = f"{rng.choice(LEGAL)} «{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_WORDS).lower()}-{cid}»"
        company_names.append(name)
        owner = rng.choice(owners).pk
        when = adapt(now - timedelta(days=rng.randint(0, 1500), seconds=rng.randint(0, 86399)))
        company = Row(name=name, legal_name="", code=f"{rng.randint(10_000_000, 99_999_999)}", vat_number="")
        company_rows.append(
            (
                cid,
                when,
                when,
                1,
                "{}",
                name,
                "",
                "UA",
                company.code,
                "",
                "",
                "",
                "",
                rng.choice(STAGES),
                "",
                "",
                company_search_text(company, []),
                name_key(name, strip_legal_forms=True),
                owner,
                owner_team[owner],
            )
        )
    tag_rows = [(i, name, "#6c757d", adapt(now)) for i, name in enumerate(TAGS, start=1)]
    contact_rows, link_rows, point_rows, contact_tag_rows = [], [], [], []
    pid = 0
    for cid in range(1, contacts + 1):
        female = rng.random() < 0.5
        first = rng.choice(FIRST_F if female else FIRST_M)
        middle = rng.choice(PATRONYMIC_F if female else PATRONYMIC_M)
        last = rng.choice(LAST)
        position = rng.choice(POSITIONS)
        company_id = rng.randint(1, n_companies)
        owner = rng.choice(owners).pk
        when = adapt(now - timedelta(days=rng.randint(0, 1500), seconds=rng.randint(0, 86399)))
        email = f"contact{cid}@example.com"
        phone = f"+38067{cid:07d}"
        points = [Row(kind="email", normalized=email), Row(kind="phone", normalized=phone)]
        person = Row(first_name=first, middle_name=middle, last_name=last, position=position)
        contact_rows.append(
            (
                cid,
                when,
                when,
                1,
                "{}",
                first,
                middle,
                last,
                position,
                "uk",
                "",
                "{}",
                "unknown",
                "",
                rng.choice(STAGES),
                "",
                "",
                contact_search_text(person, points, [company_names[company_id - 1]]),
                name_key(first, middle, last),
                owner,
                company_id,
                owner_team[owner],
            )
        )
        link_rows.append((cid, "", True, company_id, cid))
        pid += 1
        point_rows.append((pid, "email", "work", email, email, "", True, cid))
        pid += 1
        point_rows.append((pid, "phone", "mobile", phone, phone, "", True, cid))
        if rng.random() < 0.3:  # a third of the contacts carry one or two tags
            for tag_id in rng.sample(range(1, len(TAGS) + 1), rng.randint(1, 2)):
                contact_tag_rows.append((len(contact_tag_rows) + 1, cid, tag_id))

    tables = [
        (
            "clients_company",
            "id, created_at, updated_at, version, custom, name, legal_name, country, code, vat_number, "
            "industry, size, website, lifecycle_stage, source, notes, search_text, name_key, owner_id, team_id",
            company_rows,
        ),
        (
            "clients_contact",
            "id, created_at, updated_at, version, custom, first_name, middle_name, last_name, "
            "position, language, preferred_channel, messengers, marketing_consent, consent_method, lifecycle_stage, "
            "source, notes, search_text, name_key, owner_id, primary_company_id, team_id",
            contact_rows,
        ),
        ("clients_contactcompany", "id, position, is_primary, company_id, contact_id", link_rows),
        (
            "clients_contactpoint",
            "id, kind, label, value, normalized, extension, is_primary, contact_id",
            point_rows,
        ),
        ("core_tag", "id, name, color, created_at", tag_rows),
        ("clients_contact_tags", "id, contact_id, tag_id", contact_tag_rows),
    ]
    if connection.vendor == "postgresql":
        raw = connection.connection  # the psycopg connection under Django's
        with raw.cursor() as cur:
            for name, columns, rows in tables:
                with cur.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
    else:
        with connection.cursor() as cur:
            for name, columns, rows in tables:
                marks = ", ".join(["%s"] * len(rows[0]))
                cur.executemany(f"INSERT INTO {name} ({columns}) VALUES ({marks})", rows)


def api_user_token(role: str) -> str:
    """The API user (created once) and a fresh token for this run."""
    from kramar.accounts.models import ApiToken, Team, User
    from kramar.accounts.services import api_token_create, user_create

    user = User.objects.filter(username=BENCH_USER).first()
    if user is None:
        team = Team.objects.get_or_create(name=TEAM_NAMES[0])[0]
        user = user_create(username=BENCH_USER, teams=[team], roles=[role])
    else:
        user.roles.set(user.roles.model.objects.filter(name=role))
    ApiToken.objects.filter(user=user, name="benchmark").delete()  # one benchmark token at a time
    _row, plain = api_token_create(user=user, name="benchmark")
    return plain


# --- in-process checks ------------------------------------------------------------------------------


def page_items(body: bytes) -> list[dict]:
    """The items of a list response, whatever the envelope (a list, or items/results/data)."""
    data = json.loads(body)
    if isinstance(data, dict):
        for key in ("items", "results", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise ValueError(f"unexpected list response: {str(data)[:200]}")
    return data


def page_ids(body: bytes) -> list[int]:
    return [int(item["id"]) for item in page_items(body)]


def items_comparable(body: bytes) -> list[dict]:
    """Items with timestamps parsed (the API writes microseconds, JsonResponse milliseconds)."""
    out = []
    for item in page_items(body):
        item = dict(item)
        for key in ("created_at", "updated_at"):
            if isinstance(item.get(key), str):
                item[key] = datetime.fromisoformat(item[key].replace("Z", "+00:00")).replace(microsecond=0)
        out.append(item)
    return out


def query_counts(token: str, limit: int) -> dict:
    """SQL queries per request of each view at limit=5 and limit=`limit` (after one unmeasured call),
    the ids they return, and the API's SQL at `limit`."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token}")
    result: dict = {}
    for label, path in (("api", API_PATH), ("bare", BARE_PATH)):
        for size in (5, limit):
            url = f"{path}?limit={size}"
            client.get(url)  # token last_used_at update, caches
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
            result[(label, size)] = {
                "queries": len(ctx.captured_queries),
                "ids": page_ids(response.content),
                "items": items_comparable(response.content),
                "bytes": len(response.content),
                "sql": [q["sql"] for q in ctx.captured_queries],
            }
    return result


def inprocess_times(token: str, limit: int, calls: int) -> dict[str, dict[str, float]]:
    """Service time without a server or a network: median and p90 ms of `calls` GETs of each view
    through django.test.Client, interleaved (API, bare, API, …) so machine drift hits both alike."""
    from django.test import Client

    from benchmarks._common import percentile

    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token}")
    paths = {"api": f"{API_PATH}?limit={limit}", "bare": f"{BARE_PATH}?limit={limit}", "ping": "/bench/ping"}
    times: dict[str, list[float]] = {label: [] for label in paths}
    for i in range(calls + 10):
        for label, path in paths.items():
            t0 = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}")
            if i >= 10:  # the first ten are warm-up
                times[label].append(elapsed)
    return {label: {"p50": percentile(v, 50), "p90": percentile(v, 90)} for label, v in times.items()}


# --- load -------------------------------------------------------------------------------------------


def server_argv(kind: str, port: int, workers: int) -> list[str]:
    """uvicorn: what `kramar serve` runs (ASGI, lifespan off), access log off for both targets alike;
    uvicorn-nodelay: the same with TCP_NODELAY restored (kramar/config/uvicorn_protocol.py, what `kramar serve` uses);
    gunicorn: WSGI with sync workers (one request at a time per worker, a connection per request)."""
    if kind in {"uvicorn", "uvicorn-nodelay"}:
        argv = [
            PYTHON,
            "-m",
            "uvicorn",
            "kramar.config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if kind == "uvicorn-nodelay":
            argv += ["--http", "kramar.config.uvicorn_protocol:H11NoDelayProtocol"]
        return argv
    if kind == "gunicorn":
        return [
            PYTHON,
            "-m",
            "gunicorn",
            "kramar.config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ]
    raise ValueError(f"unknown server {kind}")


def gunicorn_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("gunicorn") is not None


def server_env(kind: str, args: argparse.Namespace, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """The server's environment and its CONN_MAX_AGE. With DATABASE_URL Kramar keeps connections 60 s
    (KRAMAR_DB_CONN_MAX_AGE). Under ASGI every request runs its sync view in a new thread, so persistent
    connections pile up until PostgreSQL refuses clients ("too many clients already"); Django's docs say
    to disable them under ASGI. --conn-max-age auto: 0 for uvicorn, as configured for gunicorn."""
    env = dict(env)
    if not os.environ.get("DATABASE_URL"):
        return env, "0 (SQLite settings)"
    if args.conn_max_age != "auto":
        env["KRAMAR_DB_CONN_MAX_AGE"] = args.conn_max_age
    elif kind.startswith("uvicorn"):
        env["KRAMAR_DB_CONN_MAX_AGE"] = "0"
    return env, env.get("KRAMAR_DB_CONN_MAX_AGE", "60")


def postgres_connections() -> int | None:
    """Connections to the benchmark database now (PostgreSQL only), counted from another session."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    with psycopg.connect(
        host=cfg.get("HOST") or "127.0.0.1",
        port=cfg.get("PORT") or 5432,
        user=cfg.get("USER") or None,
        password=cfg.get("PASSWORD") or None,
        dbname="postgres",
    ) as c:
        return c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (cfg["NAME"],)
        ).fetchone()[0]


def load_server(kind: str, args: argparse.Namespace, env: dict[str, str], token: str, port: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    targets = {"api": f"{API_PATH}?limit={args.limit}", "bare": f"{BARE_PATH}?limit={args.limit}"}
    slices: dict = {"api": [], "bare": []}
    env, slices["conn_max_age"] = server_env(kind, args, env)
    with running_server(
        kind,
        server_argv(kind, port, args.workers),
        port=port,
        env=env,
        ready_path=targets["bare"],
        headers=headers,
    ) as server:
        for path in targets.values():  # over HTTP, both answer 200 with a full page
            status, body = http_get(server.base_url + path, headers)
            if status != 200 or len(page_ids(body)) == 0:
                raise RuntimeError(f"{kind} {path}: HTTP {status} {body[:200]!r}")
        for path in targets.values():
            wrk_run(
                "warmup",
                server.base_url + path,
                seconds=args.warmup,
                connections=args.connections,
                headers=headers,
            )
        for r in range(args.rounds):
            order = ("api", "bare") if r % 2 == 0 else ("bare", "api")
            for label in order:
                slices[label].append(
                    wrk_run(
                        label,
                        server.base_url + targets[label],
                        seconds=args.seconds,
                        connections=args.connections,
                        headers=headers,
                    )
                )
        if args.probe_seconds:  # one client alone: latency without queueing (shows the uvicorn NODELAY stall)
            slices["probe"] = wrk_run(
                "probe",
                server.base_url + targets["api"],
                seconds=args.probe_seconds,
                connections=1,
                headers=headers,
            )
        slices["pg_connections"] = postgres_connections()
    return slices


def summarize(slices: list[LoadResult]) -> dict:
    requests = sum(s.requests for s in slices)
    seconds = sum(s.seconds for s in slices)
    return {
        "rps": requests / seconds if seconds else 0.0,
        "p50": median([s.p50_ms for s in slices]),
        "p99": max(s.p99_ms for s in slices),
        "requests": requests,
        "non200": sum(s.non200 for s in slices),
        "errors": sum(s.socket_errors for s in slices),
        "valid": all(s.valid for s in slices),
    }


# --- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not wrk_available():
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    load_begin = " ".join(f"{x:.1f}" for x in os.getloadavg())
    env = configure_environment(args)

    import django

    django.setup()
    from django.db import connection

    count, load_seconds = database_prepare(args)
    print(f"database: {database_describe()}")
    loaded = f"loaded in {load_seconds:.1f} s" if load_seconds is not None else "kept from an earlier run"
    print(f"data: {count:,} contacts ({loaded}); API user role: {args.role}; page size {args.limit}")
    token = api_user_token(args.role)

    try:
        counts = query_counts(token, args.limit)
        service = inprocess_times(token, args.limit, args.inprocess_calls) if args.inprocess_calls else None
    except RuntimeError as exc:  # a view that does not answer 200 in process: nothing to load
        print(f"INVALID: {exc}")
        return 1
    connection.close()
    api_small, api_full = counts[("api", 5)], counts[("api", args.limit)]
    bare_small, bare_full = counts[("bare", 5)], counts[("bare", args.limit)]
    same_rows = api_full["ids"] == bare_full["ids"]
    same_items = api_full["items"] == bare_full["items"]
    no_n_plus_1 = api_full["queries"] == api_small["queries"]
    print()
    print(
        table(
            [
                [
                    "API " + API_PATH,
                    api_small["queries"],
                    api_full["queries"],
                    len(api_full["ids"]),
                    api_full["bytes"],
                ],
                [
                    "bare " + BARE_PATH,
                    bare_small["queries"],
                    bare_full["queries"],
                    len(bare_full["ids"]),
                    bare_full["bytes"],
                ],
            ],
            header=["SQL queries per request", "limit=5", f"limit={args.limit}", "rows", "bytes"],
        )
    )
    print(
        f"N+1: {'none (query count independent of page size)' if no_n_plus_1 else 'YES (grows with page size)'}; "
        f"same rows in the same order: {'yes' if same_rows else 'NO'}; "
        f"same JSON items (timestamps to the second): {'yes' if same_items else 'NO'}"
    )
    if service:
        print(
            f"in-process service time, {args.inprocess_calls} interleaved calls each (django.test.Client, "
            f"no server): API p50 {service['api']['p50']:.2f} ms / p90 {service['api']['p90']:.2f}; "
            f"bare p50 {service['bare']['p50']:.2f} / p90 {service['bare']['p90']:.2f}; "
            f"ping (no DB) p50 {service['ping']['p50']:.2f}; "
            f"API/bare time {service['api']['p50'] / service['bare']['p50']:.2f}"
        )
    if os.environ.get("KRAMAR_BENCH_SQL"):
        print("API SQL:\n  " + "\n  ".join(api_full["sql"]))

    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if "gunicorn" in kinds and not gunicorn_installed():
        print("gunicorn is not installed in this environment: skipped (pip install gunicorn)")
        kinds.remove("gunicorn")
    rows, all_valid, ratios, notes = [], True, {}, []
    from benchmarks._common import free_port

    for kind in kinds:
        slices = load_server(kind, args, env, token, free_port())
        api, bare = summarize(slices["api"]), summarize(slices["bare"])
        ratio = api["rps"] / bare["rps"] if bare["rps"] else 0.0
        ratios[kind] = ratio
        pg = slices["pg_connections"]
        probe = slices.get("probe")
        if probe is not None:
            all_valid = all_valid and probe.valid
        notes.append(
            f"{kind}: CONN_MAX_AGE={slices['conn_max_age']}"
            + (f", PostgreSQL connections open at the end of the load: {pg}" if pg is not None else "")
            + (
                f"; API with 1 connection: p50 {probe.p50_ms:.1f} ms, {probe.rps:.0f} req/s"
                f"{'' if probe.valid else ' (FAILED REQUESTS)'}"
                if probe is not None
                else ""
            )
        )
        pair_ratios = " ".join(
            f"{a.rps / b.rps:.2f}" for a, b in zip(slices["api"], slices["bare"], strict=True)
        )
        all_valid = all_valid and api["valid"] and bare["valid"]
        for label, s in (("API", api), ("bare", bare)):
            rows.append(
                [
                    kind,
                    label,
                    round(s["rps"], 1),
                    s["p50"],
                    s["p99"],
                    s["requests"],
                    s["non200"],
                    s["errors"],
                    f"{ratio:.2f} (slices {pair_ratios})" if label == "API" else "",
                ]
            )
    print()
    print(
        f"load: wrk, {args.connections} keep-alive connections, 1 thread, 127.0.0.1; {args.rounds} × "
        f"{args.seconds:g} s per target per server, alternating, after {args.warmup:g} s warm-up each; "
        f"{args.workers} workers"
    )
    print(
        table(
            rows,
            header=[
                "server",
                "target",
                "req/s",
                "p50 ms",
                "p99 ms",
                "requests",
                "non-200",
                "sock err",
                "API/bare",
            ],
        )
    )
    print("(req/s over all slices; p50 = median of slices; p99 = worst slice)")
    print("\n".join(notes))
    print()
    for kind, ratio in ratios.items():
        verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
        print(f"{kind}: API at {ratio:.0%} of the bare view ({verdict} the {TARGET_RATIO:.0%} target)")
    load_end = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"no N+1: {'yes' if no_n_plus_1 else 'NO'}; total time {time.perf_counter() - started:.0f} s; "
        f"load average {load_begin} at start, {load_end} at end ({os.cpu_count()} cores, shared)"
    )
    if not all_valid:
        print("INVALID: some requests failed (non-200 or socket errors)")
        return 1
    return 0 if same_rows else 1


if __name__ == "__main__":
    sys.exit(main())
