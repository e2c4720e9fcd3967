"""Clients' "last contacted": kept by the interaction services, rebuilt in bulk by last_contacted_refresh."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.control.services import last_contacted_refresh
from kramar.history.services import interaction_create, interaction_delete, interaction_update
from kramar.history.tests.factories import InteractionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_pair(rep_a, team_a):
    company = CompanyFactory(owner=rep_a, team=team_a)
    contact = ContactFactory(owner=rep_a, team=team_a, primary_company=company)
    return contact, company


def log(actor, contact, when):
    return interaction_create(actor=actor, data={"channel": "call", "contact_id": contact.pk, "occurred_at": when})


def test_logging_an_interaction_sets_last_contacted_on_the_contact_and_its_company(rep_a, client_pair):
    # given
    contact, company = client_pair
    when = timezone.now() - dt.timedelta(hours=3)
    # when
    log(rep_a, contact, when)
    # then
    contact.refresh_from_db()
    company.refresh_from_db()
    assert contact.last_contacted_at == when and company.last_contacted_at == when


def test_an_older_interaction_does_not_move_last_contacted_back(rep_a, client_pair):
    # given
    contact, company = client_pair
    recent = timezone.now() - dt.timedelta(days=1)
    log(rep_a, contact, recent)
    # when
    log(rep_a, contact, recent - dt.timedelta(days=30))
    # then
    contact.refresh_from_db()
    company.refresh_from_db()
    assert contact.last_contacted_at == recent and company.last_contacted_at == recent


def test_deleting_the_latest_interaction_falls_back_to_the_previous_one_then_to_never(rep_a, client_pair):
    # given
    contact, company = client_pair
    older_when = timezone.now() - dt.timedelta(days=10)
    older = log(rep_a, contact, older_when)
    latest = log(rep_a, contact, timezone.now() - dt.timedelta(days=1))
    # when
    interaction_delete(actor=rep_a, interaction=latest)
    # then
    contact.refresh_from_db()
    company.refresh_from_db()
    assert contact.last_contacted_at == older_when and company.last_contacted_at == older_when
    # when the last one goes too
    interaction_delete(actor=rep_a, interaction=older)
    contact.refresh_from_db()
    company.refresh_from_db()
    assert contact.last_contacted_at is None and company.last_contacted_at is None


def test_moving_an_interaction_back_in_time_recomputes(rep_a, client_pair):
    # given
    contact, _company = client_pair
    other_when = timezone.now() - dt.timedelta(days=5)
    log(rep_a, contact, other_when)
    latest = log(rep_a, contact, timezone.now() - dt.timedelta(hours=1))
    # when
    interaction_update(actor=rep_a, interaction=latest, data={"occurred_at": timezone.now() - dt.timedelta(days=40)})
    # then
    contact.refresh_from_db()
    assert contact.last_contacted_at == other_when


def test_moving_an_interaction_to_another_client_recomputes_both(rep_a, team_a, client_pair):
    # given
    contact, _company = client_pair
    other = ContactFactory(owner=rep_a, team=team_a)
    when = timezone.now() - dt.timedelta(days=2)
    interaction = log(rep_a, contact, when)
    # when
    interaction_update(actor=rep_a, interaction=interaction, data={"contact_id": other.pk})
    # then
    contact.refresh_from_db()
    other.refresh_from_db()
    assert contact.last_contacted_at is None and other.last_contacted_at == when


def test_refresh_rebuilds_every_client_set_based(rep_a, team_a, django_assert_max_num_queries):
    # given: rows written around the services (as a bulk loader does), and a stale value to clear
    now = timezone.now()
    company = CompanyFactory(owner=rep_a, team=team_a)
    contacts = [ContactFactory(owner=rep_a, team=team_a, primary_company=company) for _ in range(5)]
    for i, contact in enumerate(contacts[:4]):
        InteractionFactory(contact=contact, company=company, occurred_at=now - dt.timedelta(days=i + 1))
        InteractionFactory(contact=contact, occurred_at=now - dt.timedelta(days=i + 20))
    stale = ContactFactory(owner=rep_a, team=team_a, last_contacted_at=now)
    # when: small batches (several primary-key ranges), then one batch per table in a bounded number of queries
    updated = last_contacted_refresh(batch_size=3)
    with django_assert_max_num_queries(10):
        again = last_contacted_refresh(batch_size=10_000)
    # then
    assert updated == again == 7
    for i, contact in enumerate(contacts[:4]):
        contact.refresh_from_db()
        assert contact.last_contacted_at == now - dt.timedelta(days=i + 1)
    contacts[4].refresh_from_db()
    stale.refresh_from_db()
    company.refresh_from_db()
    assert contacts[4].last_contacted_at is None and stale.last_contacted_at is None
    assert company.last_contacted_at == now - dt.timedelta(days=1)


def test_the_management_command_runs_the_refresh(rep_a, client_pair):
    # given
    contact, company = client_pair
    when = timezone.now() - dt.timedelta(days=3)
    InteractionFactory(contact=contact, company=company, occurred_at=when)
    out = StringIO()
    # when
    call_command("last_contacted_refresh", "--batch-size", "1000", stdout=out)
    # then
    contact.refresh_from_db()
    company.refresh_from_db()
    assert contact.last_contacted_at == when and company.last_contacted_at == when
    assert "2 clients" in out.getvalue()
