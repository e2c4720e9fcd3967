"""The tasks API over HTTP: scopes (404), assignment, outcome (422), versions (412), pagination, bad input,
calendar feeds."""

import datetime as dt

import pytest
from django.utils import timezone

from kramar.activities.models import CalendarFeed, Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import ContactFactory
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.history.models import Interaction
from kramar.sales.tests.factories import DealFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def contact(rep_a, team_a):
    return ContactFactory(owner=rep_a, team=team_a)


@pytest.fixture
def api_a(rep_a):
    return ApiClient(rep_a)


def test_create_get_and_etag(api_a, rep_a, contact):
    # when
    response = api_a.post(
        "/tasks/", {"kind": "call", "title": "Call back", "due_at": "2030-05-06T10:00:00+03:00",
                    "contact_id": contact.pk, "priority": "high"},
    )
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"]["id"] == rep_a.pk and body["contact"]["id"] == contact.pk and body["priority"] == "high"
    assert response["ETag"] == '"1"'
    got = api_a.get(f"/tasks/{body['id']}")
    assert got.status_code == 200 and got.json()["title"] == "Call back"


def test_bad_input_names_the_fields_and_is_never_500(api_a):
    # types: 422 from the schema
    response = api_a.post("/tasks/", {"title": "X", "due_at": "not a date", "kind": "fax", "unknown": 1})
    assert response.status_code == 422
    assert {"due_at", "kind", "unknown"} <= problem_fields(response)
    # values: 422 from the service
    response = api_a.post("/tasks/", {"title": "", "attendees": ["nope"], "contact_id": 99999})
    assert response.status_code == 422
    assert {"title", "attendees", "contact_id"} <= problem_fields(response)
    # malformed JSON, huge ids
    assert api_a.post("/tasks/", raw="{").status_code in (400, 422)
    assert api_a.get(f"/tasks/{2**70}").status_code in (404, 422)
    assert Task.objects.count() == 0


def test_rep_b_gets_404_for_team_a_task_everywhere(rep_b, rep_a):
    # given
    task = TaskFactory(owner=rep_a, title="Secret")
    api_b = ApiClient(rep_b)
    # then
    for response in (
        api_b.get(f"/tasks/{task.pk}"),
        api_b.patch(f"/tasks/{task.pk}", {"title": "Mine"}),
        api_b.delete(f"/tasks/{task.pk}"),
        api_b.post(f"/tasks/{task.pk}/complete", {"outcome": "x"}),
        api_b.post(f"/tasks/{task.pk}/cancel"),
        api_b.post(f"/tasks/{task.pk}/reopen"),
    ):
        assert response.status_code == 404, response.content
        problem_fields(response)
    assert api_b.get("/tasks/").json()["items"] == []
    assert Task.objects.get(pk=task.pk).title == "Secret"


def test_teammate_sees_but_gets_403_on_change(rep_a, rep_a2, team_a):
    task = TaskFactory(owner=rep_a, team=team_a)
    api = ApiClient(rep_a2)
    assert api.get(f"/tasks/{task.pk}").status_code == 200
    response = api.patch(f"/tasks/{task.pk}", {"title": "Mine"})
    assert response.status_code == 403
    problem_fields(response)


def test_cannot_assign_outside_scope(api_a, rep_b):
    response = api_a.post("/tasks/", {"title": "For B", "owner_id": rep_b.pk})
    assert response.status_code == 422
    assert "owner_id" in problem_fields(response)


def test_patch_with_stale_if_match_is_412(api_a, rep_a):
    # given
    task_id = api_a.post("/tasks/", {"title": "Draft"}).json()["id"]
    assert api_a.patch(f"/tasks/{task_id}", {"title": "v2"}, HTTP_IF_MATCH='"1"').status_code == 200
    # when
    response = api_a.patch(f"/tasks/{task_id}", {"title": "v3"}, HTTP_IF_MATCH='"1"')
    # then
    assert response.status_code == 412
    assert response.json()["code"] == "version_conflict"
    assert Task.objects.get(pk=task_id).title == "v2"
    # and a stale version on complete / delete too
    assert api_a.post(f"/tasks/{task_id}/complete", {"version": 1}).status_code == 412
    assert api_a.delete(f"/tasks/{task_id}", HTTP_IF_MATCH='"1"').status_code == 412


def test_complete_call_needs_outcome_then_logs_interaction(api_a, rep_a, contact):
    # given
    deal = DealFactory(owner=rep_a, company=None)
    task_id = api_a.post(
        "/tasks/", {"kind": "call", "title": "Call", "contact_id": contact.pk, "deal_id": deal.pk}
    ).json()["id"]
    # when: no outcome
    response = api_a.post(f"/tasks/{task_id}/complete", {})
    # then
    assert response.status_code == 422 and "outcome" in problem_fields(response)
    # when
    response = api_a.post(f"/tasks/{task_id}/complete", {"outcome": "Interested", "note": "Send prices"})
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "done" and body["interaction_id"]
    interaction = Interaction.objects.get(pk=body["interaction_id"])
    assert interaction.contact_id == contact.pk and interaction.deal_id == deal.pk and interaction.channel == "call"
    # when: again
    response = api_a.post(f"/tasks/{task_id}/complete", {"outcome": "Again"})
    assert response.status_code == 400 and response.json()["code"] == "task_already_done"
    assert Interaction.objects.count() == 1


