"""SLA clocks: dues in business minutes, the first response, warnings and breaches (each once)."""

import datetime as dt

import pytest

from kramar.accounts.tests.factories import UserFactory
from kramar.comms.choices import AssignmentStatus, Priority, Strategy
from kramar.comms.models import Assignment
from kramar.comms.routing import conversation_route
from kramar.comms.sla import conversation_first_response, sla_check
from kramar.comms.tests.conftest import KYIV
from kramar.comms.tests.factories import (
    BusinessHoursFactory,
    ChannelFactory,
    ConversationFactory,
    HolidayFactory,
    QueueFactory,
    SlaPolicyFactory,
)
from kramar.core.models import Notification

pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=KYIV)  # 2 March 2026 is a Monday


@pytest.fixture
def sales(db):
    hours = BusinessHoursFactory()
    HolidayFactory(hours=hours, date=dt.date(2026, 3, 5))  # Thursday
    queue = QueueFactory(name="Sales", business_hours=hours, strategy=Strategy.ROUND_ROBIN)
    SlaPolicyFactory(queue=queue, priority=Priority.NORMAL, first_response_minutes=60, resolution_minutes=600,
                     warn_before_minutes=15)
    SlaPolicyFactory(queue=queue, priority=Priority.HIGH, first_response_minutes=30, resolution_minutes=None)
    return queue


def routed(queue, opened_at):
    conv = ConversationFactory(channel=ChannelFactory(queue=queue), opened_at=opened_at)
    conversation_route(conv, now=opened_at)
    conv.refresh_from_db()
    return conv


def test_dues_count_business_minutes_over_evenings_and_holidays(sales):
    # given a conversation opened on Wednesday at 17:30 (half an hour before closing; Thursday a holiday)
    conv = routed(sales, at(4, 17, 30))
    # then 60 business minutes: 30 on Wednesday, 30 on Friday morning; 600: the rest of Friday and Monday
    assert conv.first_response_due == at(6, 9, 30)
    assert conv.resolution_due == at(9, 9, 30)  # 30 Wed + 540 Fri + 30 Mon


def test_dues_from_the_policy_of_the_priority_and_none_without_one(sales, make_agent):
    conv = routed(sales, at(4, 10))
    assert conv.first_response_due == at(4, 11)
    other = routed(QueueFactory(), at(4, 10))
    assert other.first_response_due is None and other.resolution_due is None


def test_first_response_is_recorded_once(sales):
    conv = routed(sales, at(4, 10))
    assert conversation_first_response(conv, at(4, 10, 20)) is True
    assert conversation_first_response(conv, at(4, 10, 40)) is False
    conv.refresh_from_db()
    assert conv.first_response_at == at(4, 10, 20)


def test_warning_fires_once_before_the_due(sales, make_agent):
    # given Olena was offered a conversation due at 11:00
    olena = make_agent("Olena", sales)
    conv = routed(sales, at(4, 10))
    assert conv.owner == olena
    # when the job runs at 10:40 (too early), 10:45 and 10:50
    assert sla_check(now=at(4, 10, 40)) == {"warned": 0, "breached": 0}
    assert sla_check(now=at(4, 10, 45)) == {"warned": 1, "breached": 0}
    assert sla_check(now=at(4, 10, 50)) == {"warned": 0, "breached": 0}
    # then one notification to Olena
    notes = list(Notification.objects.filter(kind="sla_warning"))
    assert [n.user for n in notes] == [olena]
    assert "due in 15 min" in notes[0].text


def test_warning_and_breach_are_published_to_open_pages(sales, make_agent):
    # given a conversation waiting in Sales (nobody online), a supervisor's page open
    from kramar.comms.live import SUPERVISORS, queue_topic
    from kramar.comms.models import LiveEvent

    conv = routed(sales, at(4, 10))
    assert conv.owner is None
    LiveEvent.objects.all().delete()
    # when the job warns, then breaches
    assert sla_check(now=at(4, 10, 50))["warned"] == 1
    warned = {(e.topic, e.payload["id"]) for e in LiveEvent.objects.filter(kind="conversation.changed")}
    LiveEvent.objects.all().delete()
    assert sla_check(now=at(4, 11, 1))["breached"] == 1
    breached = {(e.topic, e.payload["id"]) for e in LiveEvent.objects.filter(kind="conversation.changed")}
    # then each tells the queue and the supervisors (their counters and lists re-fetch at once)
    assert warned == breached == {(queue_topic(sales), conv.pk), (SUPERVISORS, conv.pk)}


def test_answered_conversation_does_not_warn_for_the_first_response(sales, make_agent):
    make_agent("Olena", sales)
    conv = routed(sales, at(4, 10))
    conversation_first_response(conv, at(4, 10, 5))
    assert sla_check(now=at(4, 10, 50)) == {"warned": 0, "breached": 0}


def test_breach_escalates_once_raises_priority_and_reroutes(sales, make_agent):
    # given Olena and Petro in Sales, a supervisor; Olena was offered it and did not accept
    boss = UserFactory(first_name="Boss")
    sales.supervisors.add(boss)
    olena, petro = make_agent("Olena", sales), make_agent("Petro", sales)
    conv = routed(sales, at(4, 10))
    sales.accept_minutes = 120
    sales.save()
    assert conv.owner == olena
    # when the job runs past the due, twice
    first = sla_check(now=at(4, 11, 1))
    again = sla_check(now=at(4, 11, 2))
    # then breached once: the supervisor told, priority raised, offered to Petro instead
    assert first == {"warned": 0, "breached": 1} and again == {"warned": 0, "breached": 0}
    conv.refresh_from_db()
    assert conv.sla_breached_at == at(4, 11, 1) and conv.priority == Priority.HIGH
    assert conv.owner == petro
    assert list(Notification.objects.filter(kind="sla_breach").values_list("user", flat=True)) == [boss.pk]
    assert not Notification.objects.filter(kind="sla_warning").exists()  # no warning after the breach
    offer = Assignment.objects.get(conversation=conv, status=AssignmentStatus.OFFERED)
    assert offer.reason.startswith("SLA breached, priority normal → high; ")


def test_breach_of_an_accepted_conversation_is_not_rerouted(sales, make_agent):
    from kramar.comms.routing import assignment_accept

    olena = make_agent("Olena", sales)
    conv = routed(sales, at(4, 10))
    assignment_accept(actor=olena, assignment=Assignment.objects.get(conversation=conv), now=at(4, 10, 1))
    assert sla_check(now=at(4, 11, 30))["breached"] == 1
    conv.refresh_from_db()
    assert conv.owner == olena and conv.priority == Priority.HIGH
    assert Assignment.objects.filter(conversation=conv).count() == 1


def test_clock_stands_still_outside_hours(sales, make_agent):
    # given opened Friday 17:50, due Monday 09:50
    conv = routed(sales, at(6, 17, 50))
    assert conv.first_response_due == at(9, 9, 50)
    # then nothing breaches over the weekend
    assert sla_check(now=at(8, 12)) == {"warned": 0, "breached": 0}
    assert sla_check(now=at(9, 9, 51))["breached"] == 1
