import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from kramar.accounts.services import api_token_create, api_token_revoke
from kramar.clients.models import Company, Contact
from kramar.clients.tests.factories import (
    CompanyFactory,
    ContactCompanyFactory,
    ContactFactory,
    ContactPointFactory,
)
from kramar.core.models import AuditEntry
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.core.tests.factories import CustomFieldDefinitionFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact_a(rep_a, team_a):
    return ContactFactory(owner=rep_a, team=team_a, first_name="Олена", last_name="Петренко")


@pytest.fixture
def company_a(rep_a, team_a):
    return CompanyFactory(owner=rep_a, team=team_a, name="Кварц")


# ----------------------------------------------------------------------------------------- auth


def test_requests_without_credentials_are_401_problems(contact_a):
    # when
    response = Client().get(f"/api/v1/contacts/{contact_a.pk}")
    # then
    assert response.status_code == 401
    problem_fields(response)
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_valid_token_authenticates_and_revoked_or_unknown_tokens_do_not(rep_a, contact_a):
    # given
    row, plain = api_token_create(user=rep_a, name="script")
    # when / then
    assert ApiClient(token=plain).get(f"/contacts/{contact_a.pk}").status_code == 200
    assert ApiClient(token="kr_not-a-real-token").get(f"/contacts/{contact_a.pk}").status_code == 401
    api_token_revoke(user=rep_a, token_id=row.pk)
    response = ApiClient(token=plain).get(f"/contacts/{contact_a.pk}")
    assert response.status_code == 401
    problem_fields(response)


def test_session_auth_reads_and_needs_csrf_for_writes(rep_a, contact_a):
    # given
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep_a)
    # when
    read = client.get(f"/api/v1/contacts/{contact_a.pk}")
    write = client.post("/api/v1/contacts/", {"last_name": "Без токена"}, content_type="application/json")
    # then
    assert read.status_code == 200
    assert write.status_code == 403
    problem_fields(write)
    assert not Contact.objects.filter(last_name="Без токена").exists()


def test_session_write_with_csrf_token_succeeds(rep_a):
    # given
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep_a)
    token = "k" * 32  # a CSRF secret, sent as the cookie and echoed in the header
    client.cookies["csrftoken"] = token
    # when
    response = client.post(
        "/api/v1/contacts/", {"last_name": "Сесія"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    # then
    assert response.status_code == 201, response.content


# ----------------------------------------------------------------------------------------- scope: 404 for other teams


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/contacts/{c}", None),
        ("patch", "/contacts/{c}", {"last_name": "Hacked"}),
        ("delete", "/contacts/{c}", None),
        ("get", "/contacts/{c}/audit", None),
        ("get", "/companies/{co}", None),
        ("patch", "/companies/{co}", {"name": "Hacked"}),
        ("delete", "/companies/{co}", None),
        ("get", "/companies/{co}/audit", None),
    ],
)
def test_rep_of_another_team_gets_404_and_changes_nothing(rep_b, contact_a, company_a, method, path, body):
    # given
    api = ApiClient(rep_b)
    url = path.format(c=contact_a.pk, co=company_a.pk)
    # when
    response = getattr(api, method)(url, body) if body is not None else getattr(api, method)(url)
    # then
    assert response.status_code == 404
    problem_fields(response)
    contact_a.refresh_from_db()
    company_a.refresh_from_db()
    assert contact_a.last_name == "Петренко" and company_a.name == "Кварц"
    assert contact_a.version == 1 and company_a.version == 1


@pytest.mark.parametrize("model_path", ["contacts", "companies"])
def test_bulk_actions_skip_records_outside_scope(rep_b, contact_a, company_a, model_path):
    # given
    api = ApiClient(rep_b)
    target = contact_a if model_path == "contacts" else company_a
    own = (ContactFactory if model_path == "contacts" else CompanyFactory)(owner=rep_b)
    # when
    tagged = api.post(f"/{model_path}/bulk/tag", {"ids": [target.pk, own.pk], "tags": ["stolen"]})
    owned = api.post(f"/{model_path}/bulk/owner", {"ids": [target.pk], "owner_id": rep_b.pk})
    # then
    assert tagged.status_code == 200
    assert tagged.json() == {"changed": [own.pk], "skipped": [target.pk]}
    assert owned.json() == {"changed": [], "skipped": [target.pk]}
    target.refresh_from_db()
    assert target.owner_id != rep_b.pk and not target.tags.exists()


