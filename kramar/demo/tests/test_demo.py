"""The demo command: deterministic, valid, consistent with what the services write, safe to re-run."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.validators import URLValidator
from django.db.models import Count, Q
from stdnum.ua import edrpou, rntrc

from kramar.accounts.models import Membership, User
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

pytestmark = pytest.mark.django_db

N = 200
LOGIN_LINE = re.compile(r"^\s+(\S+)\s+(\S+)\s+(Administrator|Sales director|Team lead|Sales rep)\b", re.M)


def demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", "--no-progress", "--anchor-date", "2026-01-15", *args, stdout=out)
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
