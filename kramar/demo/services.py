"""Loading the demo client base: teams and users through the accounts services, then companies,
contacts and their history through the bulk loader, in one transaction.

Audit: one summary AuditEntry (source "demo", entity "demo") per load or reset, not one per record.
"""

from __future__ import annotations

import datetime as dt
import importlib
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kramar.accounts.models import Membership, Team, User
from kramar.accounts.services import roles_ensure_defaults, user_create
from kramar.activities.models import Task
from kramar.clients.models import Address, Company, Contact, ContactCompany, ContactPoint, MergeRecord
from kramar.comms.models import Assignment, Conversation, InboundFailure, Message
from kramar.core.errors import DomainError
from kramar.core.models import AuditEntry, Notification, Tag
from kramar.demo import words as W
from kramar.demo.comms_demo import comms_config_ensure, comms_conversations_default, comms_conversations_load
from kramar.demo.generator import (
    DemoGenerator,
    Owner,
    PipelineInfo,
    ProductInfo,
    SalesSetup,
    StageInfo,
    exchange_rates,
    product_catalogue,
)
from kramar.demo.loader import (
    ALL_TABLES,
    BulkWriter,
    TableSpec,
    constraints_restore,
    sequences_reset,
    start_ids,
    table_specs,
)
from kramar.history.models import Attachment, Interaction
from kramar.sales.models import (
    Currency,
    Deal,
    DealChecklistCheck,
    DealContact,
    DealLine,
    DealStageHistory,
    ExchangeRate,
    LostReason,
    Pipeline,
    Product,
    ProductPrice,
    SalesTarget,
    Stage,
)
from kramar.search.indexing import bulk_load_begin, bulk_load_end

# (name, kind)
DEMO_TEAMS = [
    ("Management", Team.Kind.MANAGEMENT), ("Sales Kyiv", Team.Kind.SALES), ("Sales Lviv", Team.Kind.SALES),
    ("Marketing", Team.Kind.MARKETING), ("Service", Team.Kind.SERVICE),
]
# username, first name, last name, role, team, team lead?, group of records they own, language
DEMO_USERS = [
    ("admin", "Адміністратор", "", "Administrator", None, False, None, "en"),
    ("director", "Ганна", "Кравченко", "Sales director", "Management", True, None, "uk"),
    ("lead.kyiv", "Олег", "Марченко", "Team lead", "Sales Kyiv", True, "kyiv", "uk"),
    ("rep.kyiv1", "Ірина", "Савчук", "Sales rep", "Sales Kyiv", False, "kyiv", "uk"),
    ("rep.kyiv2", "Максим", "Гнатюк", "Sales rep", "Sales Kyiv", False, "kyiv", "uk"),
    ("rep.kyiv3", "Daniel", "Weber", "Sales rep", "Sales Kyiv", False, "kyiv", "en"),
    ("lead.lviv", "Соломія", "Яворська", "Team lead", "Sales Lviv", True, "lviv", "uk"),
    ("rep.lviv1", "Остап", "Левицький", "Sales rep", "Sales Lviv", False, "lviv", "uk"),
    ("rep.lviv2", "Христина", "Мельник", "Sales rep", "Sales Lviv", False, "lviv", "uk"),
    ("marketing", "Дарина", "Коваль", "Team lead", "Marketing", True, "marketing", "uk"),
    ("service", "Андрій", "Бондаренко", "Sales rep", "Service", False, "service", "uk"),
]
# Reps own most records; a lead owns some too (listed once against the reps' two or three).
OWNER_WEIGHT = {"Sales rep": 3, "Team lead": 1}


class DemoNotEmpty(DomainError):
    status = 409


@dataclass
class DemoLogin:
    username: str
    password: str | None  # None: the user existed and keeps their password
    role: str
    team: str | None


@dataclass
class DemoResult:
    loaded: bool
    contacts_before: int = 0
    companies_before: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    logins: list[DemoLogin] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)


