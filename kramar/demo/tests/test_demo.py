"""The demo command: deterministic, valid, consistent with what the services write, safe to re-run."""

import datetime as dt
import itertools
import re
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.validators import URLValidator
from django.db.models import Count, Max, Q
from stdnum.ua import edrpou, rntrc

from kramar.accounts.models import Membership, User
from kramar.activities.models import Task
from kramar.clients.models import Company, Contact, ContactCompany, ContactPoint
from kramar.clients.normalize import company_search_text, contact_search_text
from kramar.clients.services import company_create, contact_create
from kramar.core.identifiers import (
    company_code_normalize,
    email_normalize,
    name_key,
    phone_normalize,
    phone_search_digits,
)
from kramar.core.models import AuditEntry
from kramar.demo.generator import MOBILE_CODES, search_digits
from kramar.history.models import Interaction
from kramar.history.services import interaction_create
from kramar.sales.models import (
    Deal,
    DealContact,
    DealLine,
    DealStageHistory,
    ExchangeRate,
    Pipeline,
    Product,
    ProductPrice,
    SalesTarget,
)

pytestmark = pytest.mark.django_db

N = 200
LOGIN_LINE = re.compile(r"^\s+(\S+)\s+(\S+)\s+(Administrator|Sales director|Team lead|Sales rep)\b", re.M)


def demo(*args: str) -> str:
    """The client base alone: the Communication Center's conversations (whose flagged leads are contacts without
    an owner or company, and whose missed calls add call-back tasks) are tested in test_demo_comms.py."""
    out = StringIO()
    call_command("demo", "--no-progress", "--anchor-date", "2026-01-15", "--conversations", "0", *args, stdout=out)
    return out.getvalue()


def client_snapshot() -> list[tuple]:
    contacts = [
        (c.first_name, c.middle_name, c.last_name, c.position, c.primary_company.name, c.birthday, c.search_text,
         c.created_at, tuple(p.normalized for p in c.points.all()))
        for c in Contact.objects.select_related("primary_company").prefetch_related("points").order_by("id")
    ]
    companies = list(Company.objects.order_by("id").values_list("name", "code", "website", "search_text"))
    interactions = list(Interaction.objects.order_by("id").values_list("channel", "subject", "occurred_at"))
    return [contacts, companies, interactions]


def test_same_seed_gives_the_same_client_base():
    # given
    demo("--contacts", str(N), "--seed", "7")
    first = client_snapshot()
    # when
    demo("--contacts", str(N), "--seed", "7", "--reset", "--no-input")
    second = client_snapshot()
    demo("--contacts", str(N), "--seed", "8", "--reset", "--no-input")
    other = client_snapshot()
    # then
    assert len(first[0]) == N and len(first[1]) == N // 4
    assert first == second
    assert first[0] != other[0]


def test_identifiers_phones_and_emails_are_valid():
    # when
    demo("--contacts", str(N), "--seed", "3")
    # then
    companies = list(Company.objects.all())
    ua = [c for c in companies if c.country == "UA"]
    assert any(len(c.code) == 10 for c in ua) and any(len(c.code) == 8 for c in ua)
    assert any(c.country != "UA" for c in companies)
    for c in companies:
        assert company_code_normalize(c.code, c.country) == c.code
        if c.country == "UA":
            assert (edrpou.is_valid(c.code) if len(c.code) == 8 else rntrc.is_valid(c.code)), c.code
            assert c.legal_name.startswith(("Товариство", "Приватне", "Акціонерне", "Державне", "Фізична"))
        if c.website:
            URLValidator(schemes=["https"])(c.website)
    points = list(ContactPoint.objects.all())
    assert points
    for p in points:
        if p.kind == "email":
            assert email_normalize(p.value) == p.normalized
        else:
            assert phone_normalize(p.value) == (p.normalized, p.extension)
            assert p.normalized[4:6] in MOBILE_CODES or p.normalized.startswith("+38044"), p.normalized
            assert search_digits(p.normalized) == phone_search_digits(p.normalized)
    for contact in Contact.objects.prefetch_related("points"):
        kinds = [p.kind for p in contact.points.all()]
        assert 1 <= kinds.count("email") <= 2 and 1 <= kinds.count("phone") <= 2
        assert sum(p.is_primary for p in contact.points.all() if p.kind == "email") == 1
    assert Contact.objects.exclude(middle_name="").filter(language="uk").exists()
    assert Contact.objects.filter(language="en").exists()


