"""The audit tab of a contact or company, over HTTP."""

import re

import pytest
from django.urls import reverse

from kramar.clients.services import company_update, contact_create, contact_update
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.context import audit_context
from kramar.core.models import AuditEntry
from kramar.core.tests.factories import AuditEntryFactory
from kramar.history.services import interaction_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _audit(entity, pk):
    return reverse("core:audit", args=[entity, pk])


def _rows(html: str) -> dict[str, tuple[str, str]]:
    """{field: (before, after)} of the diff tables in the page, tags stripped."""
    rows = {}
    for field, old, new in re.findall(
        r'<tr data-field="([^"]+)">\s*<th scope="row">.*?</th>\s*<td class="audit-old">(.*?)</td>\s*<td class="audit-new">(.*?)</td>',
        html,
        flags=re.S,
    ):
        rows[field] = (re.sub(r"<[^>]+>", " ", old).split(), re.sub(r"<[^>]+>", " ", new).split())
    return rows


def _newest(html: str) -> str:
    """The first (newest) entry of the tab."""
    return html.split('class="audit-entry"')[1]


@pytest.fixture
def contact(rep_a, team_a):
    with audit_context(source="web", ip="10.0.0.5"):
        return contact_create(
            actor=rep_a,
            data={
                "first_name": "Олена",
                "last_name": "Петренко",
                "tags": ["vip"],
                "emails": ["olena@example.com"],
                "lifecycle_stage": "lead",
            },
        )


def test_audit_tab_shows_the_diff_of_an_update(client, rep_a, contact):
    # given
    with audit_context(source="api", ip="203.0.113.9"):
        contact_update(
            actor=rep_a,
            contact=contact,
            data={
                "first_name": "Ольга",
                "lifecycle_stage": "customer",
                "tags": ["vip", "kyiv"],
                "emails": ["olga@example.com"],
                "phones": ["067 123 45 67"],
            },
        )
    client.force_login(rep_a)
    # when
    response = client.get(_audit("contact", contact.pk), **HTMX)
    # then
    assert response.status_code == 200
    html = response.content.decode()
    newest = _newest(html)
    assert "Updated" in newest and "API" in newest and "203.0.113.9" in newest
    assert rep_a.get_full_name() in newest
    rows = _rows(newest)
    assert rows["first_name"] == (["Олена"], ["Ольга"])
    assert rows["lifecycle_stage"] == (["Lead"], ["Customer"])  # choice labels, not codes
    assert rows["tags"] == (["vip"], ["kyiv", "vip"])
    assert rows["points"][1] == [
        "E-mail",
        "olga@example.com",
        "(primary)",
        "Phone",
        "+380671234567",
        "(primary)",
    ]
    assert "First name" in newest and "Lifecycle stage" in newest and "Tags" in newest
    # lists and dicts are never shown as JSON
    assert "[&quot;" not in html and '["' not in html and "{&" not in html


def test_audit_entries_are_newest_first_and_name_the_source(client, rep_a, contact):
    contact_update(actor=rep_a, contact=contact, data={"position": "CEO"})  # no request context: "system"
    client.force_login(rep_a)
    html = client.get(_audit("contact", contact.pk), **HTMX).content.decode()
    actions = re.findall(r"<header>\s*<strong>(\w+)</strong>", html)
    assert actions == ["Updated", "Created"]
    assert "source: system" in html and "source: web" in html and "10.0.0.5" in html


def test_owner_change_shows_names_not_ids(client, rep_a, lead_a, contact):
    contact_update(actor=lead_a, contact=contact, data={"owner_id": lead_a.pk})
    client.force_login(lead_a)
    html = client.get(_audit("contact", contact.pk), **HTMX).content.decode()
    rows = _rows(_newest(html))
    assert " ".join(rows["owner"][0]) == rep_a.get_full_name()
    assert " ".join(rows["owner"][1]) == lead_a.get_full_name()


def test_contact_audit_includes_its_interactions(client, rep_a, contact):
    interaction = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "subject": "Quote"}
    )
    AuditEntryFactory(entity="interaction", object_id=interaction.pk + 1000, object_repr="someone else's")
    client.force_login(rep_a)
    html = client.get(_audit("contact", contact.pk), **HTMX).content.decode()
    assert "interaction: Quote" in html
    assert "someone else&#x27;s" not in html and "someone else's" not in html


def test_interaction_attachment_entries_render(client, rep_a, contact):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kramar.history.services import attachment_add

    interaction = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "email", "subject": "Offer"}
    )
    attachment_add(actor=rep_a, interaction=interaction, upload=SimpleUploadedFile("offer.pdf", b"%PDF"))
    client.force_login(rep_a)
    response = client.get(_audit("contact", contact.pk), **HTMX)
    assert response.status_code == 200
    rows = _rows(_newest(response.content.decode()))
    assert rows["attachments"] == (["—"], ["offer.pdf"])