def demo_users_ensure(*, password: str | None = None) -> tuple[list[Owner], list[DemoLogin]]:
    """Teams and users of the demo company, created with user_create; existing ones are reused
    (their password is changed only when `password` is given)."""
    roles_ensure_defaults()
    teams = {name: Team.objects.get_or_create(name=name, defaults={"kind": kind})[0] for name, kind in DEMO_TEAMS}
    owners: list[Owner] = []
    logins: list[DemoLogin] = []
    for username, first, last, role, team_name, is_lead, group, language in DEMO_USERS:
        team = teams[team_name] if team_name else None
        user = User.objects.filter(username=username).first()
        plain = None
        if user is None:
            plain = password or secrets.token_urlsafe(9)
            user = user_create(
                username=username, password=plain, email=f"{username}@demo.kramar.local", first_name=first,
                last_name=last, teams=[team] if team else [], roles=[role], is_superuser=role == "Administrator",
                language=language,
            )
            if is_lead and team:
                Membership.objects.filter(user=user, team=team).update(is_lead=True)
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
            plain = password
        logins.append(DemoLogin(username=username, password=plain, role=role, team=team_name))
        if group and user.is_active:
            membership = user.memberships.order_by("-is_primary", "id").first()
            owner = Owner(user_id=user.pk, team_id=membership.team_id if membership else None, group=group)
            owners.extend([owner] * OWNER_WEIGHT.get(role, 1))
    if not owners:
        raise DomainError("demo_no_owners", _("None of the demo users is active: nobody could own the demo clients."))
    return owners, logins


def demo_tags_ensure() -> dict[str, int]:
    wanted = dict(W.COMPANY_TAGS + W.CONTACT_TAGS)
    Tag.objects.bulk_create([Tag(name=n, color=c) for n, c in wanted.items()], ignore_conflicts=True)
    return dict(Tag.objects.filter(name__in=list(wanted)).values_list("name", "id"))


def clients_count(*, using: str = "default") -> tuple[int, int]:
    return Contact.objects.using(using).count(), Company.objects.using(using).count()


# Tables emptied by a reset, children first. Rows of any other model that point at them make the
# reset refuse rather than delete data it doesn't know about.
# Deals, tasks and the Communication Center's conversations (with their messages and assignment log) hang off the
# clients, so a reset deletes them all too (the catalogue, rates, pipelines, targets, queues, channels, rules and
# agents stay).
RESET_MODELS = [
    Assignment, Message, Conversation.tags.through, Conversation,
    Task.tags.through, Task, Attachment, Interaction, DealChecklistCheck, DealStageHistory, DealLine, DealContact,
    Deal.tags.through, Deal, ContactPoint, Address, ContactCompany, Contact.tags.through, Company.tags.through,
    MergeRecord, Contact, Company,
]
# Nullable links into those tables that a reset empties first (on_delete=SET_NULL: the row itself stays): an
# unprocessed inbound item keeps its original and reason, only its link to the stored message goes.
RESET_SET_NULL = [(InboundFailure, "message")]
# Notifications about conversations (SLA warnings and breaches, @mentions) would link to pages that are gone.
RESET_NOTIFICATION_KINDS = ("sla_warning", "sla_breach", "mention")


def clients_reset(*, using: str = "default") -> dict[str, int]:
    """Delete every client and its history with plain DELETEs (no per-row ORM work). Refuses when
    another module's rows refer to clients."""
    known = set(RESET_MODELS)
    nulled = {(model, name) for model, name in RESET_SET_NULL}
    for model in (Contact, Company, Interaction, Deal, Task, Conversation, Message):
        for rel in model._meta.related_objects:
            if rel.many_to_many:  # another model's many-to-many to clients: rows of its link table
                other, rows = rel.through, rel.through._base_manager.using(using).all()
            else:
                other = rel.related_model
                rows = other._base_manager.using(using).filter(**{f"{rel.field.name}__isnull": False})
            if other in known or (not rel.many_to_many and (other, rel.field.name) in nulled):
                continue
            if rows.exists():
                raise DomainError(
                    "demo_reset_refused",
                    _("%(model)s rows refer to clients; delete them first or load with --append.")
                    % {"model": other._meta.verbose_name_plural},
                )
    connection = connections[using]
    deleted = {}
    for model, name in RESET_SET_NULL:
        model._base_manager.using(using).filter(**{f"{name}__isnull": False}).update(**{name: None})
    deleted[Notification._meta.db_table] = Notification.objects.using(using).filter(
        kind__in=RESET_NOTIFICATION_KINDS, url__contains="/comms/conversations/").delete()[0]
    with connection.cursor() as cursor:
        for model in RESET_MODELS:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
            deleted[model._meta.db_table] = cursor.rowcount
    return deleted


def _anchor_default() -> dt.date:
    return timezone.now().date()


