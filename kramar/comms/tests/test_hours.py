import datetime as dt

import pytest

from kramar.comms.hours import hours_add, hours_between, hours_contains
from kramar.comms.tests.conftest import KYIV
from kramar.comms.tests.factories import BusinessHoursFactory, HolidayFactory

pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=KYIV)  # 2 March 2026 is a Monday


def test_inside_and_outside_the_schedule_and_on_holidays():
    # given Mon–Fri 9–18 in Kyiv, Thursday 5 March a holiday
    hours = BusinessHoursFactory()
    HolidayFactory(hours=hours, date=dt.date(2026, 3, 5))
    # then
    assert hours_contains(hours, at(4, 9, 0))
    assert hours_contains(hours, at(4, 17, 59))
    assert not hours_contains(hours, at(4, 18, 0))
    assert not hours_contains(hours, at(4, 8, 59))
    assert not hours_contains(hours, at(5, 12))  # holiday
    assert not hours_contains(hours, at(7, 12))  # Saturday
    assert hours_contains(hours, at(4, 10).astimezone(dt.UTC))  # the moment's own zone does not matter
    assert hours_contains(None, at(7, 3))  # no hours: 24/7


def test_adding_business_minutes_pauses_outside_hours_and_on_holidays():
    # given
    hours = BusinessHoursFactory()
    HolidayFactory(hours=hours, date=dt.date(2026, 3, 5))
    # then: within the day
    assert hours_add(hours, at(4, 10), 60) == at(4, 11)
    # over the evening: Wednesday 17:30 + 60 min → (Thursday is a holiday) Friday 09:30
    assert hours_add(hours, at(4, 17, 30), 60) == at(6, 9, 30)
    # from the night: starts counting at 09:00
    assert hours_add(hours, at(4, 2), 30) == at(4, 9, 30)
    # over the weekend: Friday 17:00 + 2 h → Monday 10:00
    assert hours_add(hours, at(6, 17), 120) == at(9, 10)
    # exactly at the end of the day
    assert hours_add(hours, at(4, 17), 60) == at(4, 18)
    # without hours: wall clock
    assert hours_add(None, at(4, 17, 30), 60) == at(4, 18, 30)


def test_business_minutes_between_two_moments():
    hours = BusinessHoursFactory()
    HolidayFactory(hours=hours, date=dt.date(2026, 3, 5))
    assert hours_between(hours, at(4, 17), at(6, 10)) == 120  # 1 h Wed + 0 Thu (holiday) + 1 h Fri
    assert hours_between(hours, at(6, 10), at(4, 17)) == -120
    assert hours_between(hours, at(7, 10), at(8, 10)) == 0  # weekend
    assert hours_between(None, at(4, 17), at(4, 18)) == 60


def test_daylight_saving_change_keeps_local_hours():
    # given the clocks go forward in Kyiv on Sunday 29 March 2026
    hours = BusinessHoursFactory()
    # when Friday 17:00 + 120 business minutes
    due = hours_add(hours, at(27, 17), 120)
    # then Monday 10:00 local (UTC+3 now)
    assert due == dt.datetime(2026, 3, 30, 10, 0, tzinfo=KYIV)
    assert due.astimezone(dt.UTC).hour == 7


def test_schedule_with_24h_end_and_split_day():
    hours = BusinessHoursFactory(schedule={"wed": [["13:00", "24:00"], ["08:00", "12:00"]]})
    assert hours_contains(hours, at(4, 23, 59))
    assert not hours_contains(hours, at(4, 12, 30))
    assert hours_add(hours, at(4, 11), 120) == at(4, 14)  # 1 h before the break, 1 h after
