"""Task writes: validation naming the field, scopes and assignment, versions, completion with the outcome on the
client's timeline, recurrence, cancel/reopen/delete, meeting invitations on commit, calendar feeds."""

import datetime as dt
import importlib.util
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from kramar.activities import selectors, services
from kramar.activities.models import CalendarFeed, Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry, OutgoingEmail
from kramar.history.models import Interaction
from kramar.sales.tests.factories import DealFactory

pytestmark = pytest.mark.django_db(transaction=True)

KYIV = ZoneInfo("Europe/Kyiv")
HAS_INVITATIONS = importlib.util.find_spec("kramar.activities.invitations") is not None


def at(year, month, day, hour=10, minute=0):
    return dt.datetime(year, month, day, hour, minute, tzinfo=KYIV)


@pytest.fixture(autouse=True)
def _kyiv(settings):
    settings.TIME_ZONE = "Europe/Kyiv"
    timezone.activate(KYIV)
    yield
    timezone.deactivate()


@pytest.fixture
def company(rep_a, team_a):
    return CompanyFactory(owner=rep_a, team=team_a, name="Ромашка")


@pytest.fixture
def contact(rep_a, team_a, company):
    return ContactFactory(owner=rep_a, team=team_a, primary_company=company)


@pytest.fixture
def deal(rep_a, team_a, company):
    return DealFactory(owner=rep_a, team=team_a, company=company)


# ----------------------------------------------------------------------------------------- create / validation


def test_create_defaults_assignee_to_actor_and_team_and_writes_audit(rep_a, team_a, contact):
    # when
    task = services.task_create(
        actor=rep_a, data={"kind": "call", "title": "Call back", "due_at": "2030-05-06T10:00", "contact_id": contact.pk}
    )
    # then
    task.refresh_from_db()
    assert task.owner_id == rep_a.pk and task.team_id == team_a.pk and task.created_by_id == rep_a.pk
    assert task.due_at == at(2030, 5, 6, 10)
    assert task.contact_id == contact.pk and task.status == Task.Status.OPEN
    assert AuditEntry.objects.filter(entity="task", object_id=task.pk, action="create").count() == 1


def test_create_names_every_bad_field_and_saves_nothing(rep_a):
    # when
    with pytest.raises(ValidationFailed) as exc:
        services.task_create(
            actor=rep_a,
            data={
                "kind": "fax", "title": "", "due_at": "tomorrow", "duration_minutes": -5, "priority": "urgent",
                "recurrence": "hourly", "attendees": ["ok@example.com", "not-an-email"], "contact_id": 999999,
                "remind_at": "soon",
            },
        )
    # then
    assert set(exc.value.errors) >= {
        "kind", "title", "due_at", "duration_minutes", "priority", "recurrence", "attendees", "contact_id", "remind_at",
    }
    assert Task.objects.count() == 0


def test_repeating_task_needs_a_due_date_and_until_not_before_it(rep_a):
    with pytest.raises(ValidationFailed) as exc:
        services.task_create(actor=rep_a, data={"title": "Weekly report", "recurrence": "weekly"})
    assert "due_at" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        services.task_create(
            actor=rep_a,
            data={"title": "R", "recurrence": "daily", "due_at": at(2030, 5, 6), "recurrence_until": "2030-05-01"},
        )
    assert "recurrence_until" in exc.value.errors


def test_linking_a_client_outside_the_scope_is_not_found(rep_a, rep_b, team_b):
    # given: a company of team B
    other = CompanyFactory(owner=rep_b, team=team_b)
    # when / then
    with pytest.raises(ValidationFailed) as exc:
        services.task_create(actor=rep_a, data={"title": "Peek", "company_id": other.pk})
    assert exc.value.errors["company_id"]


