"""The Communication Center API over HTTP: configuration (channels, queues, SLA targets, rules) for administrators
only, secrets never shown, validation naming the field, ETags on configuration rows, the rules' dry run writing
nothing, conversations within scope (404 outside it) with filters and cursor pages, the offer actions (409 / 403 /
422), replies, notes, close and reopen, presence and the agents' board, and the unprocessed items."""

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.utils import timezone

from kramar.accounts.models import Role
from kramar.accounts.tests.factories import UserFactory
from kramar.clients.tests.factories import ContactFactory
from kramar.comms.choices import AssignmentStatus, ChannelKind, ConversationStatus, Priority, Strategy
from kramar.comms.models import (
    Assignment,
    Channel,
    Conversation,
    InboundFailure,
    Message,
    Queue,
    QueueMember,
    RoutingRule,
    SlaPolicy,
)
from kramar.comms.routing import conversation_route
from kramar.comms.tests.factories import (
    AgentProfileFactory,
    BusinessHoursFactory,
    ChannelFactory,
    ConversationFactory,
    InboundFailureFactory,
    LoadWeightFactory,
    MessageFactory,
    QueueFactory,
    QueueMemberFactory,
    RoutingRuleFactory,
    SlaPolicyFactory,
)
from kramar.core.models import AuditEntry
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.core.tests.test_openapi import _check, _response_schema

pytestmark = pytest.mark.django_db

SECRET = "hunter2-very-secret"


@pytest.fixture
def admin_api(admin_user):
    return ApiClient(admin_user)


@pytest.fixture
def api_a(rep_a):
    return ApiClient(rep_a)


@pytest.fixture
def api_b(rep_b):
    return ApiClient(rep_b)


def _agent(make_agent, name, *queues, **kwargs):
    """An online agent who is also a sales rep (so the role scope lets them see what they are offered)."""
    user = make_agent(name, *queues, **kwargs)
    user.roles.add(Role.objects.get(name="Sales rep"))
    return user


def _staff_with(*codenames):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="comms", codename__in=codenames))
    return user


def _all_ids(api, path, params=None, limit=3):
    """Every id of a list, following the cursors."""
    ids, cursor = [], None
    while True:
        query = {**(params or {}), "limit": limit}
        if cursor:
            query["cursor"] = cursor
        response = api.get(path, query)
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids


# ----------------------------------------------------------------------------------------- channels


def test_admin_creates_a_mailbox_and_its_secret_is_never_shown(admin_api, api_a):
    # given
    queue = QueueFactory(name="Sales")
    # when
    response = admin_api.post("/comms/channels/", {
        "kind": "email", "name": "Sales mailbox", "address": "sales@kramar.test", "secret": SECRET,
        "settings": {"host": "imap.kramar.test", "port": 993, "security": "ssl", "username": "sales"},
        "queue_id": queue.pk,
    })
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["has_secret"] is True and body["queue"] == {"id": queue.pk, "name": "Sales"}
    assert {"last_error", "error_count", "next_attempt_at", "last_polled_at"} <= set(body)
    assert "secret" not in body
    channel = Channel.objects.get(pk=body["id"])
    assert channel.secret == SECRET
    responses = [
        response,
        admin_api.get("/comms/channels/"),
        admin_api.get(f"/comms/channels/{channel.pk}"),
        api_a.get("/comms/channels/"),
        api_a.get(f"/comms/channels/{channel.pk}"),
        admin_api.patch(f"/comms/channels/{channel.pk}", {"name": "Sales box"}),
        admin_api.patch(f"/comms/channels/{channel.pk}", {"secret": SECRET + "2"}),
    ]
    for r in responses:
        assert r.status_code in (200, 201), r.content
        assert SECRET not in r.content.decode()
    assert Channel.objects.get(pk=channel.pk).secret == SECRET + "2"
    # the audit trail records that the secret changed, never the secret
    audits = AuditEntry.objects.filter(entity="channel", object_id=channel.pk)
    assert audits.count() == 3
    assert all(SECRET not in json.dumps([a.changes, a.extra]) for a in audits)
    # when: "" removes the secret
    assert admin_api.patch(f"/comms/channels/{channel.pk}", {"secret": ""}).json()["has_secret"] is False


def test_a_credential_stored_in_the_settings_by_the_admin_site_is_not_shown(api_a):
    # given: settings written elsewhere (the admin site) with a password in them
    channel = ChannelFactory(settings={"host": "imap.test", "password": SECRET, "api_key": SECRET}, secret=SECRET)
    # when
    body = api_a.get(f"/comms/channels/{channel.pk}").json()
    # then
    assert body["settings"] == {"host": "imap.test"} and SECRET not in json.dumps(body)


def test_channel_values_are_validated_naming_the_field(admin_api):
    # an e-mail channel without a server, with a password in the settings and a bad port
    response = admin_api.post("/comms/channels/", {
        "kind": "email", "name": "  ", "settings": {"password": "x", "port": 0, "security": "tls"},
    })
    assert response.status_code == 422
    assert "name" in problem_fields(response)
    response = admin_api.post("/comms/channels/", {
        "kind": "email", "name": "Box", "settings": {"password": "x", "port": 0, "security": "tls"},
    })
    assert response.status_code == 422
    assert {"settings.host", "settings.username", "settings.password", "settings.port",
            "settings.security"} <= problem_fields(response)
    # types from the schema: unknown kind, unknown field
    response = admin_api.post("/comms/channels/", {"kind": "pigeon", "name": "X", "colour": "red"})
    assert response.status_code == 422 and {"kind", "colour"} <= problem_fields(response)
    # an unknown default queue; a web form with bad origins
    response = admin_api.post("/comms/channels/", {"kind": "webform", "name": "Form", "queue_id": 999999})
    assert response.status_code == 422 and "queue_id" in problem_fields(response)
    response = admin_api.post("/comms/channels/", {"kind": "webform", "name": "Form",
                                                   "settings": {"allowed_origins": "https://x.test"}})
    assert response.status_code == 422 and "settings.allowed_origins" in problem_fields(response)
    # a phone channel needs no settings; its kind cannot change later
    channel_id = admin_api.post("/comms/channels/", {"kind": "phone", "name": "Office"}).json()["id"]
    response = admin_api.patch(f"/comms/channels/{channel_id}", {"kind": "email"})
    assert response.status_code == 422 and "kind" in problem_fields(response)
    response = admin_api.patch(f"/comms/channels/{channel_id}", {"name": None})
    assert response.status_code == 422 and "name" in problem_fields(response)
    assert Channel.objects.count() == 1


