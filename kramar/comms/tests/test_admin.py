"""Every Communication Center model has a working admin list, and the configuration models an add form."""

import pytest
from django.urls import reverse

from kramar.comms.tests.factories import (
    AgentProfileFactory,
    AssignmentFactory,
    BusinessHoursFactory,
    HolidayFactory,
    InboundFailureFactory,
    LoadWeightFactory,
    MessageFactory,
    QueueMemberFactory,
    RoutingRuleFactory,
    SlaPolicyFactory,
)

pytestmark = pytest.mark.django_db

MODELS = ["businesshours", "queue", "routingrule", "agentprofile", "loadweight", "channel", "conversation",
          "message", "assignment", "inboundfailure"]
ADDABLE = ["businesshours", "queue", "routingrule", "agentprofile", "loadweight", "channel"]


@pytest.fixture
def rows(db):
    HolidayFactory(hours=BusinessHoursFactory())
    QueueMemberFactory()
    RoutingRuleFactory(conditions=[{"field": "language", "op": "eq", "value": "uk"}])
    SlaPolicyFactory()
    AgentProfileFactory()
    LoadWeightFactory()
    MessageFactory()
    AssignmentFactory()
    InboundFailureFactory()


@pytest.mark.parametrize("model", MODELS)
def test_admin_list_and_detail(client, admin_user, rows, model):
    from django.apps import apps

    client.force_login(admin_user)
    assert client.get(reverse(f"admin:comms_{model}_changelist")).status_code == 200
    obj = apps.get_model("comms", model).objects.first()
    assert client.get(reverse(f"admin:comms_{model}_change", args=[obj.pk])).status_code == 200
    if model in ADDABLE:
        assert client.get(reverse(f"admin:comms_{model}_add")).status_code == 200