def test_rep_cannot_assign_a_task_to_a_user_outside_their_scope(rep_a, rep_a2, rep_b):
    # a rep's create scope is "own": only themselves
    for other in (rep_b, rep_a2):
        with pytest.raises(ValidationFailed) as exc:
            services.task_create(actor=rep_a, data={"title": "For you", "owner_id": other.pk})
        assert "owner_id" in exc.value.errors
    assert Task.objects.count() == 0


def test_team_lead_assigns_within_the_team_only(lead_a, rep_a, rep_b, team_a):
    # when
    task = services.task_create(actor=lead_a, data={"title": "Call Ромашка", "owner_id": rep_a.pk})
    # then
    assert task.owner_id == rep_a.pk and task.team_id == team_a.pk
    with pytest.raises(ValidationFailed) as exc:
        services.task_create(actor=lead_a, data={"title": "Not mine", "owner_id": rep_b.pk})
    assert "owner_id" in exc.value.errors


def test_update_checks_version_and_bumps_it(rep_a):
    # given
    task = services.task_create(actor=rep_a, data={"title": "Draft"})
    # when
    updated = services.task_update(actor=rep_a, task=task, data={"title": "Final"}, expected_version=1)
    # then
    assert updated.version == 2 and Task.objects.get(pk=task.pk).title == "Final"
    with pytest.raises(VersionConflict):
        services.task_update(actor=rep_a, task=task, data={"title": "Stale"}, expected_version=1)
    assert Task.objects.get(pk=task.pk).title == "Final"


def test_rep_b_cannot_see_or_change_team_a_task(rep_a, rep_b):
    # given
    task = services.task_create(actor=rep_a, data={"title": "Secret"})
    # then
    with pytest.raises(Http404):
        selectors.task_get(actor=rep_b, pk=task.pk)
    with pytest.raises(Http404):
        services.task_update(actor=rep_b, task=task, data={"title": "Mine now"})
    assert list(selectors.task_list(actor=rep_b)) == []


def test_teammate_sees_but_may_not_change_anothers_task(rep_a, rep_a2):
    # given
    task = services.task_create(actor=rep_a, data={"title": "Mine"})
    # then: the team sees it (view: team), only the assignee changes it (change: own)
    assert selectors.task_get(actor=rep_a2, pk=task.pk).pk == task.pk
    with pytest.raises(PermissionDenied):
        services.task_complete(actor=rep_a2, task=task)


# ----------------------------------------------------------------------------------------- complete


def test_completing_a_call_requires_the_outcome(rep_a, contact):
    # given
    task = services.task_create(actor=rep_a, data={"kind": "call", "title": "Call", "contact_id": contact.pk})
    # when
    with pytest.raises(ValidationFailed) as exc:
        services.task_complete(actor=rep_a, task=task, outcome="  ")
    # then
    assert "outcome" in exc.value.errors
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN and Interaction.objects.count() == 0


def test_completing_a_call_logs_one_interaction_linked_to_deal_and_task(rep_a, contact, company, deal):
    # given
    task = services.task_create(
        actor=rep_a,
        data={"kind": "call", "title": "Discuss offer", "contact_id": contact.pk, "deal_id": deal.pk},
    )
    # when
    done = services.task_complete(actor=rep_a, task=task, outcome="Agreed a demo", note="Wants it on Friday")
    # then
    done.refresh_from_db()
    assert done.status == Task.Status.DONE and done.completed_at is not None and done.outcome == "Agreed a demo"
    interaction = Interaction.objects.get()
    assert done.interaction_id == interaction.pk
    assert interaction.channel == "call" and interaction.direction == "out"
    assert interaction.contact_id == contact.pk and interaction.company_id == company.pk
    assert interaction.deal_id == deal.pk
    assert interaction.outcome == "Agreed a demo" and interaction.body == "Wants it on Friday"
    assert interaction.subject == "Discuss offer"