def demo_load(
    *, contacts: int, seed: int, mode: str = "empty", password: str | None = None, anchor: dt.date | None = None,
    progress: bool | None = None, batch_size: int = 5000, using: str = "default", deals: int | None = None,
    tasks: int | None = None, conversations: int | None = None,
) -> DemoResult:
    """Load a demo client base of `contacts` contacts (and a quarter as many companies), with `deals` deals
    (default a fifth of `contacts`) and `tasks` tasks (default as many as contacts), the product catalogue,
    exchange rates and the reps' targets; then the Communication Center's configuration and `conversations`
    conversations with these clients (default ~150 for 2000 contacts, at most 300; kramar.demo.comms_demo).

    mode: "empty" refuses a base that already has clients (DemoNotEmpty); "if_empty" does nothing then;
    "append" adds beside existing clients; "reset" deletes every client first.
    Same seed and anchor date → the same names, e-mails, phones, codes and dates.
    """
    if mode not in {"empty", "if_empty", "append", "reset"}:
        raise ValueError(mode)
    if mode == "reset" and getattr(settings, "KRAMAR_ENV", "") == "production":
        raise DomainError("demo_reset_refused", _("Deleting the client base is refused when KRAMAR_ENV=production."))
    contacts_before, companies_before = clients_count(using=using)
    result = DemoResult(loaded=False, contacts_before=contacts_before, companies_before=companies_before)
    if (contacts_before or companies_before) and mode in {"empty", "if_empty"}:
        if mode == "if_empty":
            return result
        raise DemoNotEmpty(
            "demo_not_empty",
            _("The client base is not empty (%(contacts)d contacts, %(companies)d companies). Use --append to add "
              "demo clients beside them, --reset to delete every client first, or --if-empty to skip.")
            % {"contacts": contacts_before, "companies": companies_before},
        )
    anchor = anchor or _anchor_default()
    started = time.perf_counter()
    bulk_load_begin(using=using)
    result.seconds["index_suspend"] = time.perf_counter() - started
    try:
        with transaction.atomic(using=using):
            t0 = time.perf_counter()
            if mode == "reset":
                result.deleted = clients_reset(using=using)
                AuditEntry.objects.using(using).create(
                    action=AuditEntry.Action.DELETE, source=AuditEntry.Source.DEMO, entity="demo", object_id=0,
                    object_repr=f"Demo reset: {contacts_before} contacts, {companies_before} companies deleted",
                    extra={"deleted": result.deleted},
                )
            result.seconds["reset"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            owners, result.logins = demo_users_ensure(password=password)
            tag_ids = demo_tags_ensure()
            sales = sales_setup_ensure(
                seed=seed, anchor=anchor, deals=contacts // 5 if deals is None else deals,
                tasks=contacts if tasks is None else tasks, using=using,
            )
            specs = table_specs(using, ALL_TABLES)
            ids = start_ids(specs, using=using)
            result.seconds["prepare"] = time.perf_counter() - t0
            counts = demo_rows_write(
                specs=specs, ids=ids, contacts=contacts, seed=seed, owners=owners, tag_ids=tag_ids, anchor=anchor,
                progress=progress, batch_size=batch_size, using=using, seconds=result.seconds, sales=sales,
            )
            t0 = time.perf_counter()
            sequences_reset(specs, using=using)
            constraints_restore(using=using)
            result.seconds["finish"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if using == DEFAULT_DB_ALIAS:  # the Communication Center's services work on the default database
                comms = comms_config_ensure(anchor=anchor)
                written = comms_conversations_load(
                    config=comms, seed=seed, anchor=anchor, first_contact_id=ids["contact"], contacts=contacts,
                    conversations=comms_conversations_default(contacts) if conversations is None else conversations,
                )
                for key, n in written.items():
                    counts[key] = counts.get(key, 0) + n
            result.seconds["comms"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            result.counts = counts
            AuditEntry.objects.using(using).create(
                action=AuditEntry.Action.CREATE, source=AuditEntry.Source.DEMO, entity="demo", object_id=0,
                object_repr=f"Demo data: {counts.get('contact', 0)} contacts, {counts.get('company', 0)} companies, "
                f"{counts.get('interaction', 0)} interactions, {counts.get('deal', 0)} deals, "
                f"{counts.get('task', 0)} tasks, {counts.get('conversation', 0)} conversations (seed {seed})",
                extra={"seed": seed, "anchor": anchor.isoformat(), "mode": mode, "counts": counts},
            )
            result.seconds["finish"] += time.perf_counter() - t0
            t0 = time.perf_counter()
        result.seconds["commit"] = time.perf_counter() - t0
    finally:
        t0 = time.perf_counter()
        bulk_load_end(using=using)
        result.seconds["index_rebuild"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables_analyze([spec.table for spec in table_specs(using, ALL_TABLES).values()], using=using)
    result.seconds["analyze"] = time.perf_counter() - t0
    result.seconds["total"] = time.perf_counter() - started
    result.loaded = True
    return result


def tables_analyze(tables: list[str], *, using: str = "default") -> None:
    """PostgreSQL: refresh the planner's statistics of the bulk-loaded tables now. Until autovacuum gets to a
    freshly loaded table (minutes later) the planner guesses, and at a million rows it guessed a sequential scan
    for look-ups by client. SQLite keeps the statistics its search step gathers (kramar.search.indexing)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in dict.fromkeys(tables):
            cursor.execute(f'ANALYZE "{table}"')


def demo_rows_write(
    *, specs: dict[str, TableSpec], ids: dict[str, int], contacts: int, seed: int, owners: list[Owner],
    tag_ids: dict[str, int], anchor: dt.date, progress: bool | None, batch_size: int, using: str,
    seconds: dict[str, float], sales: SalesSetup | None = None,
) -> dict[str, int]:
    """Generate and write the rows (the clients; then, given `sales`, the companies' last contact, the deals
    and tasks, and the reps' targets); `seconds` gets the time spent generating and writing apart."""
    connection = connections[using]
    generator = DemoGenerator(
        seed=seed, contacts=contacts, owners=owners, tag_ids=tag_ids, start_ids=ids, anchor=anchor,
        aware_datetimes=connection.vendor == "postgresql", batch_size=batch_size,
    )
    writer = BulkWriter(
        specs, using=using, progress=progress, totals={"company": generator.n_companies, "contact": contacts}
    )
    generate = write = 0.0
    if sales is not None:
        writer.totals.update({"deal": sales.deals, "task": sales.tasks})
    try:
        phases = [generator.batches()]
        if sales is not None:
            phases.append(_sales_phase(generator, writer, sales))
        for batches in phases:
            while True:
                t0 = time.perf_counter()
                item = next(batches, None)
                t1 = time.perf_counter()
                generate += t1 - t0
                if item is None:
                    break
                writer.write(*item)
                write += time.perf_counter() - t1
    finally:
        writer.close()
    if sales is not None:
        t0 = time.perf_counter()
        demo_targets_ensure(
            generator=generator, owners=owners, anchor=anchor, using=using,
        )
        seconds["targets"] = time.perf_counter() - t0
    seconds["generate"] = generate
    seconds["write"] = write
    return dict(writer.counts)


def _sales_phase(generator: DemoGenerator, writer: BulkWriter, sales: SalesSetup):
    """The companies' last contact (known once every contact is generated), then the deals and tasks."""
    writer.update_column("company", "last_contacted_at", generator.company_last_contacted())
    yield from generator.sales_batches(sales)


# ------------------------------------------------------------------------------------------- sales set-up


def _sales_defaults():
    """The pipelines and lost reasons the sales data migration seeds (created again when a database lacks them)."""
    return importlib.import_module("kramar.sales.migrations.0002_defaults")


def sales_setup_ensure(*, seed: int, anchor: dt.date, deals: int, tasks: int, using: str = "default") -> SalesSetup:
    """Currencies, pipelines, lost reasons (the seeded defaults when missing), the demo product catalogue (~200
    products, SKU DEMO-…) and a year of USD/EUR rates; small tables, written through the ORM."""
    defaults = _sales_defaults()
    base = settings.KRAMAR_BASE_CURRENCY
    for code, name, symbol in defaults.CURRENCIES:
        Currency.objects.using(using).get_or_create(code=code, defaults={"name": name, "symbol": symbol})
    Currency.objects.using(using).get_or_create(code=base, defaults={"name": base})

    pipelines = _pipelines_load(using)
    if not pipelines:
        for p, (pipeline_name, stages) in enumerate(defaults.PIPELINES.items()):
            pipeline, _created = Pipeline.objects.using(using).get_or_create(
                name=pipeline_name, defaults={"position": p, "is_default": not Pipeline.objects.using(using).exists()}
            )
            for i, (name, kind, probability, rotting, required) in enumerate(stages):
                Stage.objects.using(using).get_or_create(
                    pipeline=pipeline, name=name,
                    defaults={"position": i, "kind": kind, "probability": probability, "rotting_days": rotting,
                              "required_fields": required},
                )
        pipelines = _pipelines_load(using)
    if not LostReason.objects.using(using).filter(active=True).exists():
        for i, name in enumerate(defaults.LOST_REASONS):
            LostReason.objects.using(using).get_or_create(name=name, defaults={"position": i})
    lost_reason_ids = list(LostReason.objects.using(using).filter(active=True).values_list("id", flat=True))

    catalogue = product_catalogue(seed=seed)
    Product.objects.using(using).bulk_create(
        [Product(sku=p["sku"], name=p["name"], unit=p["unit"], vat_rate=p["vat_rate"], active=p["active"])
         for p in catalogue],
        ignore_conflicts=True,
    )
    product_ids = dict(Product.objects.using(using).filter(sku__startswith="DEMO-").values_list("sku", "id"))
    ProductPrice.objects.using(using).bulk_create(
        [ProductPrice(product_id=product_ids[p["sku"]], currency_id=code, price=price)
         for p in catalogue if p["sku"] in product_ids for code, price in p["prices"].items()],
        ignore_conflicts=True,
    )
    products = []
    prices: dict[int, dict[str, Decimal]] = {}
    for product_id, code, price in ProductPrice.objects.using(using).filter(
        product_id__in=product_ids.values()
    ).values_list("product_id", "currency_id", "price"):
        prices.setdefault(product_id, {})[code] = price
    for product in Product.objects.using(using).filter(id__in=product_ids.values(), active=True).order_by("sku"):
        if base in prices.get(product.pk, {}):
            products.append(ProductInfo(id=product.pk, unit=product.unit, vat_rate=product.vat_rate,
                                        prices=prices[product.pk] | {"UAH": prices[product.pk][base]}))

    ExchangeRate.objects.using(using).bulk_create(
        [ExchangeRate(currency_id=code, date=day, rate=rate) for code, day, rate in exchange_rates(seed=seed, anchor=anchor)],
        ignore_conflicts=True,
    )
    rates = {"UAH": Decimal(1)}
    for code in ("USD", "EUR"):
        rate = (ExchangeRate.objects.using(using).filter(currency_id=code, date__lte=anchor).order_by("-date")
                .values_list("rate", flat=True).first())
        if rate:
            rates[code] = rate
    return SalesSetup(pipelines=pipelines, lost_reason_ids=lost_reason_ids, products=products, rates=rates,
                      deals=deals, tasks=tasks)


def _pipelines_load(using: str) -> list[PipelineInfo]:
    """The active pipelines that have open stages and a won and a lost one; the default pipeline first."""
    out = []
    for pipeline in Pipeline.objects.using(using).filter(active=True).prefetch_related("stages").order_by(
        "-is_default", "position", "id"
    ):
        stages = sorted(pipeline.stages.all(), key=lambda s: (s.position, s.id))
        infos = [StageInfo(id=s.pk, kind=s.kind, position=i) for i, s in enumerate(stages)]
        opens = tuple(s for s in infos if s.kind == "open")
        won = next((s for s in infos if s.kind == "won"), None)
        lost = next((s for s in infos if s.kind == "lost"), None)
        if opens and won and lost:
            out.append(PipelineInfo(id=pipeline.pk, name=pipeline.name, open_stages=opens, won=won, lost=lost))
    return out


def _month(day: dt.date, back: int = 0) -> tuple[dt.date, dt.date]:
    year, month = day.year, day.month - back
    while month < 1:
        year, month = year - 1, month + 12
    start = dt.date(year, month, 1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return start, end


def demo_targets_ensure(*, generator: DemoGenerator, owners: list[Owner], anchor: dt.date, using: str) -> int:
    """A monthly target in the base currency per demo rep (every user who owns demo clients) for the current
    and the previous month: about 1.2 × their average won per month over the last year, in round thousands.
    Existing targets are kept."""
    won = getattr(generator, "won_by_owner_month", {})
    months = {_month(anchor, back)[0].strftime("%Y-%m") for back in range(1, 13)}
    rows = []
    for user_id in dict.fromkeys(o.user_id for o in owners):
        monthly = sum(v for (uid, month), v in won.items() if uid == user_id and month in months) / 12
        amount = Decimal(max(50_000, int(monthly * 1.2 / 10_000) * 10_000))
        for back in (0, 1):
            start, end = _month(anchor, back)
            rows.append(SalesTarget(user_id=user_id, period_start=start, period_end=end, amount=amount,
                                    currency_id=settings.KRAMAR_BASE_CURRENCY))
    SalesTarget.objects.using(using).bulk_create(rows, ignore_conflicts=True)
    return len(rows)
