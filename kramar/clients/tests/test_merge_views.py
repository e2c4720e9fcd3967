"""The merge pages through HTTP: pick, side-by-side preview, confirm, journal, undo."""

import pytest
from django.urls import reverse

from kramar.clients.merge import contacts_merge
from kramar.clients.models import Company, Contact, MergeRecord
from kramar.clients.services import company_create, contact_create
from kramar.history.tests.factories import InteractionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(rep_a):
    survivor = contact_create(
        actor=rep_a,
        allow_duplicates=True,
        data={
            "first_name": "Taras",
            "last_name": "Shevchenko",
            "emails": ["taras@kobzar.ua"],
            "tags": ["poet"],
        },
    )
    loser = contact_create(
        actor=rep_a,
        allow_duplicates=True,
        data={
            "first_name": "Тарас",
            "last_name": "Shevchenko",
            "position": "Poet",
            "emails": ["TARAS@kobzar.ua", "t.shevchenko@ukr.net"],
        },
    )
    InteractionFactory(contact=loser, subject="Letter from Orenburg", user=rep_a)
    return survivor, loser


@pytest.fixture
def web(client, rep_a):
    client.force_login(rep_a)
    return client


def test_pick_page_lists_likely_duplicates_and_searches(web, two):
    # given
    survivor, loser = two
    url = reverse("merge:contact-pick", args=[survivor.pk])
    # when
    page = web.get(url)
    # then
    assert page.status_code == 200
    body = page.content.decode()
    assert reverse("merge:contact-confirm", args=[survivor.pk, loser.pk]) in body
    assert "same e-mail taras@kobzar.ua" in body
    # when: a free search through HTMX returns only the results
    partial = web.get(url, {"q": "ukr.net"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    assert reverse("merge:contact-confirm", args=[survivor.pk, loser.pk]) in partial.content.decode()


def test_preview_shows_both_values_with_choices_and_counts(web, two):
    survivor, loser = two
    page = web.get(reverse("merge:contact-confirm", args=[survivor.pk, loser.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="choice.first_name" value="survivor" checked' in body
    assert 'name="choice.position" value="loser" checked' in body  # blank on the survivor
    assert "Тарас" in body and "Taras" in body
    assert "Interactions" in body and "Duplicates dropped" in body
    preview = page.context["preview"]
    counts = {c.key: (c.moving, c.duplicates) for c in preview.counts}
    assert counts["history.interaction.contact"] == (1, 0)
    assert counts["clients.contactpoint.contact"] == (1, 1)


def test_confirm_merges_with_the_chosen_values_and_offers_undo_on_the_card(web, two):
    # given
    survivor, loser = two
    # when
    response = web.post(
        reverse("merge:contact-confirm", args=[survivor.pk, loser.pk]),
        {"choice.first_name": "loser", "choice.position": "loser"},
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("clients:contact-detail", args=[survivor.pk])
    survivor.refresh_from_db()
    assert survivor.first_name == "Тарас" and survivor.position == "Poet"
    assert Contact.objects.get(pk=loser.pk).merged_into_id == survivor.pk
    record = MergeRecord.objects.get()
    card = web.get(response["Location"])
    assert card.status_code == 200
    body = card.content.decode()
    assert "Undo merge" in body and reverse("merge:record-undo", args=[record.pk]) in body
    assert list(survivor.interactions.values_list("subject", flat=True)) == ["Letter from Orenburg"]


def test_confirm_with_a_bad_choice_shows_the_error_and_merges_nothing(web, two):
    survivor, loser = two
    response = web.post(
        reverse("merge:contact-confirm", args=[survivor.pk, loser.pk]), {"choice.first_name": "both"}
    )
    assert response.status_code == 400
    assert "first_name" in response.content.decode()
    assert MergeRecord.objects.count() == 0


def test_pages_are_404_outside_scope_and_login_is_required(client, rep_b, two):
    survivor, loser = two
    anonymous = client.get(reverse("merge:contact-pick", args=[survivor.pk]))
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    client.force_login(rep_b)
    assert client.get(reverse("merge:contact-pick", args=[survivor.pk])).status_code == 404
    assert client.get(reverse("merge:contact-confirm", args=[survivor.pk, loser.pk])).status_code == 404
    assert client.post(reverse("merge:contact-confirm", args=[survivor.pk, loser.pk]), {}).status_code == 404
    assert MergeRecord.objects.count() == 0


def test_journal_lists_merges_in_scope_and_undo_works_once(
    web, client, rep_a, rep_b, two, django_assert_max_num_queries
):
    # given
    survivor, loser = two
    record = contacts_merge(actor=rep_a, survivor=survivor, loser=loser).record
    # when / then: the journal
    with django_assert_max_num_queries(12):
        page = web.get(reverse("merge:record-list"))
    assert (
        page.status_code == 200 and reverse("merge:record-detail", args=[record.pk]) in page.content.decode()
    )
    assert (
        reverse("merge:record-undo", args=[record.pk]) in page.content.decode()
    )  # undo from the journal too
    detail = web.get(reverse("merge:record-detail", args=[record.pk]))
    assert detail.status_code == 200 and "Undo merge" in detail.content.decode()
    # when: undo
    undone = web.post(reverse("merge:record-undo", args=[record.pk]), follow=True)
    # then
    assert undone.status_code == 200
    assert "The merge was undone" in undone.content.decode()
    assert Contact.objects.get(pk=loser.pk).merged_into_id is None
    assert Contact.objects.get(pk=loser.pk).interactions.count() == 1
    assert reverse("merge:record-undo", args=[record.pk]) not in undone.content.decode()
    again = web.post(reverse("merge:record-undo", args=[record.pk]), follow=True)
    assert "already undone" in again.content.decode()
    # rep_b sees nothing of it
    client.force_login(rep_b)
    assert client.get(reverse("merge:record-list")).status_code == 200
    assert (
        reverse("merge:record-detail", args=[record.pk])
        not in client.get(reverse("merge:record-list")).content.decode()
    )
    assert client.get(reverse("merge:record-detail", args=[record.pk])).status_code == 404
    assert client.post(reverse("merge:record-undo", args=[record.pk])).status_code == 404


def test_company_merge_through_the_pages(web, rep_a):
    # given
    survivor = company_create(
        actor=rep_a, allow_duplicates=True, data={"name": "ТОВ Ромашка", "code": "32855961"}
    )
    loser = company_create(actor=rep_a, allow_duplicates=True, data={"name": "Ромашка", "code": "32855961"})
    contact = contact_create(
        actor=rep_a, allow_duplicates=True, data={"last_name": "Worker", "company_ids": [loser.pk]}
    )
    pick = web.get(reverse("merge:company-pick", args=[survivor.pk]))
    assert "same company code 32855961" in pick.content.decode()
    # when
    response = web.post(
        reverse("merge:company-confirm", args=[survivor.pk, loser.pk]), {"choice.name": "survivor"}
    )
    # then
    assert response.status_code == 302
    assert Company.objects.get(pk=loser.pk).merged_into_id == survivor.pk
    contact.refresh_from_db()
    assert contact.primary_company_id == survivor.pk


def test_a_teammate_sees_the_merge_but_is_not_offered_undo(client, rep_a, rep_a2, two):
    survivor, loser = two
    record = contacts_merge(actor=rep_a, survivor=survivor, loser=loser).record
    client.force_login(rep_a2)
    listed = client.get(reverse("merge:record-list")).content.decode()
    assert reverse("merge:record-detail", args=[record.pk]) in listed
    assert reverse("merge:record-undo", args=[record.pk]) not in listed
    detail = client.get(reverse("merge:record-detail", args=[record.pk]))
    assert (
        detail.status_code == 200
        and reverse("merge:record-undo", args=[record.pk]) not in detail.content.decode()
    )
    assert client.post(reverse("merge:record-undo", args=[record.pk])).status_code == 404
