"""The Communication Center's demo: queues, business hours, SLA targets, channels, routing rules, canned responses
and agents (`comms_config_ensure`), then a few days of conversations played through the real routing engine up to
the demo's clock (`comms_conversations_load`).

Configuration is found or created by name, so `--append` and `--reset` never duplicate it (a queue, channel, rule
or agent profile that exists is kept as it is; demo agents get their demo presence back). The mailboxes, BCC
dropbox and fax gateway are **inactive, have no IMAP host and IDLE off**: `imap.channels_due` (the periodic poll)
only reads active channels with `settings["host"]`, so neither the worker nor an IDLE watcher connects anywhere at
start-up (set a host and activate one to read a real mailbox). Telephony and chat have a random HMAC secret (shown in the admin), the web form allows the origins
of a page served locally (`http://localhost:8080`, `http://127.0.0.1:8080`).

Conversations: a small event simulation, deterministic for a seed and a clock. Inbound items (e-mail, calls,
chat, web form, fax, letters) arrive over the last days; each is stored the way the inbound services store it
(conversation, message, timeline interaction; an unknown sender becomes a flagged lead) and handed to
`routing.conversation_route` at its arrival time, so queues, priorities, SLA dues and the assignment log with its
reasons are the engine's own. Agents come online and go offline with the office hours (`presence.presence_set`,
which offers what waited overnight), accept offers (`routing.assignment_accept`; a few decline or let an offer
expire), reply by e-mail, write notes with @mentions (`services.conversation_note`), call back missed calls and
close conversations; closing frees capacity and `routing.conversations_waiting_route` offers what waits;
`sla.sla_check` runs as the worker would, warning and escalating. Whatever was planned after the clock has not
happened yet: offers still open, conversations waiting, replies not yet written. Those periodic passes act on
every conversation in the database, so they are played only when no conversation was live before the load (a
fresh or reset base); an `--append` beside live conversations routes and answers its own at their times with the
agents at work all along, and leaves SLA and waiting conversations to the worker.

Writes the services would audit one by one (replies, closes, leads) are written directly, without an audit row
each (the demo writes one summary row) and without outbox rows (a demo reply is never sent). Timestamps the
models set to "now" (created_at, received_at, the assignment log, notifications) are set back to the simulated
moment. Live events written on the way are removed at the end: nobody was listening."""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import random
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F, Max, Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from kramar.accounts.models import User
from kramar.accounts.selectors import user_primary_team_id
from kramar.activities.models import Task
from kramar.clients.models import Contact, ContactPoint
from kramar.clients.normalize import contact_search_text
from kramar.clients.services import contact_input_prepare
from kramar.comms.calls import _subject as call_subject
from kramar.comms.calls import _summary as call_summary
from kramar.comms.choices import (
    AssignmentStatus,
    ChannelKind,
    ConversationStatus,
    MessageDirection,
    Presence,
    Priority,
    Strategy,
)
from kramar.comms.hours import hours_add, hours_contains, schedule_of
from kramar.comms.inbound_common import LEAD_SOURCES, LEAD_TAGS
from kramar.comms.ingest import NEW_LEAD_TAG, system_actor
from kramar.comms.models import (
    AgentProfile,
    Assignment,
    BusinessHours,
    CannedResponse,
    Channel,
    Conversation,
    Holiday,
    LiveEvent,
    LoadWeight,
    Message,
    Queue,
    QueueMember,
    RoutingRule,
    SlaPolicy,
)
from kramar.comms.presence import presence_set
from kramar.comms.routing import (
    assignment_accept,
    assignment_decline,
    conversation_route,
    conversations_waiting_route,
    offers_expire,
    user_name,
)
from kramar.comms.services import canned_render, conversation_note, reply_subject
from kramar.comms.sla import conversation_first_response, sla_check
from kramar.comms.webforms import WebFormIn
from kramar.comms.webforms import _body as webform_body
from kramar.core.errors import DomainError
from kramar.core.identifiers import email_normalize, name_key, phone_display
from kramar.core.models import Notification
from kramar.demo import comms_words as CW
from kramar.demo.generator import translit
from kramar.history.models import Interaction

KYIV = ZoneInfo("Europe/Kyiv")
DEMO_DOMAIN = "demo.kramar.local"
HOURS_NAME = "Kyiv office, Mon–Fri 9–18"
OFFICE_WEEK = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [], "sun": []}
HOLIDAYS = [((8, 24), "День Незалежності України"), ((12, 25), "Різдво Христове")]  # the anchor's year ± 1
DAYS = 5  # how far back the conversations go
MAX_CONVERSATIONS = 300
SLA_EVERY = dt.timedelta(minutes=30)  # how often the simulated worker checks SLA dues
L, N, H, U = Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT

# key: name, description, strategy, minutes to accept, most waiting, overflow queue, members, supervisors
QUEUES = {
    "sales": ("Sales", "Quotes, prices, demos and renewals; the client's own manager first", Strategy.OWNER, 10,
              15, None, ["lead.kyiv", "rep.kyiv1", "rep.kyiv2", "rep.kyiv3", "lead.lviv", "rep.lviv1"],
              ["director", "lead.kyiv", "lead.lviv"]),
    "service": ("Service", "Support, repairs and set-up, by language and product skills", Strategy.SKILLS, 5, None,
                None, ["service", "rep.kyiv3", "rep.lviv1"], ["director"]),
    "accounting": ("Accounting", "Invoices, payments, reconciliation; more than 4 waiting overflow to Service",
                   Strategy.ROUND_ROBIN, 15, 4, "service", ["rep.lviv2", "rep.kyiv2"], ["director", "lead.lviv"]),
    "leads": ("New leads", "Chat and web-form enquiries", Strategy.LEAST_LOADED, 5, None, None,
              ["marketing", "rep.kyiv1", "rep.lviv1"], ["director", "marketing"]),
}
# business minutes per queue and priority: first response, resolution, warn before
SLA = {
    "sales": {L: (240, 2880, 60), N: (120, 1440, 30), H: (60, 480, 15), U: (30, 240, 10)},
    "service": {L: (240, 1440, 60), N: (60, 960, 20), H: (30, 480, 10), U: (15, 120, 5)},
    "accounting": {L: (480, None, 60), N: (240, 2400, 60), H: (120, 960, 30), U: (60, 480, 15)},
    "leads": {L: (120, None, 30), N: (30, None, 10), H: (15, None, 5), U: (10, None, 5)},
}
# username: presence at the demo's clock (None: as their office hours say), capacity, skills (languages and
# product lines)
AGENTS = {
    "lead.kyiv": (Presence.ONLINE, 10, ["uk", "en"]),
    "rep.kyiv1": (Presence.ONLINE, 8, ["uk", "en"]),
    "rep.kyiv2": (Presence.AWAY, 8, ["uk"]),
    "rep.kyiv3": (Presence.ONLINE, 6, ["en", "de"]),
    "lead.lviv": (Presence.OFFLINE, 10, ["uk", "pl"]),
    "rep.lviv1": (Presence.ONLINE, 8, ["uk", "pl"]),
    "rep.lviv2": (None, 4, ["uk", "en"]),
    "marketing": (Presence.ONLINE, 12, ["uk", "en"]),
    "service": (Presence.ONLINE, 10, ["uk", "en", "product:1c"]),
}
# agents at work for part of the office day (local time); Accounting waits for the next morning
PART_TIME = {"rep.lviv2": (9 * 60, 13 * 60)}
LOAD_WEIGHTS = {ChannelKind.PHONE: 3, ChannelKind.CHAT: 2}
EXTENSIONS = {"101": "rep.kyiv1", "102": "rep.kyiv2", "103": "rep.kyiv3", "104": "lead.kyiv", "201": "rep.lviv1",
              "202": "rep.lviv2", "300": "service"}
OFFICE_NUMBER = "+380443901200"
# key: kind, name, address, active, default queue, settings
# mail channels: inactive, no IMAP host, IDLE off — nothing reads a mailbox until someone configures one
MAILBOX = {"folder": "INBOX", "idle": False, "mark_seen": False, "batch_size": 50, "poll_seconds": 60,
           "thread_days": 14}
