"""The iCalendar rendering: a feed and an invitation parse in `icalendar` and, independently, in `vobject`."""

import datetime as dt

import icalendar
import pytest
import vobject
from django.utils import timezone

from kramar.activities.ical import DEFAULT_DURATION, ical_host, meeting_invite_ical, tasks_to_ical
from kramar.activities.models import Task
from kramar.activities.tests.factories import TaskFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.sales.tests.factories import DealFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
KYIV = timezone.get_default_timezone()


@pytest.fixture
def meeting(rep_a):
    company = CompanyFactory(name="Ромашка, ТОВ")
    contact = ContactFactory(first_name="Олена", last_name="Коваль")
    return TaskFactory(
        kind=Task.Kind.MEETING, owner=rep_a, title="Презентація; demo, v2", location="Київ, вул. Хрещатик 1",
        due_at=dt.datetime(2026, 3, 10, 9, 30, tzinfo=UTC), duration_minutes=90, company=company, contact=contact,
        description="Agenda:\n1. Prices\n2. Delivery", attendees=["olena@example.com", "boss@example.org"],
    )


def _select(tasks):
    return Task.objects.filter(pk__in=[t.pk for t in tasks]).select_related("company", "contact", "deal", "owner")


def test_feed_parses_in_icalendar_with_one_event_per_dated_task(rep_a, meeting):
    # given a meeting, an all-day to-do, a cancelled call and a task without a date
    all_day = TaskFactory(owner=rep_a, title="Report", all_day=True, due_at=dt.datetime(2026, 3, 11, 10, tzinfo=KYIV))
    cancelled = TaskFactory(
        owner=rep_a, kind=Task.Kind.CALL, title="Call back", status=Task.Status.CANCELLED,
        due_at=dt.datetime(2026, 3, 12, 14, tzinfo=UTC),
    )
    undated = TaskFactory(owner=rep_a, title="Someday", due_at=None)

    # when
    body = tasks_to_ical(_select([meeting, all_day, cancelled, undated]), name="Kramar: rep_a")

    # then
    cal = icalendar.Calendar.from_ical(body)
    assert cal["VERSION"] == "2.0"
    assert cal["METHOD"] == "PUBLISH"
    assert str(cal["X-WR-CALNAME"]) == "Kramar: rep_a"
    assert cal["REFRESH-INTERVAL"].dt == dt.timedelta(hours=1)
    assert cal["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {f"{t.ical_uid}@{ical_host()}" for t in (meeting, all_day, cancelled)}

    event = events[f"{meeting.ical_uid}@{ical_host()}"]
    assert str(event["SUMMARY"]) == "Презентація; demo, v2"
    assert str(event["LOCATION"]) == "Київ, вул. Хрещатик 1"
    assert event["DTSTART"].dt == dt.datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    assert event["DTEND"].dt == dt.datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert "Ромашка, ТОВ" in str(event["DESCRIPTION"]) and "Олена Коваль" in str(event["DESCRIPTION"])
    assert "2. Delivery" in str(event["DESCRIPTION"])

    day = events[f"{all_day.ical_uid}@{ical_host()}"]
    assert day["DTSTART"].params.get("VALUE") == "DATE"
    assert day["DTSTART"].dt == dt.date(2026, 3, 11)
    assert day["DTEND"].dt == dt.date(2026, 3, 12)

    gone = events[f"{cancelled.ical_uid}@{ical_host()}"]
    assert gone["STATUS"] == "CANCELLED"
    assert gone["DTEND"].dt - gone["DTSTART"].dt == DEFAULT_DURATION


def test_feed_parses_in_vobject_an_independent_parser(rep_a, meeting):
    # given
    all_day = TaskFactory(owner=rep_a, title="Звіт", all_day=True, due_at=dt.datetime(2026, 3, 11, 10, tzinfo=KYIV))

    # when
    body = tasks_to_ical(_select([meeting, all_day]), name="Календар")

    # then vobject reads the same calendar: names, times, UIDs, the escaped text
    cal = vobject.readOne(body.decode("utf-8"))
    assert cal.name == "VCALENDAR"
    assert cal.x_wr_calname.value == "Календар"
    by_uid = {e.uid.value: e for e in cal.vevent_list}
    assert len(by_uid) == 2
    event = by_uid[f"{meeting.ical_uid}@{ical_host()}"]
    assert event.summary.value == "Презентація; demo, v2"
    assert event.location.value == "Київ, вул. Хрещатик 1"
    assert event.dtstart.value == dt.datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    assert event.dtend.value == dt.datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    assert int(event.sequence.value) == 0
    assert event.description.value.splitlines()[0] == "Client: Ромашка, ТОВ, Олена Коваль"
    day = by_uid[f"{all_day.ical_uid}@{ical_host()}"]
    assert day.dtstart.value == dt.date(2026, 3, 11)
    assert day.dtend.value == dt.date(2026, 3, 12)


def test_feed_description_names_the_deal_and_a_multi_day_all_day_task_spans_its_days(rep_a):
    # given
    deal = DealFactory(title="Поставка 2026")
    task = TaskFactory(
        owner=rep_a, deal=deal, all_day=True, duration_minutes=2 * 24 * 60 + 1,
        due_at=dt.datetime(2026, 5, 1, 12, tzinfo=KYIV),
    )

    # when
    event = icalendar.Calendar.from_ical(tasks_to_ical(_select([task]), name="x")).walk("VEVENT")[0]

    # then three days (the duration is rounded up to whole days), end exclusive
    assert "Deal: Поставка 2026" in str(event["DESCRIPTION"])
    assert event["DTSTART"].dt == dt.date(2026, 5, 1)
    assert event["DTEND"].dt == dt.date(2026, 5, 4)


def test_empty_feed_is_still_a_valid_calendar():
    # when
    body = tasks_to_ical([], name="Empty")

    # then
    assert icalendar.Calendar.from_ical(body).walk("VEVENT") == []
    assert vobject.readOne(body.decode()).contents.get("vevent") is None


def test_invitation_request_has_organizer_attendees_uid_and_sequence(rep_a, meeting):
    # given the meeting was changed twice
    meeting.ical_sequence = 2

    # when
    body = meeting_invite_ical(meeting, method="REQUEST")

    # then
    cal = icalendar.Calendar.from_ical(body)
    assert cal["METHOD"] == "REQUEST"
    event = cal.walk("VEVENT")[0]
    assert str(event["UID"]) == f"{meeting.ical_uid}@{ical_host()}"
    assert event["SEQUENCE"] == 2
    assert str(event["ORGANIZER"]) == f"mailto:{rep_a.email}"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == ["mailto:olena@example.com", "mailto:boss@example.org"]
    for attendee in attendees:
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["RSVP"] == "TRUE"
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    parsed = vobject.readOne(body.decode())
    assert parsed.method.value == "REQUEST"
    assert sorted(a.value for a in parsed.vevent.attendee_list) == ["mailto:boss@example.org", "mailto:olena@example.com"]
    assert parsed.vevent.organizer.value == f"mailto:{rep_a.email}"


def test_invitation_cancel_is_cancelled_with_the_same_uid(meeting):
    # when
    request = icalendar.Calendar.from_ical(meeting_invite_ical(meeting, method="REQUEST")).walk("VEVENT")[0]
    cancel_cal = icalendar.Calendar.from_ical(meeting_invite_ical(meeting, method="cancel"))

    # then
    cancel = cancel_cal.walk("VEVENT")[0]
    assert cancel_cal["METHOD"] == "CANCEL"
    assert cancel["STATUS"] == "CANCELLED"
    assert cancel["UID"] == request["UID"]


def test_invitation_without_owner_e_mail_uses_the_system_sender(settings, meeting):
    # given
    settings.DEFAULT_FROM_EMAIL = "Kramar CRM <crm@example.net>"
    meeting.owner.email = ""

    # when
    event = icalendar.Calendar.from_ical(meeting_invite_ical(meeting)).walk("VEVENT")[0]

    # then
    assert str(event["ORGANIZER"]) == "mailto:crm@example.net"
    assert event["ORGANIZER"].params["CN"] == "Kramar CRM"
    assert str(event["UID"]).endswith("@example.net")


def test_invitation_refuses_an_unknown_method_and_an_undated_meeting(meeting):
    # when / then
    with pytest.raises(ValueError, match="PUBLISH"):
        meeting_invite_ical(meeting, method="PUBLISH")
    meeting.due_at = None
    with pytest.raises(ValueError, match="without a date"):
        meeting_invite_ical(meeting)