def test_completing_twice_is_refused_and_writes_nothing_more(rep_a, contact):
    # given
    task = services.task_create(actor=rep_a, data={"kind": "meeting", "title": "Visit", "contact_id": contact.pk,
                                                   "due_at": at(2030, 5, 6)})
    services.task_complete(actor=rep_a, task=task, outcome="Signed")
    audits = AuditEntry.objects.count()
    # when
    with pytest.raises(DomainError) as exc:
        services.task_complete(actor=rep_a, task=task, outcome="Signed again")
    # then
    assert exc.value.code == "task_already_done"
    assert Interaction.objects.filter(channel="meeting").count() == 1
    assert AuditEntry.objects.count() == audits
    assert Task.objects.get(pk=task.pk).outcome == "Signed"


def test_completing_a_todo_needs_no_outcome_and_logs_nothing(rep_a, contact):
    task = services.task_create(actor=rep_a, data={"title": "Prepare offer", "contact_id": contact.pk})
    services.task_complete(actor=rep_a, task=task)
    assert Task.objects.get(pk=task.pk).status == Task.Status.DONE
    assert Interaction.objects.count() == 0


def test_a_call_on_a_deal_without_client_fields_logs_on_the_deal_company(rep_a, company, deal):
    task = services.task_create(actor=rep_a, data={"kind": "call", "title": "Call", "deal_id": deal.pk})
    services.task_complete(actor=rep_a, task=task, outcome="No answer")
    interaction = Interaction.objects.get()
    assert interaction.company_id == company.pk and interaction.deal_id == deal.pk


def test_complete_with_stale_version_is_refused(rep_a, contact):
    task = services.task_create(actor=rep_a, data={"kind": "call", "title": "Call", "contact_id": contact.pk})
    services.task_update(actor=rep_a, task=task, data={"title": "Call now"})
    with pytest.raises(VersionConflict):
        services.task_complete(actor=rep_a, task=task, outcome="Done", expected_version=1)
    assert Interaction.objects.count() == 0


def test_cancel_reopen_and_delete(rep_a):
    # given
    task = services.task_create(actor=rep_a, data={"title": "Maybe"})
    # when / then
    services.task_cancel(actor=rep_a, task=task)
    assert Task.objects.get(pk=task.pk).status == Task.Status.CANCELLED
    with pytest.raises(DomainError):
        services.task_complete(actor=rep_a, task=task)
    with pytest.raises(DomainError):
        services.task_cancel(actor=rep_a, task=task)
    services.task_reopen(actor=rep_a, task=task)
    reopened = Task.objects.get(pk=task.pk)
    assert reopened.status == Task.Status.OPEN and reopened.completed_at is None
    services.task_delete(actor=rep_a, task=task, expected_version=reopened.version)
    assert not Task.objects.filter(pk=task.pk).exists()
    assert AuditEntry.objects.filter(entity="task", object_id=task.pk, action="delete").exists()


# ----------------------------------------------------------------------------------------- recurrence


def _complete_series(actor, **data):
    task = services.task_create(actor=actor, data={"title": "Series", **data})
    services.task_complete(actor=actor, task=task)
    return task, list(Task.objects.filter(recurrence_parent=task).order_by("due_at"))


@pytest.mark.parametrize(
    ("recurrence", "due", "expected"),
    [
        ("daily", at(2030, 5, 6), at(2030, 5, 7)),
        ("weekdays", at(2030, 5, 10), at(2030, 5, 13)),  # Friday → Monday
        ("weekdays", at(2030, 5, 11), at(2030, 5, 13)),  # Saturday → Monday
        ("weekly", at(2030, 5, 6, 9, 30), at(2030, 5, 13, 9, 30)),
        ("monthly", at(2030, 1, 15), at(2030, 2, 15)),
        ("monthly", at(2030, 1, 31), at(2030, 2, 28)),  # a shorter month: its last day
        ("daily", at(2030, 3, 30, 10), at(2030, 3, 31, 10)),  # 10:00 local stays 10:00 across the DST change
    ],
)
def test_completing_a_repeating_task_creates_exactly_one_next_occurrence(rep_a, recurrence, due, expected):
    # when
    task, created = _complete_series(rep_a, recurrence=recurrence, due_at=due)
    # then
    assert len(created) == 1
    nxt = created[0]
    assert nxt.due_at == expected
    assert nxt.status == Task.Status.OPEN and nxt.recurrence == recurrence and nxt.recurrence_parent_id == task.pk
    assert nxt.owner_id == rep_a.pk and nxt.title == "Series"


