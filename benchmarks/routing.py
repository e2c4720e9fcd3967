"""Routing decisions per second and latency: `conversation_route` on fresh conversations with 200 agents, 20 queues
and 50 rules, on the database DATABASE_URL points at.

    .venv/bin/python benchmarks/routing.py                              # SQLite file /tmp/kramar_bench_routing.sqlite3
    DATABASE_URL=postgres://root@127.0.0.1:5432/kramar_bench_routing .venv/bin/python benchmarks/routing.py
    .venv/bin/python benchmarks/routing.py --conversations 5000 --agents 400

What it does:
1. Migrates the database and replaces the Communication Center's rows (it owns this database) with a bulk-created
   set-up (seeded): --agents agents (90% online, capacity 4–12, language and product skills), --queues queues
   (strategies in turn: owner, round robin, least loaded, skills; each agent in 2–3 queues; half with business
   hours and SLA targets, a few with overflow), --rules rules of 1–3 conditions over every field kind (most of
   them rarely match, so a decision evaluates many; the last is a catch-all), 6 channels with default queues,
   load weights (a call 3, a chat 2), 3,000 contacts owned by the agents with classes and tags, and
   --conversations new conversations with their first inbound message.
2. Routes 100 of them to warm up, then times each `conversation_route` (in process, wall clock, one transaction
   each) over the rest, and counts the SQL queries of 20 decisions.
3. Prints decisions per second, p50 / p95 / max latency and queries per decision, overall and split by how the
   decision ended (offered to an agent / left waiting: agents fill up as the run goes, so later ones wait), and
   the load average at start and end.
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

from benchmarks._common import database_describe, percentile, table  # noqa: E402
from benchmarks._common import django_setup as _django_setup  # noqa: E402

SQLITE_DEFAULT = "sqlite:////tmp/kramar_bench_routing.sqlite3"
LANGUAGES = ["uk", "uk", "uk", "en", "pl", "de"]
PRODUCTS = ["product:1c", "product:bas", "product:medoc", "product:crm"]
DOMAINS = ["firm.ua", "agro.com.ua", "gmail.com", "ukr.net", "i.ua", "bud.ua", "metal.ua", "trade.pl"]
WORDS = ["рахунок", "ціна", "доставка", "повернення", "договір", "1С", "помилка", "оплата", "invoice", "price",
         "delivery", "акт", "знижка", "гарантія"]
TAGS = ["vip", "key", "partner", "risk", "new"]


def django_setup() -> None:
    _django_setup(SQLITE_DEFAULT, "/tmp/kramar_bench_routing_data")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=200)
    p.add_argument("--queues", type=int, default=20)
    p.add_argument("--rules", type=int, default=50)
    p.add_argument("--conversations", type=int, default=2000, help="routed (after 100 to warm up)")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def _conditions(rng: random.Random, queues, channels) -> list[dict]:
    makers = [
        lambda: {"field": "channel_kind", "op": "eq", "value": rng.choice(["fax", "letter", "webform"])},
        lambda: {"field": "channel", "op": "eq", "value": rng.choice(channels).pk},
        lambda: {"field": "mailbox", "op": "contains", "value": rng.choice(["sales", "support", "buh"])},
        lambda: {"field": "sender_domain", "op": "in", "value": rng.sample(DOMAINS, 2)},
        lambda: {"field": "sender_domain", "op": "ne", "value": rng.choice(DOMAINS)},
        lambda: {"field": "lifecycle_stage", "op": "eq", "value": rng.choice(["lead", "customer", "partner"])},
        lambda: {"field": "client_class", "op": "eq", "value": rng.choice("ABC")},
        lambda: {"field": "tag", "op": "eq", "value": rng.choice(TAGS)},
        lambda: {"field": "language", "op": "in", "value": rng.sample(LANGUAGES[3:], 2)},
        lambda: {"field": "keyword", "op": "contains", "value": rng.choice(WORDS)},
        lambda: {"field": "keyword", "op": "matches", "value": rf"\b{rng.choice(WORDS)}\w*\s+\d+"},
        lambda: {"field": "business_hours", "op": "eq", "value": "out"},
    ]
    return [rng.choice(makers)() for _ in range(rng.randint(1, 3))]


def setup(args) -> list[int]:
    """Replace the comms rows with a fresh seeded set-up; returns the ids of the conversations to route."""
    from django.db import transaction

    from kramar.accounts.models import User
    from kramar.clients.models import Contact
    from kramar.comms.choices import ChannelKind, MessageDirection, Presence, Priority, Strategy
    from kramar.comms.models import (
        AgentProfile,
        Assignment,
        BusinessHours,
        Channel,
        Conversation,
        LoadWeight,
        Message,
        Queue,
        QueueMember,
        RoutingRule,
        SlaPolicy,
    )
    from kramar.core.models import Tag

    rng = random.Random(args.seed)
    with transaction.atomic():
        for model in (Assignment, Message, Conversation, RoutingRule, SlaPolicy, QueueMember, Channel, Queue,
                      BusinessHours, AgentProfile, LoadWeight):
            model.objects.all().delete()
        Contact.objects.filter(first_name="Bench").delete()
        User.objects.filter(username__startswith="bench-agent-").delete()

        users = User.objects.bulk_create([
            User(username=f"bench-agent-{n}", first_name=f"Agent{n}", last_name="", email=f"a{n}@bench.test")
            for n in range(args.agents)])
        AgentProfile.objects.bulk_create([
            AgentProfile(user=u, presence=Presence.ONLINE if rng.random() < 0.9 else Presence.AWAY,
                         capacity=rng.randint(4, 12),
                         skills=rng.sample(LANGUAGES[:1] + LANGUAGES[3:], rng.randint(1, 3)) + rng.sample(PRODUCTS, 2))
            for u in users])
        weekdays = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
        hours = BusinessHours.objects.create(name="Bench office", schedule=weekdays)
        strategies = [Strategy.OWNER, Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED, Strategy.SKILLS]
        queues = Queue.objects.bulk_create([
            Queue(name=f"Bench queue {n}", strategy=strategies[n % 4], accept_minutes=5,
                  business_hours=hours if n % 2 else None, position=n,
                  skills=[PRODUCTS[n % 4]] if strategies[n % 4] == Strategy.SKILLS else [],
                  max_waiting=50 if n % 5 == 0 else None)
            for n in range(args.queues)])
        for n, q in enumerate(queues):
            if q.max_waiting:
                q.overflow_queue = queues[(n + 1) % len(queues)]
                q.save(update_fields=["overflow_queue"])
        QueueMember.objects.bulk_create([
            QueueMember(queue=q, user=u) for u in users for q in rng.sample(queues, rng.randint(2, 3))])
        SlaPolicy.objects.bulk_create([
            SlaPolicy(queue=q, priority=p, first_response_minutes={1: 240, 2: 60, 3: 30, 4: 15}[p], resolution_minutes=480)
            for q in queues[::2] for p in Priority.values])
        LoadWeight.objects.bulk_create([LoadWeight(channel_kind=ChannelKind.PHONE, weight=3),
                                        LoadWeight(channel_kind=ChannelKind.CHAT, weight=2)])
        channels = Channel.objects.bulk_create([
            Channel(kind=kind, name=f"Bench {kind} {n}", address=f"{name}@bench.test", queue=queues[n])
            for n, (kind, name) in enumerate([("email", "sales"), ("email", "support"), ("email", "buh"),
                                               ("phone", "call"), ("chat", "chat"), ("webform", "form")])])
        RoutingRule.objects.bulk_create([
            RoutingRule(position=n, name=f"Bench rule {n}", queue=rng.choice(queues),
                        priority=rng.choice(Priority.values), conditions=_conditions(rng, queues, channels),
                        skills=[rng.choice(PRODUCTS)] if rng.random() < 0.2 else [])
            for n in range(args.rules - 1)]
            + [RoutingRule(position=args.rules, name="Bench catch-all", queue=queues[-1], conditions=[])])

        contacts = Contact.objects.bulk_create([
            Contact(first_name="Bench", last_name=f"Client{n}", owner=rng.choice(users),
                    client_class=rng.choice("ABC  "), lifecycle_stage=rng.choice(["lead", "customer", "partner"]))
            for n in range(3000)])
        tags = [Tag.objects.get_or_create(name=f"bench-{t}")[0] for t in TAGS]
        through = Contact.tags.through
        through.objects.bulk_create([through(contact_id=c.pk, tag_id=rng.choice(tags).pk)
                                     for c in contacts if rng.random() < 0.3])
        total = args.conversations + 100
        now = dt.datetime.now(dt.UTC)
        convs = Conversation.objects.bulk_create([
            Conversation(channel=(ch := rng.choice(channels)), kind=ch.kind, subject=" ".join(rng.sample(WORDS, 3)),
                         contact=rng.choice(contacts) if rng.random() < 0.8 else None,
                         language=rng.choice(LANGUAGES), opened_at=now)
            for _ in range(total)])
        Message.objects.bulk_create([
            Message(conversation=c, channel_id=c.channel_id, direction=MessageDirection.INBOUND,
                    external_id=f"<bench-{c.pk}@bench.test>", subject=c.subject,
                    from_address=f"client{c.pk}@{rng.choice(DOMAINS)}",
                    body=" ".join(rng.choices(WORDS, k=30)) + f" {rng.randint(1, 999)}")
            for c in convs])
    return [c.pk for c in convs]


def main(argv=None) -> int:
    args = parse_args(argv)
    django_setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kramar.comms.models import Conversation
    from kramar.comms.routing import conversation_route

    call_command("migrate", verbosity=0)
    print(database_describe())
    started = time.perf_counter()
    ids = setup(args)
    print(f"set-up: {args.agents} agents, {args.queues} queues, {args.rules} rules, {len(ids):,} conversations "
          f"in {time.perf_counter() - started:.1f} s")
    convs = list(Conversation.objects.filter(pk__in=ids).order_by("pk"))
    warm, timed = convs[:100], convs[100:]
    for conv in warm:
        conversation_route(conv)
    with CaptureQueriesContext(connection) as ctx:
        for conv in timed[:20]:
            conversation_route(conv)
    queries = len(ctx.captured_queries) / 20
    latencies: list[float] = []
    by_outcome: dict[str, list[float]] = {"offered": [], "waiting": []}
    load_before = os.getloadavg()[0]
    begin = time.perf_counter()
    for conv in timed[20:]:
        t0 = time.perf_counter()
        decision = conversation_route(conv)
        ms = (time.perf_counter() - t0) * 1000
        latencies.append(ms)
        by_outcome["offered" if decision is not None and decision.user_id else "waiting"].append(ms)
    elapsed = time.perf_counter() - begin
    print(f"load average: {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    rows = [(connection.vendor, "all", len(latencies), round(len(latencies) / elapsed, 1), percentile(latencies, 50),
             percentile(latencies, 95), max(latencies), queries)]
    for outcome, values in by_outcome.items():
        if values:
            rows.append((connection.vendor, outcome, len(values), round(1000 / (sum(values) / len(values)), 1),
                         percentile(values, 50), percentile(values, 95), max(values), ""))
    print(f"\nconversation_route on fresh conversations ({args.agents} agents, {args.queues} queues, "
          f"{args.rules} rules), times in ms; offered = an agent got the offer, waiting = nobody eligible "
          f"(agents fill up as the run goes)")
    print(table(rows, ["database", "decisions", "n", "per s", "p50", "p95", "max", "queries"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
