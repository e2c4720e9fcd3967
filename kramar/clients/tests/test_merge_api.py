"""The merge endpoints through the real HTTP stack with a real token."""

import pytest

from kramar.clients.models import Company, Contact, MergeRecord
from kramar.clients.services import company_create, contact_create
from kramar.core.models import AuditEntry
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.history.tests.factories import InteractionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(rep_a):
    survivor = contact_create(
        actor=rep_a,
        allow_duplicates=True,
        data={"first_name": "Lesya", "last_name": "Ukrainka", "emails": ["lesya@ukr.net"], "tags": ["poet"]},
    )
    loser = contact_create(
        actor=rep_a,
        allow_duplicates=True,
        data={
            "first_name": "Larysa",
            "last_name": "Kosach",
            "emails": ["larysa@kosach.ua"],
            "tags": ["drama"],
        },
    )
    InteractionFactory(contact=loser, subject="Forest song", user=rep_a)
    return survivor, loser


def test_contact_merge_returns_the_survivor_with_chosen_values(rep_a, two):
    # given
    survivor, loser = two
    api = ApiClient(rep_a)
    # when
    response = api.post(
        f"/contacts/{survivor.pk}/merge", {"other_id": loser.pk, "choices": {"last_name": "loser"}}
    )
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == survivor.pk and body["last_name"] == "Kosach" and body["first_name"] == "Lesya"
    assert sorted(e["normalized"] for e in body["emails"]) == ["larysa@kosach.ua", "lesya@ukr.net"]
    assert body["tags"] == ["drama", "poet"] and body["version"] == 2
    record = MergeRecord.objects.get()
    assert response["X-Merge-Id"] == str(record.pk)
    assert Contact.objects.get(pk=loser.pk).merged_into_id == survivor.pk
    assert AuditEntry.objects.filter(action="merge").count() == 2
    assert AuditEntry.objects.filter(action="merge", source="api").count() == 2


def test_merge_list_and_undo_then_double_undo_is_a_conflict(rep_a, two):
    # given
    survivor, loser = two
    api = ApiClient(rep_a)
    merge_id = api.post(f"/contacts/{survivor.pk}/merge", {"other_id": loser.pk})["X-Merge-Id"]
    # when
    listed = api.get("/merges/")
    # then
    assert listed.status_code == 200
    item = listed.json()["items"][0]
    assert item["id"] == int(merge_id) and item["entity"] == "contact"
    assert item["survivor_id"] == survivor.pk and item["loser_id"] == loser.pk
    assert item["moved"]["history.interaction.contact"] == 1 and item["undone_at"] is None
    # when
    undone = api.post(f"/merges/{merge_id}/undo")
    # then
    assert undone.status_code == 200 and undone.json()["undone_at"] is not None
    assert Contact.objects.visible_to(rep_a).filter(pk=loser.pk).exists()
    assert Contact.objects.get(pk=loser.pk).interactions.get().subject == "Forest song"
    again = api.post(f"/merges/{merge_id}/undo")
    assert again.status_code == 409
    problem_fields(again)
    assert again.json()["code"] == "merge_already_undone"


def test_out_of_scope_is_404(rep_a, rep_b, two):
    survivor, loser = two
    api_b = ApiClient(rep_b)
    assert api_b.post(f"/contacts/{survivor.pk}/merge", {"other_id": loser.pk}).status_code == 404
    own = contact_create(actor=rep_b, allow_duplicates=True, data={"last_name": "Own"})
    # rep_b's own contact as survivor, rep_a's as the other: still 404, nothing merged
    assert api_b.post(f"/contacts/{own.pk}/merge", {"other_id": loser.pk}).status_code == 404
    assert MergeRecord.objects.count() == 0
    merge_id = ApiClient(rep_a).post(f"/contacts/{survivor.pk}/merge", {"other_id": loser.pk})["X-Merge-Id"]
    assert api_b.get("/merges/").json()["items"] == []
    assert api_b.get(f"/merges/{merge_id}").status_code == 404
    assert api_b.post(f"/merges/{merge_id}/undo").status_code == 404
    assert MergeRecord.objects.get().undone_at is None


def test_bad_choices_are_422_and_merge_nothing(rep_a, two):
    survivor, loser = two
    api = ApiClient(rep_a)
    wrong_value = api.post(
        f"/contacts/{survivor.pk}/merge", {"other_id": loser.pk, "choices": {"notes": "both"}}
    )
    assert wrong_value.status_code == 422
    unknown = api.post(
        f"/contacts/{survivor.pk}/merge", {"other_id": loser.pk, "choices": {"colour": "loser"}}
    )
    assert unknown.status_code == 422 and "choices.colour" in problem_fields(unknown)
    itself = api.post(f"/contacts/{survivor.pk}/merge", {"other_id": survivor.pk})
    assert itself.status_code == 400 and itself.json()["code"] == "merge_same_record"
    assert MergeRecord.objects.count() == 0


def test_company_merge_and_undo_blocked_while_survivor_merged_again(rep_a):
    # given
    a = company_create(actor=rep_a, allow_duplicates=True, data={"name": "Alpha"})
    b = company_create(
        actor=rep_a, allow_duplicates=True, data={"name": "Alpha LLC", "website": "https://alpha.ua"}
    )
    c = company_create(actor=rep_a, allow_duplicates=True, data={"name": "Alpha Group"})
    api = ApiClient(rep_a)
    # when
    first = api.post(f"/companies/{a.pk}/merge", {"other_id": b.pk})
    second = api.post(f"/companies/{c.pk}/merge", {"other_id": a.pk, "choices": {"website": "loser"}})
    # then
    assert first.status_code == 200 and first.json()["website"] == "https://alpha.ua"
    assert second.status_code == 200 and second.json()["website"] == "https://alpha.ua"
    blocked = api.post(f"/merges/{first['X-Merge-Id']}/undo")
    assert blocked.status_code == 409 and blocked.json()["code"] == "merge_undo_blocked"
    assert api.post(f"/merges/{second['X-Merge-Id']}/undo").status_code == 200
    assert api.post(f"/merges/{first['X-Merge-Id']}/undo").status_code == 200
    assert Company.objects.visible_to(rep_a).filter(pk__in=[a.pk, b.pk, c.pk]).count() == 3
    assert Company.objects.get(pk=a.pk).website == ""
