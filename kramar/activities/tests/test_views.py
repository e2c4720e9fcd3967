"""Task pages: list with filters and empty state, bounded queries, scopes (404), the form with field errors and the
version message, the complete-with-outcome partial (HTMX) and the quick call log."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from kramar.activities import services
from kramar.activities.models import Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.tests.factories import CustomFieldDefinitionFactory
from kramar.history.models import Interaction
from kramar.sales.tests.factories import DealFactory

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def contact(rep_a, team_a):
    return ContactFactory(owner=rep_a, team=team_a, first_name="Олена", last_name="Петренко")


@pytest.fixture
def client_a(client, rep_a):
    client.force_login(rep_a)
    return client


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("activities:task-list"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_list_shows_my_open_tasks_and_the_empty_state(client_a, rep_a, rep_a2, team_a):
    # given: nothing
    response = client_a.get(reverse("activities:task-list"))
    assert response.status_code == 200 and b'data-testid="empty"' in response.content
    # given
    TaskFactory(owner=rep_a, team=team_a, title="Call Ромашка")
    TaskFactory(owner=rep_a, team=team_a, title="Finished", status="done")
    TaskFactory(owner=rep_a2, team=team_a, title="Teammate's task")
    # when
    html = client_a.get(reverse("activities:task-list")).content.decode()
    # then: mine and open by default
    assert "Call Ромашка" in html and "Finished" not in html and "Teammate" not in html
    html = client_a.get(reverse("activities:task-list"), {"whose": "all", "status": "all"}).content.decode()
    assert "Call Ромашка" in html and "Finished" in html and "Teammate" in html


def test_list_filters_overdue_kind_and_due_range_and_htmx_partial(client_a, rep_a):
    now = timezone.now()
    TaskFactory(owner=rep_a, title="Late", due_at=now - dt.timedelta(days=1), kind="call")
    TaskFactory(owner=rep_a, title="Next week", due_at=now + dt.timedelta(days=7))
    url = reverse("activities:task-list")
    html = client_a.get(url, {"overdue": "on"}).content.decode()
    assert "Late" in html and "Next week" not in html
    html = client_a.get(url, {"kind": "todo"}).content.decode()
    assert "Late" not in html and "Next week" in html
    day = (timezone.localdate() + dt.timedelta(days=7)).isoformat()
    html = client_a.get(url, {"due_from": day, "due_to": day}).content.decode()
    assert "Late" not in html and "Next week" in html
    # a bad date is ignored with the field's error, not a 500
    assert client_a.get(url, {"due_from": "someday"}).status_code == 200
    # HTMX gets only the table
    partial = client_a.get(url, {"sort": "-due"}, **HTMX).content.decode()
    assert 'id="list-table"' in partial and "<html" not in partial
    assert partial.index("Next week") < partial.index("Late")


def test_list_page_has_bounded_queries(client_a, rep_a, team_a, django_assert_max_num_queries):
    # given: 60 tasks with clients and deals
    for i in range(60):
        TaskFactory(owner=rep_a, team=team_a, contact=ContactFactory(owner=rep_a, team=team_a),
                    company=CompanyFactory(owner=rep_a, team=team_a), deal=DealFactory(owner=rep_a, team=team_a),
                    due_at=timezone.now() + dt.timedelta(hours=i + 1))
    # when / then: + 3 for the visible contacts, companies and deals of the page
    with django_assert_max_num_queries(12 + 3):
        response = client_a.get(reverse("activities:task-list"))
    assert response.status_code == 200
    assert response.content.count(b'data-task-status="open"') == 50


def test_other_team_gets_404_on_every_task_page(client, rep_b, rep_a):
    task = TaskFactory(owner=rep_a)
    client.force_login(rep_b)
    for name in ("task-detail", "task-edit", "task-complete"):
        assert client.get(reverse(f"activities:{name}", args=[task.pk])).status_code == 404
    assert client.post(reverse("activities:task-complete", args=[task.pk]), {"outcome": "x"}).status_code == 404
    assert client.post(reverse("activities:task-cancel", args=[task.pk])).status_code == 404
    assert Task.objects.get(pk=task.pk).status == "open"


def test_create_form_shows_field_errors_and_saves_nothing(client_a):
    response = client_a.post(
        reverse("activities:task-create"), {"kind": "meeting", "title": "", "priority": "normal", "attendees": "x@"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-field-errors="title"' in html and 'data-field-errors="attendees"' in html
    assert 'data-field-errors="due_at"' in html  # a meeting needs a time
    assert Task.objects.count() == 0


def test_create_from_a_contact_and_edit(client_a, rep_a, contact):
    # when
    page = client_a.get(reverse("activities:task-create"), {"contact": contact.pk, "kind": "call"})
    assert "Петренко" in page.content.decode()
    response = client_a.post(
        reverse("activities:task-create"),
        {"kind": "call", "title": "Call Олена", "priority": "high", "due_at": "2030-05-06T10:00",
         "contact": contact.pk},
    )
    # then
    task = Task.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("activities:task-detail", args=[task.pk])
    assert task.contact_id == contact.pk and task.owner_id == rep_a.pk and task.priority == "high"
    detail = client_a.get(response["Location"]).content.decode()
    assert "Call Олена" in detail and "Петренко" in detail
    # edit
    response = client_a.post(
        reverse("activities:task-edit", args=[task.pk]),
        {"kind": "call", "title": "Call Олена again", "priority": "high", "version": 1, "contact": contact.pk},
    )
    assert response.status_code == 302
    assert Task.objects.get().title == "Call Олена again"


def test_edit_with_a_stale_version_shows_the_conflict_message(client_a, rep_a):
    task = services.task_create(actor=rep_a, data={"title": "Draft"})
    services.task_update(actor=rep_a, task=task, data={"title": "Changed elsewhere"})
    response = client_a.post(
        reverse("activities:task-edit", args=[task.pk]), {"kind": "todo", "title": "Mine", "priority": "normal",
                                                          "version": 1},
    )
    assert response.status_code == 200
    assert b"changed by someone else" in response.content
    assert Task.objects.get().title == "Changed elsewhere"


def test_cannot_assign_to_another_team_in_the_form(client_a, rep_b):
    response = client_a.post(
        reverse("activities:task-create"), {"kind": "todo", "title": "X", "priority": "normal", "owner": rep_b.pk}
    )
    assert response.status_code == 200 and Task.objects.count() == 0
    assert b'data-field-errors="owner"' in response.content


def test_complete_partial_requires_outcome_then_returns_the_row(client_a, rep_a, contact):
    # given
    task = services.task_create(actor=rep_a, data={"kind": "call", "title": "Call", "contact_id": contact.pk})
    url = reverse("activities:task-complete", args=[task.pk])
    # the form partial
    form = client_a.get(url, **HTMX).content.decode()
    assert 'data-testid="complete-form"' in form and "<html" not in form
    # when: no outcome
    response = client_a.post(url, {"outcome": "", "version": 1}, **HTMX)
    # then: the form again with the error
    assert response.status_code == 200 and b'data-field-errors="outcome"' in response.content
    assert Interaction.objects.count() == 0
    # when
    response = client_a.post(url, {"outcome": "Agreed a meeting", "note": "Tuesday", "version": 1}, **HTMX)
    # then: the row, retargeted onto the task's row
    html = response.content.decode()
    assert f'id="task-{task.pk}"' in html and 'data-task-status="done"' in html
    assert response["HX-Retarget"] == f"#task-{task.pk}" and response["HX-Reswap"] == "outerHTML"
    interaction = Interaction.objects.get()
    assert interaction.outcome == "Agreed a meeting" and interaction.contact_id == contact.pk
    # when: twice
    response = client_a.post(url, {"outcome": "Again", "version": 2}, **HTMX)
    assert b"already done" in response.content and Interaction.objects.count() == 1


def test_complete_without_htmx_redirects_to_next(client_a, rep_a):
    task = services.task_create(actor=rep_a, data={"title": "Todo"})
    page = client_a.get(reverse("activities:task-complete", args=[task.pk]))
    assert page.status_code == 200 and b"<html" in page.content and b'data-testid="complete-form"' in page.content
    response = client_a.post(reverse("activities:task-complete", args=[task.pk]), {"next": "/my-day/"})
    assert response.status_code == 302 and response["Location"] == "/my-day/"
    detail = client_a.get(reverse("activities:task-detail", args=[task.pk])).content.decode()
    assert 'data-testid="task-status"' in detail and "complete-form" not in detail
    response = client_a.post(
        reverse("activities:task-complete", args=[TaskFactory(owner=rep_a).pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"].startswith("/tasks/")


def test_cancel_from_the_card(client_a, rep_a):
    task = services.task_create(actor=rep_a, data={"title": "Maybe"})
    response = client_a.post(reverse("activities:task-cancel", args=[task.pk]), {"version": 1})
    assert response.status_code == 302 and Task.objects.get().status == "cancelled"


def test_log_call_quick_flow(client_a, rep_a, contact):
    url = reverse("activities:task-log-call")
    # without a client: a clear message
    response = client_a.post(url, {"outcome": "x"})
    assert response.status_code == 200 and b"form-errors" in response.content
    # without an outcome
    response = client_a.post(url, {"contact": contact.pk, "outcome": ""})
    assert b'data-field-errors="outcome"' in response.content and Task.objects.count() == 0
    # when
    response = client_a.post(url, {"contact": contact.pk, "outcome": "Will order", "note": "10 units"})
    # then
    assert response.status_code == 302
    task = Task.objects.get()
    assert task.kind == "call" and task.status == "done" and task.interaction.outcome == "Will order"


# ----------------------------------------------------------------------------------------- custom fields


def _task_field(key, label, field_type="text", **kw):
    return CustomFieldDefinitionFactory(entity="task", key=key, label=label, field_type=field_type, **kw)


@pytest.fixture
def task_fields(db):
    """A required choice field and optional number, date, boolean and multi-choice fields, for tasks."""
    return [
        _task_field("topic", "Topic", "choice", choices=["Price", "Delivery"], required=True, position=1),
        _task_field("units", "Units", "number", position=2),
        _task_field("promised", "Promised for", "date", position=3),
        _task_field("billable", "Billable", "boolean", position=4),
        _task_field("lines", "Product lines", "multi_choice", choices=["doors", "roofs"], position=5),
        CustomFieldDefinitionFactory(entity="deal", key="topic", label="Not a task field"),
    ]


def _task_post(**overrides):
    return {"kind": "todo", "title": "Send the offer", "priority": "normal", **overrides}


def test_the_task_form_shows_the_task_custom_fields(client_a, task_fields):
    # when
    response = client_a.get(reverse("activities:task-create"))
    # then: the task's fields with their widgets, the required one marked; not the deal's
    html = response.content.decode()
    names = [f.name for f in response.context["form"].custom_bound_fields()]
    assert names == [f"custom__{k}" for k in ("topic", "units", "promised", "billable", "lines")]
    assert "Not a task field" not in html
    assert '<select name="custom__topic" required' in html and "(required)" in html
    assert 'type="date" name="custom__promised"' in html and 'name="custom__lines" value="roofs"' in html


def test_create_refuses_a_missing_required_custom_field_and_saves_nothing(client_a, task_fields):
    # when: the required topic left empty, a date that is not one
    response = client_a.post(reverse("activities:task-create"), _task_post(custom__promised="someday"))
    # then: the form's own error on the date; nothing saved
    assert response.status_code == 200
    assert 'data-field-errors="custom__promised"' in response.content.decode()
    assert Task.objects.count() == 0
    # when: the date fixed, the units not a number
    response = client_a.post(
        reverse("activities:task-create"), _task_post(custom__promised="2030-05-06", custom__units="many")
    )
    # then: the service's errors (custom.topic, custom.units) on the fields; nothing saved
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"custom__topic", "custom__units"}
    html = response.content.decode()
    assert 'data-field-errors="custom__topic"' in html and 'data-field-errors="custom__units"' in html
    assert Task.objects.count() == 0


def test_create_saves_custom_values_and_the_detail_page_shows_them(client_a, task_fields):
    # given
    values = {
        "custom__topic": "Delivery",
        "custom__units": "12",
        "custom__promised": "2030-05-06",
        "custom__billable": "true",
        "custom__lines": ["doors", "roofs"],
    }
    # when
    response = client_a.post(reverse("activities:task-create"), _task_post(**values))
    # then
    task = Task.objects.get()
    assert response.status_code == 302
    assert task.custom == {
        "topic": "Delivery",
        "units": 12,
        "promised": "2030-05-06",
        "billable": True,
        "lines": ["doors", "roofs"],
    }
    # and the detail page lists them with their labels
    detail = client_a.get(reverse("activities:task-detail", args=[task.pk]))
    assert detail.context["custom_values"] == [
        ("Topic", "Delivery"),
        ("Units", 12),
        ("Promised for", "2030-05-06"),
        ("Billable", "Yes"),
        ("Product lines", "doors, roofs"),
    ]
    assert "<dt>Topic</dt><dd>Delivery</dd>" in detail.content.decode()


def test_edit_keeps_custom_values_including_those_the_form_does_not_show(client_a, rep_a, task_fields):
    # given: a task with values, one under a key with no definition
    stored = {"topic": "Price", "units": 3, "billable": False, "lines": ["roofs"]}
    task = TaskFactory(owner=rep_a, title="Offer", custom={**stored, "old_ref": "X-1"})
    url = reverse("activities:task-edit", args=[task.pk])
    # when: the edit form opens
    page = client_a.get(url)
    # then: it shows the stored values
    form = page.context["form"]
    assert {key: form[f"custom__{key}"].value() for key in stored} == stored
    html = page.content.decode()
    assert '<option value="Price" selected>Price</option>' in html
    assert 'name="custom__lines" value="roofs" id="id_custom__lines_1" checked' in html
    # when: saved with another title, the values as shown, the units cleared
    response = client_a.post(
        url,
        _task_post(
            title="Offer, revised",
            version=task.version,
            custom__topic="Price",
            custom__billable="false",
            custom__lines=["roofs"],
        ),
    )
    # then: kept, the cleared one dropped, the key without a field untouched
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.title == "Offer, revised"
    assert task.custom == {"topic": "Price", "billable": False, "lines": ["roofs"], "old_ref": "X-1"}


def test_edit_refuses_clearing_a_required_custom_field(client_a, rep_a, task_fields):
    # given
    task = TaskFactory(owner=rep_a, title="Offer", custom={"topic": "Price"})
    # when
    response = client_a.post(
        reverse("activities:task-edit", args=[task.pk]),
        _task_post(title="Changed", version=task.version, custom__topic=""),
    )
    # then
    assert response.status_code == 200
    assert 'data-field-errors="custom__topic"' in response.content.decode()
    task.refresh_from_db()
    assert task.title == "Offer" and task.custom == {"topic": "Price"} and task.version == 1


def test_other_team_gets_404_on_a_task_with_custom_values(client, rep_a, rep_b, task_fields):
    # given
    task = TaskFactory(owner=rep_a, title="Secret", custom={"topic": "Price"})
    client.force_login(rep_b)
    # when / then
    assert client.get(reverse("activities:task-detail", args=[task.pk])).status_code == 404
    assert client.get(reverse("activities:task-edit", args=[task.pk])).status_code == 404
    response = client.post(
        reverse("activities:task-edit", args=[task.pk]),
        _task_post(title="Hijacked", version=task.version, custom__topic="Delivery"),
    )
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.title == "Secret" and task.custom == {"topic": "Price"}


def test_log_call_works_with_a_required_task_custom_field(client_a, rep_a, contact, task_fields):
    # given: a required task field (topic) the quick form does not ask for
    url = reverse("activities:task-log-call")
    # when
    response = client_a.post(url, {"contact": contact.pk, "outcome": "Will order"})
    # then: the call is logged all the same (a quick record of what happened, not a planned task)
    assert response.status_code == 302, response.content.decode()
    task = Task.objects.get()
    assert task.status == "done" and task.custom == {} and task.interaction.outcome == "Will order"


def test_completing_from_the_card_does_not_need_the_required_custom_fields(client_a, rep_a, contact):
    # given: a call planned before a required task field was defined
    task = TaskFactory(owner=rep_a, kind="call", contact=contact)
    _task_field("topic", "Topic", required=True)
    # when
    response = client_a.post(reverse("activities:task-complete", args=[task.pk]),
                             {"outcome": "Reached", "version": task.version})
    # then
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "done" and task.interaction_id


# ----------------------------------------------------------------------------------------- linked records outside
# the reader's scope


@pytest.fixture
def foreign_task(director, rep_a, team_a, rep_b, team_b):
    """A call a director gave rep_a (team A) on team B's contact, company and deal."""
    company = CompanyFactory(owner=rep_b, team=team_b, name="Кварц")
    contact = ContactFactory(owner=rep_b, team=team_b, first_name="Іван", last_name="Мельник",
                             primary_company=company)
    deal = DealFactory(owner=rep_b, team=team_b, company=company, title="Кварц: ліцензії")
    return services.task_create(actor=director, data={
        "kind": "call", "title": "Call Іван", "owner_id": rep_a.pk, "team_id": team_a.pk,
        "contact_id": contact.pk, "company_id": company.pk, "deal_id": deal.pk,
    })