CHANNELS = {
    "sales_mail": (ChannelKind.EMAIL, "Sales mailbox", f"sales@{DEMO_DOMAIN}", False, "sales", MAILBOX),
    "service_mail": (ChannelKind.EMAIL, "Service mailbox", f"service@{DEMO_DOMAIN}", False, "service", MAILBOX),
    "dropbox": (ChannelKind.DROPBOX, "BCC archive", f"bcc@{DEMO_DOMAIN}", False, "sales",
                MAILBOX | {"aliases": [f"archive@{DEMO_DOMAIN}"]}),
    "fax": (ChannelKind.FAX, "Fax gateway", f"fax@{DEMO_DOMAIN}", False, "accounting",
            MAILBOX | {"senders": [f"fax-gateway@{DEMO_DOMAIN}"]}),
    "phone": (ChannelKind.PHONE, "Office telephony", OFFICE_NUMBER, True, "sales",
              {"extensions": EXTENSIONS, "thread_window_minutes": 60, "callback_minutes": 30}),
    "chat": (ChannelKind.CHAT, "Website chat (Telegram bot)", "@kramar_demo_bot", True, "leads",
             {"network": "telegram"}),
    "webform": (ChannelKind.WEBFORM, "Website contact form", "contact-page", True, "leads",
                {"allowed_origins": ["http://localhost:8080", "http://127.0.0.1:8080"], "rate_limit_per_hour": 20,
                 "honeypot_field": "website", "thank_you": "Дякуємо! Ми зв'яжемося з вами найближчим часом."}),
    "letters": (ChannelKind.LETTER, "Office mail and visits", "Київ, вул. Хрещатик, 22", True, "service", {}),
}
SECRET_KINDS = (ChannelKind.PHONE, ChannelKind.CHAT)
URGENT_WORDS = r"терміново|не працює|аварі|urgent|outage|not working|is down"
MONEY_WORDS = r"рахун|оплат|акт звірки|invoice|payment|reconciliation"
# name, queue, priority, conditions, skills, active (in this order)
RULES = [
    ("Outage or urgent → Service, urgent", "service", U,
     [{"field": "keyword", "op": "matches", "value": URGENT_WORDS}], [], True),
    ("1C questions → Service (1C skill)", "service", N,
     [{"field": "keyword", "op": "matches", "value": r"\b1[сc]\b"}], ["product:1c"], True),
    ("Invoices and payments → Accounting", "accounting", N,
     [{"field": "keyword", "op": "matches", "value": MONEY_WORDS}], [], True),
    ("Faxes → Accounting, low", "accounting", L, [{"field": "channel_kind", "op": "eq", "value": "fax"}], [], True),
    ("VIP clients → Sales, high", "sales", H,
     [{"field": "tag", "op": "eq", "value": "VIP"}, {"field": "mailbox", "op": "ne", "value": f"service@{DEMO_DOMAIN}"},
      {"field": "channel_kind", "op": "ne", "value": "letter"}], [], True),
    ("Chat and web form → New leads", "leads", N,
     [{"field": "channel_kind", "op": "in", "value": ["chat", "webform"]}], [], True),
    ("Sales mailbox after hours → Sales, low", "sales", L,
     [{"field": "mailbox", "op": "eq", "value": f"sales@{DEMO_DOMAIN}"},
      {"field": "business_hours", "op": "eq", "value": "out"}], [], True),
    ("Spring campaign replies → New leads (paused)", "leads", N,
     [{"field": "keyword", "op": "contains", "value": "весняна акція"}], [], False),
]
# name, text, queue (None: every queue), owner (None: shared), language, active
CANNED = [
    ("Вітання", "Добрий день, {{ contact.first_name }}!\n\nДякуємо за звернення «{{ conversation.subject }}». Ми вже "
     "працюємо над ним і відповімо найближчим часом.\n\nЗ повагою,\n{{ agent.name }}", None, None, "uk", True),
    ("Greeting", "Hello {{ contact.first_name }},\n\nthank you for your message “{{ conversation.subject }}”. We are "
     "working on it and will answer shortly.\n\nKind regards,\n{{ agent.name }}", None, None, "en", True),
    ("Комерційна пропозиція", "Добрий день, {{ contact.first_name }}!\n\nНадсилаю комерційну пропозицію для "
     "{{ company.name }}. Ціни дійсні 14 днів; якщо будуть питання — телефонуйте.\n\nЗ повагою,\n{{ agent.name }}",
     "sales", None, "uk", True),
    ("Quote", "Hello {{ contact.first_name }},\n\nplease find our quote for {{ company.name }}; prices are valid "
     "for 14 days.\n\nKind regards,\n{{ agent.name }}", "sales", None, "en", True),
    ("Заявку прийнято", "Добрий день, {{ contact.first_name }}!\n\nЗаявку №{{ conversation.id }} прийнято, інженер "
     "зв'яжеться з вами сьогодні.\n\n{{ agent.name }}, служба підтримки", "service", None, "uk", True),
    ("Ticket received", "Hello {{ contact.first_name }},\n\nyour request #{{ conversation.id }} is registered; an "
     "engineer will contact you today.\n\n{{ agent.name }}, support", "service", None, "en", True),
    ("Рахунок надіслано", "Добрий день, {{ contact.first_name }}!\n\nРахунок для {{ company.name }} надіслали на "
     "вашу пошту. Номер звернення: {{ conversation.id }}.\n\n{{ agent.name }}, бухгалтерія", "accounting", None,
     "uk", True),
    ("Invoice sent", "Hello {{ contact.first_name }},\n\nthe invoice for {{ company.name }} is on its way "
     "(request #{{ conversation.id }}).\n\n{{ agent.name }}, accounting", "accounting", None, "en", True),
    ("Мій підпис", "{{ agent.name }}\nменеджер з продажу, «Крамар», Київ\n+380 44 390 12 00, доб. 101", None,
     "rep.kyiv1", "", True),
    ("Новорічне привітання", "{{ contact.first_name }}, вітаємо з Новим роком! {{ agent.name }}", None, None, "uk",
     False),
]
MENTIONS = {"sales": ["lead.kyiv", "lead.lviv", "director"], "service": ["director", "rep.kyiv3"],
            "accounting": ["lead.lviv", "director"], "leads": ["marketing", "director"]}
# what arrives, with weights; the first conversations take each kind once so even a small demo has them all
KINDS = [("mail", 47), ("dropbox", 10), ("call", 10), ("missed", 6), ("chat", 10), ("webform", 8), ("fax", 4),
         ("letter", 5)]
UNKNOWN_SENDER = {"mail": 0.06, "missed": 0.15, "chat": 0.35, "webform": 0.6}
INTENTS = [("sales", 55), ("service", 28), ("accounting", 17)]