def test_derived_columns_equal_what_the_services_compute(director):
    # given
    demo("--contacts", str(N), "--seed", "5")
    # then: recomputed the way the services' _contact_derive/_company_derive do
    for contact in Contact.objects.all():
        names = list(contact.companies.values_list("name", flat=True))
        assert contact.search_text == contact_search_text(contact, list(contact.points.all()), names)
        assert contact.name_key == name_key(contact.first_name, contact.middle_name, contact.last_name)
    for company in Company.objects.all():
        assert company.search_text == company_search_text(company, list(company.points.all()))
        assert company.name_key == name_key(company.name, strip_legal_forms=True)

    # and: the same client typed in through the services gets the same derived columns
    sample = Contact.objects.annotate(n=Count("company_links")).filter(n=2).first() or Contact.objects.first()
    points = list(sample.points.all())
    twin = contact_create(
        actor=director, allow_duplicates=True,
        data={
            "first_name": sample.first_name, "middle_name": sample.middle_name, "last_name": sample.last_name,
            "position": sample.position,
            "emails": [{"value": p.value, "is_primary": p.is_primary} for p in points if p.kind == "email"],
            "phones": [{"value": p.value, "is_primary": p.is_primary} for p in points if p.kind == "phone"],
            "company_ids": list(sample.company_links.order_by("-is_primary", "id").values_list("company_id", flat=True)),
        },
    )
    assert (twin.search_text, twin.name_key) == (sample.search_text, sample.name_key)
    company = Company.objects.filter(country="UA").exclude(vat_number="").first()
    cpoints = list(company.points.all())
    company_twin = company_create(
        actor=director, allow_duplicates=True,
        data={
            "name": company.name, "legal_name": company.legal_name, "code": company.code,
            "vat_number": company.vat_number, "country": company.country,
            "emails": [{"value": p.value, "is_primary": p.is_primary} for p in cpoints if p.kind == "email"],
            "phones": [{"value": p.value, "is_primary": p.is_primary, "label": p.label} for p in cpoints if p.kind == "phone"],
        },
    )
    assert (company_twin.search_text, company_twin.name_key) == (company.search_text, company.name_key)


def test_links_owners_and_history_are_consistent():
    # when
    demo("--contacts", str(N), "--seed", "11")
    # then: one primary link per contact, the same company as primary_company
    assert ContactCompany.objects.filter(is_primary=True).count() == N
    assert not Contact.objects.filter(primary_company__isnull=True).exists()
    for contact in Contact.objects.prefetch_related("company_links"):
        primary = [link.company_id for link in contact.company_links.all() if link.is_primary]
        assert primary == [contact.primary_company_id]
        assert all(link.position == contact.position for link in contact.company_links.all())
    # owners are demo users, teams their primary team
    primary_team = dict(Membership.objects.filter(is_primary=True).values_list("user_id", "team_id"))
    for model in (Contact, Company):
        for owner_id, team_id in model.objects.values_list("owner_id", "team_id"):
            assert owner_id is not None and team_id == primary_team[owner_id]
    # history: about three interactions per contact, on their clients, over several years
    interactions = Interaction.objects.all()
    assert 2.5 * N <= interactions.count() <= 3.6 * N
    assert not interactions.filter(Q(contact__isnull=True) | Q(company__isnull=True)).exists()
    for contact_id, company_id in interactions.values_list("contact_id", "company_id"):
        assert Contact.objects.filter(pk=contact_id, primary_company_id=company_id).exists()
    years = {d.year for d in interactions.values_list("occurred_at", flat=True)}
    assert len(years) >= 3
    assert set(interactions.values_list("channel", flat=True)) >= {"call", "email", "meeting", "note"}
    assert Contact.objects.exclude(tags=None).exists() and Company.objects.exclude(tags=None).exists()
    # one summary audit row, not one per record
    assert AuditEntry.objects.filter(source="demo").count() == 1


