"""Server time of the sales pages at scale: the pipeline board's first screen (`sales:board` for one pipeline)
and "My day" (`desk:my-day`), p50 / p95 over 50 requests each, and the SQL queries per request.

    .venv/bin/python benchmarks/sales_pages.py --contacts 20000                 # SQLite /tmp/kramar_bench_sales.sqlite3
    DATABASE_URL=postgres://root@127.0.0.1:5432/kramar_bench_sales .venv/bin/python benchmarks/sales_pages.py
    .venv/bin/python benchmarks/sales_pages.py --fill none                      # reuse what is loaded

What it does:
1. Migrates its database and, unless it already holds about --contacts contacts, --deals deals and --tasks tasks
   (default 1,000,000 / 200,000 / 1,000,000), loads them with the demo loader
   (`kramar.demo.services.demo_load`, mode reset, anchor today, demo users with password "bench"): the same rows
   `kramar demo --contacts N` writes (companies, contacts, ~3 interactions each, deals with stage history and
   product lines, tasks around today, targets, rates; on PostgreSQL the loader ANALYZEs the tables it filled).
   --fill none uses what is there.
2. In process, with django.test.Client logged in as the demo users (the full middleware stack, view and template
   rendering, DEBUG off): warm-up requests, then --requests (50) timed GETs of each page per user, one page and
   user at a time. The queries per request are counted on one extra request with CaptureQueriesContext
   (outside the timed ones).
   Like a server worker (kramar/config/asgi.py) it freezes the start-up objects out of the garbage collector's
   full passes first (kramar.core.runtime; KRAMAR_GC_FREEZE=0 to measure without).
3. Prints p50 / p95 / max in ms, the queries per request and the response size, against the target
   p95 < 200 ms (issue 3, scope 12). Exit status 1 when a page does not answer 200.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import database_describe, page_measure, percentile, postgres_database_ensure, table  # noqa: E402

SQLITE_DEFAULT = "sqlite:////tmp/kramar_bench_sales.sqlite3"
TARGET_MS = 200.0
# username → what they stand for (the demo's users)
USERS = {"rep.kyiv1": "rep", "lead.kyiv": "team lead", "director": "director"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--contacts", type=int, default=1_000_000)
    p.add_argument("--deals", type=int, help="deals (default: contacts / 5)")
    p.add_argument("--tasks", type=int, help="tasks (default: as many as contacts)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--requests", type=int, default=50, help="timed requests per page and user (50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed requests first (5)")
    p.add_argument("--fill", choices=["demo", "none"], default="demo",
                   help="demo: load with the demo loader unless the sizes match; none: use what is there")
    p.add_argument("--reload", action="store_true", help="reload even when the sizes match")
    p.add_argument("--pipeline", default="New business", help="the board's pipeline (by name)")
    p.add_argument("--sql", action="store_true", help="print the SQL of one request per page")
    p.add_argument("--load-only", action="store_true", help="load the data and stop (no measuring)")
    args = p.parse_args(argv)
    args.deals = args.contacts // 5 if args.deals is None else args.deals
    args.tasks = args.contacts if args.tasks is None else args.tasks
    return args


def django_setup() -> None:
    os.environ.setdefault("DATABASE_URL", SQLITE_DEFAULT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "kramar.config.settings.base"
    os.environ["KRAMAR_DEBUG"] = "0"
    os.environ.setdefault("KRAMAR_DATA_DIR", "/tmp/kramar_bench_sales_data")
    hosts = os.environ.get("KRAMAR_ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ["KRAMAR_ALLOWED_HOSTS"] = f"{hosts},testserver"  # django.test.Client's host
    url = os.environ["DATABASE_URL"]
    if url.startswith(("postgres://", "postgresql://")):
        postgres_database_ensure(url)
    import django

    django.setup()


def sizes() -> dict[str, int]:
    from kramar.activities.models import Task
    from kramar.clients.models import Contact
    from kramar.sales.models import Deal

    return {"contacts": Contact.objects.count(), "deals": Deal.objects.count(), "tasks": Task.objects.count()}


def _close(have: int, want: int) -> bool:
    return abs(have - want) <= max(2, want * 0.02)


def fill(args) -> None:

    from kramar.demo.services import demo_load

    started = time.perf_counter()
    result = demo_load(
        contacts=args.contacts, deals=args.deals, tasks=args.tasks, seed=args.seed, mode="reset", progress=False,
        password="bench",
    )
    seconds = {k: round(v, 1) for k, v in result.seconds.items()}
    print(f"demo_load: {sum(result.counts.values()):,} rows in {time.perf_counter() - started:.0f} s {seconds}")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in result.counts.items()))


def _login(username: str):
    from django.test import Client

    from kramar.accounts.models import User

    user = User.objects.get(username=username)
    client = Client()
    client.force_login(user)
    return user, client


def main(argv=None) -> int:
    args = parse_args(argv)
    django_setup()
    from django.core.management import call_command
    from django.urls import reverse

    from kramar.activities.models import Task
    from kramar.sales.models import Deal, Pipeline

    print(f"load average at start: {os.getloadavg()}")
    call_command("migrate", verbosity=0, skip_checks=True)
    print(database_describe())
    have = sizes()
    want = {"contacts": args.contacts, "deals": args.deals, "tasks": args.tasks}
    if args.fill == "demo" and (args.reload or not all(_close(have[k], want[k]) for k in want)):
        print(f"loading {want} with the demo loader (there were {have}) …")
        fill(args)
        have = sizes()
    print("database: " + ", ".join(f"{v:,} {k}" for k, v in have.items()))
    if args.load_only:
        return 0

    pipeline = Pipeline.objects.filter(name=args.pipeline).first() or Pipeline.objects.order_by("position").first()
    if pipeline is None:
        print("no pipeline: load data first")
        return 1
    board_url = reverse("sales:board", args=[pipeline.pk])
    my_day_url = reverse("desk:my-day")
    from kramar.core.runtime import gc_freeze_after_startup

    # as a server worker does once the application is loaded (kramar/config/asgi.py); KRAMAR_GC_FREEZE=0 measures
    # without it
    print(f"gc.freeze after start-up: {'on' if gc_freeze_after_startup() else 'off'}")
    print(f"pipeline {pipeline.name!r} (id {pipeline.pk}): {Deal.objects.filter(pipeline=pipeline).count():,} deals, "
          f"{Deal.objects.filter(pipeline=pipeline, status='open').count():,} open")

    rows, failed = [], False
    for username, label in USERS.items():
        user, client = _login(username)
        open_tasks = Task.objects.filter(owner=user, status="open").count()
        visible = Deal.objects.visible_to(user).filter(pipeline=pipeline, status="open").count()
        print(f"{username} ({label}): {open_tasks:,} open tasks of their own, {visible:,} open deals visible "
              "in the pipeline")
        pages = [("board", board_url), ("my day", my_day_url)]
        for page, url in pages:
            if args.sql:
                print(f"  SQL of {page} as {username}:")
            r = page_measure(client, url, requests=args.requests, warmup=args.warmup, show_sql=args.sql)
            if r["status"] != 200:
                failed = True
                rows.append([page, f"{username} ({label})", len(r["times"]), float("nan"), float("nan"),
                             float("nan"), r["queries"], r["bytes"], f"HTTP {r['status']}"])
                continue
            p95 = percentile(r["times"], 95)
            rows.append([page, f"{username} ({label})", len(r["times"]), percentile(r["times"], 50), p95,
                         max(r["times"]), r["queries"], r["bytes"], "ok" if p95 < TARGET_MS else "OVER"])
    print(f"\nserver time in process (django.test.Client, full middleware + view + template), ms; "
          f"target p95 < {TARGET_MS:.0f} ms")
    print(table(rows, ["page", "user", "n", "p50", "p95", "max", "queries", "bytes", "p95 vs target"]))
    print(f"load average at end: {os.getloadavg()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