def test_monthly_series_keeps_the_day_of_month_after_a_short_month(rep_a):
    # given: Jan 31 → Feb 28
    _task, created = _complete_series(rep_a, recurrence="monthly", due_at=at(2030, 1, 31))
    # when: the February one is done
    services.task_complete(actor=rep_a, task=created[0])
    # then: March 31, not March 28
    third = Task.objects.filter(status="open").get()
    assert third.due_at == at(2030, 3, 31)


def test_no_occurrence_past_recurrence_until(rep_a):
    _task, created = _complete_series(
        rep_a, recurrence="weekly", due_at=at(2030, 5, 6), recurrence_until=dt.date(2030, 5, 12)
    )
    assert created == []
    _task, created = _complete_series(
        rep_a, recurrence="weekly", due_at=at(2030, 6, 3), recurrence_until=dt.date(2030, 6, 10)
    )
    assert [t.due_at for t in created] == [at(2030, 6, 10)]


def test_reopen_and_complete_again_does_not_duplicate_the_next_occurrence(rep_a):
    task, created = _complete_series(rep_a, recurrence="daily", due_at=at(2030, 5, 6))
    services.task_reopen(actor=rep_a, task=task)
    services.task_complete(actor=rep_a, task=task)
    assert Task.objects.exclude(pk=task.pk).count() == 1


def test_next_occurrence_shifts_the_reminder(rep_a):
    _task, created = _complete_series(
        rep_a, recurrence="daily", due_at=at(2030, 5, 6, 10), remind_at=at(2030, 5, 6, 9, 45)
    )
    assert created[0].remind_at == at(2030, 5, 7, 9, 45) and created[0].reminded_at is None


# ----------------------------------------------------------------------------------------- meetings


@pytest.mark.skipif(not HAS_INVITATIONS, reason="the calendar module (invitations) is not there yet")
def test_meeting_with_attendees_sends_invitation_on_commit_and_cancellation(rep_a, contact):
    # when
    task = services.task_create(
        actor=rep_a,
        data={"kind": "meeting", "title": "Demo", "due_at": at(2030, 5, 6, 14), "duration_minutes": 60,
              "attendees": ["client@example.com"], "contact_id": contact.pk},
    )
    # then
    assert len(mail.outbox) == 1 and "client@example.com" in mail.outbox[0].to
    # when: the time changes
    services.task_update(actor=rep_a, task=task, data={"due_at": at(2030, 5, 6, 15)})
    # then
    task.refresh_from_db()
    assert task.ical_sequence == 1 and len(mail.outbox) == 2
    # when: cancelled
    services.task_cancel(actor=rep_a, task=task)
    task.refresh_from_db()
    assert task.ical_sequence == 2 and len(mail.outbox) == 3
    assert "METHOD:CANCEL" in str(mail.outbox[2].message())
    # and each went through the outbox
    rows = OutgoingEmail.objects.filter(kind="meeting_invite", ref_entity="task", ref_id=task.pk)
    assert [r.status for r in rows] == [OutgoingEmail.Status.SENT] * 3


@pytest.mark.django_db(transaction=False)  # inside the test's transaction, so the callbacks can be captured
def test_meeting_invitation_waits_for_the_commit(rep_a, django_capture_on_commit_callbacks):
    # given / when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.task_create(
            actor=rep_a,
            data={"kind": "meeting", "title": "Demo", "due_at": at(2030, 5, 6, 14), "attendees": ["a@example.com"]},
        )
        services.task_create(actor=rep_a, data={"kind": "meeting", "title": "Alone", "due_at": at(2030, 5, 7, 14)})
    # then: one callback (only the meeting with attendees), nothing sent before it runs; the message waits in
    # the outbox
    assert len(callbacks) == 1 and mail.outbox == []
    assert OutgoingEmail.objects.get().status == OutgoingEmail.Status.PENDING