def test_services_work_after_the_load(director):
    # given: rows written with explicit ids (sequences must have been moved past them)
    demo("--contacts", str(N), "--seed", "2")
    max_contact = Contact.objects.order_by("-id").values_list("id", flat=True).first()
    max_company = Company.objects.order_by("-id").values_list("id", flat=True).first()
    max_interaction = Interaction.objects.order_by("-id").values_list("id", flat=True).first()
    # when
    company = company_create(
        actor=director,
        data={"name": "ТОВ «Нова компанія»", "code": "32855961", "tags": ["VIP"], "emails": ["info@nova.ua"],
              "address": {"city": "Київ", "line": "вул. Хрещатик, 1"}},
    )
    contact = contact_create(
        actor=director,
        data={"first_name": "Нова", "last_name": "Людина", "emails": ["nova@example.com"], "phones": ["0671112233"],
              "company_ids": [company.pk], "tags": ["VIP"], "address": {"city": "Львів"}},
    )
    interaction = interaction_create(actor=director, data={"channel": "call", "contact_id": contact.pk})
    # then
    assert company.pk > max_company and contact.pk > max_contact and interaction.pk > max_interaction
    assert contact.points.count() == 2 and contact.company_links.get().is_primary
    assert contact.addresses.count() == 1 and company.addresses.count() == 1
    assert [t.name for t in contact.tags.all()] == ["VIP"] == [t.name for t in company.tags.all()]


def test_if_empty_is_idempotent_and_non_empty_is_refused():
    # given
    out = demo("--contacts", str(N), "--seed", "1", "--if-empty")
    assert "Demo logins" in out
    counts = (Contact.objects.count(), Company.objects.count(), Interaction.objects.count())
    # when
    again = demo("--contacts", str(N), "--seed", "1", "--if-empty")
    # then
    assert "not loaded" in again
    assert (Contact.objects.count(), Company.objects.count(), Interaction.objects.count()) == counts
    assert User.objects.count() == 11
    with pytest.raises(CommandError, match="not empty"):
        demo("--contacts", str(N), "--seed", "1")
    # and --append adds the same clients again beside them, reusing the users
    demo("--contacts", str(N), "--seed", "1", "--append")
    assert Contact.objects.count() == 2 * N and User.objects.count() == 11
    names = list(Contact.objects.order_by("id").values_list("first_name", "last_name", "search_text"))
    assert names[:N] == names[N:]


def test_reset_is_refused_in_production(settings):
    # given
    demo("--contacts", "20", "--seed", "1")
    settings.KRAMAR_ENV = "production"
    # when / then
    with pytest.raises(CommandError, match="production"):
        demo("--contacts", "20", "--seed", "1", "--reset", "--no-input")
    assert Contact.objects.count() == 20


def test_printed_logins_work(client):
    # when
    out = demo("--contacts", str(N), "--seed", "4")
    logins = LOGIN_LINE.findall(out)
    # then
    assert {u for u, _p, _r in logins} >= {"admin", "director", "lead.kyiv", "rep.kyiv1", "lead.lviv", "rep.lviv1"}
    for username, password, _role in logins:
        assert client.login(username=username, password=password), username
        client.logout()
    # scopes differ: the director sees every contact, a rep only their team's
    director, rep = User.objects.get(username="director"), User.objects.get(username="rep.lviv1")
    assert Contact.objects.visible_to(director).count() == N
    assert 0 < Contact.objects.visible_to(rep).count() < N


# --- sales: deals, tasks, products, rates, targets -------------------------------------------------------

ANCHOR = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)


