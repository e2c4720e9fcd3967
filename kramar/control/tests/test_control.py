"""The managers' control page: every counter counts the right records, scopes, filters, drill-down, targets."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.activities.models import Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.sales.models import ContactPolicy
from kramar.sales.tests.factories import (
    ContactPolicyFactory,
    DealFactory,
    ExchangeRateFactory,
    PipelineFactory,
    SalesTargetFactory,
    currency,
)

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("control:overview")
HTMX = {"HTTP_HX_REQUEST": "true"}


def count(html: str, kind: str, user) -> int:
    match = re.search(rf'data-testid="count-{kind}-{user.pk}">(\d+)<', html)
    assert match, f"no {kind} counter for {user}"
    return int(match.group(1))


def drill(kind: str, user) -> str:
    return reverse("control:drilldown", args=[kind]) + f"?rep={user.pk}"


@pytest.fixture
def pipeline(db):
    return PipelineFactory(with_stages=True)


def far() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=90)


# --------------------------------------------------------------------------------------------- access
def test_anonymous_is_sent_to_login(client):
    response = client.get(OVERVIEW)
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_user_without_deal_grants_gets_403(client, db):
    client.force_login(UserFactory(username="nobody"))
    assert client.get(OVERVIEW).status_code == 403


def test_a_rep_sees_only_their_own_row(client, rep_a, rep_a2, lead_a):
    # given
    client.force_login(rep_a)
    # when
    html = client.get(OVERVIEW).content.decode()
    # then
    assert f'data-testid="rep-{rep_a.pk}"' in html
    assert f'data-testid="rep-{rep_a2.pk}"' not in html and f'data-testid="rep-{lead_a.pk}"' not in html


def test_a_rep_cannot_drill_into_a_colleague(client, rep_a, rep_a2):
    client.force_login(rep_a)
    assert client.get(drill("overdue_tasks", rep_a2), **HTMX).status_code == 404


def test_lead_of_team_a_sees_team_a_reps_only_and_a_director_sees_all(client, rep_a, rep_a2, rep_b, lead_a, director):
    # given
    client.force_login(lead_a)
    # when
    lead_html = client.get(OVERVIEW).content.decode()
    client.force_login(director)
    director_html = client.get(OVERVIEW).content.decode()
    # then
    for rep in (rep_a, rep_a2, lead_a):
        assert f'data-testid="rep-{rep.pk}"' in lead_html
    assert f'data-testid="rep-{rep_b.pk}"' not in lead_html
    for rep in (rep_a, rep_a2, rep_b):
        assert f'data-testid="rep-{rep.pk}"' in director_html


def test_a_lead_cannot_filter_by_or_drill_into_another_team(client, lead_a, rep_b, team_b):
    client.force_login(lead_a)
    assert client.get(OVERVIEW, {"team": team_b.pk}).status_code == 404
    assert client.get(drill("no_next_step", rep_b), **HTMX).status_code == 404


def test_team_filter_narrows_the_rows(client, director, rep_a, rep_b, team_b):
    client.force_login(director)
    html = client.get(OVERVIEW, {"team": team_b.pk}, **HTMX).content.decode()
    assert f'data-testid="rep-{rep_b.pk}"' in html and f'data-testid="rep-{rep_a.pk}"' not in html


# ------------------------------------------------------------------------------------------- counters
def test_no_next_step_counts_open_deals_without_an_open_task(client, lead_a, rep_a, team_a, pipeline):
    # given
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, expected_close_date=far())  # no task
    with_done = DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, expected_close_date=far())
    TaskFactory(owner=rep_a, team=team_a, deal=with_done, status=Task.Status.DONE)
    with_open = DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, expected_close_date=far())
    TaskFactory(owner=rep_a, team=team_a, deal=with_open)
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=pipeline.stages.get(name="Won"), status="won")
    client.force_login(lead_a)
    # when
    html = client.get(OVERVIEW).content.decode()
    drilled = client.get(drill("no_next_step", rep_a), **HTMX).content.decode()
    # then
    assert count(html, "no_next_step", rep_a) == 2
    assert f'data-testid="row-{with_done.pk}"' in drilled and f'data-testid="row-{with_open.pk}"' not in drilled


def test_overdue_tasks_counts_yesterday_not_tomorrow_nor_done(client, lead_a, rep_a, rep_a2, team_a):
    # given
    now = timezone.now()
    overdue = TaskFactory(owner=rep_a, team=team_a, due_at=now - dt.timedelta(days=1))
    TaskFactory(owner=rep_a, team=team_a, due_at=now + dt.timedelta(days=1))
    TaskFactory(owner=rep_a, team=team_a, due_at=now - dt.timedelta(days=1), status=Task.Status.DONE)
    TaskFactory(owner=rep_a, team=team_a, due_at=now - dt.timedelta(days=1), status=Task.Status.CANCELLED)
    TaskFactory(owner=rep_a2, team=team_a, due_at=now - dt.timedelta(days=3))
    client.force_login(lead_a)
    # when
    html = client.get(OVERVIEW).content.decode()
    drilled = client.get(drill("overdue_tasks", rep_a), **HTMX).content.decode()
    # then
    assert count(html, "overdue_tasks", rep_a) == 1
    assert count(html, "overdue_tasks", rep_a2) == 1
    assert re.findall(r'data-testid="row-(\d+)"', drilled) == [str(overdue.pk)]


def test_rotting_counts_deals_past_their_stages_limit(client, lead_a, rep_a, team_a, pipeline):
    # given
    now = timezone.now()
    proposal, lead_stage = pipeline.stages.get(name="Proposal"), pipeline.stages.get(name="Lead")
    rotting = DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=proposal,
                          stage_entered_at=now - dt.timedelta(days=15))
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=proposal, stage_entered_at=now - dt.timedelta(days=13))
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=lead_stage,  # no limit in this stage
                stage_entered_at=now - dt.timedelta(days=400))
    client.force_login(lead_a)
    # when
    html = client.get(OVERVIEW).content.decode()
    drilled = client.get(drill("rotting", rep_a), **HTMX).content.decode()
    # then
    assert count(html, "rotting", rep_a) == 1
    assert re.findall(r'data-testid="row-(\d+)"', drilled) == [str(rotting.pk)]


def test_stale_clients_follow_their_class_policy(client, lead_a, rep_a, team_a):
    # given: only A and C have a policy
    ContactPolicy.objects.all().delete()
    ContactPolicyFactory(client_class="A", max_days_without_contact=14)
    ContactPolicyFactory(client_class="C", max_days_without_contact=90)
    ago = lambda days: timezone.now() - dt.timedelta(days=days)  # noqa: E731
    a_late = CompanyFactory(owner=rep_a, team=team_a, client_class="A", last_contacted_at=ago(20))
    CompanyFactory(owner=rep_a, team=team_a, client_class="A", last_contacted_at=ago(10))
    CompanyFactory(owner=rep_a, team=team_a, client_class="C", last_contacted_at=ago(20))
    CompanyFactory(owner=rep_a, team=team_a, client_class="B", last_contacted_at=ago(400))  # no B policy
    CompanyFactory(owner=rep_a, team=team_a, client_class="", last_contacted_at=None)  # unclassified
    never = ContactFactory(owner=rep_a, team=team_a, client_class="C", last_contacted_at=None)
    ContactFactory(owner=rep_a, team=team_a, client_class="C", last_contacted_at=ago(30))
    client.force_login(lead_a)
    # when
    html = client.get(OVERVIEW).content.decode()
    companies = client.get(drill("stale_companies", rep_a), **HTMX).content.decode()
    contacts = client.get(drill("stale_contacts", rep_a), **HTMX).content.decode()
    # then
    assert count(html, "stale_companies", rep_a) == 1
    assert count(html, "stale_contacts", rep_a) == 1
    assert re.findall(r'data-testid="row-(\d+)"', companies) == [str(a_late.pk)]
    assert re.findall(r'data-testid="row-(\d+)"', contacts) == [str(never.pk)]
    assert "never contacted" in contacts


def test_counters_never_count_another_teams_records(client, lead_a, rep_a, rep_b, team_b, pipeline):
    # given: rep_b's work is all broken, but in team B
    DealFactory(owner=rep_b, team=team_b, pipeline=pipeline)
    TaskFactory(owner=rep_b, team=team_b, due_at=timezone.now() - dt.timedelta(days=2))
    client.force_login(lead_a)
    # when
    html = client.get(OVERVIEW).content.decode()
    # then
    assert f'data-testid="rep-{rep_b.pk}"' not in html
    assert re.search(r'<tr data-testid="totals"><th>Total</th>(<th class="kr-num">0</th>){5}', html)


def test_drilldown_is_paginated(client, lead_a, rep_a, team_a):
    # given
    for i in range(30):
        TaskFactory(owner=rep_a, team=team_a, due_at=timezone.now() - dt.timedelta(days=1, minutes=i))
    client.force_login(lead_a)
    # when
    first = client.get(drill("overdue_tasks", rep_a), **HTMX).content.decode()
    second = client.get(drill("overdue_tasks", rep_a) + "&page=2", **HTMX).content.decode()
    # then
    assert len(re.findall(r'data-testid="row-', first)) == 25
    assert len(re.findall(r'data-testid="row-', second)) == 5
    assert 'rel="next"' in first and 'rel="prev"' in second


# -------------------------------------------------------------------------------------------- targets
def test_targets_against_won_amount_with_percentages(client, lead_a, rep_a, rep_a2, team_a, pipeline):
    # given
    won = pipeline.stages.get(name="Won")
    ExchangeRateFactory(currency=currency("USD"), date=timezone.localdate() - dt.timedelta(days=3), rate=Decimal("40"))
    target = SalesTargetFactory(user=rep_a, amount=Decimal("20000"), currency=currency("UAH"))
    SalesTargetFactory(user=rep_a2, amount=Decimal("1000"), currency=currency("USD"))
    in_period = timezone.make_aware(dt.datetime.combine(target.period_start, dt.time(10)))
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=won, status="won", amount=Decimal("3000"),
                closed_at=in_period)
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=won, status="won", amount=Decimal("50"),
                currency=currency("USD"), closed_at=in_period)
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=won, status="won", amount=Decimal("7777"),
                closed_at=in_period - dt.timedelta(days=45))
    DealFactory(owner=rep_a2, team=team_a, pipeline=pipeline, stage=won, status="won", amount=Decimal("8000"),
                closed_at=in_period)  # UAH against a USD target: 8000 / 40 = 200 USD
    client.force_login(lead_a)
    # when
    html = client.get(OVERVIEW).content.decode()
    # then: rep_a 3000 + 50 × 40 = 5000 UAH of 20000 → 25%; rep_a2 200 of 1000 USD → 20%
    assert re.search(rf'data-testid="won-{rep_a.pk}">5,000.00 UAH', html)
    assert re.search(rf'data-testid="percent-{rep_a.pk}">25%', html)
    assert re.search(rf'data-testid="won-{rep_a2.pk}">200.00 USD', html)
    assert re.search(rf'data-testid="percent-{rep_a2.pk}">20%', html)


def test_period_filter_switches_the_target_and_the_won_deals(client, lead_a, rep_a, team_a, pipeline):
    # given
    won = pipeline.stages.get(name="Won")
    this = SalesTargetFactory(user=rep_a, amount=Decimal("1000"), currency=currency("UAH"))
    prev_end = this.period_start - dt.timedelta(days=1)
    prev = SalesTargetFactory(user=rep_a, amount=Decimal("4000"), currency=currency("UAH"),
                              period_start=prev_end.replace(day=1), period_end=prev_end)
    DealFactory(owner=rep_a, team=team_a, pipeline=pipeline, stage=won, status="won", amount=Decimal("1000"),
                closed_at=timezone.make_aware(dt.datetime.combine(prev.period_start, dt.time(12))))
    client.force_login(lead_a)
    # when
    current_html = client.get(OVERVIEW).content.decode()
    prev_html = client.get(OVERVIEW, {"period": f"{prev.period_start}..{prev.period_end}"}).content.decode()
    bad = client.get(OVERVIEW, {"period": "last-year"})
    # then
    assert re.search(rf'data-testid="percent-{rep_a.pk}">0%', current_html)
    assert re.search(rf'data-testid="percent-{rep_a.pk}">25%', prev_html)
    assert bad.status_code == 200 and "Period:" in bad.content.decode()


# ---------------------------------------------------------------------------------------- query count
def _fill(reps, team, pipeline, n):
    now = timezone.now()
    ContactPolicyFactory(client_class="A", max_days_without_contact=14)
    for rep in reps:
        SalesTargetFactory(user=rep, currency=currency("UAH"))
        for i in range(n):
            DealFactory(owner=rep, team=team, pipeline=pipeline, stage=pipeline.stages.get(name="Proposal"),
                        stage_entered_at=now - dt.timedelta(days=20 + i))
            DealFactory(owner=rep, team=team, pipeline=pipeline, stage=pipeline.stages.get(name="Won"), status="won",
                        closed_at=now, currency=currency("USD" if i % 2 else "UAH"))
            TaskFactory(owner=rep, team=team, due_at=now - dt.timedelta(days=1))
            CompanyFactory(owner=rep, team=team, client_class="A")
            ContactFactory(owner=rep, team=team, client_class="A")


@pytest.mark.parametrize("n", [1, 15])
def test_overview_runs_a_bounded_number_of_queries(
    client, director, rep_a, rep_a2, rep_b, team_a, pipeline, django_assert_max_num_queries, n
):
    # given
    ExchangeRateFactory(currency=currency("USD"), date=timezone.localdate(), rate=Decimal("40"))
    _fill([rep_a, rep_a2, rep_b], team_a, pipeline, n)
    client.force_login(director)
    # when
    with django_assert_max_num_queries(18):
        response = client.get(OVERVIEW)
    # then
    assert count(response.content.decode(), "rotting", rep_b) == n
