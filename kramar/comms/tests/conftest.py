"""Helpers of the routing tests: a fixed moment (a Wednesday, 10:00 in Kyiv) and agents in queues."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kramar.accounts.tests.factories import UserFactory
from kramar.comms.choices import Presence
from kramar.comms.tests.factories import AgentProfileFactory, QueueMemberFactory

KYIV = ZoneInfo("Europe/Kyiv")
NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=KYIV)  # Wednesday


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def make_agent(db):
    def make(name: str, *queues, capacity: int = 5, presence: str = Presence.ONLINE, skills=()):
        user = UserFactory(username=name.lower(), first_name=name, last_name="")
        AgentProfileFactory(user=user, capacity=capacity, presence=presence, skills=list(skills))
        for queue in queues:
            QueueMemberFactory(queue=queue, user=user)
        return user

    return make