def test_deals_are_consistent_with_their_pipelines_and_history():
    # when
    demo("--contacts", str(N), "--deals", "80", "--tasks", "150", "--seed", "9")
    # then: the counts asked for
    assert Deal.objects.count() == 80 and Task.objects.count() == 150
    deals = list(Deal.objects.select_related("stage", "company"))
    assert {d.status for d in deals} == {"open", "won", "lost"}
    assert {d.currency_id for d in deals} >= {"UAH", "USD"}
    assert {d.pipeline.name for d in deals} >= {"New business"}
    history = {}
    for row in DealStageHistory.objects.select_related("stage").order_by("deal_id", "entered_at", "id"):
        history.setdefault(row.deal_id, []).append(row)
    for deal in deals:
        assert deal.stage.pipeline_id == deal.pipeline_id
        assert deal.stage.kind == deal.status
        assert (deal.owner_id, deal.team_id) == (deal.company.owner_id, deal.company.team_id)
        if deal.status == "won":
            assert deal.closed_at is not None and deal.lost_reason_id is None and deal.amount > 0
        elif deal.status == "lost":
            assert deal.closed_at is not None and deal.lost_reason_id is not None
        else:
            assert deal.closed_at is None and deal.lost_reason_id is None
        # history: ordered stays, each closed when the next began, the last one open and the current stage
        rows = history[deal.pk]
        assert all(r.stage.pipeline_id == deal.pipeline_id for r in rows)
        positions = [r.stage.position for r in rows]
        assert positions == sorted(positions) or rows[-1].stage.kind == "lost"
        for earlier, later in itertools.pairwise(rows):
            assert earlier.left_at == later.entered_at and earlier.entered_at < later.entered_at
        assert rows[-1].left_at is None and rows[-1].stage_id == deal.stage_id
        assert rows[-1].entered_at == deal.stage_entered_at
        if deal.status != "open":
            assert deal.closed_at == deal.stage_entered_at
        assert deal.created_at <= rows[0].entered_at + dt.timedelta(hours=1) and deal.stage_entered_at <= ANCHOR
    # product lines: the amount is their total (net + VAT)
    with_lines = Deal.objects.filter(lines__isnull=False).distinct().prefetch_related("lines")
    assert with_lines.exists()
    for deal in with_lines:
        assert deal.amount == sum(line.total for line in deal.lines.all())
        assert all(line.product_id for line in deal.lines.all())
    # contacts: the deal's contact works at its company
    for link in DealContact.objects.select_related("deal", "contact"):
        assert link.contact.company_links.filter(company_id=link.deal.company_id).exists()


def test_tasks_belong_to_their_clients_owners():
    # when
    demo("--contacts", str(N), "--deals", "40", "--tasks", "300", "--seed", "12")
    # then
    tasks = list(Task.objects.select_related("contact", "company", "deal"))
    assert len(tasks) == 300
    assert {t.kind for t in tasks} == {"call", "meeting", "email", "todo"}
    primary_team = dict(Membership.objects.filter(is_primary=True).values_list("user_id", "team_id"))
    for task in tasks:
        assert task.team_id == primary_team[task.owner_id]
        if task.deal_id:
            assert task.owner_id == task.deal.owner_id and task.company_id == task.deal.company_id
        elif task.contact_id:
            assert task.owner_id == task.contact.owner_id
            assert task.company_id == task.contact.primary_company_id
        else:
            assert task.owner_id == task.company.owner_id
        if task.status == "done":
            assert task.completed_at is not None and task.due_at < ANCHOR and task.completed_at <= ANCHOR
            if task.kind in ("call", "meeting"):
                assert task.outcome
        else:
            assert task.completed_at is None
        if task.reminded_at is not None:
            assert task.remind_at == task.reminded_at < ANCHOR
    open_tasks = [t for t in tasks if t.status == "open"]
    today = [t for t in open_tasks if t.due_at.date() == ANCHOR.date()]
    overdue = [t for t in open_tasks if t.due_at < ANCHOR]
    future = [t for t in open_tasks if t.due_at.date() > ANCHOR.date()]
    assert today and overdue and future
    assert Task.objects.filter(status="cancelled").exists()
    assert len({t.ical_uid for t in tasks}) == 300
    # deals: most open ones have a next step, some have none (the control page shows them)
    open_deals = Deal.objects.filter(status="open")
    with_next = open_deals.filter(tasks__status="open").distinct().count()
    assert 0 < with_next < open_deals.count()
    # a rep sees their own tasks
    rep = User.objects.get(username="rep.kyiv1")
    assert Task.objects.visible_to(rep).filter(owner=rep, status="open").exists()


