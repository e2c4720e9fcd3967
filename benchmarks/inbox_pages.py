"""Server time of the Communication Center's pages with 100,000 conversations: the agent inbox (their own, their
queues', everything for a director), the supervisor view and a conversation, p50 / p95 over 50 requests each, and
the SQL queries per request.

    .venv/bin/python benchmarks/inbox_pages.py                     # SQLite /tmp/kramar_bench_inbox.sqlite3
    DATABASE_URL=postgres://root@127.0.0.1:5432/kramar_bench_inbox .venv/bin/python benchmarks/inbox_pages.py
    .venv/bin/python benchmarks/inbox_pages.py --fill none         # reuse what is loaded

What it does:
1. Migrates its database and, unless it already holds about --conversations conversations of its own set-up,
   replaces the Communication Center's rows with a seeded bulk-created one: 10 teams, --agents agents (sales reps,
   90% online, capacity 4–12, each in 2–3 of --queues queues), a supervisor of every queue (team lead) and a
   director, 6 channels, 20,000 contacts owned by the agents, and --conversations conversations over the last
   180 days: 70% closed, 15% open and 5% waiting for the client (each with its agent), 5% offered to an agent and
   5% waiting in a queue; 3% breached their SLA; two messages each (the client's and the answer or a note) and
   the assignment that put them where they are. On PostgreSQL it ANALYZEs the tables it filled.
2. In process, with django.test.Client signed in (full middleware stack, view and template rendering, DEBUG off,
   start-up objects frozen out of the garbage collector as a server worker does): warm-up requests, then
   --requests timed GETs of each page, one at a time; the queries of one extra request are counted.
3. Prints p50 / p95 / max in ms, queries and response size per page, against the target p95 < 200 ms
   (issue 4, scope 9). Exit status 1 when a page does not answer 200.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import database_describe, page_measure, percentile, table  # noqa: E402
from benchmarks._common import django_setup as _django_setup  # noqa: E402

SQLITE_DEFAULT = "sqlite:////tmp/kramar_bench_inbox.sqlite3"
TARGET_MS = 200.0
BATCH = 5000
WORDS = ["рахунок", "ціна", "доставка", "повернення", "договір", "1С", "помилка", "оплата", "invoice", "price",
         "delivery", "акт", "знижка", "гарантія", "замовлення", "рекламація"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conversations", type=int, default=100_000)
    p.add_argument("--agents", type=int, default=200)
    p.add_argument("--queues", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--requests", type=int, default=50, help="timed requests per page (50)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--fill", choices=["bench", "none"], default="bench",
                   help="bench: load the set-up unless the size matches; none: use what is there")
    p.add_argument("--reload", action="store_true")
    p.add_argument("--sql", action="store_true", help="print the SQL of one request per page")
    p.add_argument("--load-only", action="store_true", help="load the data and stop (no measuring)")
    return p.parse_args(argv)


def django_setup() -> None:
    hosts = os.environ.get("KRAMAR_ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ["KRAMAR_ALLOWED_HOSTS"] = f"{hosts},testserver"  # django.test.Client's host
    os.environ["KRAMAR_DEBUG"] = "0"
    _django_setup(SQLITE_DEFAULT, "/tmp/kramar_bench_inbox_data")


def _bulk(model, rows: list) -> list:
    out = []
    for i in range(0, len(rows), BATCH):
        out += model.objects.bulk_create(rows[i:i + BATCH])
    return out


def fill(args) -> None:  # noqa: PLR0915 (one linear set-up)
    from django.db import connection, transaction
    from django.utils import timezone

    from kramar.accounts.models import Membership, Team, User
    from kramar.accounts.services import roles_ensure_defaults
    from kramar.clients.models import Contact
    from kramar.comms.choices import (
        AssignmentStatus,
        ConversationStatus,
        MessageDirection,
        Presence,
        Priority,
        Strategy,
    )
    from kramar.comms.models import (
        AgentProfile,
        Assignment,
        Channel,
        Conversation,
        LiveEvent,
        Message,
        Queue,
        QueueMember,
        SlaPolicy,
    )

    rng = random.Random(args.seed)
    now = timezone.now()
    roles_ensure_defaults()
    with transaction.atomic():
        for model in (Assignment, Message, Conversation, LiveEvent, SlaPolicy, QueueMember, Channel, Queue,
                      AgentProfile):
            model.objects.all().delete()
        Contact.objects.filter(first_name="Bench").delete()
        User.objects.filter(username__startswith="bench-").delete()
        Team.objects.filter(name__startswith="Bench team").delete()

        teams = Team.objects.bulk_create([Team(name=f"Bench team {n}") for n in range(10)])
        agents = User.objects.bulk_create([
            User(username=f"bench-agent-{n}", first_name=f"Agent{n}", last_name="Bench", email=f"a{n}@bench.test")
            for n in range(args.agents)])
        supervisor = User.objects.create(username="bench-supervisor", first_name="Super", last_name="Visor")
        director = User.objects.create(username="bench-director", first_name="Dyrektor", last_name="Bench")
        from kramar.accounts.models import Role

        roles = {r.name: r for r in Role.objects.all()}
        User.roles.through.objects.bulk_create(
            [User.roles.through(user_id=a.pk, role_id=roles["Sales rep"].pk) for a in agents]
            + [User.roles.through(user_id=supervisor.pk, role_id=roles["Team lead"].pk),
               User.roles.through(user_id=director.pk, role_id=roles["Sales director"].pk)])
        team_of = {a.pk: teams[n % len(teams)] for n, a in enumerate(agents)}
        Membership.objects.bulk_create([Membership(user=a, team=team_of[a.pk]) for a in agents]
                                       + [Membership(user=supervisor, team=teams[0], is_lead=True)])
        AgentProfile.objects.bulk_create([
            AgentProfile(user=a, presence=Presence.ONLINE if rng.random() < 0.9 else Presence.AWAY,
                         capacity=rng.randint(4, 12), last_seen_at=now)
            for a in agents] + [AgentProfile(user=supervisor, presence=Presence.ONLINE, capacity=10)])
        strategies = [Strategy.OWNER, Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED, Strategy.SKILLS]
        queues = Queue.objects.bulk_create([
            Queue(name=f"Bench queue {n}", strategy=strategies[n % 4], accept_minutes=5, position=n)
            for n in range(args.queues)])
        for q in queues:
            q.supervisors.add(supervisor)
        queues_of = {a.pk: rng.sample(queues, rng.randint(2, 3)) for a in agents}
        QueueMember.objects.bulk_create([QueueMember(queue=q, user_id=a) for a, qs in queues_of.items() for q in qs])
        SlaPolicy.objects.bulk_create([
            SlaPolicy(queue=q, priority=p, first_response_minutes={1: 240, 2: 60, 3: 30, 4: 15}[p],
                      resolution_minutes=480) for q in queues for p in Priority.values])
        channels = Channel.objects.bulk_create([
            Channel(kind=kind, name=f"Bench {kind} {n}", address=f"{name}@bench.test", queue=queues[n])
            for n, (kind, name) in enumerate([("email", "sales"), ("email", "support"), ("email", "buh"),
                                               ("phone", "call"), ("chat", "chat"), ("webform", "form")])])
        contacts = _bulk(Contact, [
            Contact(first_name="Bench", last_name=f"Client{n}", owner=(o := rng.choice(agents)), team=team_of[o.pk])
            for n in range(20_000)])

        convs, plan = [], []
        for n in range(args.conversations):
            channel = rng.choice(channels)
            agent = rng.choice(agents)
            queue = rng.choice(queues_of[agent.pk])
            opened = now - dt.timedelta(minutes=rng.randint(5, 180 * 24 * 60))
            roll = rng.random()
            if roll < 0.70:
                status, owner, outcome = ConversationStatus.CLOSED, agent, AssignmentStatus.ACCEPTED
            elif roll < 0.85:
                status, owner, outcome = ConversationStatus.OPEN, agent, AssignmentStatus.ACCEPTED
            elif roll < 0.90:
                status, owner, outcome = ConversationStatus.PENDING, agent, AssignmentStatus.ACCEPTED
            elif roll < 0.95:
                status, owner, outcome = ConversationStatus.NEW, agent, AssignmentStatus.OFFERED
                opened = now - dt.timedelta(minutes=rng.randint(1, 120))
            else:
                status, owner, outcome = ConversationStatus.NEW, None, AssignmentStatus.WAITING
                opened = now - dt.timedelta(minutes=rng.randint(1, 600))
            last = opened + dt.timedelta(minutes=rng.randint(1, 600))
            if last > now:
                last = now
            priority = rng.choice([1, 2, 2, 2, 3, 4])
            due = opened + dt.timedelta(minutes={1: 240, 2: 60, 3: 30, 4: 15}[priority])
            breached = due if (status != ConversationStatus.CLOSED and due < now and rng.random() < 0.2) \
                or rng.random() < 0.03 else None
            convs.append(Conversation(
                channel=channel, kind=channel.kind, subject=" ".join(rng.sample(WORDS, 3)) + f" №{n}",
                status=status, priority=priority, contact=rng.choice(contacts) if rng.random() < 0.9 else None,
                queue=queue, owner=owner, team=team_of[owner.pk] if owner else None, thread_key=f"<b{n}@bench.test>",
                opened_at=opened, last_message_at=last, last_inbound_at=opened,
                first_response_at=None if status == ConversationStatus.NEW else opened + dt.timedelta(minutes=7),
                closed_at=last if status == ConversationStatus.CLOSED else None,
                first_response_due=due, resolution_due=opened + dt.timedelta(hours=8), sla_breached_at=breached))
            plan.append(outcome)
        convs = _bulk(Conversation, convs)
        messages, assignments = [], []
        for n, (conv, outcome) in enumerate(zip(convs, plan, strict=True)):
            messages.append(Message(
                conversation=conv, channel_id=conv.channel_id, direction=MessageDirection.INBOUND,
                external_id=f"<b{n}@bench.test>", subject=conv.subject, from_address=f"client{n}@firm.ua",
                from_name=f"Client {n}", body=" ".join(rng.choices(WORDS, k=40)), sent_at=conv.opened_at))
            if conv.first_response_at:
                messages.append(Message(
                    conversation=conv, channel_id=conv.channel_id, direction=MessageDirection.OUTBOUND,
                    external_id=f"<r{n}@bench.test>", subject="Re: " + conv.subject, author_id=conv.owner_id,
                    from_address="sales@bench.test", body=" ".join(rng.choices(WORDS, k=30)),
                    sent_at=conv.first_response_at))
            assignments.append(Assignment(
                conversation=conv, queue_id=conv.queue_id, user_id=conv.owner_id, status=outcome,
                reason=f"rule 1 → {conv.queue_id}; least loaded",
                expires_at=now + dt.timedelta(minutes=5) if outcome == AssignmentStatus.OFFERED else None,
                accepted_at=conv.opened_at if outcome == AssignmentStatus.ACCEPTED else None))
        _bulk(Message, messages)
        _bulk(Assignment, assignments)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for model in (Conversation, Message, Assignment, Contact, QueueMember, AgentProfile):
                cur.execute(f'ANALYZE "{model._meta.db_table}"')
    else:
        with connection.cursor() as cur:
            cur.execute("ANALYZE")


def _client(username: str):
    from django.test import Client

    from kramar.accounts.models import User

    user = User.objects.get(username=username)
    client = Client()
    client.force_login(user)
    return user, client


def pages() -> list[tuple[str, str, str]]:
    """(page, user, url) to time: the busiest agent's inbox and their queues', a director's everything, the
    supervisor view, and a conversation of the busiest agent."""
    from django.db.models import Count
    from django.urls import reverse

    from kramar.comms.models import Conversation

    busiest = (Conversation.objects.exclude(status="closed").filter(owner__username__startswith="bench-agent-")
               .values("owner__username").annotate(n=Count("id")).order_by("-n").first())
    agent = busiest["owner__username"]
    conv = Conversation.objects.filter(owner__username=agent, status="open").order_by("-last_message_at").first()
    inbox = reverse("comms:inbox")
    return [
        ("inbox: mine", agent, f"{inbox}?box=mine"),
        ("inbox: my queues", agent, f"{inbox}?box=queues"),
        ("inbox: all", "bench-director", f"{inbox}?box=all"),
        ("inbox: all, closed", "bench-director", f"{inbox}?box=all&status=closed"),
        ("supervisor view", "bench-supervisor", reverse("comms:supervisor")),
        ("conversation", agent, reverse("comms:conversation-detail", args=[conv.pk])),
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    django_setup()
    from django.core.management import call_command
    from django.db.models import Count

    from kramar.comms.models import Conversation, Message

    print(f"load average at start: {os.getloadavg()}")
    call_command("migrate", verbosity=0, skip_checks=True)
    print(database_describe())
    have = Conversation.objects.filter(thread_key__startswith="<b").count()
    if args.fill == "bench" and (args.reload or abs(have - args.conversations) > args.conversations * 0.02):
        print(f"loading {args.conversations:,} conversations (there were {have:,}) …")
        started = time.perf_counter()
        fill(args)
        print(f"loaded in {time.perf_counter() - started:.0f} s")
    by_status = dict(Conversation.objects.values_list("status").annotate(n=Count("id")))
    print(f"database: {Conversation.objects.count():,} conversations {by_status}, "
          f"{Message.objects.count():,} messages")
    if args.load_only:
        return 0

    from kramar.core.runtime import gc_freeze_after_startup

    print(f"gc.freeze after start-up: {'on' if gc_freeze_after_startup() else 'off'}")
    rows, failed = [], False
    for page, username, url in pages():
        user, client = _client(username)
        mine = Conversation.objects.filter(owner=user).exclude(status="closed").count()
        if args.sql:
            print(f"  SQL of {page} as {username}:")
        r = page_measure(client, url, requests=args.requests, warmup=args.warmup, show_sql=args.sql)
        if r["status"] != 200:
            failed = True
            rows.append([page, username, mine, len(r["times"]), float("nan"), float("nan"), float("nan"),
                         r["queries"], r["bytes"], f"HTTP {r['status']}"])
            continue
        p95 = percentile(r["times"], 95)
        rows.append([page, username, mine, len(r["times"]), percentile(r["times"], 50), p95, max(r["times"]),
                     r["queries"], r["bytes"], "ok" if p95 < TARGET_MS else "OVER"])
    print(f"\nserver time in process (django.test.Client, full middleware + view + template), ms; "
          f"target p95 < {TARGET_MS:.0f} ms; 'own open' = the user's conversations not closed")
    print(table(rows, ["page", "user", "own open", "n", "p50", "p95", "max", "queries", "bytes", "p95 vs target"]))
    print(f"load average at end: {os.getloadavg()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