def test_teammate_may_read_but_not_change_or_delete(rep_a2, contact_a):
    # given
    api = ApiClient(rep_a2)
    # when / then
    assert api.get(f"/contacts/{contact_a.pk}").status_code == 200
    assert api.patch(f"/contacts/{contact_a.pk}", {"last_name": "X"}).status_code == 403
    assert api.delete(f"/contacts/{contact_a.pk}").status_code == 403
    assert Contact.objects.filter(pk=contact_a.pk, last_name="Петренко").exists()


# ----------------------------------------------------------------------------------------- CRUD, audit


def test_create_get_update_delete_contact_through_the_api_is_audited_as_api(rep_a, lead_a, company_a):
    # given
    api = ApiClient(rep_a)
    # when
    created = api.post(
        "/contacts/",
        {
            "first_name": "Іван",
            "last_name": "Коваль",
            "emails": [{"value": "Ivan@Example.com"}],
            "phones": [{"value": "067 123 45 67"}],
            "tags": ["vip"],
            "company_ids": [company_a.pk],
        },
    )
    # then
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["emails"][0]["normalized"] == "ivan@example.com"
    assert body["phones"][0]["normalized"] == "+380671234567"
    assert body["primary_company"] == {"id": company_a.pk, "name": "Кварц"}
    assert body["tags"] == ["vip"] and body["owner"]["id"] == rep_a.pk
    assert created["ETag"] == '"1"'
    entry = AuditEntry.objects.get(entity="contact", object_id=body["id"], action="create")
    assert entry.source == "api" and entry.actor == rep_a

    got = api.get(f"/contacts/{body['id']}")
    assert got.status_code == 200 and got["ETag"] == '"1"'

    patched = api.patch(f"/contacts/{body['id']}", {"position": "CEO"}, HTTP_IF_MATCH='"1"')
    assert patched.status_code == 200, patched.content
    assert patched.json()["position"] == "CEO" and patched["ETag"] == '"2"'
    assert AuditEntry.objects.get(entity="contact", object_id=body["id"], action="update").source == "api"

    audit = api.get(f"/contacts/{body['id']}/audit").json()
    assert [e["action"] for e in audit["items"]] == ["update", "create"]
    assert audit["items"][0]["changes"]["position"] == ["", "CEO"]

    # a rep may not delete clients; the team lead may
    assert api.delete(f"/contacts/{body['id']}").status_code == 403
    deleted = ApiClient(lead_a).delete(f"/contacts/{body['id']}", HTTP_IF_MATCH='"2"')
    assert deleted.status_code == 204
    assert not Contact.objects.filter(pk=body["id"]).exists()


def test_company_crud_and_filters(rep_a):
    # given
    api = ApiClient(rep_a)
    # when
    created = api.post(
        "/companies/", {"name": "ТОВ Ромашка", "code": "00032129", "lifecycle_stage": "customer"}
    )
    # then
    assert created.status_code == 201, created.content
    company_id = created.json()["id"]
    assert created.json()["code"] == "00032129"
    listed = api.get("/companies/", {"lifecycle_stage": "customer"}).json()["items"]
    assert [c["id"] for c in listed] == [company_id]
    assert api.get("/companies/", {"lifecycle_stage": "lead"}).json()["items"] == []
    patched = api.patch(f"/companies/{company_id}", {"industry": "IT", "version": 1})
    assert patched.status_code == 200 and patched.json()["industry"] == "IT"


def test_contact_list_filters(rep_a, team_a, company_a, rep_a2):
    # given
    tagged = ContactFactory(owner=rep_a, team=team_a, last_name="Тегований", lifecycle_stage="customer")
    tagged.tags.add(TagFactory(name="vip"))
    other = ContactFactory(owner=rep_a2, team=team_a, last_name="Інший")
    ContactCompanyFactory(contact=other, company=company_a)
    Contact.objects.filter(pk=tagged.pk).update(updated_at=timezone.now() - dt.timedelta(days=10))
    api = ApiClient(rep_a)

    def ids(**params):
        response = api.get("/contacts/", params)
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["items"]}

    # when / then
    assert ids() == {tagged.pk, other.pk}
    assert ids(tag="vip") == {tagged.pk}
    assert ids(owner_id=rep_a2.pk) == {other.pk}
    assert ids(team_id=team_a.pk) == {tagged.pk, other.pk}
    assert ids(lifecycle_stage="customer") == {tagged.pk}
    assert ids(company_id=company_a.pk) == {other.pk}
    assert ids(q="тегован") == {tagged.pk}
    assert ids(updated_since=(timezone.now() - dt.timedelta(days=1)).isoformat()) == {other.pk}