def comms_conversations_default(contacts: int) -> int:
    """About 150 conversations for 2000 contacts, at most MAX_CONVERSATIONS, none without contacts."""
    return min(MAX_CONVERSATIONS, contacts * 3 // 40)


def comms_clock(anchor: dt.date, *, now: dt.datetime | None = None) -> dt.datetime:
    """The moment the demo's conversations end at: now (to the minute) when the anchor is today or later (the
    default), else 14:30 Kyiv time on the anchor day, so a fixed past anchor gives identical data."""
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    if anchor >= now.date():
        return now
    return dt.datetime.combine(anchor, dt.time(14, 30), tzinfo=KYIV).astimezone(dt.UTC)


# --------------------------------------------------------------------------------------- configuration
@dataclass
class CommsConfig:
    hours: BusinessHours
    queues: dict[str, Queue]
    channels: dict[str, Channel]
    users: dict[str, User]  # the demo users that exist and are active, by username
    canned: dict[tuple[str | None, str], CannedResponse] = field(default_factory=dict)  # (queue key, language)


def comms_config_ensure(*, anchor: dt.date) -> CommsConfig:
    """Business hours with holidays, queues with members, supervisors and SLA targets, load weights, channels,
    routing rules, canned responses and agent profiles of the demo users; found by name, created when missing."""
    users = {u.username: u for u in User.objects.filter(username__in={*AGENTS, "director"}, is_active=True)}
    hours, _created = BusinessHours.objects.get_or_create(
        name=HOURS_NAME, defaults={"time_zone": "Europe/Kyiv", "schedule": OFFICE_WEEK})
    Holiday.objects.bulk_create(
        [Holiday(hours=hours, date=dt.date(year, month, day), name=name)
         for year in (anchor.year - 1, anchor.year, anchor.year + 1) for (month, day), name in HOLIDAYS],
        ignore_conflicts=True,
    )
    queues: dict[str, Queue] = {}
    created: set[str] = set()
    for position, (key, (name, description, strategy, accept, most, _over, _m, _s)) in enumerate(QUEUES.items()):
        queues[key], new = Queue.objects.get_or_create(name=name, defaults={
            "description": description, "strategy": strategy, "accept_minutes": accept, "max_waiting": most,
            "business_hours": hours, "position": position})
        if new:
            created.add(key)
    for key, (*_head, overflow, members, supervisors) in QUEUES.items():
        queue = queues[key]
        if overflow and key in created:  # an existing queue keeps its own overflow
            queue.overflow_queue = queues[overflow]
            queue.save(update_fields=["overflow_queue"])
        QueueMember.objects.bulk_create([QueueMember(queue=queue, user=users[u]) for u in members if u in users],
                                        ignore_conflicts=True)
        queue.supervisors.add(*[users[u] for u in supervisors if u in users])
        SlaPolicy.objects.bulk_create(
            [SlaPolicy(queue=queue, priority=p, first_response_minutes=first, resolution_minutes=resolution,
                       warn_before_minutes=warn) for p, (first, resolution, warn) in SLA[key].items()],
            ignore_conflicts=True,
        )
    LoadWeight.objects.bulk_create([LoadWeight(channel_kind=k, weight=w) for k, w in LOAD_WEIGHTS.items()],
                                   ignore_conflicts=True)
    channels = {}
    for key, (kind, name, address, active, queue_key, channel_settings) in CHANNELS.items():
        channel = Channel.objects.filter(kind=kind, name=name).order_by("id").first()
        if channel is None:
            channel = Channel.objects.create(
                kind=kind, name=name, address=address, active=active, queue=queues[queue_key],
                settings=dict(channel_settings), secret=secrets.token_hex(32) if kind in SECRET_KINDS else "")
        channels[key] = channel
    known_rules = set(RoutingRule.objects.filter(name__in=[r[0] for r in RULES]).values_list("name", flat=True))
    start = (RoutingRule.objects.aggregate(m=Max("position"))["m"] or 0) + 10 if len(known_rules) < len(RULES) else 0
    RoutingRule.objects.bulk_create([
        RoutingRule(position=start + 10 * i, name=name, queue=queues[queue_key], priority=priority,
                    conditions=conditions, skills=skills, active=active)
        for i, (name, queue_key, priority, conditions, skills, active) in enumerate(RULES) if name not in known_rules
    ])
    canned = {}
    for name, body, queue_key, owner, language, active in CANNED:
        queue = queues[queue_key] if queue_key else None
        row = CannedResponse.objects.filter(name=name, queue=queue).order_by("id").first()
        if row is None:
            row = CannedResponse.objects.create(name=name, body=body, queue=queue, language=language, active=active,
                                                owner=users.get(owner) if owner else None)
        if row.active and row.owner_id is None:
            canned[(queue_key, row.language)] = row
    for username, (_presence, capacity, skills) in AGENTS.items():
        if username in users:
            AgentProfile.objects.get_or_create(user=users[username], defaults={"capacity": capacity,
                                                                               "skills": skills})
    return CommsConfig(hours=hours, queues=queues, channels=channels, users=users, canned=canned)


# --------------------------------------------------------------------------------------- the plan
@dataclass
class Client:
    contact_id: int | None
    company_id: int | None
    first_name: str
    last_name: str
    language: str
    email: str
    phone: str
    company_name: str
    handle: str
    owner_id: int | None
    company_phone: str = ""

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass
class Plan:
    index: int
    kind: str
    arrival: dt.datetime
    rng: random.Random
    client: Client | None  # None: an unknown sender (a lead is made at arrival)
    lang: str
    intent: str = "sales"
    channel_key: str = ""


@dataclass
class Conv:
    plan: Plan
    obj: Conversation
    client: Client
    last_in: Message | None = None  # the last inbound e-mail (a reply answers it)
    last_out: Message | None = None
    agent: User | None = None
    started: bool = False
    offers: int = 0
    items: int = 0
    touched: dt.datetime | None = None
    task: Task | None = None

    def next_id(self) -> int:
        self.items += 1
        return self.items


def _weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    total = sum(w for _k, w in items)
    x = rng.random() * total
    for key, weight in items:
        x -= weight
        if x < 0:
            return key
    return items[-1][0]


def _arrivals(rng: random.Random, n: int, *, clock: dt.datetime, hours: BusinessHours) -> list[dt.datetime]:
    """n arrival moments over the last DAYS days, more of them recent and in office hours, a few in the last two
    hours."""
    out = []
    while len(out) < n:
        if rng.random() < 0.07:  # the last two hours: offers still open, SLA clocks running
            when = clock - dt.timedelta(minutes=1 + rng.random() * 119)
        else:
            when = clock - dt.timedelta(minutes=60 + (DAYS * 1440 - 60) * rng.random() ** 1.4)
        if hours_contains(hours, when) or rng.random() < 0.12:
            out.append(when.replace(microsecond=0))
    return sorted(out)


def _clients(contact_ids: list[int]) -> dict[int, Client]:
    """What the demo needs of these contacts: names, language, owner, company, primary e-mail and phone, handle."""
    rows = Contact.objects.filter(pk__in=contact_ids).values_list(
        "pk", "first_name", "last_name", "language", "owner_id", "primary_company_id", "primary_company__name",
        "messengers")
    points: dict[tuple, str] = {}  # (kind, "c" | "co", contact or company id) → the first (primary) value
    company_ids: set[int] = set()
    clients = {}
    for pk, first, last, language, owner_id, company_id, company_name, messengers in rows:
        handle = (messengers or {}).get("telegram", "") if isinstance(messengers, dict) else ""
        clients[pk] = Client(contact_id=pk, company_id=company_id, first_name=first, last_name=last,
                             language=language or "uk", email="", phone="", company_name=company_name or "",
                             handle=handle, owner_id=owner_id)
        if company_id:
            company_ids.add(company_id)
    for contact_id, company_id, kind, normalized in (
        ContactPoint.objects.filter(Q(contact_id__in=contact_ids) | Q(company_id__in=company_ids, kind="phone"))
        .order_by("-is_primary", "id").values_list("contact_id", "company_id", "kind", "normalized")
    ):
        key = ("c", contact_id) if contact_id else ("co", company_id)
        points.setdefault((kind, *key), normalized)
    for client in clients.values():
        client.email = points.get(("email", "c", client.contact_id), "")
        client.phone = points.get(("phone", "c", client.contact_id), "")
        client.company_phone = points.get(("phone", "co", client.company_id), "")
    return clients


def comms_plan(*, seed: int, n: int, clock: dt.datetime, hours: BusinessHours, first_contact_id: int,
               contacts: int) -> list[Plan]:
    """What arrives when, from whom: deterministic for the seed, the clock and the client base."""
    if n <= 0 or contacts <= 0:
        return []
    rng = random.Random(f"kramar-demo:{seed}:comms")
    kinds = [k for k, _w in KINDS]
    rng.shuffle(kinds)
    kinds = (kinds + [_weighted(rng, KINDS) for _ in range(max(0, n - len(kinds)))])[:n]
    arrivals = _arrivals(rng, n, clock=clock, hours=hours)
    picks = rng.sample(range(contacts), n) if contacts >= n else [rng.randrange(contacts) for _ in range(n)]
    clients = _clients([first_contact_id + p for p in picks])
    plans = []
    for i, (kind, when) in enumerate(zip(kinds, arrivals, strict=True)):
        prng = random.Random(f"kramar-demo:{seed}:comms:{i}")
        client = clients.get(first_contact_id + picks[i])
        unknown = kind in UNKNOWN_SENDER and prng.random() < UNKNOWN_SENDER[kind]
        if client is None and not unknown:
            continue  # a dropbox mail, an answered call, a fax or a letter need a known client
        lang = CW.LEAD_NAMES[i % len(CW.LEAD_NAMES)][2] if unknown else client.language
        lang = lang if lang in ("uk", "en") else "uk"
        plan = Plan(index=i, kind=kind, arrival=when, rng=prng, client=None if unknown else client, lang=lang)
        if kind == "mail":
            plan.intent = _weighted(prng, INTENTS)
            plan.channel_key = {"sales": "sales_mail", "service": "service_mail"}.get(
                plan.intent, "sales_mail" if prng.random() < 0.5 else "service_mail")
        elif kind in ("call", "missed"):
            plan.channel_key = "phone"
        elif kind in ("fax",):
            plan.channel_key, plan.intent = "fax", "accounting"
        elif kind == "letter":
            plan.channel_key, plan.intent = "letters", "service"
        else:
            plan.channel_key = {"dropbox": "dropbox", "chat": "chat", "webform": "webform"}[kind]
        plans.append(plan)
    return plans


# --------------------------------------------------------------------------------------- the simulation
class Simulation:
    """Plays the plans through the services in time order (see the module docstring)."""

    def __init__(self, *, config: CommsConfig, clock: dt.datetime, seed: int, token: str, periodic: bool):
        self.config = config
        self.clock = clock
        self.seed = seed
        self.token = token
        self.periodic = periodic
        self.heap: list[tuple] = []
        self.seq = 0
        self.convs: dict[int, Conv] = {}
        self.counts: Counter[str] = Counter()
        self.last_assignment = Assignment.objects.aggregate(m=Max("id"))["m"] or 0
        self.last_notification = Notification.objects.aggregate(m=Max("id"))["m"] or 0
        self.last_live = LiveEvent.objects.aggregate(m=Max("id"))["m"] or 0
        self.last_sla: dt.datetime | None = None
        self.schedule = schedule_of(config.hours)
        self.queue_key = {q.pk: k for k, q in config.queues.items()}
        self.member_queues: dict[int, list[int]] = {}
        for queue_id, user_id in QueueMember.objects.filter(queue__in=list(config.queues.values())).values_list(
                "queue_id", "user_id"):
            self.member_queues.setdefault(user_id, []).append(queue_id)
        self.users_by_id = {u.pk: u for u in config.users.values()}
        self.touched_contacts: set[int] = set()
        self.touched_companies: set[int] = set()
        self.interactions: list[int] = []
        self.leads: list[tuple[int, dt.datetime]] = []
        self.tasks: list[tuple[int, dt.datetime]] = []
        self.waiting: dict[int, int | None] = {}  # conversations waiting for an agent → their queue

    # ---------------------------------------------------------------- the loop
    def at(self, when: dt.datetime, handler, *args) -> None:
        if when <= self.clock:
            heapq.heappush(self.heap, (when, self.seq, handler, args))
            self.seq += 1

    def run(self, plans: list[Plan]) -> Counter[str]:
        if plans and self.periodic:
            self._presence_timeline(start=plans[0].arrival)
        elif plans:  # without the worker's passes (and so without presence changes): at work all along
            AgentProfile.objects.filter(user__in=self._agents()).update(
                presence=Presence.ONLINE, presence_changed_at=self.clock - dt.timedelta(days=DAYS))
        for plan in plans:
            self.at(plan.arrival, self.arrive, plan)
        while self.heap:
            when, _seq, handler, args = heapq.heappop(self.heap)
            self._tick(when)
            handler(when, *args)
        self._finish()
        return self.counts

    def _tick(self, when: dt.datetime, *, force: bool = False) -> None:
        """The worker's SLA pass, at most every SLA_EVERY of simulated time in office hours (dues fall in them),
        and at the end."""
        if not self.periodic:
            return
        if not force and (self.last_sla is not None and when - self.last_sla < SLA_EVERY
                          or not hours_contains(self.schedule, when)):
            return
        self.last_sla = when
        if any(sla_check(now=when).values()):
            self._scan(when, notified=True)

    def _scan(self, when: dt.datetime, *, notified: bool = False) -> None:
        """After a service call: date the assignment log (and, `notified`, the notifications) it wrote at the
        simulated moment, and let the offered agents answer their new offers (accept; a few decline or let them
        expire)."""
        rows = list(Assignment.objects.filter(pk__gt=self.last_assignment).order_by("pk").values_list(
            "pk", "conversation_id", "queue_id", "user_id", "status", "expires_at"))
        if rows:
            Assignment.objects.filter(pk__gt=self.last_assignment).update(created_at=when)
            self.last_assignment = rows[-1][0]
        if notified and Notification.objects.filter(pk__gt=self.last_notification).update(created_at=when):
            self.last_notification = Notification.objects.aggregate(m=Max("id"))["m"]
        for pk, conv_id, queue_id, user_id, status, expires_at in rows:
            conv = self.convs.get(conv_id)
            if conv is not None and status == AssignmentStatus.WAITING:
                self.waiting[conv_id] = queue_id
            elif conv is not None:
                self.waiting.pop(conv_id, None)
            if conv is None or status != AssignmentStatus.OFFERED or user_id not in self.users_by_id:
                continue
            conv.offers += 1
            rng = conv.plan.rng
            x = rng.random()
            if conv.offers == 1 and x < 0.05 and self.periodic:
                self.at(expires_at + dt.timedelta(seconds=20), self.expire)
            elif conv.offers == 1 and x < 0.11:
                self.at(when + dt.timedelta(seconds=30 + rng.randrange(90)), self.decline, conv, pk, user_id)
            else:
                limit = max(40, min(240, int((expires_at - when).total_seconds()) - 20))
                self.at(when + dt.timedelta(seconds=20 + rng.randrange(limit)), self.accept, conv, pk, user_id)

    def _presence_timeline(self, *, start: dt.datetime) -> None:
        """Every demo agent comes online at the start of each office interval and goes offline at its end
        (a few minutes either way); presence at the clock is set at the end (AGENTS)."""
        AgentProfile.objects.filter(user__in=self._agents()).update(
            presence=Presence.OFFLINE, presence_changed_at=start, last_seen_at=None)
        schedule = self.schedule
        day = start.astimezone(schedule.tz).date()
        while day <= self.clock.astimezone(schedule.tz).date():
            if day not in schedule.holidays:
                for a, b in schedule.week[day.weekday()]:
                    for username in AGENTS:
                        user = self.config.users.get(username)
                        if user is None:
                            continue
                        start_minute, end_minute = PART_TIME.get(username, (a, b))
                        begin = dt.datetime.combine(day, dt.time(start_minute // 60, start_minute % 60),
                                                    tzinfo=schedule.tz)
                        end = dt.datetime.combine(day, dt.time(end_minute // 60 % 24, end_minute % 60),
                                                  tzinfo=schedule.tz)
                        rng = random.Random(f"kramar-demo:{self.seed}:presence:{username}:{day}")
                        self.at(begin + dt.timedelta(minutes=rng.randrange(-10, 25)), self.presence, user,
                                Presence.ONLINE)
                        self.at(end + dt.timedelta(minutes=rng.randrange(-20, 30)), self.presence, user,
                                Presence.OFFLINE)
            day += dt.timedelta(days=1)

    def _agents(self) -> list[User]:
        return [self.config.users[u] for u in AGENTS if u in self.config.users]

    # ---------------------------------------------------------------- agents
    def presence(self, when: dt.datetime, user: User, presence: str) -> None:
        presence_set(user=user, presence=presence, now=when)
        if presence == Presence.ONLINE:  # coming online offers what waits in their queues
            self._scan(when)

    def accept(self, when: dt.datetime, conv: Conv, assignment_id: int, user_id: int) -> None:
        user = self.users_by_id[user_id]
        try:
            assignment_accept(actor=user, assignment=Assignment(pk=assignment_id, conversation_id=conv.obj.pk),
                              now=when)
        except DomainError:
            return  # the offer went elsewhere meanwhile (expired, escalated)
        conv.agent = user
        conv.obj.status, conv.obj.owner_id = ConversationStatus.OPEN, user.pk
        conv.touched = when
        if not conv.started:
            conv.started = True
            self._story(when, conv)

    def decline(self, when: dt.datetime, conv: Conv, assignment_id: int, user_id: int) -> None:
        try:
            assignment_decline(actor=self.users_by_id[user_id],
                               assignment=Assignment(pk=assignment_id, conversation_id=conv.obj.pk), now=when)
        except DomainError:
            return
        conv.touched = when
        self._scan(when)

    def expire(self, when: dt.datetime) -> None:
        offers_expire(now=when)
        self._scan(when)

    # ---------------------------------------------------------------- arrivals
    def arrive(self, when: dt.datetime, plan: Plan) -> None:
        handler = {"mail": self._mail, "dropbox": self._dropbox, "call": self._call, "missed": self._missed,
                   "chat": self._chat, "webform": self._webform, "fax": self._fax, "letter": self._letter}[plan.kind]
        conv = handler(when, plan)
        self.counts["conversation"] += 1
        if conv.obj.status == ConversationStatus.NEW:
            conversation_route(conv.obj, now=when)
            self._scan(when)

    def _conversation(self, when: dt.datetime, plan: Plan, client: Client, *, subject: str, thread_key: str,
                      status: str = ConversationStatus.NEW, owner: User | None = None, inbound: bool = True,
                      closed_at: dt.datetime | None = None) -> Conv:
        channel = self.config.channels[plan.channel_key]
        obj = Conversation.objects.create(
            channel=channel, kind=channel.kind, subject=subject[:255], status=status, contact_id=client.contact_id,
            company_id=client.company_id, thread_key=thread_key[:255], language=plan.lang, queue=channel.queue,
            opened_at=when, last_message_at=when, last_inbound_at=when if inbound else None, owner=owner,
            team_id=user_primary_team_id(owner.pk if owner else None), closed_at=closed_at,
        )
        conv = Conv(plan=plan, obj=obj, client=client, agent=owner, touched=closed_at or when)
        self.convs[obj.pk] = conv
        return conv

    def _message(self, conv: Conv, when: dt.datetime, *, direction: str, body: str, subject: str = "",
                 external_id: str | None = None, author: User | None = None, interaction: Interaction | None = None,
                 **extra) -> Message:
        message = Message.objects.create(
            conversation=conv.obj, channel=conv.obj.channel, direction=direction, external_id=external_id,
            subject=(subject or conv.obj.subject)[:255], body=body, sent_at=when, author=author,
            interaction=interaction, **extra)
        self.counts["message"] += 1
        conv.touched = max(conv.touched or when, when)
        if direction == MessageDirection.INBOUND:
            conv.last_in = message
        elif direction == MessageDirection.OUTBOUND:
            conv.last_out = message
        return message

    def _timeline(self, conv: Conv, when: dt.datetime, *, channel: str, direction: str, subject: str, body: str,
                  external_id: str | None, user: User | None = None, **extra) -> Interaction | None:
        client = conv.client
        if client.contact_id is None and client.company_id is None:
            return None
        interaction = Interaction.objects.create(
            channel=channel, direction=direction, occurred_at=when, subject=subject[:255], body=body,
            external_id=external_id[:255] if external_id else None, contact_id=client.contact_id,
            company_id=client.company_id, user=user, **extra)
        self.interactions.append(interaction.pk)
        self.counts["interaction"] += 1
        if client.contact_id:
            self.touched_contacts.add(client.contact_id)
        if client.company_id:
            self.touched_companies.add(client.company_id)
        return interaction

    def _mail_in(self, conv: Conv, when: dt.datetime, *, subject: str, body: str, in_reply_to: str = "",
                 references: str = "") -> Message:
        client = conv.client
        domain = client.email.rpartition("@")[2] or "mail.example.com"
        message_id = f"{self.token}.{conv.plan.index}.{conv.next_id()}@{domain}"
        interaction = self._timeline(conv, when, channel="email", direction="in", subject=subject, body=body,
                                     external_id=message_id)
        flags = {"new_lead": True} if conv.plan.client is None and conv.items == 1 else {}
        return self._message(conv, when, direction=MessageDirection.INBOUND, body=body, subject=subject,
                             external_id=message_id, interaction=interaction, in_reply_to=in_reply_to,
                             references=references, from_address=client.email, from_name=client.full_name[:255],
                             to=[conv.obj.channel.address], flags=flags)

    def _mail(self, when: dt.datetime, plan: Plan) -> Conv:
        client = plan.client or self._lead(when, plan, source="mail")
        subject, body = self._client_text(plan, client)
        thread = f"{self.token}.{plan.index}.1@{client.email.rpartition('@')[2] or 'mail.example.com'}"
        conv = self._conversation(when, plan, client, subject=subject, thread_key=thread)
        self._mail_in(conv, when, subject=subject, body=body)
        return conv

    def _client_text(self, plan: Plan, client: Client) -> tuple[str, str]:
        rng = plan.rng
        subject, body = rng.choice(CW.CLIENT_MAIL[plan.intent][plan.lang])
        values = self._fill(plan, client)
        return subject.format(**values), body.format(**values)

    def _fill(self, plan: Plan, client: Client) -> dict[str, str]:
        rng, lang = plan.rng, plan.lang
        return {"company": client.company_name or client.full_name, "product": rng.choice(CW.PRODUCTS[lang]),
                "qty": str(rng.choice((2, 3, 5, 10, 12, 20, 25, 50))), "city": rng.choice(CW.CITIES),
                "month": CW.MONTHS[lang][plan.arrival.astimezone(KYIV).month - 1],
                "n": str(1000 + rng.randrange(9000))}

    def _dropbox(self, when: dt.datetime, plan: Plan) -> Conv:
        client = plan.client
        rep = self.users_by_id.get(client.owner_id) or self.config.users.get("rep.kyiv1")
        subject, body = plan.rng.choice(CW.REP_MAIL[plan.lang])
        body = body.format(**self._fill(plan, client)) + f"\n\n{user_name(rep)}"
        domain = rep.email.rpartition("@")[2] if rep and rep.email else DEMO_DOMAIN
        message_id = f"{self.token}.{plan.index}.1@{domain}"
        conv = self._conversation(when, plan, client, subject=subject, thread_key=message_id,
                                  status=ConversationStatus.PENDING, owner=rep, inbound=False)
        conv.next_id()
        interaction = self._timeline(conv, when, channel="email", direction="out", subject=subject, body=body,
                                     external_id=message_id, user=rep)
        self._message(conv, when, direction=MessageDirection.OUTBOUND, body=body, subject=subject,
                      external_id=message_id, author=rep, interaction=interaction,
                      from_address=rep.email if rep else "", from_name=user_name(rep)[:255], to=[client.email])
        if plan.rng.random() < 0.8:  # the rep closes it once the client has answered them
            self.at(hours_add(self.schedule, when, 60 + plan.rng.randrange(1000)), self.close, conv)
        return conv

    def _call_flags(self, plan: Plan, client: Client, when: dt.datetime, *, state: str, agent: User | None,
                    extension: str, duration: int | None, call_id: str, direction: str = "in") -> dict:
        number = client.phone
        call = {"id": call_id, "number": number, "raw_number": phone_display(number) if number else "",
                "direction": direction, "started_at": when.isoformat(), "state": state,
                "events": ["ringing", "answered", "ended"] if state == "ended" else ["ringing", "missed"],
                "ringing_at": when.isoformat(), f"{state}_at": (when + dt.timedelta(seconds=duration or 25)).isoformat()}
        if state == "ended":
            call["answered_at"] = (when + dt.timedelta(seconds=8)).isoformat()
        if extension:
            call["extension"] = extension
        if agent is not None:
            call["agent"] = agent.username
        if duration is not None:
            call["duration"] = duration
        return call

    def _call(self, when: dt.datetime, plan: Plan) -> Conv:
        """An answered call: the agent (the client's owner when they have an extension) has it; it is closed
        when the call ends (as kramar.comms.calls does)."""
        client, rng = plan.client, plan.rng
        by_user = {v: k for k, v in EXTENSIONS.items()}
        owner = self.users_by_id.get(client.owner_id)
        if owner is None or owner.username not in by_user:
            owner = self.config.users.get(EXTENSIONS[rng.choice(sorted(EXTENSIONS))])
        extension = by_user.get(owner.username, "") if owner else ""
        duration = 40 + rng.randrange(600)
        ended = when + dt.timedelta(seconds=duration + 8)
        client = replace(client, phone=client.phone or client.company_phone)
        conv = self._conversation(when, plan, client, subject=_calls_with(client.phone),
                                  thread_key=client.phone or f"call:{self.token}-{5000 + plan.index}",
                                  status=ConversationStatus.CLOSED, owner=owner, closed_at=ended)
        call_id = f"{self.token}-{5000 + plan.index}"
        call = self._call_flags(plan, client, when, state="ended", agent=owner, extension=extension,
                                duration=duration, call_id=call_id)
        interaction = self._timeline(conv, when, channel="call", direction="in", subject=call_subject(call),
                                     body=call_summary(call), external_id=f"{conv.obj.channel_id}:{call_id}",
                                     user=owner, duration_seconds=duration, outcome=_("Answered"))
        self._message(conv, when, direction=MessageDirection.INBOUND, body=call_summary(call),
                      subject=call_subject(call), external_id=call_id, interaction=interaction,
                      from_address=call["raw_number"], from_name=client.full_name[:255], to=[OFFICE_NUMBER],
                      flags={"call": call})
        conv.touched = ended
        return conv

    def _missed(self, when: dt.datetime, plan: Plan) -> Conv:
        """A missed call: a call-back task for the client's owner, and the conversation routed to the queue."""
        client = plan.client or self._lead(when, plan, source="phone")
        client = replace(client, phone=client.phone or client.company_phone)
        number = client.phone
        conv = self._conversation(when, plan, client, subject=_calls_with(number),
                                  thread_key=number or f"call:{self.token}-{5000 + plan.index}")
        call_id = f"{self.token}-{5000 + plan.index}"
        call = self._call_flags(plan, client, when, state="missed", agent=None, extension="", duration=None,
                                call_id=call_id)
        interaction = self._timeline(conv, when, channel="call", direction="in", subject=call_subject(call),
                                     body=call_summary(call), external_id=f"{conv.obj.channel_id}:{call_id}",
                                     duration_seconds=0, outcome=_("Missed"))
        assignee = self.users_by_id.get(client.owner_id) or self.config.users.get("director")
        if assignee is not None:
            conv.task = self._callback_task(conv, when, assignee, number)
            call["task_id"] = conv.task.pk
        flags = {"call": call, **({"new_lead": True} if plan.client is None else {})}
        self._message(conv, when, direction=MessageDirection.INBOUND, body=call_summary(call),
                      subject=call_subject(call), external_id=call_id, interaction=interaction,
                      from_address=call["raw_number"], from_name=client.full_name[:255], to=[OFFICE_NUMBER],
                      flags=flags)
        return conv

    def _callback_task(self, conv: Conv, when: dt.datetime, assignee: User, number: str) -> Task:
        shown = phone_display(number) if number else _("a hidden number")
        name = conv.client.full_name or shown
        due = when + dt.timedelta(minutes=30)
        task = Task.objects.create(
            kind="call", title=(_("Call back %(name)s (missed call)") % {"name": name})[:255],
            description=_("Missed call from %(number)s at %(when)s on %(channel)s.") % {
                "number": shown, "when": formats.date_format(timezone.localtime(when), "SHORT_DATETIME_FORMAT"),
                "channel": conv.obj.channel.name},
            priority="high", due_at=due, owner=assignee,
            team_id=user_primary_team_id(assignee.pk if assignee else None),
            contact_id=conv.client.contact_id, company_id=conv.client.company_id,
            ical_uid=uuid.UUID(int=(conv.plan.rng.getrandbits(64) << 64) | conv.obj.pk, version=4),
        )
        self.tasks.append((task.pk, when))
        self.counts["task"] += 1
        return task

    def _chat(self, when: dt.datetime, plan: Plan) -> Conv:
        client = plan.client or self._lead(when, plan, source="chat")
        rng = plan.rng
        chat_id = f"{self.token}{plan.index:04d}"
        name = client.full_name or client.handle or client.phone
        conv = self._conversation(when, plan, client, subject=_("Chat with %(name)s") % {"name": name},
                                  thread_key=f"chat:{chat_id}")
        lines = [line.format(**self._fill(plan, client)) for line in rng.choice(CW.CHAT_LINES[plan.lang])]
        self._chat_line(when, conv, chat_id, lines[0])
        for k, line in enumerate(lines[1:], start=1):
            self.at(when + dt.timedelta(minutes=k + rng.randrange(4)), self._chat_more, conv, chat_id, line)
        return conv

    def _chat_more(self, when: dt.datetime, conv: Conv, chat_id: str, text: str) -> None:
        if conv.obj.status == ConversationStatus.CLOSED:
            return
        self._chat_line(when, conv, chat_id, text)
        Conversation.objects.filter(pk=conv.obj.pk).update(last_message_at=when, last_inbound_at=when)

    def _chat_line(self, when: dt.datetime, conv: Conv, chat_id: str, text: str) -> None:
        client = conv.client
        message_id = str(5520 + conv.next_id())
        external_id = f"{chat_id}:{message_id}"
        flags: dict = {"chat": {"chat_id": chat_id, "message_id": message_id, "network": "telegram"}}
        if client.handle:
            flags["chat"]["handle"] = client.handle
        if conv.plan.client is None and conv.items == 1:
            flags["new_lead"] = True
        subject = text.strip().split("\n", 1)[0][:80]
        interaction = self._timeline(conv, when, channel="chat", direction="in", subject=subject, body=text,
                                     external_id=f"{conv.obj.channel_id}:{external_id}")
        self._message(conv, when, direction=MessageDirection.INBOUND, body=text, subject=subject,
                      external_id=external_id, interaction=interaction,
                      from_address=(client.handle or client.email or client.phone)[:320],
                      from_name=client.full_name[:255], flags=flags)

    def _webform(self, when: dt.datetime, plan: Plan) -> Conv:
        rng = plan.rng
        subject, text = rng.choice(CW.WEBFORM_MESSAGES[plan.lang])
        company = rng.choice(CW.LEAD_COMPANIES) if plan.client is None else ""
        consent, with_phone = rng.random() < 0.4, rng.random() < 0.5
        client = plan.client or self._lead(when, plan, source="webform", company=company, consent=consent)
        values = self._fill(plan, client)
        form = WebFormIn(name=client.full_name or client.email, email=client.email,
                         phone=client.phone if with_phone else "", company=company or client.company_name,
                         subject=subject, message=text.format(**values), consent=consent)
        external_id = "form-" + hashlib.sha256(f"{self.token}:{plan.index}".encode()).hexdigest()[:40]
        title = (form.subject or _("Web form: %(name)s") % {"name": form.name})[:255]
        conv = self._conversation(when, plan, client, subject=title, thread_key=f"form:{external_id}")
        body = webform_body(form)
        interaction = self._timeline(conv, when, channel="web_form", direction="in", subject=title, body=body,
                                     external_id=f"{conv.obj.channel_id}:{external_id}")
        flags = {"form": {"name": form.name, "email": form.email, "phone": form.phone, "company": form.company,
                          "subject": form.subject, "consent": form.consent, "ip": "", "origin": "http://localhost:8080",
                          "page": "http://localhost:8080/contact/"},
                 **({"new_lead": True} if plan.client is None else {"matched": True})}
        self._message(conv, when, direction=MessageDirection.INBOUND, body=body, subject=title,
                      external_id=external_id, interaction=interaction, from_address=(form.email or form.phone)[:320],
                      from_name=form.name[:255], flags=flags)
        return conv

    def _fax(self, when: dt.datetime, plan: Plan) -> Conv:
        """A fax from the client's company number (matched to the company), else from the contact's phone."""
        client = plan.client
        if client.company_phone:
            client = replace(client, contact_id=None, first_name="", last_name="", phone=client.company_phone)
        subject, text = plan.rng.choice(CW.FAX_TEXTS)
        values = self._fill(plan, client)
        number = client.phone
        subject = f"Fax from {number}: " + subject.format(**values)
        thread = f"{self.token}.{plan.index}.1@{DEMO_DOMAIN}"
        conv = self._conversation(when, plan, client, subject=subject, thread_key=thread)
        conv.next_id()
        body = text.format(**values)
        interaction = self._timeline(conv, when, channel="fax", direction="in", subject=subject, body=body,
                                     external_id=thread)
        self._message(conv, when, direction=MessageDirection.INBOUND, body=body, subject=subject, external_id=thread,
                      interaction=interaction, from_address=f"fax-gateway@{DEMO_DOMAIN}", from_name="Fax gateway",
                      to=[conv.obj.channel.address], flags={"fax_number": number} if number else {"unmatched": True})
        return conv

    def _letter(self, when: dt.datetime, plan: Plan) -> Conv:
        client = plan.client
        kind, subject, text = plan.rng.choice(CW.LETTERS)
        clerk = self.config.users.get("service") or self.config.users.get("director")
        body = text.format(**self._fill(plan, client))
        conv = self._conversation(when, plan, client, subject=subject, thread_key="")
        interaction = self._timeline(conv, when, channel="letter" if kind == "letter" else "meeting", direction="in",
                                     subject=subject, body=body, external_id=None, user=clerk)
        sender = client.full_name or client.company_name
        self._message(conv, when, direction=MessageDirection.INBOUND, body=body, subject=subject, author=clerk,
                      interaction=interaction, from_name=sender[:255],
                      flags={"kind": kind, "registered_by": clerk.pk if clerk else None})
        return conv

    def _lead(self, when: dt.datetime, plan: Plan, *, source: str, company: str = "", consent: bool = False
              ) -> Client:
        """An unknown sender becomes a new lead, as the inbound services make it (kramar.comms.inbound_common,
        ingest.lead_create): stage lead, the channel's source and "new from …" tag, owned by nobody."""
        first, last, _lang = CW.LEAD_NAMES[plan.index % len(CW.LEAD_NAMES)]
        rng = plan.rng
        email = f"{translit(first)}.{translit(last)}{rng.randrange(10, 99)}@{rng.choice(CW.LEAD_MAIL_DOMAINS)}"
        email = email_normalize(email)
        phone = f"+38067{rng.randrange(10**7):07d}"
        handle = f"@{translit(first)}_{translit(last)}{rng.randrange(10, 99)}"
        data: dict = {"first_name": first, "last_name": last, "lifecycle_stage": "lead", "owner_id": None}
        if source == "mail":
            data.update(source="e-mail", tags=[NEW_LEAD_TAG], emails=[email])
            phone = handle = ""
        elif source == "phone":
            data.update(source=LEAD_SOURCES["phone"], tags=[LEAD_TAGS["phone"]], phones=[phone], first_name="",
                        last_name="")
            first = last = email = handle = ""
        elif source == "chat":
            data.update(source=LEAD_SOURCES["chat"], tags=[LEAD_TAGS["chat"]], messengers={"telegram": handle})
            email = phone = ""
        else:
            data.update(source=LEAD_SOURCES["webform"], tags=[LEAD_TAGS["webform"]], emails=[email])
            if company:
                data["notes"] = _("Company (from the web form): %(company)s") % {"company": company}
            if consent:
                data["marketing_consent"] = "given"
                data["consent_method"] = (_("web form: %(name)s") % {
                    "name": self.config.channels["webform"].name})[:128]
            phone = handle = ""
        contact = _lead_write(data, when)
        self.leads.append((contact.pk, when))
        self.counts["lead"] += 1
        return Client(contact_id=contact.pk, company_id=None, first_name=first, last_name=last,
                      language=contact.language, email=email, phone=phone, company_name="", handle=handle,
                      owner_id=None)

    # ---------------------------------------------------------------- what agents do
    def _story(self, when: dt.datetime, conv: Conv) -> None:
        """Plan what the agent does with an accepted conversation (each step re-plans the next)."""
        rng, kind = conv.plan.rng, conv.plan.kind
        hours = self.schedule
        if rng.random() < (0.3 if kind in ("mail", "webform") else 0.5):
            self.at(when + dt.timedelta(minutes=1 + rng.randrange(20)), self.note, conv)
        if kind in ("mail", "webform"):
            self.at(hours_add(hours, when, 3 + rng.randrange(60)), self.reply, conv, 1)
        elif kind == "missed":
            self.at(when + dt.timedelta(minutes=2 + rng.randrange(30)), self.call_back, conv)
        elif rng.random() < {"chat": 0.85, "fax": 0.8, "letter": 0.75}.get(kind, 0.7):
            minutes = {"chat": 5 + rng.randrange(40), "fax": 60 + rng.randrange(840)}.get(kind, 60 + rng.randrange(1140))
            self.at(hours_add(hours, when, minutes), self.close, conv)

    def reply(self, when: dt.datetime, conv: Conv, step: int) -> None:
        if conv.obj.status == ConversationStatus.CLOSED or conv.agent is None:
            return
        rng, agent, lang = conv.plan.rng, conv.agent, conv.plan.lang
        queue_key = self.queue_key.get(conv.obj.queue_id)
        if step == 1:
            canned = self.config.canned.get((queue_key, lang)) if conv.client.company_id else None
            canned = canned or self.config.canned.get((None, lang))
            obj = Conversation.objects.select_related("contact", "company").get(pk=conv.obj.pk)
            body = canned_render(canned=canned, conversation=obj, agent=agent) if canned else ""
        else:
            body = f"{rng.choice(CW.AGENT_FOLLOW_UP[lang])}\n\n{user_name(agent)}"
        self._reply(when, conv, body)
        hours = self.schedule
        if step == 1 and rng.random() < 0.6:
            self.at(when + dt.timedelta(minutes=45 + rng.randrange(26 * 60)), self.client_answer, conv)
        elif step == 1 and rng.random() < 0.7:  # no answer: closed after a while
            self.at(hours_add(hours, when, 120 + rng.randrange(600)), self.close, conv)
        elif step == 2 and rng.random() < 0.85:
            slow = queue_key == "accounting"
            self.at(hours_add(hours, when, (300 if slow else 10) + rng.randrange(600 if slow else 290)), self.close,
                    conv)

    def _reply(self, when: dt.datetime, conv: Conv, body: str) -> None:
        """An agent's e-mail answer, stored as conversation_reply stores it (without the outbox row: never sent)."""
        agent, channel = conv.agent, conv.obj.channel
        if channel.kind == ChannelKind.EMAIL:
            sender = channel.address
        elif channel.kind == ChannelKind.DROPBOX:
            sender = agent.email
        else:
            sender = settings.DEFAULT_FROM_EMAIL
        domain = sender.rsplit("@", 1)[-1] if "@" in sender else "kramar.invalid"
        parent = conv.last_in
        message_id = f"{self.token}.{conv.plan.index}.{conv.next_id()}@{domain}"
        in_reply_to = parent.external_id if parent is not None and parent.external_id else ""
        references = [*(parent.references.split() if parent is not None else []), in_reply_to]
        references = [r for i, r in enumerate(references) if r and r not in references[:i]]
        subject = reply_subject(parent.subject if parent is not None and parent.subject else conv.obj.subject)
        to = (parent.from_address if parent is not None else "") or conv.client.email
        interaction = self._timeline(conv, when, channel="email", direction="out", subject=subject, body=body,
                                     external_id=message_id, user=agent)
        self._message(conv, when, direction=MessageDirection.OUTBOUND, body=body, subject=subject,
                      external_id=message_id, author=agent, interaction=interaction, in_reply_to=in_reply_to,
                      references=" ".join(references), from_address=sender, from_name=user_name(agent)[:255],
                      to=[to] if to else [])
        conversation_first_response(conv.obj, when)
        Conversation.objects.filter(pk=conv.obj.pk).update(status=ConversationStatus.PENDING, last_message_at=when,
                                                           version=F("version") + 1)
        conv.obj.status = ConversationStatus.PENDING

    def client_answer(self, when: dt.datetime, conv: Conv) -> None:
        """The client writes back (a pending conversation opens again, as ingestion does)."""
        if conv.obj.status == ConversationStatus.CLOSED:
            return
        rng, lang, last = conv.plan.rng, conv.plan.lang, conv.last_out
        text = rng.choice(CW.CLIENT_ANSWER[lang]).format(**self._fill(conv.plan, conv.client))
        body = f"{text}\n\n{conv.client.full_name}"
        prefix = "Відп: " if lang == "uk" and rng.random() < 0.5 else "Re: "
        subject = prefix + (conv.obj.subject or "")
        refs = [*(last.references.split() if last else []), last.external_id if last else ""]
        self._mail_in(conv, when, subject=subject, body=body, in_reply_to=last.external_id if last else "",
                      references=" ".join(r for r in refs if r))
        status = ConversationStatus.OPEN if conv.obj.status == ConversationStatus.PENDING else conv.obj.status
        Conversation.objects.filter(pk=conv.obj.pk).update(status=status, last_message_at=when, last_inbound_at=when)
        conv.obj.status = status
        self.at(hours_add(self.schedule, when, 5 + rng.randrange(120)), self.reply, conv, 2)

    def note(self, when: dt.datetime, conv: Conv) -> None:
        """An internal note through conversation_note (its @mention notifies the colleague)."""
        if conv.agent is None:
            return
        rng, lang = conv.plan.rng, conv.plan.lang
        queue_key = self.queue_key.get(conv.obj.queue_id, "sales")
        colleagues = [u for u in MENTIONS.get(queue_key, []) if u in self.config.users and u != conv.agent.username]
        text = rng.choice(CW.NOTES[lang])
        if "{mention}" in text:
            if not colleagues:
                return
            text = text.format(mention="@" + rng.choice(colleagues))
        message = conversation_note(actor=conv.agent, conversation=conv.obj, body=text)
        Message.objects.filter(pk=message.pk).update(sent_at=when)
        self.counts["message"] += 1
        conv.touched = max(conv.touched or when, when)
        self._scan(when, notified=True)

    def call_back(self, when: dt.datetime, conv: Conv) -> None:
        """The agent calls the client back: an outgoing call on the conversation and the timeline, the call-back
        task done, the conversation closed."""
        if conv.obj.status == ConversationStatus.CLOSED or conv.agent is None:
            return
        rng, agent = conv.plan.rng, conv.agent
        by_user = {v: k for k, v in EXTENSIONS.items()}
        duration = 30 + rng.randrange(400)
        call_id = f"{self.token}-{5000 + conv.plan.index}-cb"
        call = self._call_flags(conv.plan, conv.client, when, state="ended", agent=agent,
                                extension=by_user.get(agent.username, ""), duration=duration, call_id=call_id,
                                direction="out")
        interaction = self._timeline(conv, when, channel="call", direction="out", subject=call_subject(call),
                                     body=call_summary(call), external_id=f"{conv.obj.channel_id}:{call_id}",
                                     user=agent, duration_seconds=duration, outcome=_("Answered"))
        self._message(conv, when, direction=MessageDirection.OUTBOUND, body=call_summary(call),
                      subject=call_subject(call), external_id=call_id, author=agent, interaction=interaction,
                      from_address=call.get("extension", ""), to=[conv.client.phone] if conv.client.phone else [],
                      flags={"call": call})
        if conv.task is not None:
            Task.objects.filter(pk=conv.task.pk).update(
                status="done", completed_at=when + dt.timedelta(seconds=duration),
                outcome=rng.choice(CW.CALLBACK_OUTCOMES[conv.plan.lang]), updated_at=when)
        self.at(when + dt.timedelta(seconds=duration + 60), self.close, conv)

    def close(self, when: dt.datetime, conv: Conv) -> None:
        """Closed as conversation_close closes (its audit row aside); the agent's freed capacity goes to what
        waits in their queues."""
        if conv.obj.status == ConversationStatus.CLOSED:
            return
        Conversation.objects.filter(pk=conv.obj.pk).update(status=ConversationStatus.CLOSED, closed_at=when,
                                                           version=F("version") + 1)
        Assignment.objects.filter(conversation=conv.obj, status=AssignmentStatus.OFFERED).update(
            status=AssignmentStatus.TRANSFERRED)
        conv.obj.status = ConversationStatus.CLOSED
        conv.touched = when
        self.waiting.pop(conv.obj.pk, None)
        owner_id = conv.agent.pk if conv.agent else conv.obj.owner_id
        queue_ids = [q for q in self.member_queues.get(owner_id, []) if q in self.waiting.values()]
        if self.periodic and queue_ids:
            conversations_waiting_route(queue_ids=queue_ids, now=when, limit=3)
            self._scan(when)

    # ---------------------------------------------------------------- the end
    def _finish(self) -> None:
        clock = self.clock
        # presence at the clock; those who come online now get what waits in their queues, in one pass (as
        # presence_set would do for each of them)
        came = []
        current = dict(AgentProfile.objects.filter(user__in=self._agents()).values_list("user_id", "presence"))
        for username, (presence, _capacity, _skills) in AGENTS.items():
            user = self.config.users.get(username)
            if user is None or presence is None or current.get(user.pk) == presence:
                continue
            if presence == Presence.ONLINE:
                AgentProfile.objects.filter(user=user).update(presence=presence, presence_changed_at=clock,
                                                              last_seen_at=clock)
                came.append(user.pk)
            else:
                presence_set(user=user, presence=presence, now=clock)
        queue_ids = sorted({q for u in came for q in self.member_queues.get(u, []) if q in self.waiting.values()})
        if self.periodic and queue_ids:
            conversations_waiting_route(queue_ids=queue_ids, now=clock)
            self._scan(clock)
        self._tick(clock, force=True)
        # the timestamps the models set to "now", back to the simulated moments
        rows = list(Conversation.objects.filter(pk__in=list(self.convs)))
        for obj in rows:
            conv = self.convs[obj.pk]
            moments = [conv.touched, obj.closed_at, obj.first_response_at, obj.sla_breached_at, obj.opened_at]
            obj.created_at, obj.updated_at = obj.opened_at, max(m for m in moments if m is not None)
        Conversation.objects.bulk_update(rows, ["created_at", "updated_at"], batch_size=500)
        Message.objects.filter(conversation_id__in=list(self.convs)).update(received_at=F("sent_at"))
        if self.interactions:  # (the demo's timeline rows are one id range: nothing else writes meanwhile)
            Interaction.objects.filter(pk__gte=min(self.interactions), pk__lte=max(self.interactions)).update(
                created_at=F("occurred_at"), updated_at=F("occurred_at"))
        for pk, when in self.leads:
            Contact.objects.filter(pk=pk).update(created_at=when, updated_at=when)
        for pk, when in self.tasks:
            Task.objects.filter(pk=pk).update(created_at=when)
        Task.objects.filter(pk__in=[pk for pk, _when in self.tasks], status="open").update(updated_at=F("created_at"))
        LiveEvent.objects.filter(pk__gt=self.last_live).delete()
        self.counts["assignment"] = Assignment.objects.filter(conversation_id__in=list(self.convs)).count()
        from kramar.history.services import clients_last_contacted_recompute

        clients_last_contacted_recompute(contact_ids=sorted(self.touched_contacts),
                                         company_ids=sorted(self.touched_companies))


def _calls_with(number: str) -> str:
    return _("Calls with %(number)s") % {"number": phone_display(number) if number else _("a hidden number")}


def _lead_write(data: dict, when: dt.datetime) -> Contact:
    """Write a lead contact the way contact_create does (its input cleaning, derived columns, points, tags), without
    the per-record audit row."""
    from kramar.core.models import Tag

    cleaned, values, _companies = contact_input_prepare(actor=system_actor(), data=data)
    contact = Contact(**values)
    points = cleaned.points or []
    contact.search_text = contact_search_text(contact, points, [])
    contact.name_key = name_key(contact.first_name, contact.middle_name, contact.last_name)
    if contact.marketing_consent == "given":
        contact.consent_changed_at = when
    contact.save(force_insert=True)
    ContactPoint.objects.bulk_create([
        ContactPoint(contact=contact, kind=p.kind, label=p.label, value=p.value, normalized=p.normalized,
                     extension=p.extension, is_primary=p.is_primary) for p in points])
    names = cleaned.tags or []
    Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
    contact.tags.add(*Tag.objects.filter(name__in=names))
    return contact


# --------------------------------------------------------------------------------------- entry point
def comms_conversations_load(*, config: CommsConfig, seed: int, anchor: dt.date, conversations: int,
                             first_contact_id: int, contacts: int, now: dt.datetime | None = None) -> Counter[str]:
    """Play `conversations` conversations with this load's contacts (ids from `first_contact_id`) up to the demo's
    clock. Returns row counts (conversation, message, assignment, lead, interaction, task)."""
    clock = comms_clock(anchor, now=now)
    plans = comms_plan(seed=seed, n=conversations, clock=clock, hours=config.hours, first_contact_id=first_contact_id,
                       contacts=contacts)
    demo_queues = list(config.queues.values())
    if not Conversation.objects.filter(queue__in=demo_queues).exists():
        # empty queues: round-robin and idle order start afresh, so a reset gives the same decisions again
        QueueMember.objects.filter(queue__in=demo_queues).update(last_assigned_at=None)
    # the worker's periodic passes (SLA, waiting, expiry) act on every conversation: played only when no
    # conversation is live before the load (a fresh or reset base), so an --append never moves older ones
    earlier = Conversation.objects.exclude(status=ConversationStatus.CLOSED).exists()
    simulation = Simulation(config=config, clock=clock, seed=seed, token=f"demo{first_contact_id}",
                            periodic=not earlier)
    return simulation.run(plans)
