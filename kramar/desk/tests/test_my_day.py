"""The rep's "My day": what each panel shows, completing tasks from it, the inbox, scope and query counts."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kramar.activities.models import Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory, ContactPointFactory
from kramar.control.rules import Day
from kramar.core.models import Notification
from kramar.history.models import Interaction
from kramar.sales.tests.factories import (
    DealFactory,
    ExchangeRateFactory,
    PipelineFactory,
    SalesTargetFactory,
    currency,
)

pytestmark = pytest.mark.django_db

MY_DAY = reverse("desk:my-day")
HTMX = {"HTTP_HX_REQUEST": "true"}


def panel(name: str) -> str:
    return reverse("desk:panel", args=[name])


def later_today() -> dt.datetime:
    day = Day.of()
    return day.now + (day.end - day.now) / 2


@pytest.fixture
def pipeline(db):
    return PipelineFactory(with_stages=True)


def stage(pipeline, name):
    return pipeline.stages.get(name=name)


# ------------------------------------------------------------------------------------------- tasks
def test_tasks_panel_splits_overdue_and_today_and_leaves_out_tomorrow_done_and_others(client, rep_a, rep_a2):
    # given
    now = timezone.now()
    yesterday = TaskFactory(owner=rep_a, title="due yesterday", due_at=now - dt.timedelta(days=1))
    today = TaskFactory(owner=rep_a, title="due later today", due_at=later_today())
    TaskFactory(owner=rep_a, title="due tomorrow", due_at=now + dt.timedelta(days=1, hours=1))
    TaskFactory(owner=rep_a, title="done yesterday", due_at=now - dt.timedelta(days=1), status=Task.Status.DONE)
    TaskFactory(owner=rep_a2, title="colleague's task", due_at=now - dt.timedelta(days=1))
    client.force_login(rep_a)
    # when
    response = client.get(panel("tasks"), **HTMX)
    # then
    html = response.content.decode()
    overdue, today_part = html.split('data-testid="overdue-tasks"')[1].split('data-testid="today-tasks"')
    assert f'data-testid="task-{yesterday.pk}"' in overdue and f'data-testid="task-{today.pk}"' not in overdue
    assert f'data-testid="task-{today.pk}"' in today_part
    for absent in ("due tomorrow", "done yesterday", "colleague&#x27;s task", "colleague's task"):
        assert absent not in html


def test_an_all_day_task_of_today_is_not_overdue_yet(client, rep_a):
    # given
    day = Day.of()
    task = TaskFactory(owner=rep_a, title="all day", all_day=True, due_at=day.start)
    client.force_login(rep_a)
    # when
    html = client.get(panel("tasks"), **HTMX).content.decode()
    # then
    assert f'data-testid="task-{task.pk}"' in html.split('data-testid="today-tasks"')[1]


def test_completing_a_todo_refreshes_the_panel_and_tells_the_others(client, rep_a):
    # given
    task = TaskFactory(owner=rep_a, title="send the offer", due_at=timezone.now() - dt.timedelta(hours=2))
    client.force_login(rep_a)
    # when
    response = client.post(
        reverse("desk:task-complete", args=[task.pk]), {"panel": "tasks", "version": task.version}, **HTMX
    )
    # then
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == Task.Status.DONE
    assert "send the offer" not in response.content.decode()
    assert json.loads(response["HX-Trigger"]) == {"deskRefresh": {"source": "tasks"}}


def test_another_reps_task_cannot_be_completed(client, rep_a, rep_b):
    # given
    task = TaskFactory(owner=rep_b, due_at=timezone.now())
    client.force_login(rep_a)
    # when
    response = client.post(reverse("desk:task-complete", args=[task.pk]), {"panel": "tasks"}, **HTMX)
    # then
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN


# ------------------------------------------------------------------------------------------- calls
@pytest.fixture
def call_task(rep_a, team_a):
    contact = ContactFactory(owner=rep_a, team=team_a, first_name="Олена", last_name="Петренко")
    ContactPointFactory(contact=contact, kind="phone", value="067 123 45 67", normalized="+380671234567",
                        is_primary=True)
    ContactPointFactory(contact=contact, kind="phone", value="044 000 00 00", normalized="+380440000000",
                        is_primary=False)
    ContactPointFactory(contact=contact, kind="email", value="olena@example.com", normalized="olena@example.com")
    return TaskFactory(owner=rep_a, team=team_a, kind=Task.Kind.CALL, title="call about the offer",
                       contact=contact, due_at=later_today())


def test_calls_panel_dials_the_contacts_primary_phone_in_e164(client, rep_a, call_task):
    # given
    TaskFactory(owner=rep_a, kind=Task.Kind.CALL, title="call next week", due_at=timezone.now() + dt.timedelta(days=7))
    client.force_login(rep_a)
    # when
    html = client.get(panel("calls"), **HTMX).content.decode()
    # then
    assert f'data-testid="call-{call_task.pk}"' in html
    assert 'href="tel:+380671234567"' in html
    assert "tel:+380440000000" not in html
    assert "call next week" not in html


def test_completing_a_call_without_an_outcome_is_refused_and_keeps_it_open(client, rep_a, call_task):
    # given
    client.force_login(rep_a)
    # when
    response = client.post(
        reverse("desk:task-complete", args=[call_task.pk]), {"panel": "calls", "outcome": "", "note": "x"}, **HTMX
    )
    # then
    assert response.status_code == 200
    assert "outcome" in response.content.decode()
    assert "HX-Trigger" not in response
    call_task.refresh_from_db()
    assert call_task.status == Task.Status.OPEN
    assert not Interaction.objects.exists()


def test_logging_a_calls_outcome_completes_it_and_writes_the_interaction(client, rep_a, call_task):
    # given
    client.force_login(rep_a)
    # when
    response = client.post(
        reverse("desk:task-complete", args=[call_task.pk]),
        {"panel": "calls", "outcome": "Reached", "note": "wants a discount"}, **HTMX,
    )
    # then
    assert response.status_code == 200
    call_task.refresh_from_db()
    assert call_task.status == Task.Status.DONE
    interaction = Interaction.objects.get()
    assert (interaction.channel, interaction.contact_id, interaction.outcome) == ("call", call_task.contact_id, "Reached")
    assert "wants a discount" in interaction.body
    assert f'data-testid="call-{call_task.pk}"' not in response.content.decode()
    call_task.contact.refresh_from_db()
    assert call_task.contact.last_contacted_at == interaction.occurred_at


# ------------------------------------------------------------------------------------------- deals
def test_deals_panel_lists_rotting_stepless_and_closing_deals_only(client, rep_a, rep_a2, pipeline):
    # given
    now, today = timezone.now(), timezone.localdate()
    far = today + dt.timedelta(days=60)
    proposal = stage(pipeline, "Proposal")  # rots after 14 days

    def with_step(deal):
        TaskFactory(owner=rep_a, deal=deal)
        return deal

    rotting = with_step(DealFactory(owner=rep_a, pipeline=pipeline, stage=proposal, expected_close_date=far,
                                    stage_entered_at=now - dt.timedelta(days=15)))
    fresh = with_step(DealFactory(owner=rep_a, pipeline=pipeline, stage=proposal, expected_close_date=far,
                                  stage_entered_at=now - dt.timedelta(days=13)))
    stepless = DealFactory(owner=rep_a, pipeline=pipeline, expected_close_date=far)
    done_step = DealFactory(owner=rep_a, pipeline=pipeline, expected_close_date=far)
    TaskFactory(owner=rep_a, deal=done_step, status=Task.Status.DONE)
    closing = with_step(DealFactory(owner=rep_a, pipeline=pipeline, expected_close_date=today + dt.timedelta(days=5)))
    overdue_close = with_step(DealFactory(owner=rep_a, pipeline=pipeline, expected_close_date=today - dt.timedelta(days=1)))
    later = with_step(DealFactory(owner=rep_a, pipeline=pipeline, expected_close_date=today + dt.timedelta(days=8)))
    won = DealFactory(owner=rep_a, pipeline=pipeline, stage=stage(pipeline, "Won"), status="won")
    others = DealFactory(owner=rep_a2, pipeline=pipeline)
    client.force_login(rep_a)
    # when
    html = client.get(panel("deals"), **HTMX).content.decode()
    # then
    shown = {d.pk for d in (rotting, fresh, stepless, done_step, closing, overdue_close, later, won, others)
             if f'data-testid="deal-{d.pk}"' in html}
    assert shown == {rotting.pk, stepless.pk, done_step.pk, closing.pk, overdue_close.pk}
    assert html.count('data-testid="flag-rotting"') == 1
    assert html.count('data-testid="flag-no-next-step"') == 2
    assert html.count('data-testid="flag-closing"') == 2


def test_a_rep_of_team_b_never_sees_team_a_deals_or_tasks(client, rep_a, rep_b, team_a, pipeline):
    # given
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, title="Kyiv secret deal")
    TaskFactory(owner=rep_a, team=team_a, title="Kyiv secret task", due_at=timezone.now() - dt.timedelta(hours=1))
    client.force_login(rep_b)
    # when
    html = client.get(MY_DAY).content.decode()
    # then
    assert "Kyiv secret" not in html


# ------------------------------------------------------------------------------------------ target
def test_progress_counts_won_deals_of_the_period_converted_to_the_target_currency(client, rep_a, pipeline):
    # given
    today = timezone.localdate()
    won_stage = stage(pipeline, "Won")
    currency("UAH")
    ExchangeRateFactory(currency=currency("USD"), date=today - dt.timedelta(days=1), rate=Decimal("40"))
    target = SalesTargetFactory(user=rep_a, amount=Decimal("10000"), currency=currency("UAH"))
    closed = timezone.make_aware(dt.datetime.combine(target.period_start, dt.time(12)))
    DealFactory(owner=rep_a, pipeline=pipeline, stage=won_stage, status="won", amount=Decimal("2000"), closed_at=closed)
    DealFactory(owner=rep_a, pipeline=pipeline, stage=won_stage, status="won", amount=Decimal("100"),
                currency=currency("USD"), closed_at=closed)
    DealFactory(owner=rep_a, pipeline=pipeline, stage=won_stage, status="won", amount=Decimal("99999"),
                closed_at=closed - dt.timedelta(days=40))  # an earlier period
    DealFactory(owner=rep_a, pipeline=pipeline, stage=stage(pipeline, "Lost"), status="lost", amount=Decimal("5000"),
                closed_at=closed)
    client.force_login(rep_a)
    # when
    html = client.get(panel("target"), **HTMX).content.decode()
    # then: 2000 UAH + 100 USD × 40 = 6000 of 10000
    assert '<span data-testid="percent">60</span>%' in html
    assert "6,000.00" in html  # grouped as the language formats numbers
    assert '<progress value="60" max="100"' in html


def test_without_a_target_the_panel_says_so(client, rep_a):
    client.force_login(rep_a)
    html = client.get(panel("target"), **HTMX).content.decode()
    assert "No target set for the current period." in html


# ------------------------------------------------------------------------------------------- inbox
def test_inbox_shows_unread_notifications_and_marks_them_read(client, rep_a, rep_b):
    # given
    mine = Notification.objects.create(user=rep_a, text="Call Олена at 10:00")
    Notification.objects.create(user=rep_a, text="already read", read_at=timezone.now())
    theirs = Notification.objects.create(user=rep_b, text="someone else's reminder")
    client.force_login(rep_a)
    # when
    before = client.get(panel("inbox"), **HTMX).content.decode()
    response = client.post(reverse("desk:notification-read", args=[mine.pk]), **HTMX)
    foreign = client.post(reverse("desk:notification-read", args=[theirs.pk]), **HTMX)
    # then
    assert "Call Олена at 10:00" in before and "already read" not in before and "someone else" not in before
    assert response.status_code == 200 and "Call Олена" not in response.content.decode()
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert foreign.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_read_touches_only_the_users_notifications(client, rep_a, rep_b):
    # given
    Notification.objects.create(user=rep_a, text="one")
    Notification.objects.create(user=rep_a, text="two")
    theirs = Notification.objects.create(user=rep_b, text="three")
    client.force_login(rep_a)
    # when
    client.post(reverse("desk:notifications-read-all"), **HTMX)
    # then
    assert not Notification.objects.filter(user=rep_a, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


# -------------------------------------------------------------------------------------- page, perf
def test_anonymous_is_sent_to_login(client):
    response = client.get(MY_DAY)
    assert response.status_code == 302 and "login" in response["Location"]


def test_unknown_panel_is_404(client, rep_a):
    client.force_login(rep_a)
    assert client.get(panel("nope"), **HTMX).status_code == 404


def _fill(rep, team, pipeline, n: int) -> None:
    now, today = timezone.now(), timezone.localdate()
    won = stage(pipeline, "Won")
    currency("USD")
    ExchangeRateFactory(currency=currency("USD"), date=today, rate=Decimal("40"))
    for i in range(n):
        company = CompanyFactory(owner=rep, team=team)
        contact = ContactFactory(owner=rep, team=team, primary_company=company)
        ContactPointFactory(contact=contact, kind="phone", value=f"067{i:07d}", normalized=f"+38067{i:07d}")
        TaskFactory(owner=rep, kind=Task.Kind.CALL, contact=contact, company=company, due_at=later_today())
        TaskFactory(owner=rep, due_at=now - dt.timedelta(days=1 + i))
        deal = DealFactory(owner=rep, team=team, pipeline=pipeline, company=company,
                           expected_close_date=today + dt.timedelta(days=3))
        TaskFactory(owner=rep, deal=deal, due_at=now + dt.timedelta(days=2))
        DealFactory(owner=rep, pipeline=pipeline, stage=won, status="won", closed_at=now,
                    currency=currency("USD" if i % 2 else "UAH"))
        Notification.objects.create(user=rep, text=f"note {i}")


@pytest.mark.parametrize("n", [2, 40])
def test_my_day_runs_a_bounded_number_of_queries(client, rep_a, team_a, pipeline, django_assert_max_num_queries, n):
    # given
    _fill(rep_a, team_a, pipeline, n)
    SalesTargetFactory(user=rep_a, currency=currency("UAH"))
    client.force_login(rep_a)
    # when
    with django_assert_max_num_queries(16):
        response = client.get(MY_DAY)
    # then
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="call-') == min(n, 30)
