"""The web pages of the client base, through HTTP: scopes, forms and their errors, HTMX partials."""

import pytest
from django.urls import reverse

from kramar.clients.models import Company, Contact
from kramar.clients.services import company_create, contact_create, contact_update
from kramar.clients.tests.factories import CompanyFactory, ContactFactory, ContactPointFactory
from kramar.core.models import AuditEntry
from kramar.core.tests.factories import CustomFieldDefinitionFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def as_rep_a(client, rep_a):
    client.force_login(rep_a)
    return client


def _contact_post(**overrides):
    data = {
        "first_name": "Олена",
        "last_name": "Петренко",
        "emails": "olena@example.com",
        "phones": "067 123 45 67",
        "lifecycle_stage": "lead",
        "marketing_consent": "unknown",
        "language": "uk",
        "tags": "vip, kyiv",
    }
    data.update(overrides)
    return data


# ----------------------------------------------------------------------------------------- pages


def test_anonymous_is_sent_to_login(client):
    # when
    response = client.get(reverse("clients:contact-list"))
    # then
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize(
    "name",
    ["clients:contact-list", "clients:company-list", "clients:contact-create", "clients:company-create"],
)
def test_pages_render_for_a_rep(as_rep_a, name):
    # when
    response = as_rep_a.get(reverse(name))
    # then
    assert response.status_code == 200
    assert b"<html" in response.content


def test_cards_and_edit_forms_render_for_the_owner(as_rep_a, rep_a, team_a):
    # given
    company = company_create(actor=rep_a, data={"name": "ТОВ Сонях", "code": "14360570"})
    contact = contact_create(
        actor=rep_a,
        data={
            "first_name": "Іван",
            "last_name": "Франко",
            "company_ids": [company.pk],
            "emails": ["ivan@example.com"],
        },
    )
    # when
    pages = [
        as_rep_a.get(reverse("clients:contact-detail", args=[contact.pk])),
        as_rep_a.get(reverse("clients:company-detail", args=[company.pk])),
        as_rep_a.get(reverse("clients:contact-edit", args=[contact.pk])),
        as_rep_a.get(reverse("clients:company-edit", args=[company.pk])),
    ]
    # then
    assert [p.status_code for p in pages] == [200, 200, 200, 200]
    card = pages[0].content.decode()
    assert "Франко" in card and "ivan@example.com" in card and "ТОВ Сонях" in card
    assert f"/merge/contact/{contact.pk}/" in card
    assert "Франко" in pages[1].content.decode()  # the company card lists its people
    assert f'value="{contact.version}"' in pages[2].content.decode()


def test_other_teams_card_and_edit_are_404(as_rep_a, rep_b):
    # given
    contact = ContactFactory(owner=rep_b, team=rep_b.teams.first())
    company = CompanyFactory(owner=rep_b, team=rep_b.teams.first())
    # when
    codes = [
        as_rep_a.get(reverse("clients:contact-detail", args=[contact.pk])).status_code,
        as_rep_a.get(reverse("clients:contact-edit", args=[contact.pk])).status_code,
        as_rep_a.post(reverse("clients:contact-edit", args=[contact.pk]), _contact_post()).status_code,
        as_rep_a.get(reverse("clients:company-detail", args=[company.pk])).status_code,
        as_rep_a.get(reverse("clients:company-edit", args=[company.pk])).status_code,
    ]
    # then
    assert codes == [404, 404, 404, 404, 404]
    contact.refresh_from_db()
    assert contact.last_name != "Петренко"


def test_teammates_record_is_visible_but_not_editable(as_rep_a, rep_a2, team_a):
    # given
    contact = ContactFactory(owner=rep_a2, team=team_a)
    # when
    card = as_rep_a.get(reverse("clients:contact-detail", args=[contact.pk]))
    edit = as_rep_a.get(reverse("clients:contact-edit", args=[contact.pk]))
    # then
    assert card.status_code == 200
    assert reverse("clients:contact-edit", args=[contact.pk]) not in card.content.decode()
    assert edit.status_code == 403


# ----------------------------------------------------------------------------------------- lists


