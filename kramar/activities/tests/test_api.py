"""The tasks API over HTTP: scopes (404), names of linked records outside the reader's scope, assignment, outcome
(422), state conflicts (409), versions (412), pagination, bad input, custom fields, audit, calendar feeds, the
OpenAPI document."""

import datetime as dt

import pytest
from django.utils import timezone

from kramar.activities.models import CalendarFeed, Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.models import AuditEntry
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.core.tests.factories import CustomFieldDefinitionFactory
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
    # then: a conflict with the task's state
    assert response.status_code == 409 and response.json()["code"] == "task_already_done"
    assert Interaction.objects.count() == 1


def test_cancel_and_reopen_and_delete(api_a):
    task_id = api_a.post("/tasks/", {"title": "Maybe"}).json()["id"]
    assert api_a.post(f"/tasks/{task_id}/cancel").json()["status"] == "cancelled"
    assert api_a.post(f"/tasks/{task_id}/cancel").status_code == 409
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
    # given: tasks linking a contact, a company and a deal each
    for i in range(40):
        TaskFactory(
            owner=rep_a, team=team_a, contact=ContactFactory(owner=rep_a, team=team_a),
            company=CompanyFactory(owner=rep_a, team=team_a), deal=DealFactory(owner=rep_a, team=team_a),
            due_at=timezone.now() + dt.timedelta(hours=i),
        )
    api_a.get("/tasks/")  # warm the token's last-used stamp
    # when / then: + 3 for the visible contacts, companies and deals of the page
    with django_assert_max_num_queries(6 + 3):
        response = api_a.get("/tasks/", {"limit": 50})
    items = response.json()["items"]
    assert len(items) == 40 and all(i["contact"]["name"] and i["company"]["name"] and i["deal"]["name"] for i in items)


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


# ----------------------------------------------------------------------------------------- linked records' names


@pytest.fixture
def team_a_client(rep_a, team_a):
    """A contact, a company and a deal of team A (rep_b of team B may not see them)."""
    company = CompanyFactory(owner=rep_a, team=team_a, name="Ромашка")
    contact = ContactFactory(owner=rep_a, team=team_a, first_name="Олена", last_name="Петренко",
                             primary_company=company)
    deal = DealFactory(owner=rep_a, team=team_a, company=company, title="Ромашка: ліцензії")
    return contact, company, deal


def test_linked_records_outside_the_readers_scope_show_only_their_id(director, rep_b, team_b, team_a_client):
    # given: a director gives rep_b (team B) a task on team A's client and deal
    contact, company, deal = team_a_client
    created = ApiClient(director).post("/tasks/", {
        "title": "Call Олена", "kind": "call", "owner_id": rep_b.pk, "team_id": team_b.pk,
        "contact_id": contact.pk, "company_id": company.pk, "deal_id": deal.pk,
    })
    assert created.status_code == 201, created.content
    task_id = created.json()["id"]
    api_b = ApiClient(rep_b)
    # when
    item = api_b.get("/tasks/").json()["items"][0]
    detail = api_b.get(f"/tasks/{task_id}").json()
    # then: the ids (they are on the task) but no names, in the list and in the single record
    for body in (item, detail):
        assert body["contact"] == {"id": contact.pk, "name": None}
        assert body["company"] == {"id": company.pk, "name": None}
        assert body["deal"] == {"id": deal.pk, "name": None}
    assert "Петренко" not in str(detail) and "Ромашка" not in str(detail)
    # and the director, who may see them, gets the names
    seen = ApiClient(director).get(f"/tasks/{task_id}").json()
    assert seen["contact"]["name"] == "Олена Петренко" and seen["company"]["name"] == "Ромашка"
    assert seen["deal"]["name"] == "Ромашка: ліцензії"


# ----------------------------------------------------------------------------------------- state conflicts