# ----------------------------------------------------------------------------------------- validation errors


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("/companies/", {"name": "Код", "code": "00032128"}, "code"),
        ("/contacts/", {"last_name": "X", "emails": [{"value": "not-an-email"}]}, "emails[0]"),
        ("/contacts/", {"last_name": "X", "phones": [{"value": "12345"}]}, "phones[0]"),
        ("/contacts/", {"last_name": "X", "custom": {"nope": 1}}, "custom.nope"),
        ("/contacts/", {"last_name": 5}, "last_name"),
        ("/contacts/", {"last_name": "X", "emails": [{"label": "work"}]}, "emails[0].value"),
        ("/contacts/", {"last_name": "X", "owner_id": 10**30}, "owner_id"),
        ("/contacts/", {"last_name": "X", "surprise": True}, "surprise"),
        ("/contacts/", {"last_name": "X", "birthday": "31.02.2020"}, "birthday"),
        ("/contacts/", {}, "last_name"),
    ],
)
def test_bad_input_is_a_422_problem_naming_the_field(rep_a, path, data, field):
    # when
    response = ApiClient(rep_a).post(path, data)
    # then
    assert response.status_code == 422, response.content
    assert field in problem_fields(response)
    assert response.json()["code"] == "validation_error"
    assert not Contact.objects.exists() and not Company.objects.exists()


def test_custom_field_values_are_validated_and_stored(rep_a):
    # given
    CustomFieldDefinitionFactory(entity="contact", key="budget", field_type="number")
    api = ApiClient(rep_a)
    # when
    bad = api.post("/contacts/", {"last_name": "X", "custom": {"budget": "lots"}})
    good = api.post("/contacts/", {"last_name": "X", "custom": {"budget": "1500"}})
    # then
    assert bad.status_code == 422 and problem_fields(bad) == {"custom.budget"}
    assert good.status_code == 201 and good.json()["custom"] == {"budget": 1500}


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("post", "/contacts/", "{not json"),
        ("post", "/contacts/", "[1, 2"),
        ("post", "/contacts/", "\xff\xfe"),
        ("patch", "/contacts/{c}", "}}"),
        ("post", "/contacts/bulk/tag", "null"),
        ("post", "/contacts/", "[]"),
        ("post", "/contacts/", '"text"'),
        ("post", "/contacts/", "1e999"),
        ("post", "/contacts/", '{"last_name": "x\\u0000y"}'),
        ("post", "/contacts/", '{"last_name": "\\ud800"}'),
        ("post", "/contacts/", '{"last_name": "x", "emails": "x"}'),
        ("post", "/contacts/", '{"last_name": "x", "tags": [1]}'),
        ("post", "/contacts/", '{"last_name": "x", "custom": []}'),
        ("post", "/contacts/", '{"last_name": "x", "messengers": {"a": 1}}'),
        ("post", "/contacts/", '{"last_name": "x", "company_ids": [100000000000000000000000]}'),
        ("post", "/contacts/", '{"last_name": "x", "address": []}'),
        ("post", "/companies/", '{"name": "x", "website": 5}'),
        ("post", "/companies/", '{"name": "x", "custom": {"k": 1e999}}'),
        ("post", "/contacts/bulk/owner", '{"ids": [1], "owner_id": 100000000000000000000000}'),
    ],
)
def test_malformed_bodies_are_4xx_never_500(rep_a, contact_a, method, path, raw):
    # when
    response = getattr(ApiClient(rep_a), method)(path.format(c=contact_a.pk), raw=raw)
    # then
    assert response.status_code in (400, 422), response.content
    problem_fields(response)


@pytest.mark.parametrize(
    "path",
    [
        "/contacts/?limit=0",
        "/contacts/?limit=201",
        "/contacts/?limit=abc",
        "/contacts/?owner_id=99999999999999999999999",
        "/contacts/?sort=bogus",
        "/contacts/?updated_since=yesterday",
        "/contacts/99999999999999999999999",
        "/contacts/?lifecycle_stage=alien",
        "/companies/?team_id=-1",
        "/contacts/?q=a%00b",
        "/contacts/?tag=%00",
    ],
)
def test_malformed_query_and_path_values_are_4xx(rep_a, path):
    response = ApiClient(rep_a).get(path)
    assert response.status_code in (400, 422), response.content
    problem_fields(response)


# ----------------------------------------------------------------------------------------- versions, duplicates