def test_contact_list_shows_only_the_scope(as_rep_a, rep_a, rep_b, team_a):
    # given
    ContactFactory(owner=rep_a, team=team_a, last_name="Своя")
    ContactFactory(owner=rep_b, team=rep_b.teams.first(), last_name="Чужа")
    # when
    html = as_rep_a.get(reverse("clients:contact-list")).content.decode()
    # then
    assert "Своя" in html and "Чужа" not in html


def test_list_filters_and_sorting(as_rep_a, rep_a, team_a):
    # given
    ContactFactory(owner=rep_a, team=team_a, last_name="Андрієнко", lifecycle_stage="customer")
    ContactFactory(owner=rep_a, team=team_a, last_name="Яковенко", lifecycle_stage="lead")
    url = reverse("clients:contact-list")
    # when
    by_stage = as_rep_a.get(url, {"lifecycle_stage": "customer"}).content.decode()
    desc = as_rep_a.get(url, {"sort": "-name"}).content.decode()
    by_q = as_rep_a.get(url, {"q": "ЯКОВ"}).content.decode()
    # then
    assert "Андрієнко" in by_stage and "Яковенко" not in by_stage
    assert desc.index("Яковенко") < desc.index("Андрієнко")
    assert "Яковенко" in by_q and "Андрієнко" not in by_q


def test_htmx_list_request_returns_only_the_table(as_rep_a, rep_a, team_a):
    # given
    ContactFactory(owner=rep_a, team=team_a, last_name="Шевченко")
    # when
    full = as_rep_a.get(reverse("clients:contact-list"))
    partial = as_rep_a.get(reverse("clients:contact-list"), {"sort": "-name"}, **HTMX)
    # then
    assert b"<html" in full.content and b'id="list-table"' in full.content
    body = partial.content.decode()
    assert "<html" not in body and "<header" not in body
    assert body.lstrip().startswith('<div id="list-table">') and "Шевченко" in body


def test_empty_state_invites_the_first_contact(as_rep_a):
    # when
    html = as_rep_a.get(reverse("clients:contact-list")).content.decode()
    # then
    assert "No contacts yet" in html and reverse("clients:contact-create") in html


def test_pagination_caps_the_count_and_the_depth(as_rep_a, rep_a, team_a, monkeypatch):
    # given: a cap of 6 rows and pages of 2 stand for 10,000 and 50
    from kramar.core import pagination

    monkeypatch.setattr(pagination, "COUNT_CAP", 6)
    monkeypatch.setattr(pagination, "PAGE_SIZE", 2)
    for i in range(7):
        ContactFactory(owner=rep_a, team=team_a, last_name=f"Особа{i}")
    url = reverse("clients:contact-list")
    # when
    first = as_rep_a.get(url).content.decode()
    deep = as_rep_a.get(url, {"page": 9}).content.decode()
    # then
    assert "1–2 of more than 10,000" in first and "page=2" in first
    assert "5–6 of more than 10,000" in deep and "Особа5" in deep and "Особа6" not in deep
    assert 'rel="next"' not in deep and "Narrow the filters" in deep


def test_small_lists_show_the_exact_count(as_rep_a, rep_a, team_a):
    # given
    for _ in range(3):
        ContactFactory(owner=rep_a, team=team_a)
    # when
    html = as_rep_a.get(reverse("clients:contact-list")).content.decode()
    # then
    assert "1–3 of 3" in html and 'rel="next"' not in html
    past_the_end = as_rep_a.get(reverse("clients:contact-list"), {"page": 7}).content.decode()
    assert "1–3 of 3" in past_the_end


@pytest.mark.parametrize("name", ["clients:contact-list", "clients:company-list"])
def test_list_pages_use_a_bounded_number_of_queries(
    client, rep_a, team_a, django_assert_max_num_queries, name
):
    # given: a full page of rows with e-mails, companies and tags
    for _ in range(60):
        company = CompanyFactory(owner=rep_a, team=team_a)
        contact = ContactFactory(owner=rep_a, team=team_a, primary_company=company)
        ContactPointFactory(contact=contact)
    client.force_login(rep_a)
    # when / then
    with django_assert_max_num_queries(12):
        response = client.get(reverse(name))
    assert response.status_code == 200
    with django_assert_max_num_queries(12):
        client.get(reverse(name), {"page": 2, "sort": "-updated"}, **HTMX)


# ----------------------------------------------------------------------------------------- bulk