def test_state_conflicts_on_complete_cancel_and_reopen_are_409(api_a):
    # given: a done task and a cancelled one
    done = api_a.post("/tasks/", {"title": "Done"}).json()["id"]
    cancelled = api_a.post("/tasks/", {"title": "Cancelled"}).json()["id"]
    is_open = api_a.post("/tasks/", {"title": "Open"}).json()["id"]
    assert api_a.post(f"/tasks/{done}/complete", {}).status_code == 200
    assert api_a.post(f"/tasks/{cancelled}/cancel").status_code == 200
    # when
    responses = {
        "task_already_done": api_a.post(f"/tasks/{done}/complete", {}),
        "task_not_open": api_a.post(f"/tasks/{cancelled}/complete", {}),
        "task_already_open": api_a.post(f"/tasks/{is_open}/reopen"),
    }
    closed = api_a.post(f"/tasks/{done}/cancel")
    # then: 409 problems with a stable code and the task's status; nothing changed
    for code, response in responses.items():
        assert response.status_code == 409, response.content
        problem_fields(response)
        assert response.json()["code"] == code
    assert [r.json()["task_status"] for r in responses.values()] == ["done", "cancelled", "open"]
    assert closed.status_code == 409 and closed.json()["code"] == "task_not_open"
    assert closed.json()["task_status"] == "done"
    assert Task.objects.get(pk=cancelled).status == "cancelled"


def test_openapi_task_operations_list_only_the_statuses_they_return(api_a):
    # given
    doc = api_a.get("/openapi.json").json()
    paths = doc["paths"]

    def statuses(path, method):
        return {int(s) for s in paths[f"/api/v1{path}"][method]["responses"]}

    # then
    assert statuses("/tasks/", "get") == {200, 400, 401, 422}
    assert statuses("/tasks/", "post") == {201, 400, 401, 403, 422}
    assert statuses("/tasks/{task_id}", "get") == {200, 401, 404, 422}
    assert statuses("/tasks/{task_id}", "patch") == {200, 400, 401, 403, 404, 412, 422}
    assert statuses("/tasks/{task_id}", "delete") == {204, 401, 403, 404, 412, 422}
    for action in ("complete", "cancel", "reopen"):
        assert statuses(f"/tasks/{{task_id}}/{action}", "post") == {200, 400, 401, 403, 404, 409, 412, 422}
    assert statuses("/tasks/{task_id}/audit", "get") == {200, 400, 401, 404, 422}
    assert statuses("/calendar-feeds/", "get") == {200, 400, 401, 422}
    assert statuses("/calendar-feeds/", "post") == {201, 400, 401, 403, 422}
    assert statuses("/calendar-feeds/{feed_id}", "delete") == {204, 401, 403, 404, 422}


def test_real_task_responses_match_the_openapi_document(api_a, rep_a, team_a, contact, director, rep_b):
    # given
    from kramar.core.tests.test_openapi import _check, _response_schema

    CustomFieldDefinitionFactory(entity="task", key="topic", label="Topic")
    doc = api_a.get("/openapi.json").json()
    created = api_a.post("/tasks/", {"title": "Call", "kind": "call", "contact_id": contact.pk,
                                     "custom": {"topic": "prices"}})
    task_id = created.json()["id"]
    hidden = ApiClient(director).post("/tasks/", {"title": "Foreign", "owner_id": rep_a.pk, "team_id": team_a.pk,
                                                  "contact_id": ContactFactory(owner=rep_b).pk})
    assert hidden.status_code == 201, hidden.content
    ApiClient(director).post("/calendar-feeds/")
    api_a.post("/calendar-feeds/")
    # when
    calls = [
        ("/api/v1/tasks/", "post", 201, created),
        ("/api/v1/tasks/", "get", 200, api_a.get("/tasks/")),
        ("/api/v1/tasks/{task_id}", "get", 200, api_a.get(f"/tasks/{hidden.json()['id']}")),
        ("/api/v1/tasks/{task_id}", "patch", 200, api_a.patch(f"/tasks/{task_id}", {"title": "Call again"})),
        ("/api/v1/tasks/{task_id}/complete", "post", 200, api_a.post(f"/tasks/{task_id}/complete", {"outcome": "ok"})),
        ("/api/v1/tasks/{task_id}/complete", "post", 409, api_a.post(f"/tasks/{task_id}/complete", {"outcome": "x"})),
        ("/api/v1/tasks/{task_id}/reopen", "post", 200, api_a.post(f"/tasks/{task_id}/reopen")),
        ("/api/v1/tasks/{task_id}/audit", "get", 200, api_a.get(f"/tasks/{task_id}/audit")),
        ("/api/v1/calendar-feeds/", "get", 200, api_a.get("/calendar-feeds/")),
    ]
    # then
    for path, method, status, response in calls:
        assert response.status_code == status, (path, response.content)
        schema = _response_schema(doc, path, method, status)
        assert _check(response.json(), schema, doc, path) == [], path
    body = calls[1][3].json()["items"]
    assert {i["team_id"] for i in body} == {team_a.pk}
    assert calls[2][3].json()["contact"]["name"] is None and calls[2][3].json()["team_id"] == team_a.pk
    assert calls[3][3].json()["custom"] == {"topic": "prices"}


