"""Business hours arithmetic: is a moment inside a schedule, a moment N business minutes later, business minutes
between two moments. A schedule is `BusinessHours.schedule` ({"mon": [["09:00", "18:00"]], …, "sun": []}, local
time in `time_zone`, "24:00" allowed as an end) minus its holidays. No schedule (None) means 24/7.

The functions work on a `Schedule` (the parsed intervals and the holiday dates, loaded once); pass a
`BusinessHours` and it is loaded for you (one query for the holidays, cached on the instance)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from kramar.comms.models import BusinessHours

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# how far ahead a search for working time goes before giving up (a schedule with no working time at all)
HORIZON_DAYS = 800


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    # per weekday (0 = Monday): sorted, non-overlapping (start, end) as minutes after local midnight
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[dt.date]

    @property
    def empty(self) -> bool:
        return not any(self.week)


def _minutes(text: str) -> int:
    hours, _, minutes = str(text).strip().partition(":")
    value = int(hours) * 60 + int(minutes or 0)
    if not 0 <= value <= 24 * 60:
        raise ValueError(f"not a time of day: {text!r}")
    return value


def schedule_parse(raw: dict, *, time_zone: str, holidays=()) -> Schedule:
    """Parse a weekly schedule; intervals are sorted and merged, empty ones dropped."""
    week = []
    for day in WEEKDAYS:
        spans = sorted((_minutes(a), _minutes(b)) for a, b in (raw or {}).get(day, []) or [])
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if end <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        week.append(tuple(merged))
    return Schedule(tz=ZoneInfo(time_zone), week=tuple(week), holidays=frozenset(holidays))


def schedule_of(hours: BusinessHours | Schedule | None) -> Schedule | None:
    """The parsed schedule of a BusinessHours row (cached on it), or None for 24/7."""
    if hours is None or isinstance(hours, Schedule):
        return hours
    cached = getattr(hours, "_schedule_cache", None)
    if cached is None:
        dates = [h.date for h in hours.holidays.all()] if hours.pk else []
        cached = schedule_parse(hours.schedule, time_zone=hours.time_zone, holidays=dates)
        hours._schedule_cache = cached
    return cached


def _intervals(schedule: Schedule, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Working intervals (aware, in UTC) from the local day of `start` onwards, in order (the first may end
    before `start`; callers clip)."""
    day = start.astimezone(schedule.tz).date()
    for _ in range(HORIZON_DAYS):
        if day not in schedule.holidays:
            for a, b in schedule.week[day.weekday()]:
                lo = _local(schedule, day, a)
                hi = _local(schedule, day, b)
                if hi > lo:
                    yield lo, hi
        day += dt.timedelta(days=1)


def _local(schedule: Schedule, day: dt.date, minutes: int) -> dt.datetime:
    if minutes >= 24 * 60:
        moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=schedule.tz)
    else:
        moment = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=schedule.tz)
    return moment.astimezone(dt.UTC)


def hours_contains(hours: BusinessHours | Schedule | None, moment: dt.datetime) -> bool:
    """Is `moment` inside working time (always, without hours)?"""
    schedule = schedule_of(hours)
    if schedule is None:
        return True
    local = moment.astimezone(schedule.tz)
    if local.date() in schedule.holidays:
        return False
    minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    return any(a <= minute < b for a, b in schedule.week[local.weekday()])


def hours_add(hours: BusinessHours | Schedule | None, start: dt.datetime, minutes: float) -> dt.datetime:
    """The moment when `minutes` business minutes have passed since `start` (the clock stands still outside
    working time). Without hours, or with a schedule that has no working time, wall-clock minutes."""
    schedule = schedule_of(hours)
    if schedule is None or schedule.empty:
        return start + dt.timedelta(minutes=minutes)
    left = dt.timedelta(minutes=minutes)
    for lo, hi in _intervals(schedule, start):
        if hi <= start:
            continue
        lo = max(lo, start)
        if left <= hi - lo:
            return lo + left
        left -= hi - lo
    return start + dt.timedelta(minutes=minutes)  # nothing within the horizon (every day a holiday)


def hours_between(hours: BusinessHours | Schedule | None, start: dt.datetime, end: dt.datetime) -> float:
    """Business minutes between two moments (negative when `end` is before `start`)."""
    if end < start:
        return -hours_between(hours, end, start)
    schedule = schedule_of(hours)
    if schedule is None or schedule.empty:
        return (end - start).total_seconds() / 60
    total = dt.timedelta()
    for lo, hi in _intervals(schedule, start):
        if lo >= end:
            break
        lo, hi = max(lo, start), min(hi, end)
        if hi > lo:
            total += hi - lo
    return total.total_seconds() / 60