def test_stale_if_match_is_412_and_changes_nothing(rep_a, contact_a):
    # given
    api = ApiClient(rep_a)
    etag = api.get(f"/contacts/{contact_a.pk}")["ETag"]
    assert api.patch(f"/contacts/{contact_a.pk}", {"position": "A"}, HTTP_IF_MATCH=etag).status_code == 200
    # when: a second writer still holds the old ETag
    stale = api.patch(f"/contacts/{contact_a.pk}", {"position": "B"}, HTTP_IF_MATCH=etag)
    stale_body = api.patch(f"/contacts/{contact_a.pk}", {"position": "B", "version": 1})
    both_disagree = api.patch(
        f"/contacts/{contact_a.pk}", {"position": "B", "version": 2}, HTTP_IF_MATCH='"1"'
    )
    garbage = api.patch(f"/contacts/{contact_a.pk}", {"position": "B"}, HTTP_IF_MATCH="banana")
    # then
    for response in (stale, stale_body, garbage):
        assert response.status_code == 412, response.content
        problem_fields(response)
        assert response.json()["code"] == "version_conflict"
    assert both_disagree.status_code == 422 and problem_fields(both_disagree) == {"version"}
    contact_a.refresh_from_db()
    assert contact_a.position == "A" and contact_a.version == 2


def test_stale_if_match_on_delete_is_412(lead_a, contact_a, company_a):
    api = ApiClient(lead_a)
    assert api.delete(f"/contacts/{contact_a.pk}", HTTP_IF_MATCH='"7"').status_code == 412
    assert api.delete(f"/companies/{company_a.pk}", HTTP_IF_MATCH='"7"').status_code == 412
    assert (
        Contact.objects.filter(pk=contact_a.pk).exists() and Company.objects.filter(pk=company_a.pk).exists()
    )


def test_duplicate_is_409_with_candidates_then_allowed(rep_a, contact_a):
    # given
    ContactPointFactory(contact=contact_a, value="olena@example.com")
    api = ApiClient(rep_a)
    data = {"first_name": "Olena", "last_name": "P", "emails": [{"value": "OLENA@example.com"}]}
    # when
    first = api.post("/contacts/", data)
    second = api.post("/contacts/?allow_duplicates=true", data)
    # then
    assert first.status_code == 409
    problem_fields(first)
    assert first.json()["code"] == "possible_duplicate"
    assert [c["id"] for c in first.json()["candidates"]] == [contact_a.pk]
    assert second.status_code == 201
    assert Contact.objects.count() == 2


# ----------------------------------------------------------------------------------------- pagination


@pytest.mark.parametrize("sort", ["name", "-name", "created", "-created", "updated", "-updated"])
def test_cursor_pagination_walks_every_row_once_in_order(rep_a, team_a, sort):
    # given: equal names and equal timestamps, so the id tie-breaker matters
    for i in range(7):
        ContactFactory(owner=rep_a, team=team_a, last_name="Same" if i % 2 else f"N{i}", first_name="A")
    Contact.objects.filter(pk__in=list(Contact.objects.values_list("pk", flat=True))[:4]).update(
        created_at=timezone.now(), updated_at=timezone.now()
    )
    api = ApiClient(rep_a)
    expected = [c["id"] for c in api.get("/contacts/", {"sort": sort, "limit": 200}).json()["items"]]
    # when
    seen, cursor, pages = [], None, 0
    while True:
        params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = api.get("/contacts/", params).json()
        seen += [c["id"] for c in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    # then
    assert len(expected) == 7
    assert seen == expected
    assert pages == 4


def test_company_cursor_pagination(rep_a, team_a):
    for i in range(5):
        CompanyFactory(owner=rep_a, team=team_a, name=f"Co {i % 2}")
    api = ApiClient(rep_a)
    seen, cursor = [], None
    while True:
        body = api.get("/companies/", {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(Company.objects.values_list("pk", flat=True)) and len(seen) == len(
        set(seen)
    )


@pytest.mark.parametrize(
    "cursor", ["garbage", "eyJzIjoibmFtZSJ9", "eyJzIjoiLW5hbWUiLCJ2IjpbIngiLCJ5IiwxXX0", "%%%", "A" * 1999]
)
def test_garbage_cursor_is_400_problem(rep_a, contact_a, cursor):
    response = ApiClient(rep_a).get("/contacts/", {"cursor": cursor})
    assert response.status_code == 400, response.content
    problem_fields(response)


def test_contact_list_page_has_bounded_queries(rep_a, team_a, django_assert_max_num_queries):
    # given: 60 contacts, each with an owner, a company, an e-mail and a tag
    tag = TagFactory(name="vip")
    for _ in range(60):
        company = CompanyFactory(owner=rep_a, team=team_a)
        contact = ContactFactory(owner=rep_a, team=team_a, primary_company=company)
        ContactPointFactory(contact=contact)
        contact.tags.add(tag)
    api = ApiClient(rep_a)
    # when
    with django_assert_max_num_queries(8):
        response = api.get("/contacts/")
    # then
    items = response.json()["items"]
    assert len(items) == 50 and response.json()["next_cursor"]
    assert all(i["company"] and i["email"] and i["owner"] and i["tags"] == ["vip"] for i in items)
