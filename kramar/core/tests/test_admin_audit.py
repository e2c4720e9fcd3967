"""Changes made in the Django admin are audited like the services' writes (kramar.core.admin.AuditedAdmin)."""

import json

import pytest

from kramar.comms.models import Channel, RoutingRule
from kramar.comms.tests.factories import ChannelFactory, QueueFactory, RoutingRuleFactory
from kramar.core.models import AuditEntry, Tag

pytestmark = pytest.mark.django_db


def test_a_channel_changed_in_the_admin_is_audited_with_its_secret_masked(client, admin_user):
    queue = QueueFactory(name="Sales")
    channel = ChannelFactory(name="Sales box", address="sales@kramar.test", secret="old-pa55", queue=queue)
    client.force_login(admin_user)
    response = client.post(f"/admin/comms/channel/{channel.pk}/change/", {
        "kind": "email", "name": "Sales mailbox", "address": "sales@kramar.test", "active": "on",
        "settings": json.dumps({"host": "imap.example.com"}), "secret": "new-pa55", "queue": queue.pk,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(entity="channel", object_id=channel.pk)
    assert entry.actor == admin_user and entry.action == "update" and entry.extra["via"] == "admin"
    assert entry.changes["name"] == ["Sales box", "Sales mailbox"]
    assert entry.changes["secret"] == ["•••", "•••"] and "pa55" not in json.dumps(entry.changes)
    assert entry.changes["settings"][1] == {"host": "imap.example.com"}
    # saving without a change writes nothing
    client.post(f"/admin/comms/channel/{channel.pk}/change/", {
        "kind": "email", "name": "Sales mailbox", "address": "sales@kramar.test", "active": "on",
        "settings": json.dumps({"host": "imap.example.com"}), "secret": "new-pa55", "queue": queue.pk,
    })
    assert AuditEntry.objects.filter(entity="channel", object_id=channel.pk).count() == 1
    assert Channel.objects.get(pk=channel.pk).secret == "new-pa55"


def test_created_and_deleted_in_the_admin_are_audited(client, admin_user):
    client.force_login(admin_user)
    assert client.post("/admin/core/tag/add/", {"name": "VIP", "color": "#ff0000"}).status_code == 302
    tag = Tag.objects.get(name="VIP")
    created = AuditEntry.objects.get(entity="tag", object_id=tag.pk)
    assert created.action == "create" and created.changes["name"] == [None, "VIP"]
    rule = RoutingRuleFactory(name="Old rule")
    response = client.post(f"/admin/comms/routingrule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not RoutingRule.objects.filter(pk=rule.pk).exists()
    deleted = AuditEntry.objects.get(entity="routingrule", object_id=rule.pk)
    assert deleted.action == "delete" and deleted.changes["name"] == ["Old rule", None]
    # a bulk delete from the list: one row each
    rules = [RoutingRuleFactory(name=f"r{i}") for i in range(3)]
    client.post("/admin/comms/routingrule/", {"action": "delete_selected", "post": "yes",
                                              "_selected_action": [r.pk for r in rules]})
    assert AuditEntry.objects.filter(entity="routingrule", action="delete").count() == 4


def test_inlines_and_many_to_many_changed_in_the_admin_are_named(client, admin_user, lead_a):
    import re

    queue = QueueFactory(name="Service")
    client.force_login(admin_user)
    page = client.get(f"/admin/comms/queue/{queue.pk}/change/").content.decode()
    data = dict(re.findall(r'name="([^"]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)"[^>]*value="(\d+)"', page))
    assert data, "the page has inline formsets"
    data.update({name: "0" for name in data if name.endswith("TOTAL_FORMS")})  # no extra (blank) inline rows
    data.update({"name": "Service", "strategy": queue.strategy, "accept_minutes": queue.accept_minutes,
                 "max_waiting": queue.max_waiting or "", "active": "on", "position": queue.position,
                 "skills": "[]", "supervisors": [lead_a.pk]})
    response = client.post(f"/admin/comms/queue/{queue.pk}/change/", data)
    errors = re.findall(r"errorlist[^>]*>(.*?)</ul>", response.content.decode(), re.S)
    assert response.status_code == 302, errors
    entry = AuditEntry.objects.get(entity="queue", object_id=queue.pk)
    assert entry.changes == {} and entry.extra == {"via": "admin", "related": ["supervisors"]}