def test_cancel_and_reopen_and_delete(api_a):
    task_id = api_a.post("/tasks/", {"title": "Maybe"}).json()["id"]
    assert api_a.post(f"/tasks/{task_id}/cancel").json()["status"] == "cancelled"
    assert api_a.post(f"/tasks/{task_id}/cancel").status_code == 400
    assert api_a.post(f"/tasks/{task_id}/reopen", {"version": 2}).json()["status"] == "open"
    assert api_a.delete(f"/tasks/{task_id}").status_code == 204
    assert api_a.get(f"/tasks/{task_id}").status_code == 404


def test_list_filters_and_cursor_pagination(api_a, rep_a, rep_a2, team_a):
    # given: 7 of mine (one undated, one overdue), one of a teammate
    now = timezone.now()
    mine = [TaskFactory(owner=rep_a, team=team_a, due_at=now + dt.timedelta(days=i + 1)) for i in range(5)]
    overdue = TaskFactory(owner=rep_a, team=team_a, due_at=now - dt.timedelta(days=2), kind="call")
    undated = TaskFactory(owner=rep_a, team=team_a, due_at=None)
    TaskFactory(owner=rep_a2, team=team_a)
    # when: pages of 3, my tasks by due date
    seen, cursor = [], None
    for _ in range(5):
        params = {"owner": "me", "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api_a.get("/tasks/", params).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    # then: every task once, in order, undated last
    assert seen == [overdue.pk, *[t.pk for t in mine], undated.pk]
    # filters
    assert [i["id"] for i in api_a.get("/tasks/", {"overdue": "true"}).json()["items"]] == [overdue.pk]
    assert [i["id"] for i in api_a.get("/tasks/", {"kind": "call"}).json()["items"]] == [overdue.pk]
    assert len(api_a.get("/tasks/").json()["items"]) == 8  # the team's too
    items = api_a.get("/tasks/", {"sort": "-due", "owner": "me"}).json()["items"]
    assert items[0]["id"] == undated.pk and items[-1]["id"] == overdue.pk
    # bad filter values and cursors are 4xx problems
    assert api_a.get("/tasks/", {"cursor": "garbage"}).status_code == 400
    assert api_a.get("/tasks/", {"owner": "someone"}).status_code == 422
    assert api_a.get("/tasks/", {"due_from": "yesterday"}).status_code == 422


def test_a_due_to_date_includes_that_whole_day_and_a_datetime_is_exact(api_a, rep_a, team_a):
    # given: tasks in the evening of 6 May and in the morning of the 7th (local time)
    tz = timezone.get_current_timezone()
    evening = TaskFactory(owner=rep_a, team=team_a, due_at=dt.datetime(2030, 5, 6, 18, 0, tzinfo=tz))
    TaskFactory(owner=rep_a, team=team_a, due_at=dt.datetime(2030, 5, 7, 9, 0, tzinfo=tz))
    # when / then: a date is the whole day, a datetime is the moment
    ids = lambda params: [i["id"] for i in api_a.get("/tasks/", params).json()["items"]]  # noqa: E731
    assert ids({"due_from": "2030-05-06", "due_to": "2030-05-06"}) == [evening.pk]
    assert ids({"due_from": "2030-05-06", "due_to": "2030-05-06T12:00:00"}) == []
    assert api_a.get("/tasks/", {"due_to": "2030-02-30"}).status_code == 422


def test_list_endpoint_has_bounded_queries(api_a, rep_a, team_a, django_assert_max_num_queries):
    # given
    for i in range(40):
        contact = ContactFactory(owner=rep_a, team=team_a)
        TaskFactory(owner=rep_a, team=team_a, contact=contact, due_at=timezone.now() + dt.timedelta(hours=i))
    api_a.get("/tasks/")  # warm the token's last-used stamp
    # when / then
    with django_assert_max_num_queries(6):
        response = api_a.get("/tasks/", {"limit": 50})
    assert len(response.json()["items"]) == 40


def test_calendar_feed_create_list_revoke(api_a, rep_a, rep_b):
    # when
    response = api_a.post("/calendar-feeds/", {"include_team": True})
    # then
    assert response.status_code == 201
    body = response.json()
    secret = body["url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert body["url"].endswith(".ics") and "/calendar/feed/" in body["url"]
    feed = CalendarFeed.objects.get()
    assert feed.include_team and secret not in feed.digest and feed.user_id == rep_a.pk
    listed = api_a.get("/calendar-feeds/").json()["items"]
    assert [f["id"] for f in listed] == [feed.pk] and "url" not in listed[0]
    assert ApiClient(rep_b).delete(f"/calendar-feeds/{feed.pk}").status_code == 404
    assert api_a.delete(f"/calendar-feeds/{feed.pk}").status_code == 204
    assert CalendarFeed.objects.count() == 0


def test_out_of_range_dates_are_422_not_500(api_a):
    for body in (
        {"title": "X", "due_at": "0001-01-01T00:00:00Z"},
        {"title": "X", "due_at": "9999-12-31T23:59:00Z", "recurrence": "daily"},
        {"title": "X", "due_at": "2030-01-01T10:00:00Z", "recurrence": "daily", "recurrence_until": "9999-12-31"},
    ):
        response = api_a.post("/tasks/", body)
        assert response.status_code == 422, (body, response.content)
    assert Task.objects.count() == 0