def test_update_without_time_change_keeps_sequence(rep_a):
    task = services.task_create(
        actor=rep_a, data={"kind": "meeting", "title": "Demo", "due_at": at(2030, 5, 6, 14)}
    )
    services.task_update(actor=rep_a, task=task, data={"description": "Bring the contract"})
    task.refresh_from_db()
    assert task.ical_sequence == 0


# ----------------------------------------------------------------------------------------- selectors


def test_task_list_filters(rep_a, rep_a2, team_a, contact):
    # given
    now = timezone.now()
    overdue = TaskFactory(owner=rep_a, title="Late call", kind="call", due_at=now - dt.timedelta(hours=2))
    future = TaskFactory(owner=rep_a, title="Later", due_at=now + dt.timedelta(days=3), contact=contact)
    done = TaskFactory(owner=rep_a, title="Done", status="done", due_at=now - dt.timedelta(days=1))
    undated = TaskFactory(owner=rep_a, title="Someday", due_at=None)
    TaskFactory(owner=rep_a2, team=team_a, title="Teammate's")
    # then
    mine = selectors.task_list(actor=rep_a, filters={"owner": "me"})
    assert [t.pk for t in mine] == [done.pk, overdue.pk, future.pk, undated.pk]  # undated last
    assert [t.pk for t in selectors.task_list(actor=rep_a, filters={"overdue": True})] == [overdue.pk]
    assert [t.pk for t in selectors.task_list(actor=rep_a, filters={"kind": "call"})] == [overdue.pk]
    assert [t.pk for t in selectors.task_list(actor=rep_a, filters={"contact": contact.pk})] == [future.pk]
    assert done.pk not in [t.pk for t in selectors.task_list(actor=rep_a, filters={"status": "open"})]
    in_range = selectors.task_list(
        actor=rep_a, filters={"owner": "me", "due_from": timezone.localdate(now) + dt.timedelta(days=1),
                              "due_to": timezone.localdate(now) + dt.timedelta(days=3)}
    )
    assert [t.pk for t in in_range] == [future.pk]
    assert [t.pk for t in selectors.task_list(actor=rep_a, filters={"q": "somed"})] == [undated.pk]
    assert selectors.task_list(actor=rep_a).count() == 5  # the team's too (view scope: team)


def test_calendar_events_in_period_without_cancelled(rep_a):
    TaskFactory(owner=rep_a, title="In", due_at=at(2030, 5, 6, 10))
    TaskFactory(owner=rep_a, title="Cancelled", due_at=at(2030, 5, 6, 11), status="cancelled")
    TaskFactory(owner=rep_a, title="Out", due_at=at(2030, 5, 20, 10))
    events = services.calendar_events(actor=rep_a, start=at(2030, 5, 6, 0), end=at(2030, 5, 13, 0), user_ids=[rep_a.pk])
    assert [t.title for t in events] == ["In"]


# ----------------------------------------------------------------------------------------- calendar feeds


def test_calendar_feed_stores_only_a_digest_and_can_be_revoked(rep_a, rep_b):
    # when
    feed, secret = services.calendar_feed_create(user=rep_a)
    # then
    stored = CalendarFeed.objects.get()
    assert secret not in (stored.digest, stored.prefix) and len(stored.digest) == 64
    assert services.calendar_feed_authenticate(secret).pk == feed.pk
    assert services.calendar_feed_authenticate(secret + "x") is None
    assert services.calendar_feed_revoke(user=rep_b, feed_id=feed.pk) is False  # not theirs
    assert services.calendar_feed_revoke(user=rep_a, feed_id=feed.pk) is True
    assert services.calendar_feed_authenticate(secret) is None
