"""The configuration services (kramar.comms.config_services) called directly, for the rules the API tests
(test_api.py) do not reach: who counts as an administrator and that the refusal comes before any lookup, the
settings checks of each kind, every shape problem of a rule's conditions, the audit rows (what they hold and that a
refused write leaves none), a reorder that audits only the rules that moved, the dry run leaving out inactive
queues, and resolving unprocessed items in bulk from the admin site."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.comms import config_services as cs
from kramar.comms.choices import ChannelKind, Priority
from kramar.comms.config_selectors import config_admin_may
from kramar.comms.models import Channel, InboundFailure, Queue, RoutingRule, SlaPolicy
from kramar.comms.tests.factories import (
    ChannelFactory,
    ConversationFactory,
    InboundFailureFactory,
    MessageFactory,
    QueueFactory,
    RoutingRuleFactory,
    SlaPolicyFactory,
)
from kramar.core.errors import ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _user_with(*codenames, staff=True):
    user = UserFactory(is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="comms", codename__in=codenames))
    return user


def _errors(exc_info) -> dict[str, list[str]]:
    return exc_info.value.errors


# ----------------------------------------------------------------------------------------- who may


def test_an_administrator_is_a_superuser_or_staff_with_that_very_permission():
    # given
    superuser = UserFactory(is_superuser=True, is_staff=True)
    staff_add = _user_with("add_channel")
    not_staff = _user_with("add_channel", staff=False)
    # then: the permission counts only for staff, and only for its own action and model
    assert config_admin_may(actor=superuser, model=Channel, action="delete")
    assert config_admin_may(actor=staff_add, model=Channel, action="add")
    assert not config_admin_may(actor=staff_add, model=Channel, action="delete")
    assert not config_admin_may(actor=staff_add, model=Queue, action="add")
    assert not config_admin_may(actor=not_staff, model=Channel, action="add")


def test_a_refusal_comes_before_the_lookup_and_writes_nothing(rep_a):
    # given
    queue = QueueFactory()
    # when / then: a rep is refused (403) even for ids that do not exist (never a 404 that reveals them)
    calls = [
        lambda: cs.channel_create(actor=rep_a, data={"kind": "phone", "name": "Mine"}),
        lambda: cs.channel_update(actor=rep_a, channel_id=999999, data={"name": "Mine"}),
        lambda: cs.channel_delete(actor=rep_a, channel_id=999999),
        lambda: cs.queue_update(actor=rep_a, queue_id=999999, data={}),
        lambda: cs.sla_policy_create(actor=rep_a, queue_id=queue.pk, data={"priority": "high"}),
        lambda: cs.sla_policy_delete(actor=rep_a, queue_id=queue.pk, sla_id=999999),
        lambda: cs.routing_rule_delete(actor=rep_a, rule_id=999999),
        lambda: cs.routing_rules_reorder(actor=rep_a, ids=[]),
        lambda: cs.inbound_failure_resolve(actor=rep_a, failure_id=999999),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert not AuditEntry.objects.exists() and not Channel.objects.exists()
    # an administrator gets the 404
    admin = UserFactory(is_superuser=True, is_staff=True)
    with pytest.raises(Http404):
        cs.channel_update(actor=admin, channel_id=999999, data={"name": "Mine"})


# ----------------------------------------------------------------------------------------- channels


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"host": "imap.test", "username": 42}, "settings.username"),
        ({"host": "imap.test", "username": "box", "folder": "  "}, "settings.folder"),
        ({"host": "imap.test", "username": "box", "mark_seen": "yes"}, "settings.mark_seen"),
        ({"host": "imap.test", "username": "box", "batch_size": 0}, "settings.batch_size"),
        ({"host": "imap.test", "username": "box", "poll_seconds": True}, "settings.poll_seconds"),
        ({"host": "imap.test", "username": "box", "api_key": "x"}, "settings.api_key"),
        ({"host": "imap.test", "username": "box", "notes": "x" * 20_001}, "settings"),
    ],
)
def test_mailbox_settings_are_checked_key_by_key(admin_user, values, field):
    with pytest.raises(ValidationFailed) as exc:
        cs.channel_create(actor=admin_user, data={"kind": "email", "name": "Box", "settings": values})
    assert field in _errors(exc)
    assert not Channel.objects.exists()


def test_a_forwarding_address_needs_a_server_only_when_it_is_polled(admin_user):
    # a BCC dropbox without a host receives by forwarding: no IMAP settings needed
    dropbox = cs.channel_create(actor=admin_user, data={"kind": "dropbox", "name": "BCC"})
    assert dropbox.settings == {}
    # with a host it is polled, and then needs the rest
    with pytest.raises(ValidationFailed) as exc:
        cs.channel_create(actor=admin_user, data={"kind": "dropbox", "name": "BCC 2", "settings": {"host": " "}})
    assert {"settings.host", "settings.username"} <= set(_errors(exc))


def test_a_rename_does_not_rejudge_settings_written_elsewhere(admin_user):
    # given: settings the admin site stored, which the API would refuse
    channel = ChannelFactory(settings={"host": "imap.test", "username": "box", "port": 0})
    # when: renamed
    renamed = cs.channel_update(actor=admin_user, channel_id=channel.pk, data={"name": "Renamed"})
    # then: saved; touching the address judges the settings again
    assert renamed.name == "Renamed"
    with pytest.raises(ValidationFailed) as exc:
        cs.channel_update(actor=admin_user, channel_id=channel.pk, data={"address": "new@kramar.test"})
    assert "settings.port" in _errors(exc)


def test_channel_audit_rows_say_whether_the_secret_changed_never_what_it_is(admin_user):
    # when
    channel = cs.channel_create(actor=admin_user, data={"kind": "phone", "name": "Office", "secret": "s3cret"})
    cs.channel_update(actor=admin_user, channel_id=channel.pk, data={"name": "Office 2"})
    cs.channel_update(actor=admin_user, channel_id=channel.pk, data={"secret": "other"})
    # then
    created, renamed, rekeyed = AuditEntry.objects.filter(entity="channel", object_id=channel.pk).order_by("id")
    assert (created.action, created.actor_id, created.extra) == (AuditEntry.Action.CREATE, admin_user.pk,
                                                                 {"secret_set": True})
    assert created.changes["name"] == [None, "Office"] and created.changes["kind"] == [None, "phone"]
    assert renamed.changes == {"name": ["Office", "Office 2"]} and renamed.extra == {}
    assert rekeyed.changes == {} and rekeyed.extra == {"secret_changed": True}
    assert "s3cret" not in str([created.changes, created.extra]) and "other" not in str(rekeyed.changes)


def test_a_channel_whose_messages_live_in_other_conversations_is_in_use(admin_user):
    # given: no conversation of its own, but a message received through it
    channel = ChannelFactory()
    MessageFactory(conversation=ConversationFactory(), channel=channel)
    # then
    with pytest.raises(cs.CommsConflict) as exc:
        cs.channel_delete(actor=admin_user, channel_id=channel.pk)
    assert exc.value.code == "channel_in_use" and exc.value.extra == {"conversations": 0, "failures": 0}
    assert not AuditEntry.objects.filter(entity="channel").exists()


def test_deleting_a_channel_leaves_its_settings_in_the_audit_trail(admin_user):
    # given
    channel = ChannelFactory(kind=ChannelKind.PHONE, name="Office", settings={"line": "1", "token": "t"})
    # when: with the fingerprint the caller read
    cs.channel_delete(actor=admin_user, channel_id=channel.pk, expected_version=cs.channel_fingerprint(channel))
    # then
    entry = AuditEntry.objects.get(entity="channel", object_id=channel.pk)
    assert entry.action == AuditEntry.Action.DELETE
    assert entry.changes["name"] == ["Office", None] and entry.changes["settings"] == [{"line": "1"}, None]


# ----------------------------------------------------------------------------------------- queues


def test_queue_fields_may_not_be_null_and_members_must_be_active(admin_user):
    # given
    queue = QueueFactory(name="Service")
    gone = UserFactory(is_active=False)
    # then
    with pytest.raises(ValidationFailed) as exc:
        cs.queue_update(actor=admin_user, queue_id=queue.pk, data={"name": None, "active": None})
    assert _errors(exc) == {"name": ["may not be null"], "active": ["may not be null"]}
    with pytest.raises(ValidationFailed) as exc:
        cs.queue_update(actor=admin_user, queue_id=queue.pk, data={"supervisor_ids": [gone.pk]})
    assert _errors(exc) == {"supervisor_ids": [f"No such active user: {gone.pk}."]}
    assert not AuditEntry.objects.exists()


def test_a_new_queue_may_overflow_into_a_chain(admin_user):
    # given A → B
    a, b = QueueFactory(name="A"), QueueFactory(name="B")
    Queue.objects.filter(pk=a.pk).update(overflow_queue=b)
    # when: a new queue overflows into A (a chain that cannot lead back to a queue not yet saved)
    queue = cs.queue_create(actor=admin_user, data={"name": "New", "overflow_queue_id": a.pk})
    # then
    assert queue.overflow_queue_id == a.pk


def test_queue_audit_rows_hold_the_members_and_supervisors(admin_user, rep_a, rep_b, lead_a):
    # when
    queue = cs.queue_create(actor=admin_user, data={"name": "Service", "member_ids": [rep_b.pk, rep_a.pk]})
    cs.queue_update(actor=admin_user, queue_id=queue.pk, data={"member_ids": [rep_a.pk], "supervisor_ids": [lead_a.pk]})
    # then
    created, updated = AuditEntry.objects.filter(entity="queue", object_id=queue.pk).order_by("id")
    assert created.changes["members"] == [None, sorted([rep_a.pk, rep_b.pk])]
    assert updated.changes == {"members": [sorted([rep_a.pk, rep_b.pk]), [rep_a.pk]],
                               "supervisors": [[], [lead_a.pk]]}


def test_a_stale_queue_fingerprint_is_refused_before_validation(admin_user):
    # given
    queue = QueueFactory(name="Service")
    read = cs.queue_fingerprint(queue)
    Queue.objects.filter(pk=queue.pk).update(accept_minutes=9)
    # then: the conflict, not the bad value
    with pytest.raises(VersionConflict):
        cs.queue_update(actor=admin_user, queue_id=queue.pk, data={"name": None}, expected_version=read)


# ----------------------------------------------------------------------------------------- SLA targets


def test_sla_audit_rows_name_the_priority(admin_user):
    # given
    queue = QueueFactory()
    # when
    policy = cs.sla_policy_create(actor=admin_user, queue_id=queue.pk, data={
        "priority": "urgent", "first_response_minutes": 10, "resolution_minutes": None, "warn_before_minutes": 5})
    cs.sla_policy_update(actor=admin_user, queue_id=queue.pk, sla_id=policy.pk, data={"priority": "high"})
    cs.sla_policy_delete(actor=admin_user, queue_id=queue.pk, sla_id=policy.pk)
    # then
    created, updated, deleted = AuditEntry.objects.filter(entity="slapolicy", object_id=policy.pk).order_by("id")
    assert created.changes["priority"] == [None, "urgent"] and created.changes["first_response_minutes"] == [None, 10]
    assert updated.changes == {"priority": ["urgent", "high"]}
    assert deleted.action == AuditEntry.Action.DELETE and deleted.changes["priority"] == ["high", None]
    assert not SlaPolicy.objects.exists()


def test_sla_fields_may_not_be_null(admin_user):
    policy = SlaPolicyFactory(priority=Priority.HIGH)
    with pytest.raises(ValidationFailed) as exc:
        cs.sla_policy_update(actor=admin_user, queue_id=policy.queue_id, sla_id=policy.pk,
                             data={"priority": None, "warn_before_minutes": None})
    assert set(_errors(exc)) == {"priority", "warn_before_minutes"}


# ----------------------------------------------------------------------------------------- routing rules


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ({"field": "language", "op": "eq", "value": "uk", "note": "x"}, "Condition 1 has unknown keys: note."),
        ({"field": "language", "op": "eq"}, "Condition 1 has no value."),
        ({"field": "tag", "op": "in", "value": []}, "Condition 1: “in” needs a list of values."),
        ({"field": "tag", "op": "in", "value": [["vip"]]}, "Condition 1: “in” needs a list of values."),
        ({"field": "language", "op": "eq", "value": {"a": 1}}, "Condition 1: the value must be one text or number."),
        ({"field": "language", "op": "eq", "value": "x" * 1001}, "Condition 1: the value must be one text or number."),
        ({"field": "keyword", "op": "matches", "value": "a" * 501}, "Condition 1: the pattern is too long."),
        ({"field": "business_hours", "op": "eq", "value": "maybe"}, 'Condition 1: business_hours is "in" or "out".'),
    ],
)
def test_each_shape_problem_of_a_condition_is_named(condition, words):
    assert cs.rule_conditions_problems([condition]) == [words]


def test_good_conditions_have_no_problems_and_problems_are_numbered():
    good = [{"field": "business_hours", "op": "eq", "value": "OUT"},
            {"field": "tag", "op": "in", "value": ["vip", 1]},
            {"field": "keyword", "op": "matches", "value": "invoice|рахунок"}]
    assert cs.rule_conditions_problems(good) == []
    assert cs.rule_conditions_problems([*good, {"field": "language", "op": "eq"}]) == ["Condition 4 has no value."]


def test_a_rule_goes_after_the_last_unless_placed(admin_user):
    # given
    queue = QueueFactory()
    RoutingRuleFactory(queue=queue, position=7)
    # when
    appended = cs.routing_rule_create(actor=admin_user, data={"name": "Next", "queue_id": queue.pk})
    placed = cs.routing_rule_create(actor=admin_user, data={"name": "First", "queue_id": queue.pk, "position": 0})
    # then
    assert (appended.position, placed.position) == (8, 0)
    assert AuditEntry.objects.get(entity="routingrule", object_id=appended.pk).changes["position"] == [None, 8]


def test_null_rule_fields_are_all_named_at_once(admin_user):
    rule = RoutingRuleFactory()
    with pytest.raises(ValidationFailed) as exc:
        cs.routing_rule_update(actor=admin_user, rule_id=rule.pk, data={"name": None, "queue_id": None,
                                                                         "conditions": None, "active": None})
    assert set(_errors(exc)) == {"name", "queue_id", "conditions", "active"}


def test_a_stale_rule_is_not_deleted(admin_user):
    # given
    rule = RoutingRuleFactory(name="Old")
    read = cs.routing_rule_fingerprint(rule)
    cs.routing_rule_update(actor=admin_user, rule_id=rule.pk, data={"name": "New"})
    # then
    with pytest.raises(VersionConflict):
        cs.routing_rule_delete(actor=admin_user, rule_id=rule.pk, expected_version=read)
    assert RoutingRule.objects.filter(pk=rule.pk).exists()


def test_reordering_audits_and_touches_only_the_rules_that_moved(admin_user):
    # given: positions 1, 2, 3
    first, second, third = (RoutingRuleFactory(position=n) for n in (1, 2, 3))
    before = RoutingRule.objects.get(pk=first.pk).updated_at
    # when: the last two swap
    changed = cs.routing_rules_reorder(actor=admin_user, ids=[first.pk, third.pk, second.pk])
    # then
    assert {r.pk for r in changed} == {second.pk, third.pk}
    assert RoutingRule.objects.get(pk=first.pk).updated_at == before
    entries = AuditEntry.objects.filter(entity="routingrule").order_by("object_id")
    assert [(e.object_id, e.extra) for e in entries] == sorted([
        (second.pk, {"reorder": True, "position": 3}), (third.pk, {"reorder": True, "position": 2})])


def test_the_dry_run_leaves_out_rules_of_inactive_queues(admin_user):
    # given: a conversation this week on a channel whose default queue is Service
    service, closed = QueueFactory(name="Service"), QueueFactory(name="Closed", active=False)
    ConversationFactory(channel=ChannelFactory(queue=service), subject="Invoice",
                        opened_at=timezone.now() - dt.timedelta(days=1))
    catch_all = {"name": "All", "queue_id": closed.pk, "conditions": []}
    # when: the only proposed rule sends everything to an inactive queue
    result = cs.routing_rules_dry_run(actor=admin_user, rules=[catch_all], days=7)
    # then: it is left out, so nothing moves
    assert (result.total, result.changed, result.moves) == (1, 0, [])


def test_the_dry_run_needs_the_right_to_change_rules():
    viewer = _user_with("view_routingrule")
    with pytest.raises(PermissionDenied):
        cs.routing_rules_dry_run(actor=viewer, rules=[], days=7)
    assert cs.routing_rules_dry_run(actor=_user_with("change_routingrule"), rules=[], days=7).total == 0


# ----------------------------------------------------------------------------------------- unprocessed items


def test_resolving_in_bulk_audits_each_item_resolved_now(admin_user):
    # given
    open_1, open_2 = InboundFailureFactory(), InboundFailureFactory()
    done = InboundFailureFactory(resolved_at=timezone.now() - dt.timedelta(days=1))
    # when
    resolved = cs.inbound_failures_resolve(actor=admin_user, failures=InboundFailure.objects.all())
    # then
    assert {f.pk for f in resolved} == {open_1.pk, open_2.pk}
    assert not InboundFailure.objects.filter(resolved_at__isnull=True).exists()
    entries = AuditEntry.objects.filter(entity="inboundfailure")
    assert sorted(e.object_id for e in entries) == sorted([open_1.pk, open_2.pk])
    assert all(e.changes["resolved_at"][0] is None and e.changes["resolved_at"][1] for e in entries)
    assert InboundFailure.objects.get(pk=done.pk).resolved_at < timezone.now() - dt.timedelta(hours=1)
    # viewers may not
    with pytest.raises(PermissionDenied):
        cs.inbound_failures_resolve(actor=_user_with("view_inboundfailure"), failures=InboundFailure.objects.all())


def test_the_admin_action_resolves_through_the_service(client, admin_user):
    # given
    failure = InboundFailureFactory()
    client.force_login(admin_user)
    # when
    response = client.post(reverse("admin:comms_inboundfailure_changelist"),
                           {"action": "mark_resolved", "_selected_action": [failure.pk]}, follow=True)
    # then
    assert response.status_code == 200
    assert InboundFailure.objects.get(pk=failure.pk).resolved_at is not None
    assert AuditEntry.objects.filter(entity="inboundfailure", object_id=failure.pk, actor=admin_user).exists()
    # staff who may only look do not get the action
    client.force_login(_user_with("view_inboundfailure"))
    page = client.get(reverse("admin:comms_inboundfailure_changelist"))
    assert page.status_code == 200 and "mark_resolved" not in page.content.decode()
