import pytest

from kramar.accounts.models import ApiToken
from kramar.accounts.services import api_token_create
from kramar.core.tests.api_client import ApiClient, problem_fields

pytestmark = pytest.mark.django_db


def test_token_create_shows_the_token_once_and_it_works(rep_a):
    # given
    api = ApiClient(rep_a)
    # when
    created = api.post("/tokens/", {"name": "laptop"})
    # then
    assert created.status_code == 201
    plain = created.json()["token"]
    assert plain.startswith("kr_")
    assert ApiClient(token=plain).get("/users/me").json()["username"] == "rep_a"
    listed = api.get("/tokens/").json()["items"]
    assert {t["name"] for t in listed} == {"laptop", "tests"}
    assert all("token" not in t and plain not in str(t) for t in listed)
    assert not ApiToken.objects.filter(digest__contains=plain).exists()


def test_token_revoke_only_own_and_revoked_token_is_401(rep_a, rep_b):
    # given
    api = ApiClient(rep_a)
    row, plain = api_token_create(user=rep_a, name="old")
    other, _plain_b = api_token_create(user=rep_b, name="b's")
    # when
    foreign = api.delete(f"/tokens/{other.pk}")
    own = api.delete(f"/tokens/{row.pk}")
    again = api.delete(f"/tokens/{row.pk}")
    # then
    assert foreign.status_code == 404 and own.status_code == 204 and again.status_code == 404
    problem_fields(foreign)
    other.refresh_from_db()
    assert other.revoked_at is None
    assert ApiClient(token=plain).get("/users/me").status_code == 401


def test_users_and_teams_are_readable(rep_a, rep_b, team_a):
    # given
    api = ApiClient(rep_a)
    # when
    users = api.get("/users/").json()["items"]
    team = api.get(f"/teams/{team_a.pk}").json()
    me = api.get(f"/users/{rep_a.pk}").json()
    # then
    assert {u["username"] for u in users} == {"rep_a", "rep_b"}
    assert team == {"id": team_a.pk, "name": "Sales Kyiv", "kind": "sales"}
    assert me["team_ids"] == [team_a.pk]
    assert api.get("/users/999999").status_code == 404
    assert api.post("/users/", {"username": "x"}).status_code == 405
    first = api.get("/teams/", {"limit": 1}).json()
    second = api.get("/teams/", {"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [t["name"] for t in first["items"] + second["items"]] == ["Sales Kyiv", "Sales Lviv"]
    assert second["next_cursor"] is None