def test_catalogue_rates_targets_classes_and_last_contact():
    # when
    demo("--contacts", str(N), "--seed", "13")
    # then: default counts
    assert Deal.objects.count() == N // 5 and Task.objects.count() == N
    # the catalogue: ~200 products, priced in UAH, USD and EUR
    assert Product.objects.filter(sku__startswith="DEMO-").count() == 200
    assert ProductPrice.objects.filter(currency_id="UAH").count() == 200
    assert set(ProductPrice.objects.values_list("currency_id", flat=True)) == {"UAH", "USD", "EUR"}
    # a year of daily rates
    for code in ("USD", "EUR"):
        dates = ExchangeRate.objects.filter(currency_id=code).values_list("date", flat=True)
        assert len(dates) == 365 and max(dates) == ANCHOR.date()
    assert Decimal(30) < ExchangeRate.objects.filter(currency_id="USD").order_by("-date").first().rate < Decimal(60)
    # targets per rep for this month and the previous one
    owners = set(Contact.objects.values_list("owner_id", flat=True))
    targets = SalesTarget.objects.all()
    assert {t.user_id for t in targets} == owners
    assert {(t.period_start, t.period_end) for t in targets} == {
        (dt.date(2026, 1, 1), dt.date(2026, 1, 31)), (dt.date(2025, 12, 1), dt.date(2025, 12, 31)),
    }
    # client classes A/B/C about 20/30/50 %
    classes = Counter(Company.objects.values_list("client_class", flat=True))
    assert set(classes) == {"A", "B", "C"}
    assert classes["A"] < classes["B"] < classes["C"]
    # last contact = the latest interaction (what control.services.last_contacted_refresh computes)
    for model, field in ((Contact, "contact"), (Company, "company")):
        latest = dict(Interaction.objects.values(field).annotate(m=Max("occurred_at")).values_list(field, "m"))
        for pk, last in model.objects.values_list("id", "last_contacted_at"):
            assert last == latest.get(pk), (model, pk)


def test_same_seed_gives_the_same_deals_and_tasks_and_reset_removes_them():
    def snapshot():
        deals = list(Deal.objects.order_by("id").values_list(
            "title", "stage__name", "status", "amount", "currency_id", "closed_at", "expected_close_date"))
        tasks = list(Task.objects.order_by("id").values_list("kind", "title", "due_at", "status", "ical_uid"))
        lines = list(DealLine.objects.order_by("id").values_list("product__sku", "quantity", "unit_price"))
        return deals, tasks, lines

    # given
    demo("--contacts", "100", "--seed", "21")
    first = snapshot()
    # when
    demo("--contacts", "100", "--seed", "21", "--reset", "--no-input")
    second = snapshot()
    # then
    assert first == second and len(first[0]) == 20 and len(first[1]) == 100
    assert Deal.objects.count() == 20 and DealStageHistory.objects.filter(deal__isnull=True).count() == 0
    # and the pipelines are created when the database has none
    Task.objects.all().delete()  # (children first: search's bulk_load_end() leaves FK checks immediate here)
    Deal.objects.all().delete()
    Pipeline.objects.all().delete()
    demo("--contacts", "50", "--deals", "10", "--tasks", "0", "--seed", "21", "--reset", "--no-input")
    assert set(Pipeline.objects.values_list("name", flat=True)) == {"New business", "Renewals"}
    assert Deal.objects.count() == 10 and Task.objects.count() == 0


def test_zero_deals_and_tasks_and_bad_counts():
    # when
    demo("--contacts", "40", "--deals", "0", "--tasks", "0", "--seed", "1")
    # then
    assert Contact.objects.count() == 40 and not Deal.objects.exists() and not Task.objects.exists()
    with pytest.raises(CommandError, match="--deals"):
        demo("--contacts", "40", "--deals", "-1", "--append")
    with pytest.raises(CommandError, match="--tasks"):
        demo("--contacts", "40", "--tasks", "-5", "--append")
