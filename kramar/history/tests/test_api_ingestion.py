"""POST /interactions/ is idempotent on (channel, external_id): 201 when it creates, 200 with the stored
interaction when the external id is already stored for the channel, 409 when that one is outside the scope."""

import pytest

from kramar.clients.tests.factories import ContactFactory
from kramar.core.models import AuditEntry
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.history.models import Interaction
from kramar.history.services import ExternalIdTaken, interaction_create_or_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact_a(rep_a, team_a):
    return ContactFactory(owner=rep_a, team=team_a)


def _mail(contact, **extra):
    return {
        "channel": "email",
        "direction": "in",
        "contact_id": contact.pk,
        "external_id": "<offer-17@mail.example>",
        "subject": "Offer",
        **extra,
    }


def test_first_post_creates_201_and_the_repeat_returns_the_stored_one_200(rep_a, contact_a):
    # given
    api = ApiClient(rep_a)

    # when the same e-mail is posted twice (the second time with another subject)
    first = api.post("/interactions/", _mail(contact_a))
    again = api.post("/interactions/", _mail(contact_a, subject="Offer, resent"))

    # then the first creates it, the second returns it unchanged and creates nothing
    assert first.status_code == 201, first.content
    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["subject"] == "Offer"
    assert again["ETag"] == first["ETag"]
    assert Interaction.objects.count() == 1
    assert AuditEntry.objects.filter(entity="interaction", action="create").count() == 1


def test_without_an_external_id_every_post_creates_201(rep_a, contact_a):
    # given
    api = ApiClient(rep_a)
    data = {"channel": "call", "contact_id": contact_a.pk, "subject": "Call"}

    # when
    statuses = [api.post("/interactions/", data).status_code for _ in range(2)]

    # then
    assert statuses == [201, 201]
    assert Interaction.objects.count() == 2


def test_same_external_id_on_another_channel_is_created_201(rep_a, contact_a):
    # given an e-mail stored with an external id
    api = ApiClient(rep_a)
    assert api.post("/interactions/", _mail(contact_a)).status_code == 201

    # when a call arrives with the same id
    response = api.post("/interactions/", _mail(contact_a, channel="call"))

    # then it is another item
    assert response.status_code == 201
    assert Interaction.objects.count() == 2


def test_external_id_stored_outside_the_scope_is_409_and_reveals_nothing(rep_a, rep_b, contact_a, team_b):
    # given rep A's e-mail, and rep B of another team with a contact of their own
    ApiClient(rep_a).post("/interactions/", _mail(contact_a, subject="Secret terms"))
    contact_b = ContactFactory(owner=rep_b, team=team_b)

    # when rep B posts an interaction with the same channel and external id
    response = ApiClient(rep_b).post("/interactions/", _mail(contact_b))

    # then it is a conflict naming the field, without rep A's interaction in it
    assert response.status_code == 409, response.content
    problem_fields(response)
    body = response.json()
    assert body["code"] == "external_id_taken" and body["field"] == "external_id"
    assert "Secret terms" not in response.content.decode()
    assert Interaction.objects.count() == 1


def test_the_service_says_whether_it_created(rep_a, contact_a, rep_b, team_b):
    # when
    created, was_created = interaction_create_or_get(actor=rep_a, data=_mail(contact_a))
    stored, again_created = interaction_create_or_get(actor=rep_a, data=_mail(contact_a, subject="x"))

    # then
    assert (was_created, again_created) == (True, False)
    assert stored.pk == created.pk and stored.subject == "Offer"
    with pytest.raises(ExternalIdTaken):
        interaction_create_or_get(actor=rep_b, data=_mail(ContactFactory(owner=rep_b, team=team_b)))