def test_deleted_interactions_stay_in_the_clients_audit(client, rep_a, rep_b, team_b, contact):
    from kramar.history.services import interaction_delete

    # given
    gone = interaction_create(
        actor=rep_a, data={"contact_id": contact.pk, "channel": "call", "subject": "Mistake"}
    )
    interaction_delete(actor=rep_a, interaction=gone)
    other = ContactFactory(owner=rep_b, team=team_b)
    elsewhere = interaction_create(
        actor=rep_b, data={"contact_id": other.pk, "channel": "call", "subject": "Other"}
    )
    interaction_delete(actor=rep_b, interaction=elsewhere)
    client.force_login(rep_a)
    # when
    html = client.get(_audit("contact", contact.pk), **HTMX).content.decode()
    # then
    assert "Deleted" in html and "interaction: Mistake" in html
    assert "interaction: Other" not in html


def test_company_audit_tab(client, rep_a, team_a):
    company = CompanyFactory(owner=rep_a, team=team_a, name="Ромашка")
    company_update(actor=rep_a, company=company, data={"name": "Ромашка-2", "industry": "Retail"})
    client.force_login(rep_a)
    html = client.get(_audit("company", company.pk), **HTMX).content.decode()
    rows = _rows(_newest(html))
    assert rows["name"] == (["Ромашка"], ["Ромашка-2"])
    assert rows["industry"] == (["—"], ["Retail"])


def test_values_are_escaped(client, rep_a, contact):
    contact_update(actor=rep_a, contact=contact, data={"notes": "<script>alert(1)</script>"})
    client.force_login(rep_a)
    html = client.get(_audit("contact", contact.pk), **HTMX).content.decode()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_audit_tab_is_paginated_with_show_older(client, rep_a, contact):
    # given: 1 create + 30 more entries
    for n in range(30):
        AuditEntryFactory(
            entity="contact",
            object_id=contact.pk,
            action="update",
            changes={"position": [str(n), str(n + 1)]},
        )
    client.force_login(rep_a)
    # when
    first = client.get(_audit("contact", contact.pk), **HTMX).content.decode()
    more = (
        re.search(r'<div class="audit-more">\s*<button[^>]*hx-get="([^"]+)"', first)
        .group(1)
        .replace("&amp;", "&")
    )
    second = client.get(more, **HTMX).content.decode()
    # then
    ids_first = re.findall(r'id="audit-entry-(\d+)"', first)
    ids_second = re.findall(r'id="audit-entry-(\d+)"', second)
    assert len(ids_first) == 25 and len(ids_second) == 6
    expected = [
        str(pk)
        for pk in AuditEntry.objects.filter(entity="contact")
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    ]
    assert ids_first + ids_second == expected
    assert "audit-more" not in second


def test_audit_tab_query_count(client, rep_a, contact, django_assert_max_num_queries):
    for _n in range(3):
        contact_update(actor=rep_a, contact=contact, data={"owner_id": rep_a.pk, "position": f"p{_n}"})
    client.force_login(rep_a)
    with django_assert_max_num_queries(9):
        assert client.get(_audit("contact", contact.pk), **HTMX).status_code == 200


def test_audit_tab_is_404_outside_scope(client, rep_b, contact):
    client.force_login(rep_b)
    assert client.get(_audit("contact", contact.pk), **HTMX).status_code == 404
    company = CompanyFactory(owner=contact.owner, team=contact.team)
    assert client.get(_audit("company", company.pk), **HTMX).status_code == 404


def test_audit_tab_of_unknown_kind_or_record_is_404(client, rep_a, contact):
    client.force_login(rep_a)
    assert client.get(_audit("user", rep_a.pk), **HTMX).status_code == 404
    assert client.get(_audit("contact", contact.pk + 999), **HTMX).status_code == 404


def test_audit_tab_of_a_team_mates_client_is_visible(client, rep_a2, contact):
    client.force_login(rep_a2)
    assert client.get(_audit("contact", contact.pk), **HTMX).status_code == 200


def test_anonymous_is_sent_to_login(client):
    contact = ContactFactory()
    assert client.get(_audit("contact", contact.pk), **HTMX).status_code == 302


def test_empty_audit_tab(client, rep_a, team_a):
    contact = ContactFactory(owner=rep_a, team=team_a)
    client.force_login(rep_a)
    assert "No changes recorded yet." in client.get(_audit("contact", contact.pk), **HTMX).content.decode()


def test_opened_without_htmx_the_audit_tab_is_a_full_page(client, rep_a, contact):
    client.force_login(rep_a)
    html = client.get(_audit("contact", contact.pk)).content.decode()
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert f'id="audit-contact-{contact.pk}"' in html
    assert reverse("clients:contact-detail", args=[contact.pk]) in html