def test_bulk_tag_skips_records_outside_the_scope(as_rep_a, rep_a, rep_b, team_a):
    # given
    mine = ContactFactory(owner=rep_a, team=team_a)
    theirs = ContactFactory(owner=rep_b, team=rep_b.teams.first())
    # when
    response = as_rep_a.post(
        reverse("clients:contact-bulk"),
        {"ids": [mine.pk, theirs.pk], "action": "tag", "tag": "vip", "back": "?sort=name"},
        **HTMX,
    )
    # then
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "1 changed, 1 skipped (outside your scope)" in body
    assert list(mine.tags.values_list("name", flat=True)) == ["vip"]
    assert not theirs.tags.exists()


def test_bulk_set_owner_without_htmx_redirects_with_a_message(client, lead_a, rep_a, rep_a2, rep_b, team_a):
    # given
    client.force_login(lead_a)
    ours = CompanyFactory(owner=rep_a, team=team_a)
    theirs = CompanyFactory(owner=rep_b, team=rep_b.teams.first())
    # when
    response = client.post(
        reverse("clients:company-bulk"),
        {"ids": [ours.pk, theirs.pk], "action": "owner", "owner": rep_a2.pk},
        follow=True,
    )
    # then
    assert "1 changed, 1 skipped (outside your scope)" in response.content.decode()
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.owner == rep_a2 and theirs.owner == rep_b


def test_bulk_without_selection_says_so(as_rep_a):
    # when
    response = as_rep_a.post(reverse("clients:contact-bulk"), {"action": "tag", "tag": "vip"}, **HTMX)
    # then
    assert "Select at least one row." in response.content.decode()


# ----------------------------------------------------------------------------------------- forms


def test_contact_create_saves_and_redirects_to_the_card(as_rep_a, rep_a):
    # given
    company = company_create(actor=rep_a, data={"name": "Сонях"})
    # when
    response = as_rep_a.post(
        reverse("clients:contact-create"),
        _contact_post(company_ids=[company.pk], phones="mobile: 067 123 45 67\nwork: +380441234567"),
    )
    # then
    contact = Contact.objects.get(last_name="Петренко")
    assert response.status_code == 302 and response["Location"] == reverse(
        "clients:contact-detail", args=[contact.pk]
    )
    assert contact.owner == rep_a and contact.primary_company == company
    assert sorted(contact.tags.values_list("name", flat=True)) == ["kyiv", "vip"]
    assert {(p.normalized, p.label, p.is_primary) for p in contact.points.filter(kind="phone")} == {
        ("+380671234567", "mobile", True),
        ("+380441234567", "work", False),
    }


@pytest.mark.parametrize(
    ("post", "field", "fragment"),
    [
        ({"emails": "olena@example.com\nnot-an-email"}, "emails", "line 2"),
        ({"phones": "12345"}, "phones", "line 1"),
    ],
)
def test_contact_form_shows_field_errors_and_saves_nothing(as_rep_a, post, field, fragment):
    # when
    response = as_rep_a.post(reverse("clients:contact-create"), _contact_post(**post))
    # then
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert fragment in " ".join(response.context["form"].errors[field])
    assert f'data-field-errors="{field}"' in response.content.decode()
    assert not Contact.objects.exists()


def test_company_form_shows_edrpou_error_and_saves_nothing(as_rep_a):
    # when
    response = as_rep_a.post(
        reverse("clients:company-create"),
        {"name": "Сонях", "code": "14360571", "country": "UA", "lifecycle_stage": "lead"},
    )
    # then
    assert response.status_code == 200
    assert "code" in response.context["form"].errors
    assert 'data-field-errors="code"' in response.content.decode()
    assert not Company.objects.exists()


def test_custom_field_errors_land_on_the_custom_field(as_rep_a):
    # given
    CustomFieldDefinitionFactory(
        entity="contact", key="segment", label="Segment", field_type="number", required=True
    )
    # when
    response = as_rep_a.post(reverse("clients:contact-create"), _contact_post(custom__segment="lots"))
    # then
    assert "custom__segment" in response.context["form"].errors
    assert not Contact.objects.exists()