# ----------------------------------------------------------------------------------------- calendar feeds pages


def test_calendar_feed_list_is_paginated_like_every_list(api_a, rep_a, rep_b):
    # given: five feeds of mine, one of someone else
    for _ in range(5):
        api_a.post("/calendar-feeds/")
    ApiClient(rep_b).post("/calendar-feeds/")
    mine = list(CalendarFeed.objects.filter(user=rep_a).order_by("-created_at", "-id").values_list("pk", flat=True))
    # when: pages of two
    seen, cursor, pages = [], None, 0
    while True:
        body = api_a.get("/calendar-feeds/", {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [f["id"] for f in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    # then: every feed of mine once, newest first, in three pages; bad paging input is a 4xx problem
    assert seen == mine and pages == 3
    assert api_a.get("/calendar-feeds/", {"cursor": "garbage"}).status_code == 400
    assert api_a.get("/calendar-feeds/", {"limit": 0}).status_code == 422


# ----------------------------------------------------------------------------------------- custom fields


def test_custom_values_on_create_patch_and_get(api_a):
    # given
    CustomFieldDefinitionFactory(entity="task", key="topic", label="Topic", field_type="choice",
                                 choices=["Price", "Delivery"], required=True)
    CustomFieldDefinitionFactory(entity="task", key="units", label="Units", field_type="number")
    # when: the required field left out, an unknown key
    missing = api_a.post("/tasks/", {"title": "Offer"})
    unknown = api_a.post("/tasks/", {"title": "Offer", "custom": {"topic": "Price", "colour": "red"}})
    # then: 422 naming them; nothing saved
    assert missing.status_code == 422 and problem_fields(missing) == {"custom.topic"}
    assert unknown.status_code == 422 and problem_fields(unknown) == {"custom.colour"}
    assert Task.objects.count() == 0
    # when
    created = api_a.post("/tasks/", {"title": "Offer", "custom": {"topic": "Price", "units": 3}})
    # then
    assert created.status_code == 201, created.content
    task_id = created.json()["id"]
    assert created.json()["custom"] == {"topic": "Price", "units": 3}
    # when: a PATCH merges over the stored values, and may not clear a required one
    patched = api_a.patch(f"/tasks/{task_id}", {"custom": {"units": 5}})
    cleared = api_a.patch(f"/tasks/{task_id}", {"custom": {"topic": None}})
    # then
    assert patched.status_code == 200 and patched.json()["custom"] == {"topic": "Price", "units": 5}
    assert cleared.status_code == 422 and problem_fields(cleared) == {"custom.topic"}
    assert api_a.get(f"/tasks/{task_id}").json()["custom"] == {"topic": "Price", "units": 5}


def test_completion_does_not_need_the_required_custom_fields(api_a, rep_a, contact):
    # given: a call planned before a required task field was defined
    task = TaskFactory(owner=rep_a, kind="call", contact=contact)
    CustomFieldDefinitionFactory(entity="task", key="topic", label="Topic", required=True)
    # when
    response = api_a.post(f"/tasks/{task.pk}/complete", {"outcome": "Reached"})
    # then: completing is not editing the task's fields
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "done" and response.json()["interaction_id"]


# ----------------------------------------------------------------------------------------- audit


def test_a_tasks_audit_trail_in_its_scope(api_a, rep_a, rep_a2, rep_b):
    # given: created, changed and completed through the API
    task_id = api_a.post("/tasks/", {"title": "Draft"}).json()["id"]
    api_a.patch(f"/tasks/{task_id}", {"title": "Final"})
    api_a.post(f"/tasks/{task_id}/complete", {})
    # when
    response = api_a.get(f"/tasks/{task_id}/audit", {"limit": 2})
    # then: newest first, field-level changes, source "api", a page at a time
    assert response.status_code == 200
    body = response.json()
    assert [e["action"] for e in body["items"]] == ["update", "update"]
    assert body["items"][1]["changes"]["title"] == ["Draft", "Final"]
    assert {e["source"] for e in body["items"]} == {"api"} and body["next_cursor"]
    rest = api_a.get(f"/tasks/{task_id}/audit", {"cursor": body["next_cursor"]}).json()
    assert [e["action"] for e in rest["items"]] == ["create"] and rest["next_cursor"] is None
    # and a teammate reads it (view scope), another team's rep gets 404
    assert ApiClient(rep_a2).get(f"/tasks/{task_id}/audit").status_code == 200
    outside = ApiClient(rep_b).get(f"/tasks/{task_id}/audit")
    assert outside.status_code == 404
    problem_fields(outside)


# ----------------------------------------------------------------------------------------- assignee, reopen


def test_patch_cannot_remove_the_assignee(api_a, rep_a):
    # given
    task_id = api_a.post("/tasks/", {"title": "Mine"}).json()["id"]
    # when
    response = api_a.patch(f"/tasks/{task_id}", {"owner_id": None})
    # then
    assert response.status_code == 422
    assert problem_fields(response) == {"owner_id"}
    assert response.json()["errors"][0]["message"] == "A task needs an assignee."
    task = Task.objects.get(pk=task_id)
    assert task.owner_id == rep_a.pk and task.version == 1


def test_reopen_clears_the_outcome_and_the_interaction_link(api_a, rep_a, contact):
    # given: a call completed once
    task_id = api_a.post("/tasks/", {"kind": "call", "title": "Call", "contact_id": contact.pk}).json()["id"]
    first = api_a.post(f"/tasks/{task_id}/complete", {"outcome": "No answer"}).json()["interaction_id"]
    # when
    reopened = api_a.post(f"/tasks/{task_id}/reopen")
    # then: the task is open with no outcome and no interaction; the interaction stays on the timeline
    assert reopened.status_code == 200
    assert reopened.json()["outcome"] == "" and reopened.json()["interaction_id"] is None
    assert Interaction.objects.filter(pk=first, contact=contact).exists()
    entry = AuditEntry.objects.filter(entity="task", object_id=task_id).order_by("-id").first()
    assert entry.extra == {"reopen": True}
    assert entry.changes["outcome"] == ["No answer", ""] and entry.changes["interaction"] == [first, None]
    # when: completed again
    again = api_a.post(f"/tasks/{task_id}/complete", {"outcome": "Reached"}).json()
    # then: it points at the new interaction; both are on the timeline
    assert again["outcome"] == "Reached" and again["interaction_id"] not in (None, first)
    assert Interaction.objects.filter(contact=contact).count() == 2


# ----------------------------------------------------------------------------------------- completing for a client
# outside the assignee's scope


def test_assignee_completes_a_call_on_a_client_outside_their_scope(director, rep_b, team_b, team_a_client):
    # given: a director gives rep_b (team B) a call to team A's contact
    contact, company, deal = team_a_client
    task_id = ApiClient(director).post("/tasks/", {
        "title": "Call Олена", "kind": "call", "owner_id": rep_b.pk, "team_id": team_b.pk,
        "contact_id": contact.pk, "deal_id": deal.pk,
    }).json()["id"]
    api_b = ApiClient(rep_b)
    # when
    response = api_b.post(f"/tasks/{task_id}/complete", {"outcome": "Interested", "note": "Send prices"})
    # then: the outcome is logged on the task's client and deal, by rep_b
    assert response.status_code == 200, response.content
    body = response.json()
    interaction = Interaction.objects.get(pk=body["interaction_id"])
    assert (interaction.contact_id, interaction.company_id, interaction.deal_id) == (contact.pk, company.pk, deal.pk)
    assert interaction.user_id == rep_b.pk and interaction.outcome == "Interested"
    contact.refresh_from_db()
    assert contact.last_contacted_at == interaction.occurred_at
    # and rep_b sees their interaction, but still not the client's name
    assert body["contact"] == {"id": contact.pk, "name": None}
    logged = api_b.get(f"/interactions/{interaction.pk}").json()
    assert logged["contact"] == {"id": contact.pk, "name": None}
    assert logged["company"] == {"id": company.pk, "name": None}
    assert api_b.get(f"/contacts/{contact.pk}").status_code == 404


def test_someone_who_may_only_see_the_task_cannot_complete_it(director, rep_a, rep_a2, team_a, rep_b):
    # given: a call of rep_a on another team's contact; rep_a2 (teammate) may see the task but not change it
    contact = ContactFactory(owner=rep_b)
    task_id = ApiClient(director).post("/tasks/", {
        "title": "Call", "kind": "call", "owner_id": rep_a.pk, "team_id": team_a.pk, "contact_id": contact.pk,
    }).json()["id"]
    # when
    response = ApiClient(rep_a2).post(f"/tasks/{task_id}/complete", {"outcome": "x"})
    # then
    assert response.status_code == 403
    assert Interaction.objects.count() == 0 and Task.objects.get(pk=task_id).status == "open"
