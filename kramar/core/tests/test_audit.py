"""The audit building blocks: snapshots, diffs and audit rows with their request context."""

import datetime as dt
from decimal import Decimal

import pytest

from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.audit import audit_record, diff, snapshot
from kramar.core.context import audit_context, current_audit_context
from kramar.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_snapshot_is_json_friendly_and_skips_bookkeeping(rep_a, team_a):
    # given
    company = CompanyFactory(owner=rep_a, team=team_a)
    contact = ContactFactory(owner=rep_a, team=team_a, primary_company=company, birthday=dt.date(1990, 5, 17))
    # when
    data = snapshot(contact)
    # then
    assert data["owner"] == rep_a.pk and data["team"] == team_a.pk and data["primary_company"] == company.pk
    assert data["birthday"] == "1990-05-17"
    for key in ("created_at", "updated_at", "version", "search_text", "name_key"):
        assert key not in data
    assert snapshot(contact, fields=["first_name"]) == {"first_name": contact.first_name}


def test_diff_lists_only_changed_keys_sorted():
    before = {"a": 1, "b": "x", "c": None}
    after = {"a": 1, "b": "y", "d": [1]}
    assert diff(before, after) == {"b": ["x", "y"], "d": [None, [1]]}
    assert list(diff({"z": 1, "a": 1}, {"z": 2, "a": 2})) == ["a", "z"]
    assert diff(before, dict(before)) == {}


def test_audit_record_takes_source_and_ip_from_the_context(rep_a):
    contact = ContactFactory(owner=rep_a, first_name="Ірина", last_name="Бондар")
    with audit_context(source="web", ip="198.51.100.4"):
        assert current_audit_context().source == "web"
        entry = audit_record(actor=rep_a, action=AuditEntry.Action.UPDATE, obj=contact, changes={"x": [1, 2]})
    assert current_audit_context().source == "system"  # restored afterwards
    entry.refresh_from_db()
    assert (entry.source, entry.ip, entry.actor, entry.entity, entry.object_id) == (
        "web",
        "198.51.100.4",
        rep_a,
        "contact",
        contact.pk,
    )
    assert entry.object_repr == "Ірина Бондар"


def test_audit_record_stores_plain_values(rep_a):
    contact = ContactFactory(owner=rep_a)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    entry = audit_record(
        actor=None,
        action="update",
        obj=contact,
        changes={
            "when": [None, when],
            "amount": [Decimal("1.50"), Decimal("2")],
            "tags": [set(), {"b", "a"}],
            "owner": [None, rep_a],
        },
        extra={"nested": {"d": dt.date(2026, 1, 2)}},
    )
    entry.refresh_from_db()
    assert entry.actor is None and entry.source == "system"
    assert entry.changes == {
        "when": [None, "2026-01-02T03:04:05+00:00"],
        "amount": ["1.50", "2"],
        "tags": [[], ["a", "b"]],
        "owner": [None, rep_a.pk],
    }
    assert entry.extra == {"nested": {"d": "2026-01-02"}}


def test_audit_record_entity_can_be_named(rep_a):
    contact = ContactFactory(owner=rep_a)
    entry = audit_record(actor=rep_a, action="merge", obj=contact, entity="contact_merge")
    assert entry.entity == "contact_merge" and entry.changes == {}


def test_web_requests_mark_their_writes(client, rep_a, team_a):
    from kramar.history.models import Interaction

    contact = ContactFactory(owner=rep_a, team=team_a)
    client.force_login(rep_a)
    client.post(f"/history/log/?contact={contact.pk}", {"channel": "note"}, REMOTE_ADDR="192.0.2.1")
    interaction = Interaction.objects.get()
    entry = AuditEntry.objects.get(entity="interaction", object_id=interaction.pk)
    assert (entry.source, entry.ip) == ("web", "192.0.2.1")