def test_task_pages_do_not_name_linked_records_outside_the_readers_scope(client_a, foreign_task, director, client):
    # when
    listed = client_a.get(reverse("activities:task-list")).content.decode()
    detail = client_a.get(reverse("activities:task-detail", args=[foreign_task.pk])).content.decode()
    # then: the task, but neither the names nor links of team B's records
    assert "Call Іван" in listed and "Call Іван" in detail
    for html in (listed, detail):
        assert "Мельник" not in html and "Кварц" not in html
        assert reverse("clients:contact-detail", args=[foreign_task.contact_id]) not in html
    assert "a contact outside your scope" in listed and "a deal outside your scope" in listed
    assert detail.count("(outside your scope)") == 3
    # and the director sees them
    client.force_login(director)
    seen = client.get(reverse("activities:task-detail", args=[foreign_task.pk])).content.decode()
    assert "Іван Мельник" in seen and "Кварц: ліцензії" in seen


def test_assignee_completes_a_call_on_a_client_outside_their_scope_from_the_list(client_a, rep_a, foreign_task):
    # when: completed through the row's partial (HTMX)
    url = reverse("activities:task-complete", args=[foreign_task.pk])
    response = client_a.post(url, {"outcome": "Interested", "version": foreign_task.version}, **HTMX)
    # then: logged on the task's client by rep_a; the row comes back without the client's name
    html = response.content.decode()
    assert 'data-task-status="done"' in html and "Мельник" not in html
    interaction = Interaction.objects.get()
    assert interaction.contact_id == foreign_task.contact_id and interaction.user_id == rep_a.pk
    assert interaction.deal_id == foreign_task.deal_id


def test_editing_a_task_keeps_links_the_editor_may_not_see(client_a, foreign_task):
    # when: the edit form sends the task's links back unchanged
    response = client_a.post(reverse("activities:task-edit", args=[foreign_task.pk]), {
        "kind": "call", "title": "Call Іван today", "priority": "normal", "version": foreign_task.version,
        "contact": foreign_task.contact_id, "company": foreign_task.company_id, "deal": foreign_task.deal_id,
    })
    # then: saved, links kept
    assert response.status_code == 302, response.content.decode()
    task = Task.objects.get(pk=foreign_task.pk)
    assert task.title == "Call Іван today"
    assert (task.contact_id, task.company_id, task.deal_id) == (
        foreign_task.contact_id, foreign_task.company_id, foreign_task.deal_id
    )