def test_channel_writes_are_for_administrators(api_a, rep_a):
    # given
    channel = ChannelFactory(name="Box")
    # then: a rep reads but may not write
    assert api_a.get(f"/comms/channels/{channel.pk}").status_code == 200
    for response in (
        api_a.post("/comms/channels/", {"kind": "phone", "name": "Mine"}),
        api_a.patch(f"/comms/channels/{channel.pk}", {"name": "Mine"}),
        api_a.delete(f"/comms/channels/{channel.pk}"),
    ):
        assert response.status_code == 403, response.content
        problem_fields(response)
    assert Channel.objects.get().name == "Box"
    # staff: only with the model's permission
    assert ApiClient(UserFactory(is_staff=True)).post("/comms/channels/", {"kind": "phone", "name": "A"}
                                                      ).status_code == 403
    staff = ApiClient(_staff_with("add_channel"))
    assert staff.post("/comms/channels/", {"kind": "phone", "name": "A"}).status_code == 201
    assert staff.patch(f"/comms/channels/{channel.pk}", {"name": "B"}).status_code == 403


def test_channel_etag_guards_against_lost_updates(admin_api):
    # given
    channel = ChannelFactory(name="Box")
    etag = admin_api.get(f"/comms/channels/{channel.pk}")["ETag"]
    # when: someone else changes it
    changed = admin_api.patch(f"/comms/channels/{channel.pk}", {"name": "Other"}, HTTP_IF_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    # then: the stale ETag is refused
    response = admin_api.patch(f"/comms/channels/{channel.pk}", {"name": "Mine"}, HTTP_IF_MATCH=etag)
    assert response.status_code == 412 and response.json()["code"] == "version_conflict"
    assert admin_api.delete(f"/comms/channels/{channel.pk}", HTTP_IF_MATCH=etag).status_code == 412
    assert Channel.objects.get().name == "Other"
    # polling state does not change the ETag
    Channel.objects.filter(pk=channel.pk).update(error_count=3, last_error="refused", last_polled_at=timezone.now())
    assert admin_api.get(f"/comms/channels/{channel.pk}")["ETag"] == changed["ETag"]


def test_a_channel_in_use_is_not_deleted(admin_api):
    # given
    used, failed, unused = ChannelFactory(), ChannelFactory(), ChannelFactory()
    ConversationFactory(channel=used)
    InboundFailureFactory(channel=failed)
    # then
    for channel in (used, failed):
        response = admin_api.delete(f"/comms/channels/{channel.pk}")
        assert response.status_code == 409 and response.json()["code"] == "channel_in_use"
    assert admin_api.delete(f"/comms/channels/{unused.pk}").status_code == 204
    assert admin_api.get(f"/comms/channels/{unused.pk}").status_code == 404
    assert set(Channel.objects.values_list("pk", flat=True)) == {used.pk, failed.pk}
    # deactivating is the way
    assert admin_api.patch(f"/comms/channels/{used.pk}", {"active": False}).json()["active"] is False


# ----------------------------------------------------------------------------------------- queues and SLA


def test_queue_create_and_update_with_members_and_supervisors(admin_api, rep_a, rep_b, lead_a):
    # given
    hours_id = BusinessHoursFactory(name="Office").pk
    # when
    response = admin_api.post("/comms/queues/", {
        "name": "Service", "strategy": "round_robin", "member_ids": [rep_a.pk, rep_b.pk],
        "supervisor_ids": [lead_a.pk], "accept_minutes": 3, "max_waiting": 10, "skills": ["uk", "UK", " en "],
        "business_hours_id": hours_id,
    })
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert [m["id"] for m in body["members"]] == sorted([rep_a.pk, rep_b.pk])
    assert [s["id"] for s in body["supervisors"]] == [lead_a.pk]
    assert body["strategy"] == "round_robin" and body["skills"] == ["uk", "en"] and body["accept_minutes"] == 3
    assert body["business_hours"] == {"id": hours_id, "name": "Office"}
    queue = Queue.objects.get(pk=body["id"])
    QueueMember.objects.filter(queue=queue, user=rep_a).update(last_assigned_at=timezone.now())
    # when: rep_b leaves, the lead joins; rep_a keeps his round-robin place
    etag = admin_api.get(f"/comms/queues/{queue.pk}")["ETag"]
    response = admin_api.patch(f"/comms/queues/{queue.pk}", {"member_ids": [rep_a.pk, lead_a.pk]},
                               HTTP_IF_MATCH=etag)
    # then
    assert response.status_code == 200, response.content
    assert {m["id"] for m in response.json()["members"]} == {rep_a.pk, lead_a.pk}
    assert QueueMember.objects.get(queue=queue, user=rep_a).last_assigned_at is not None
    # a stale ETag
    response = admin_api.patch(f"/comms/queues/{queue.pk}", {"name": "X"}, HTTP_IF_MATCH=etag)
    assert response.status_code == 412
    assert AuditEntry.objects.filter(entity="queue", object_id=queue.pk).count() == 2


def test_queue_validation_and_overflow_cycles(admin_api):
    # given A → B → C
    a, b, c = QueueFactory(name="A"), QueueFactory(name="B"), QueueFactory(name="C")
    assert admin_api.patch(f"/comms/queues/{a.pk}", {"overflow_queue_id": b.pk}).status_code == 200
    assert admin_api.patch(f"/comms/queues/{b.pk}", {"overflow_queue_id": c.pk}).status_code == 200
    # then: C → A closes a circle, A → A too
    for queue, target in ((c, a), (a, a), (c, b)):
        response = admin_api.patch(f"/comms/queues/{queue.pk}", {"overflow_queue_id": target.pk})
        assert response.status_code == 422, response.content
        assert "overflow_queue_id" in problem_fields(response)
    assert Queue.objects.get(pk=c.pk).overflow_queue_id is None
    # a duplicate name, unknown members, unknown business hours, a bad strategy
    response = admin_api.post("/comms/queues/", {"name": "a", "member_ids": [999999]})
    assert response.status_code == 422 and "name" in problem_fields(response)
    response = admin_api.post("/comms/queues/", {"name": "D", "member_ids": [999999]})
    assert response.status_code == 422 and "member_ids" in problem_fields(response)
    response = admin_api.post("/comms/queues/", {"name": "D", "business_hours_id": 999999})
    assert response.status_code == 422 and "business_hours_id" in problem_fields(response)
    response = admin_api.post("/comms/queues/", {"name": "D", "strategy": "random", "accept_minutes": 0})
    assert response.status_code == 422 and {"strategy", "accept_minutes"} <= problem_fields(response)
    response = admin_api.post("/comms/queues/", {"description": "no name"})
    assert response.status_code == 422 and "name" in problem_fields(response)
    assert Queue.objects.count() == 3
    # an unknown queue
    assert admin_api.patch("/comms/queues/999999", {"name": "Z"}).status_code == 404


def test_queue_and_sla_writes_are_for_administrators(api_a):
    queue = QueueFactory()
    policy = SlaPolicyFactory(queue=queue)
    assert api_a.get("/comms/queues/").status_code == 200
    assert api_a.get(f"/comms/queues/{queue.pk}/sla").status_code == 200
    for response in (
        api_a.post("/comms/queues/", {"name": "Mine"}),
        api_a.patch(f"/comms/queues/{queue.pk}", {"name": "Mine"}),
        api_a.post(f"/comms/queues/{queue.pk}/sla", {"priority": "high", "first_response_minutes": 5}),
        api_a.patch(f"/comms/queues/{queue.pk}/sla/{policy.pk}", {"first_response_minutes": 5}),
        api_a.delete(f"/comms/queues/{queue.pk}/sla/{policy.pk}"),
    ):
        assert response.status_code == 403, response.content
    assert SlaPolicy.objects.get().first_response_minutes == 60


def test_sla_targets_per_queue(admin_api):
    # given
    queue, other = QueueFactory(), QueueFactory()
    # when
    response = admin_api.post(f"/comms/queues/{queue.pk}/sla", {
        "priority": "high", "first_response_minutes": 30, "resolution_minutes": 240})
    # then
    assert response.status_code == 201, response.content
    policy = response.json()
    assert policy["priority"] == "high" and policy["warn_before_minutes"] == 15
    # a second target for the same priority
    response = admin_api.post(f"/comms/queues/{queue.pk}/sla", {"priority": "high", "first_response_minutes": 5})
    assert response.status_code == 422 and "priority" in problem_fields(response)
    response = admin_api.post(f"/comms/queues/{queue.pk}/sla", {"priority": "high", "first_response_minutes": 0})
    assert response.status_code == 422 and "first_response_minutes" in problem_fields(response)
    # update and list
    response = admin_api.patch(f"/comms/queues/{queue.pk}/sla/{policy['id']}", {"first_response_minutes": 20})
    assert response.status_code == 200 and response.json()["first_response_minutes"] == 20
    assert [p["id"] for p in admin_api.get(f"/comms/queues/{queue.pk}/sla").json()["items"]] == [policy["id"]]
    # another queue's target is not found through this one
    assert admin_api.patch(f"/comms/queues/{other.pk}/sla/{policy['id']}", {"priority": "low"}).status_code == 404
    assert admin_api.delete(f"/comms/queues/{queue.pk}/sla/{policy['id']}").status_code == 204
    assert not SlaPolicy.objects.exists()


# ----------------------------------------------------------------------------------------- rules


def test_rules_create_validate_order_and_reorder(admin_api, api_a):
    # given
    queue = QueueFactory(name="Sales")
    # when: bad conditions
    response = admin_api.post("/comms/rules/", {"name": "Bad", "queue_id": queue.pk, "conditions": [
        {"field": "colour", "op": "eq", "value": "red"},
        {"field": "keyword", "op": "matches", "value": "(unclosed"},
        {"field": "tag", "op": "in", "value": "vip"},
        {"field": "language", "op": "like", "value": "uk"},
        "nonsense",
    ]})
    # then: one message per problem, all naming `conditions`
    assert response.status_code == 422
    body = response.json()
    messages = [e["message"] for e in body["errors"] if e["field"] == "conditions"]
    assert len(messages) == 5, messages
    assert "colour" in messages[0] and "pattern" in messages[1] and "list" in messages[2]
    assert "operator" in messages[3] and "Condition 5" in messages[4]
    assert not RoutingRule.objects.exists()
    # when: good rules are appended in order
    ids = []
    for name, conditions in (("VIP", [{"field": "tag", "op": "in", "value": ["vip"]}]),
                             ("Bank", [{"field": "sender_domain", "op": "eq", "value": "bank.ua"}]),
                             ("Catch-all", [])):
        response = admin_api.post("/comms/rules/", {"name": name, "queue_id": queue.pk, "conditions": conditions,
                                                    "priority": "high"})
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    assert [r["id"] for r in api_a.get("/comms/rules/").json()["items"]] == ids
    assert api_a.get(f"/comms/rules/{ids[0]}").json()["priority"] == "high"
    # reorder
    response = admin_api.post("/comms/rules/reorder", {"ids": [ids[2], ids[0], ids[1]]})
    assert response.status_code == 200, response.content
    assert [r["id"] for r in response.json()["items"]] == [ids[2], ids[0], ids[1]]
    assert [r["id"] for r in api_a.get("/comms/rules/").json()["items"]] == [ids[2], ids[0], ids[1]]
    # every rule exactly once
    for bad in ([ids[0], ids[1]], [ids[0], ids[0], ids[1], ids[2]], [*ids, 999999]):
        response = admin_api.post("/comms/rules/reorder", {"ids": bad})
        assert response.status_code == 422 and "ids" in problem_fields(response)
    # update with the ETag, then stale
    etag = admin_api.get(f"/comms/rules/{ids[1]}")["ETag"]
    response = admin_api.patch(f"/comms/rules/{ids[1]}", {"active": False}, HTTP_IF_MATCH=etag)
    assert response.status_code == 200 and response.json()["active"] is False
    assert admin_api.patch(f"/comms/rules/{ids[1]}", {"name": "X"}, HTTP_IF_MATCH=etag).status_code == 412
    response = admin_api.patch(f"/comms/rules/{ids[1]}", {"conditions": [{"field": "owner"}]})
    assert response.status_code == 422 and "conditions" in problem_fields(response)
    response = admin_api.patch(f"/comms/rules/{ids[1]}", {"queue_id": 999999})
    assert response.status_code == 422 and "queue_id" in problem_fields(response)
    # reps may not write
    assert api_a.post("/comms/rules/", {"name": "Mine", "queue_id": queue.pk}).status_code == 403
    assert api_a.patch(f"/comms/rules/{ids[0]}", {"name": "Mine"}).status_code == 403
    assert api_a.delete(f"/comms/rules/{ids[0]}").status_code == 403
    assert api_a.post("/comms/rules/reorder", {"ids": ids}).status_code == 403
    # delete
    assert admin_api.delete(f"/comms/rules/{ids[0]}").status_code == 204
    assert RoutingRule.objects.count() == 2


def test_reordering_reaches_the_routing_engine(admin_api, make_agent):
    # given two catch-all rules: the first sends everything to Sales
    sales, service = QueueFactory(name="Sales"), QueueFactory(name="Service")
    first = RoutingRuleFactory(name="All to sales", queue=sales, position=1)
    second = RoutingRuleFactory(name="All to service", queue=service, position=2)
    assert conversation_route(ConversationFactory()).queue == sales
    # when
    assert admin_api.post("/comms/rules/reorder", {"ids": [second.pk, first.pk]}).status_code == 200
    # then
    assert conversation_route(ConversationFactory()).queue == service


def test_dry_run_reports_moves_and_writes_nothing(admin_api, api_a):
    # given: the channel's default queue is Service; no rules yet; 3 invoices and 2 other questions this week,
    # one invoice older than the window
    sales, service = QueueFactory(name="Sales"), QueueFactory(name="Service")
    channel = ChannelFactory(queue=service)
    now = timezone.now()
    for i in range(3):
        ConversationFactory(channel=channel, subject=f"Invoice {i}", opened_at=now - dt.timedelta(days=1))
    for i in range(2):
        ConversationFactory(channel=channel, subject=f"Hello {i}", opened_at=now - dt.timedelta(days=2))
    ConversationFactory(channel=channel, subject="Old invoice", opened_at=now - dt.timedelta(days=40))
    before = (Conversation.objects.count(), Assignment.objects.count(), RoutingRule.objects.count(),
              AuditEntry.objects.count(), list(Conversation.objects.values_list("queue_id", flat=True)))
    proposed = [{"name": "Invoices", "queue_id": sales.pk, "priority": "high",
                 "conditions": [{"field": "keyword", "op": "contains", "value": "invoice"}]}]
    # when
    response = admin_api.post("/comms/rules/dry-run", {"rules": proposed, "days": 30})
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {
        "days": 30, "total": 5, "changed": 3,
        "moves": [{"from_queue": {"id": service.pk, "name": "Service"},
                   "to_queue": {"id": sales.pk, "name": "Sales"}, "count": 3}],
    }
    assert (Conversation.objects.count(), Assignment.objects.count(), RoutingRule.objects.count(),
            AuditEntry.objects.count(), list(Conversation.objects.values_list("queue_id", flat=True))) == before
    # given the saved rule set already does it: nothing changes
    RoutingRuleFactory(queue=sales, conditions=proposed[0]["conditions"])
    body = admin_api.post("/comms/rules/dry-run", {"rules": proposed, "days": 60}).json()
    assert (body["total"], body["changed"], body["moves"]) == (6, 0, [])
    # an empty proposal sends them all back to the channel's default
    body = admin_api.post("/comms/rules/dry-run", {"rules": [], "days": 60}).json()
    assert body["changed"] == 4 and body["moves"][0]["to_queue"]["name"] == "Service"
    # bad proposals name the rule and the field; reps may not run it
    response = admin_api.post("/comms/rules/dry-run", {"rules": [
        {"name": "X", "queue_id": sales.pk, "conditions": [{"field": "nope", "op": "eq", "value": 1}]},
        {"name": "Y"}], "days": 400})
    assert response.status_code == 422 and "days" in problem_fields(response)
    response = admin_api.post("/comms/rules/dry-run", {"rules": [
        {"name": "X", "queue_id": sales.pk, "conditions": [{"field": "nope", "op": "eq", "value": 1}]},
        {"name": "Y"}]})
    assert response.status_code == 422
    assert {"rules[0].conditions", "rules[1].queue_id"} <= problem_fields(response)
    assert api_a.post("/comms/rules/dry-run", {"rules": proposed}).status_code == 403


# ----------------------------------------------------------------------------------------- conversations


@pytest.fixture
def conv_a(rep_a, team_a):
    """A conversation rep_a has (team A), with an inbound e-mail."""
    conv = ConversationFactory(owner=rep_a, team=team_a, status=ConversationStatus.OPEN, subject="Prices")
    MessageFactory(conversation=conv, from_address="client@client.test")
    return conv


def test_rep_of_another_team_gets_404_for_every_operation(api_b, conv_a, rep_a):
    # given
    Assignment.objects.create(conversation=conv_a, user=rep_a, status=AssignmentStatus.ACCEPTED, reason="x")
    # then
    pk = conv_a.pk
    for response in (
        api_b.get(f"/comms/conversations/{pk}"),
        api_b.get(f"/comms/conversations/{pk}/messages"),
        api_b.get(f"/comms/conversations/{pk}/assignments"),
        api_b.post(f"/comms/conversations/{pk}/accept"),
        api_b.post(f"/comms/conversations/{pk}/decline"),
        api_b.post(f"/comms/conversations/{pk}/transfer", {"user_id": rep_a.pk}),
        api_b.post(f"/comms/conversations/{pk}/reply", {"body": "Mine"}),
        api_b.post(f"/comms/conversations/{pk}/notes", {"body": "Mine"}),
        api_b.post(f"/comms/conversations/{pk}/close"),
        api_b.post(f"/comms/conversations/{pk}/reopen"),
    ):
        assert response.status_code == 404, response.content
        problem_fields(response)
    assert api_b.get("/comms/conversations/").json()["items"] == []
    conv_a.refresh_from_db()
    assert conv_a.status == ConversationStatus.OPEN and conv_a.owner == rep_a
    assert Message.objects.filter(conversation=conv_a).count() == 1


def test_conversation_detail_shows_client_queue_owner_and_sla(api_a, rep_a, rep_b, team_a):
    # given: a conversation of mine about another team's contact
    queue = QueueFactory(name="Sales")
    contact = ContactFactory(owner=rep_b)
    due = timezone.now() + dt.timedelta(hours=1)
    conv = ConversationFactory(owner=rep_a, team=team_a, queue=queue, contact=contact, priority=Priority.HIGH,
                               first_response_due=due, sla_breached_at=timezone.now())
    mine = ContactFactory(owner=rep_a, team=team_a)
    other = ConversationFactory(owner=rep_a, team=team_a, contact=mine)
    # when
    response = api_a.get(f"/comms/conversations/{conv.pk}")
    # then
    assert response.status_code == 200
    assert response["ETag"] == f'"{conv.version}"'
    body = response.json()
    assert body["contact"] == {"id": contact.pk, "name": None}
    assert body["queue"] == {"id": queue.pk, "name": "Sales"} and body["owner"]["id"] == rep_a.pk
    assert body["priority"] == "high" and body["breached"] is True
    assert dt.datetime.fromisoformat(body["first_response_due"]) == due
    assert api_a.get(f"/comms/conversations/{other.pk}").json()["contact"] == {"id": mine.pk, "name": str(mine)}


def test_conversation_list_filters_sorts_and_pages_every_row_once(api_a, rep_a, team_a, rep_a2,
                                                                  django_assert_max_num_queries):
    # given: 7 of mine, 2 of a teammate, one of them breached, some on the phone
    now = timezone.now()
    phone = ChannelFactory(kind=ChannelKind.PHONE)
    mine = [ConversationFactory(owner=rep_a, team=team_a, status=ConversationStatus.OPEN,
                                opened_at=now - dt.timedelta(hours=i), last_message_at=now - dt.timedelta(minutes=i),
                                priority=(Priority.HIGH if i % 3 == 0 else Priority.NORMAL),
                                subject=f"Order {i}" if i < 4 else f"Hello {i}")
            for i in range(7)]
    theirs = [ConversationFactory(owner=rep_a2, team=team_a, channel=phone, status=ConversationStatus.NEW,
                                  last_message_at=now - dt.timedelta(days=1), opened_at=now - dt.timedelta(days=1))
              for _ in range(2)]
    Conversation.objects.filter(pk=mine[1].pk).update(sla_breached_at=now)
    everyone = {c.pk for c in mine + theirs}
    # then: each sort pages every row once
    for sort in ("-last_message", "last_message", "-opened", "opened", "-priority"):
        ids = _all_ids(api_a, "/comms/conversations/", {"sort": sort})
        assert len(ids) == len(set(ids)) == 9 and set(ids) == everyone, sort
    assert _all_ids(api_a, "/comms/conversations/")[:2] == [mine[0].pk, mine[1].pk]
    by_priority = _all_ids(api_a, "/comms/conversations/", {"sort": "-priority"})
    assert set(by_priority[:3]) == {mine[0].pk, mine[3].pk, mine[6].pk}
    # filters
    assert set(_all_ids(api_a, "/comms/conversations/", {"owner": "me"})) == {c.pk for c in mine}
    assert set(_all_ids(api_a, "/comms/conversations/", {"owner": rep_a2.pk})) == {c.pk for c in theirs}
    assert set(_all_ids(api_a, "/comms/conversations/", {"status": "new"})) == {c.pk for c in theirs}
    assert set(_all_ids(api_a, "/comms/conversations/", {"channel_kind": "phone"})) == {c.pk for c in theirs}
    assert _all_ids(api_a, "/comms/conversations/", {"breached": "true"}) == [mine[1].pk]
    assert len(_all_ids(api_a, "/comms/conversations/", {"breached": "false"})) == 8
    assert set(_all_ids(api_a, "/comms/conversations/", {"q": "order"})) == {c.pk for c in mine[:4]}
    assert set(_all_ids(api_a, "/comms/conversations/", {"priority": "high"})) == {mine[0].pk, mine[3].pk, mine[6].pk}
    after = (now - dt.timedelta(hours=2, minutes=30)).isoformat()
    assert set(_all_ids(api_a, "/comms/conversations/", {"opened_after": after})) == {c.pk for c in mine[:3]}
    before = (now - dt.timedelta(hours=12)).isoformat()
    assert set(_all_ids(api_a, "/comms/conversations/", {"opened_before": before})) == {c.pk for c in theirs}
    # bad input
    assert api_a.get("/comms/conversations/", {"cursor": "garbage"}).status_code == 400
    response = api_a.get("/comms/conversations/", {"sort": "random", "status": "lost", "owner": "you"})
    assert response.status_code == 422 and {"sort", "status", "owner"} <= problem_fields(response)
    cursor = api_a.get("/comms/conversations/", {"limit": 2}).json()["next_cursor"]
    assert api_a.get("/comms/conversations/", {"cursor": cursor, "sort": "opened"}).status_code == 400
    # a page costs a fixed number of queries
    with django_assert_max_num_queries(8):
        assert api_a.get("/comms/conversations/", {"limit": 50}).status_code == 200


def test_messages_and_assignment_log_are_paged(api_a, conv_a, rep_a):
    # given
    now = timezone.now()
    for i in range(4):
        MessageFactory(conversation=conv_a, sent_at=now + dt.timedelta(minutes=i))
    for i in range(4):
        Assignment.objects.create(conversation=conv_a, user=rep_a, status=AssignmentStatus.DECLINED, reason=f"r{i}")
    # then
    ids = _all_ids(api_a, f"/comms/conversations/{conv_a.pk}/messages", limit=2)
    assert ids == list(Message.objects.filter(conversation=conv_a).order_by("sent_at", "id").values_list("pk",
                                                                                                       flat=True))
    log = _all_ids(api_a, f"/comms/conversations/{conv_a.pk}/assignments", limit=3)
    assert log == list(Assignment.objects.filter(conversation=conv_a).order_by("-created_at", "-id")
                       .values_list("pk", flat=True))
    item = api_a.get(f"/comms/conversations/{conv_a.pk}/messages").json()["items"][0]
    assert item["direction"] == "in" and item["has_raw"] is False


# ----------------------------------------------------------------------------------------- offers and transfers


def test_accept_opens_the_conversation_and_a_second_accept_is_409(make_agent):
    # given an offer to Olena
    queue = QueueFactory(strategy=Strategy.LEAST_LOADED)
    olena = _agent(make_agent, "Olena", queue)
    conv = ConversationFactory(channel=ChannelFactory(queue=queue))
    offer = conversation_route(conv)
    assert offer.user == olena
    api = ApiClient(olena)
    # when
    response = api.post(f"/comms/conversations/{conv.pk}/accept")
    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "open" and response.json()["owner"]["id"] == olena.pk
    offer.refresh_from_db()
    assert offer.status == AssignmentStatus.ACCEPTED
    response = api.post(f"/comms/conversations/{conv.pk}/accept")
    assert response.status_code == 409 and response.json()["code"] == "no_offer"
    assert api.post(f"/comms/conversations/{conv.pk}/decline").json()["code"] == "no_offer"


def test_decline_goes_to_the_next_agent_and_expired_offers_are_409(make_agent):
    # given an offer to Olena (Petro is busier)
    queue = QueueFactory(strategy=Strategy.LEAST_LOADED)
    olena, petro = _agent(make_agent, "Olena", queue), _agent(make_agent, "Petro", queue)
    ConversationFactory(owner=petro, status=ConversationStatus.OPEN)
    conv = ConversationFactory(channel=ChannelFactory(queue=queue))
    assert conversation_route(conv).user == olena
    # when
    response = ApiClient(olena).post(f"/comms/conversations/{conv.pk}/decline")
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "offered" and body["user"]["id"] == petro.pk and "Olena declined" in body["reason"]
    assert Assignment.objects.filter(conversation=conv, user=olena, status=AssignmentStatus.DECLINED).exists()
    # given Petro's offer expired
    Assignment.objects.filter(conversation=conv, user=petro).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    # then
    for action in ("accept", "decline"):
        response = ApiClient(petro).post(f"/comms/conversations/{conv.pk}/{action}")
        assert response.status_code == 409 and response.json()["code"] == "offer_expired"
    assert Conversation.objects.get(pk=conv.pk).status == ConversationStatus.NEW


def test_transfer_to_an_agent_or_a_queue(make_agent, rep_a, team_a, rep_a2, admin_user):
    # given rep_a has the conversation; Olena is an agent of Service
    service = QueueFactory(name="Service", strategy=Strategy.LEAST_LOADED)
    olena = _agent(make_agent, "Olena", service)
    conv = ConversationFactory(owner=rep_a, team=team_a, status=ConversationStatus.OPEN)
    api = ApiClient(rep_a)
    # bad targets
    for body, field in (({}, "user_id"), ({"user_id": olena.pk, "queue_id": service.pk}, "user_id"),
                        ({"user_id": 999999}, "user_id"), ({"queue_id": 999999}, "queue_id")):
        response = api.post(f"/comms/conversations/{conv.pk}/transfer", body)
        assert response.status_code == 422 and field in problem_fields(response), body
    inactive = QueueFactory(active=False)
    response = api.post(f"/comms/conversations/{conv.pk}/transfer", {"queue_id": inactive.pk})
    assert response.status_code == 422 and "queue_id" in problem_fields(response)
    # a teammate sees it but may not transfer it
    response = ApiClient(rep_a2).post(f"/comms/conversations/{conv.pk}/transfer", {"user_id": rep_a2.pk})
    assert response.status_code == 403, response.content
    problem_fields(response)
    # when: to the Service queue
    response = api.post(f"/comms/conversations/{conv.pk}/transfer", {"queue_id": service.pk})
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user"]["id"] == olena.pk and body["queue"]["id"] == service.pk and body["status"] == "offered"
    conv.refresh_from_db()
    assert conv.owner == olena and conv.queue == service and conv.status == ConversationStatus.NEW
    # when: Olena hands it to rep_a2 directly
    response = ApiClient(olena).post(f"/comms/conversations/{conv.pk}/transfer", {"user_id": rep_a2.pk})
    assert response.status_code == 200 and response.json()["user"]["id"] == rep_a2.pk
    # a closed conversation cannot be transferred
    Conversation.objects.filter(pk=conv.pk).update(status=ConversationStatus.CLOSED)
    response = ApiClient(admin_user).post(f"/comms/conversations/{conv.pk}/transfer", {"user_id": rep_a.pk})
    assert response.status_code == 409 and response.json()["code"] == "conversation_closed"


# ----------------------------------------------------------------------------------------- reply, notes, close


def test_reply_note_close_and_reopen(api_a, conv_a, rep_a2):
    # when
    response = api_a.post(f"/comms/conversations/{conv_a.pk}/reply", {"body": "Here are the prices.",
                                                                     "cc": ["boss@client.test"]})
    # then
    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["direction"] == "out" and reply["to"] == ["client@client.test"]
    assert reply["cc"] == ["boss@client.test"]
    assert api_a.get(f"/comms/conversations/{conv_a.pk}").json()["status"] == "pending"
    # bad input names the field
    response = api_a.post(f"/comms/conversations/{conv_a.pk}/reply", {"body": "  "})
    assert response.status_code == 422 and "body" in problem_fields(response)
    response = api_a.post(f"/comms/conversations/{conv_a.pk}/reply", {"body": "x", "cc": ["not an address"]})
    assert response.status_code == 422 and "cc" in problem_fields(response)
    # a teammate may see it and write a note, not reply or close
    api_a2 = ApiClient(rep_a2)
    assert api_a2.post(f"/comms/conversations/{conv_a.pk}/reply", {"body": "Me too"}).status_code == 403
    assert api_a2.post(f"/comms/conversations/{conv_a.pk}/close").status_code == 403
    response = api_a2.post(f"/comms/conversations/{conv_a.pk}/notes", {"body": "Call him @rep_a"})
    assert response.status_code == 201 and response.json()["direction"] == "note"
    # close, and again
    response = api_a.post(f"/comms/conversations/{conv_a.pk}/close")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    response = api_a.post(f"/comms/conversations/{conv_a.pk}/close")
    assert response.status_code == 409 and response.json()["code"] == "conversation_already_closed"
    response = api_a.post(f"/comms/conversations/{conv_a.pk}/reply", {"body": "Late"})
    assert response.status_code == 409 and response.json()["code"] == "conversation_closed"
    # reopen, and again
    response = api_a.post(f"/comms/conversations/{conv_a.pk}/reopen")
    assert response.status_code == 200 and response.json()["status"] == "open"
    response = api_a.post(f"/comms/conversations/{conv_a.pk}/reopen")
    assert response.status_code == 409 and response.json()["code"] == "conversation_not_closed"
    assert [m["direction"] for m in api_a.get(f"/comms/conversations/{conv_a.pk}/messages").json()["items"]] == [
        "in", "out", "note"]


def test_a_conversation_without_an_e_mail_path_cannot_be_answered(api_a, rep_a, team_a):
    conv = ConversationFactory(owner=rep_a, team=team_a, status=ConversationStatus.OPEN,
                               channel=ChannelFactory(kind=ChannelKind.PHONE))
    response = api_a.post(f"/comms/conversations/{conv.pk}/reply", {"body": "Hello"})
    assert response.status_code == 409 and response.json()["code"] == "no_reply_path"


# ----------------------------------------------------------------------------------------- presence and agents


def _put(api, path, data):
    return api.client.put(f"/api/v1{path}", json.dumps(data), content_type="application/json", **api.headers)


def test_presence_of_me(api_a, rep_a):
    # given
    body = api_a.get("/comms/presence/me").json()
    assert body["presence"] == "offline" and body["load"] == 0 and body["user"]["id"] == rep_a.pk
    # when
    response = _put(api_a, "/comms/presence/me", {"presence": "online"})
    # then
    assert response.status_code == 200, response.content
    assert response.json()["presence"] == "online"
    assert api_a.get("/comms/presence/me").json()["presence"] == "online"
    response = _put(api_a, "/comms/presence/me", {"presence": "busy"})
    assert response.status_code == 422 and "presence" in problem_fields(response)


def test_agents_board_for_supervisors_and_admins(make_agent, admin_api, api_a, lead_a):
    # given: Olena on one call (weight 3) and one e-mail in Service (supervised by lead_a); Petro in Sales
    LoadWeightFactory(channel_kind=ChannelKind.PHONE, weight=3)
    service, sales = QueueFactory(name="Service"), QueueFactory(name="Sales")
    service.supervisors.add(lead_a)
    olena = make_agent("Olena", service, capacity=7, skills=["uk"])
    petro = make_agent("Petro", sales)
    ConversationFactory(owner=olena, status=ConversationStatus.OPEN, channel=ChannelFactory(kind=ChannelKind.PHONE))
    ConversationFactory(owner=olena, status=ConversationStatus.PENDING)
    ConversationFactory(owner=olena, status=ConversationStatus.CLOSED)
    # then: administrators see every agent, with the load as routing counts it
    items = {a["user"]["id"]: a for a in admin_api.get("/comms/agents").json()["items"]}
    assert set(items) == {olena.pk, petro.pk}
    assert (items[olena.pk]["load"], items[olena.pk]["capacity"], items[olena.pk]["skills"]) == (4, 7, ["uk"])
    assert items[olena.pk]["queue_ids"] == [service.pk] and items[olena.pk]["presence"] == "online"
    # the supervisor sees the members of their queue
    assert [a["user"]["id"] for a in ApiClient(lead_a).get("/comms/agents").json()["items"]] == [olena.pk]
    # a rep may not
    response = api_a.get("/comms/agents")
    assert response.status_code == 403
    problem_fields(response)
    # filters
    assert admin_api.get("/comms/agents", {"queue": sales.pk}).json()["items"][0]["user"]["id"] == petro.pk
    assert admin_api.get("/comms/agents", {"presence": "offline"}).json()["items"] == []
    response = admin_api.get("/comms/agents", {"presence": "busy"})
    assert response.status_code == 422 and "presence" in problem_fields(response)


# ----------------------------------------------------------------------------------------- unprocessed items


def test_failures_for_administrators_with_the_raw_original(admin_api, api_a):
    # given
    channel = ChannelFactory(name="Box", secret=SECRET)
    failure = InboundFailureFactory(channel=channel, error="could not parse")
    failure.raw.save("failed-1.eml", ContentFile(b"From: a@b.test\r\n\r\nbroken"), save=True)
    resolved = InboundFailureFactory(channel=channel, resolved_at=timezone.now())
    # then: reps may not look
    for response in (api_a.get("/comms/failures/"), api_a.get(f"/comms/failures/{failure.pk}/raw"),
                     api_a.post(f"/comms/failures/{failure.pk}/resolve")):
        assert response.status_code == 403
    # administrators list them
    body = admin_api.get("/comms/failures/").json()
    assert [f["id"] for f in body["items"]] == [resolved.pk, failure.pk]
    item = body["items"][1]
    assert item["channel"] == {"id": channel.pk, "name": "Box"} and item["reason"] == "could not parse"
    assert item["has_raw"] is True and item["resolved"] is False
    assert SECRET not in json.dumps(body)
    assert [f["id"] for f in admin_api.get("/comms/failures/", {"resolved": "false"}).json()["items"]] == [failure.pk]
    # the original
    raw = admin_api.get(f"/comms/failures/{failure.pk}/raw")
    assert raw.status_code == 200 and b"".join(raw.streaming_content) == b"From: a@b.test\r\n\r\nbroken"
    assert raw["Content-Type"] == "message/rfc822" and "attachment" in raw["Content-Disposition"]
    assert admin_api.get(f"/comms/failures/{resolved.pk}/raw").status_code == 404
    # resolve, and again
    response = admin_api.post(f"/comms/failures/{failure.pk}/resolve")
    assert response.status_code == 200 and response.json()["resolved"] is True
    response = admin_api.post(f"/comms/failures/{failure.pk}/resolve")
    assert response.status_code == 409 and response.json()["code"] == "failure_already_resolved"
    assert InboundFailure.objects.filter(resolved_at__isnull=True).count() == 0
    # staff with the view permission read, but resolving needs the change permission
    viewer = ApiClient(_staff_with("view_inboundfailure"))
    assert viewer.get("/comms/failures/").status_code == 200
    assert viewer.post(f"/comms/failures/{failure.pk}/resolve").status_code == 403


def test_an_unprocessed_email_is_processed_again_through_the_api(admin_api, api_a):
    from kramar.comms.choices import ChannelKind

    channel = ChannelFactory(name="Box", kind=ChannelKind.EMAIL, address="box@kramar.test")
    failure = InboundFailureFactory(channel=channel, error="Could not store the message: OperationalError")
    failure.raw.save("failed-2.eml", ContentFile(
        b"Message-ID: <again@client.test>\r\nFrom: Client <client@client.test>\r\nTo: box@kramar.test\r\n"
        b"Subject: Order\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTwenty boxes, please.\r\n"), save=True)
    broken = InboundFailureFactory(channel=channel, error="old")
    broken.raw.save("failed-3.eml", ContentFile(b"\x00\x01 not an e-mail"), save=True)

    assert api_a.post(f"/comms/failures/{failure.pk}/retry").status_code == 403
    response = admin_api.post(f"/comms/failures/{failure.pk}/retry")
    assert response.status_code == 200
    body = response.json()
    assert body["resolved"] is True and body["message_id"] == Message.objects.get(external_id="again@client.test").pk
    response = admin_api.post(f"/comms/failures/{failure.pk}/retry")
    assert response.status_code == 409 and response.json()["code"] == "failure_already_resolved"
    # failing again: still open, with today's reason
    body = admin_api.post(f"/comms/failures/{broken.pk}/retry").json()
    assert body["resolved"] is False and body["reason"] != "old"
    assert admin_api.post("/comms/failures/999999/retry").status_code == 404


# ----------------------------------------------------------------------------------------- query counts


@pytest.mark.parametrize("path", ["/comms/channels/", "/comms/queues/", "/comms/rules/", "/comms/agents",
                                  "/comms/failures/"])
def test_configuration_lists_cost_a_fixed_number_of_queries(admin_api, path, make_agent,
                                                            django_assert_max_num_queries):
    # given: a dozen rows of each, every queue with members and supervisors
    for i in range(12):
        queue = QueueFactory()
        queue.supervisors.add(UserFactory())
        make_agent(f"Agent{i}", queue)
        RoutingRuleFactory(queue=queue)
        channel = ChannelFactory(queue=queue)
        InboundFailureFactory(channel=channel)
    # then
    with django_assert_max_num_queries(8):
        response = admin_api.get(path)
    assert response.status_code == 200 and len(response.json()["items"]) == 12


# ----------------------------------------------------------------------------------------- the OpenAPI document


def test_real_responses_match_the_declared_schemas(admin_api, api_a, conv_a, rep_a):
    # given
    doc = api_a.client.get("/api/v1/openapi.json").json()
    queue = QueueFactory(name="Sales")
    QueueMemberFactory(queue=queue, user=rep_a)
    AgentProfileFactory(user=rep_a)
    SlaPolicyFactory(queue=queue)
    rule = RoutingRuleFactory(queue=queue, conditions=[{"field": "language", "op": "eq", "value": "uk"}])
    channel = ChannelFactory(secret=SECRET, settings={"host": "imap.test"})
    failure = InboundFailureFactory(channel=channel)
    Assignment.objects.create(conversation=conv_a, user=rep_a, queue=queue, status=AssignmentStatus.ACCEPTED)
    base = "/api/v1/comms"
    checks = [
        (f"{base}/channels/", "get", 200, admin_api.get("/comms/channels/")),
        (f"{base}/channels/{{channel_id}}", "get", 200, api_a.get(f"/comms/channels/{channel.pk}")),
        (f"{base}/channels/", "post", 422, admin_api.post("/comms/channels/", {"kind": "email", "name": "X"})),
        (f"{base}/channels/{{channel_id}}", "patch", 403, api_a.patch(f"/comms/channels/{channel.pk}", {})),
        (f"{base}/queues/", "get", 200, api_a.get("/comms/queues/")),
        (f"{base}/queues/{{queue_id}}", "get", 200, api_a.get(f"/comms/queues/{queue.pk}")),
        (f"{base}/queues/{{queue_id}}/sla", "get", 200, api_a.get(f"/comms/queues/{queue.pk}/sla")),
        (f"{base}/rules/", "get", 200, api_a.get("/comms/rules/")),
        (f"{base}/rules/{{rule_id}}", "get", 200, api_a.get(f"/comms/rules/{rule.pk}")),
        (f"{base}/rules/dry-run", "post", 200, admin_api.post("/comms/rules/dry-run", {"rules": []})),
        (f"{base}/conversations/", "get", 200, api_a.get("/comms/conversations/")),
        (f"{base}/conversations/{{conversation_id}}", "get", 200, api_a.get(f"/comms/conversations/{conv_a.pk}")),
        (f"{base}/conversations/{{conversation_id}}", "get", 404, api_a.get("/comms/conversations/999999")),
        (f"{base}/conversations/{{conversation_id}}/messages", "get", 200,
         api_a.get(f"/comms/conversations/{conv_a.pk}/messages")),
        (f"{base}/conversations/{{conversation_id}}/assignments", "get", 200,
         api_a.get(f"/comms/conversations/{conv_a.pk}/assignments")),
        (f"{base}/conversations/{{conversation_id}}/accept", "post", 409,
         api_a.post(f"/comms/conversations/{conv_a.pk}/accept")),
        (f"{base}/presence/me", "get", 200, api_a.get("/comms/presence/me")),
        (f"{base}/agents", "get", 200, admin_api.get("/comms/agents")),
        (f"{base}/failures/", "get", 200, admin_api.get("/comms/failures/")),
        (f"{base}/failures/{{failure_id}}/resolve", "post", 200, admin_api.post(f"/comms/failures/{failure.pk}/resolve")),
        (f"{base}/conversations/{{conversation_id}}/notes", "post", 201,
         api_a.post(f"/comms/conversations/{conv_a.pk}/notes", {"body": "note"})),
    ]
    for path, method, status, response in checks:
        assert response.status_code == status, (path, response.content)
        assert SECRET not in response.content.decode()
        assert _check(response.json(), _response_schema(doc, path, method, status), doc, path) == []