def test_edit_saves_with_the_version(as_rep_a, rep_a):
    # given
    contact = contact_create(actor=rep_a, data={"first_name": "Іван", "last_name": "Франко"})
    # when
    response = as_rep_a.post(
        reverse("clients:contact-edit", args=[contact.pk]),
        _contact_post(version=contact.version, last_name="Франко-Сидоренко"),
    )
    # then
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.last_name == "Франко-Сидоренко" and contact.version == 2


def test_version_conflict_keeps_the_input_and_says_so(as_rep_a, rep_a):
    # given: someone saved the contact after the form was opened at version 1
    contact = contact_create(actor=rep_a, data={"first_name": "Іван", "last_name": "Франко"})
    contact_update(actor=rep_a, contact=contact, data={"position": "Директор"})
    # when
    response = as_rep_a.post(
        reverse("clients:contact-edit", args=[contact.pk]), _contact_post(version=1, last_name="Мій варіант")
    )
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert "changed by someone else since you opened it" in body
    assert 'value="Мій варіант"' in body
    contact.refresh_from_db()
    assert contact.last_name == "Франко" and contact.version == 2
    assert 'name="version" value="2"' in body  # saving again is a deliberate overwrite


def test_duplicate_warning_then_save_anyway(as_rep_a, rep_a):
    # given
    existing = contact_create(actor=rep_a, data={"last_name": "Петренко", "emails": ["olena@example.com"]})
    url = reverse("clients:contact-create")
    # when
    warned = as_rep_a.post(url, _contact_post())
    saved = as_rep_a.post(url, _contact_post(allow_duplicates="on"))
    # then
    body = warned.content.decode()
    assert warned.status_code == 200 and 'data-testid="duplicates"' in body
    assert reverse("clients:contact-detail", args=[existing.pk]) in body and 'name="allow_duplicates"' in body
    assert saved.status_code == 302
    assert Contact.objects.filter(last_name="Петренко").count() == 2
    assert AuditEntry.objects.filter(entity="contact", action="create").count() == 2


def test_company_picker_finds_only_visible_companies(as_rep_a, rep_a, rep_b, team_a):
    # given
    company_create(actor=rep_a, data={"name": "Сонях Київ"})
    company_create(actor=rep_b, data={"name": "Сонях Львів"})
    # when
    body = as_rep_a.get(reverse("clients:company-pick"), {"company_q": "соня"}, **HTMX).content.decode()
    # then
    assert "Сонях Київ" in body and "Сонях Львів" not in body


def _initial_post(form) -> dict:
    """What a browser sends back for an untouched form."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return data


def test_saving_an_untouched_edit_form_keeps_everything(as_rep_a, rep_a):
    # given
    CustomFieldDefinitionFactory(
        entity="company", key="segment", label="Segment", field_type="choice", choices=["A", "B"]
    )
    company = company_create(
        actor=rep_a,
        data={
            "name": "ТОВ Сонях",
            "code": "14360570",
            "emails": [{"value": "info@sonyakh.ua"}],
            "phones": [
                {"value": "044 123 45 67", "label": "work"},
                {"value": "067 123 45 67", "label": "mobile"},
            ],
            "tags": ["b2b", "kyiv"],
            "custom": {"segment": "B"},
            "address": {"city": "Київ", "line": "вул. Січова, 1"},
        },
    )
    url = reverse("clients:company-edit", args=[company.pk])
    form = as_rep_a.get(url).context["form"]
    # when
    response = as_rep_a.post(url, _initial_post(form))
    # then
    assert response.status_code == 302
    company.refresh_from_db()
    assert company.code == "14360570" and company.custom == {"segment": "B"}
    assert sorted(company.tags.values_list("name", flat=True)) == ["b2b", "kyiv"]
    assert {(p.normalized, p.label, p.is_primary) for p in company.points.filter(kind="phone")} == {
        ("+380441234567", "work", True),
        ("+380671234567", "mobile", False),
    }
    assert str(company.addresses.get()) == "вул. Січова, 1, Київ, UA"
    assert company.owner == rep_a


def test_add_contact_from_a_company_card_links_the_company(as_rep_a, rep_a):
    # given
    company = company_create(actor=rep_a, data={"name": "Сонях"})
    # when
    html = as_rep_a.get(reverse("clients:contact-create"), {"company": company.pk}).content.decode()
    # then
    assert f'name="company_ids" value="{company.pk}" checked' in html
