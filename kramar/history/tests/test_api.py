import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from kramar.clients.tests.factories import ContactFactory
from kramar.core.models import AuditEntry
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.history.models import Interaction
from kramar.history.tests.factories import AttachmentFactory, InteractionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact_a(rep_a, team_a):
    return ContactFactory(owner=rep_a, team=team_a)


@pytest.fixture
def interaction_a(contact_a, rep_a):
    return InteractionFactory(contact=contact_a, user=rep_a, subject="Дзвінок")


@pytest.fixture
def attachment_a(interaction_a):
    return AttachmentFactory(interaction=interaction_a)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/interactions/{i}"),
        ("patch", "/interactions/{i}"),
        ("delete", "/interactions/{i}"),
        ("upload", "/interactions/{i}/attachments"),
        ("get", "/interactions/{i}/attachments/{a}"),
    ],
)
def test_rep_of_another_team_gets_404_for_interactions(rep_b, interaction_a, attachment_a, method, path):
    # given
    api = ApiClient(rep_b)
    url = path.format(i=interaction_a.pk, a=attachment_a.pk)
    # when
    if method == "patch":
        response = api.patch(url, {"subject": "Hacked"})
    elif method == "upload":
        response = api.upload(url, {"file": SimpleUploadedFile("x.txt", b"x")})
    else:
        response = getattr(api, method)(url)
    # then
    assert response.status_code == 404, response.content
    problem_fields(response)
    interaction_a.refresh_from_db()
    assert interaction_a.subject == "Дзвінок" and interaction_a.attachments.count() == 1


def test_interaction_crud_sanitizes_html_and_audits_as_api(rep_a, contact_a):
    # given
    api = ApiClient(rep_a)
    # when
    created = api.post(
        "/interactions/",
        {
            "channel": "email",
            "direction": "in",
            "contact_id": contact_a.pk,
            "subject": "Лист",
            "body_html": '<p onclick="steal()">Привіт<script>alert(1)</script></p><a href="javascript:x()">x</a>',
        },
    )
    # then
    assert created.status_code == 201, created.content
    body = created.json()
    assert "<script" not in body["body_html"] and "onclick" not in body["body_html"]
    assert "javascript:" not in body["body_html"] and "Привіт" in body["body_html"]
    stored = Interaction.objects.get(pk=body["id"])
    assert "<script" not in stored.body_html and stored.user == rep_a
    assert AuditEntry.objects.get(entity="interaction", object_id=stored.pk, action="create").source == "api"

    got = api.get(f"/interactions/{stored.pk}")
    assert got.status_code == 200 and got["ETag"] == '"1"'
    patched = api.patch(f"/interactions/{stored.pk}", {"outcome": "Домовились"}, HTTP_IF_MATCH='"1"')
    assert (
        patched.status_code == 200 and patched.json()["outcome"] == "Домовились" and patched["ETag"] == '"2"'
    )
    stale = api.patch(f"/interactions/{stored.pk}", {"outcome": "Ні"}, HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412 and stale.json()["code"] == "version_conflict"
    assert api.delete(f"/interactions/{stored.pk}", HTTP_IF_MATCH='"1"').status_code == 412
    assert api.delete(f"/interactions/{stored.pk}", HTTP_IF_MATCH='"2"').status_code == 204
    assert not Interaction.objects.filter(pk=stored.pk).exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"channel": "pigeon", "contact_id": 1}, "channel"),
        ({"channel": "call"}, "contact_id"),
        ({"channel": "call", "contact_id": 1, "duration_seconds": -5}, "duration_seconds"),
        ({"channel": "call", "contact_id": 1, "occurred_at": "soon"}, "occurred_at"),
        ({"channel": "call", "contact_id": 10**25}, "contact_id"),
    ],
)
def test_bad_interaction_input_is_422_naming_the_field(rep_a, data, field):
    response = ApiClient(rep_a).post("/interactions/", data)
    assert response.status_code == 422, response.content
    assert field in problem_fields(response)


def test_cannot_log_an_interaction_on_a_client_outside_scope(rep_b, contact_a):
    response = ApiClient(rep_b).post("/interactions/", {"channel": "call", "contact_id": contact_a.pk})
    assert response.status_code == 422 and "contact_id" in problem_fields(response)
    assert not Interaction.objects.exists()


def test_attachment_upload_and_guarded_download(rep_a, interaction_a, rep_a2):
    # given
    api = ApiClient(rep_a)
    # when
    uploaded = api.upload(
        f"/interactions/{interaction_a.pk}/attachments",
        {"file": SimpleUploadedFile("offer.html", b"<script>alert(1)</script>", content_type="text/html")},
    )
    # then
    assert uploaded.status_code == 201, uploaded.content
    url = uploaded.json()["url"]
    download = api.get(url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"<script>alert(1)</script>"
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment")
    # a teammate may read the timeline (and so download), but may not attach to another rep's interaction
    assert ApiClient(rep_a2).get(url).status_code == 200
    refused = ApiClient(rep_a2).upload(
        f"/interactions/{interaction_a.pk}/attachments", {"file": SimpleUploadedFile("x.txt", b"x")}
    )
    assert refused.status_code == 403


def test_interaction_list_filters_and_pagination(rep_a, contact_a, rep_b):
    # given
    now = timezone.now()
    for i in range(5):
        InteractionFactory(
            contact=contact_a,
            user=rep_a,
            channel="call" if i % 2 else "email",
            occurred_at=now - dt.timedelta(hours=i % 3),
        )
    InteractionFactory(contact=ContactFactory(owner=rep_b), user=rep_b)
    api = ApiClient(rep_a)
    # when
    seen, cursor = [], None
    while True:
        body = api.get("/interactions/", {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    # then
    expected = list(
        Interaction.objects.filter(contact=contact_a)
        .order_by("-occurred_at", "-id")
        .values_list("pk", flat=True)
    )
    assert seen == expected
    emails = api.get("/interactions/", {"channel": "email"}).json()["items"]
    assert len(emails) == 3 and {i["channel"] for i in emails} == {"email"}
    since = api.get("/interactions/", {"since": (now - dt.timedelta(minutes=30)).isoformat()}).json()["items"]
    assert len(since) == 2
    assert api.get("/interactions/", {"contact_id": contact_a.pk, "direction": "in"}).json()["items"] == []
    bad = api.get("/interactions/", {"cursor": "nonsense"})
    assert bad.status_code == 400 and problem_fields(bad) == set()


def test_interaction_list_has_bounded_queries(rep_a, contact_a, django_assert_max_num_queries):
    for _ in range(30):
        AttachmentFactory(interaction=InteractionFactory(contact=contact_a, user=rep_a))
    api = ApiClient(rep_a)
    with django_assert_max_num_queries(8 + 2):  # + the visible contacts and companies of the page
        response = api.get("/interactions/")
    assert len(response.json()["items"]) == 30
