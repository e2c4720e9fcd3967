"""Calendar pages (week and month, per user or per team), the private iCalendar feed and its management page.

The pages read through `selectors.calendar_events`, which starts from `Task.objects.visible_to(actor)`; the
user and team pickers offer only what the actor's task scope covers (own: nobody else; team: the members of
their teams; all: everyone), and a picked user or team outside that scope is a 404. The feed URL is its own
credential: no login, a revoked or wrong secret is a 404.
"""

from __future__ import annotations

import calendar as pycalendar
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, quote_etag
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kramar.accounts.models import Team, User
from kramar.activities import selectors, services
from kramar.activities.ical import tasks_to_ical
from kramar.activities.models import CalendarFeed, Task
from kramar.core import scopes

FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=365)
DAY_START_HOUR, DAY_END_HOUR = 8, 20  # the week grid's default hours; widened to fit the week's events
MONTH_CELL_LIMIT = 4  # events listed per month cell; the rest are "+N more" (a link to that week)
VIEWS = ("week", "month")


# ----------------------------------------------------------------------------------------- layout


@dataclass
class CalEvent:
    task: Task
    start: datetime  # local time
    end: datetime
    all_day: bool
    url: str | None
    top: float = 0.0  # week grid: percent of the visible hours
    height: float = 0.0
    left: float = 0.0  # percent of the day column (side by side when events overlap)
    width: float = 100.0

    @property
    def style(self) -> str:
        return f"top:{self.top}%;height:{self.height}%;left:{self.left}%;width:{self.width}%"

    @property
    def css(self) -> str:
        classes = [f"kr-cal-{self.task.kind}"]
        if self.task.status != Task.Status.OPEN:
            classes.append(f"kr-cal-{self.task.status}")
        return " ".join(classes)


@dataclass
class CalDay:
    day: date
    today: bool
    in_period: bool = True
    events: list[CalEvent] = field(default_factory=list)
    all_day: list[CalEvent] = field(default_factory=list)
    timed: list[CalEvent] = field(default_factory=list)
    more: int = 0
    week_url: str = ""

    @property
    def shown(self) -> list[CalEvent]:
        return self.events[:MONTH_CELL_LIMIT]


def _task_url(pk: int) -> str | None:
    try:
        return reverse("activities:task-detail", args=[pk])
    except NoReverseMatch:  # the task pages are optional for the calendar
        return None


def _to_events(tasks: list[Task]) -> list[CalEvent]:
    events = []
    for task in tasks:
        if task.due_at is None:
            continue
        start = timezone.localtime(task.due_at)
        minutes = task.duration_minutes or 30
        end = start + timedelta(minutes=minutes)
        events.append(CalEvent(task=task, start=start, end=end, all_day=task.all_day, url=_task_url(task.pk)))
    events.sort(key=lambda e: (not e.all_day, e.start, e.task.pk))
    return events


def _layout_day(events: list[CalEvent], first_hour: int, last_hour: int) -> None:
    """Position timed events in a day column: top/height from the time, overlapping ones side by side."""
    span = (last_hour - first_hour) * 60
    clusters: list[list[CalEvent]] = []
    cluster_end: datetime | None = None
    for event in events:
        if cluster_end is None or event.start >= cluster_end:
            clusters.append([])
            cluster_end = event.end
        clusters[-1].append(event)
        cluster_end = max(cluster_end, event.end)
    for cluster in clusters:
        lanes: list[datetime] = []
        lane_of: list[int] = []
        for event in cluster:
            lane = next((i for i, busy_until in enumerate(lanes) if busy_until <= event.start), len(lanes))
            if lane == len(lanes):
                lanes.append(event.end)
            else:
                lanes[lane] = event.end
            lane_of.append(lane)
        for event, lane in zip(cluster, lane_of, strict=True):
            day_start = event.start.replace(hour=first_hour, minute=0, second=0, microsecond=0)
            offset = (event.start - day_start).total_seconds() / 60
            length = max((event.end - event.start).total_seconds() / 60, 20)
            offset = min(max(offset, 0), span - 20)
            length = min(length, span - offset)
            event.top = round(offset * 100 / span, 3)
            event.height = round(length * 100 / span, 3)
            event.width = round(100 / len(lanes), 3)
            event.left = round(lane * event.width, 3)


def _week(anchor: date, events: list[CalEvent]) -> dict[str, Any]:
    start = anchor - timedelta(days=anchor.weekday())
    today = timezone.localdate()
    days = [CalDay(day=start + timedelta(days=i), today=start + timedelta(days=i) == today) for i in range(7)]
    by_date = {d.day: d for d in days}
    for event in events:
        day = by_date.get(event.start.date())
        if day is not None:
            (day.all_day if event.all_day else day.timed).append(event)
            day.events.append(event)
    timed = [e for d in days for e in d.timed]
    first_hour = min([DAY_START_HOUR, *(e.start.hour for e in timed)])
    last_hour = max([DAY_END_HOUR, *(min(24, e.end.hour + (1 if e.end.minute else 0)) for e in timed
                                     if e.end.date() == e.start.date())])
    if any(e.end.date() != e.start.date() for e in timed):
        last_hour = 24
    for day in days:
        _layout_day(day.timed, first_hour, last_hour)
    return {
        "days": days, "hours": list(range(first_hour, last_hour)), "hour_count": last_hour - first_hour,
        "period_start": start, "period_end": start + timedelta(days=6),
        "prev": start - timedelta(days=7), "next": start + timedelta(days=7),
    }


def _month_start_end(anchor: date) -> tuple[date, date]:
    first = anchor.replace(day=1)
    grid_start = first - timedelta(days=first.weekday())
    last = first.replace(day=pycalendar.monthrange(first.year, first.month)[1])
    grid_end = last + timedelta(days=6 - last.weekday())
    return grid_start, grid_end


def _month(anchor: date, events: list[CalEvent]) -> dict[str, Any]:
    first = anchor.replace(day=1)
    grid_start, grid_end = _month_start_end(anchor)
    today = timezone.localdate()
    days = []
    day = grid_start
    while day <= grid_end:
        days.append(CalDay(day=day, today=day == today, in_period=day.month == first.month))
        day += timedelta(days=1)
    by_date = {d.day: d for d in days}
    for event in events:
        cell = by_date.get(event.start.date())
        if cell is not None:
            cell.events.append(event)
    for cell in days:
        cell.more = max(0, len(cell.events) - MONTH_CELL_LIMIT)
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return {
        "weeks": [days[i : i + 7] for i in range(0, len(days), 7)], "period_start": first,
        "period_end": first.replace(day=pycalendar.monthrange(first.year, first.month)[1]),
        "prev": previous, "next": following,
    }


def _period(view: str, anchor: date) -> tuple[date, date]:
    """First and last day shown (inclusive)."""
    if view == "month":
        return _month_start_end(anchor)
    start = anchor - timedelta(days=anchor.weekday())
    return start, start + timedelta(days=6)


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# ----------------------------------------------------------------------------------------- whose calendar


def calendar_people(actor: User) -> tuple[list[User], list[Team]]:
    """The users and teams whose calendar `actor` may open (their task view scope decides)."""
    scope = scopes.scope_for(actor, "task", "view")
    if scope >= scopes.ALL:
        users = list(User.objects.filter(is_active=True).order_by("first_name", "last_name", "username"))
        teams = list(Team.objects.order_by("name"))
    elif scope == scopes.TEAM:
        team_ids = scopes.user_team_ids(actor)
        users = list(
            User.objects.filter(is_active=True, memberships__team_id__in=team_ids)
            .distinct().order_by("first_name", "last_name", "username")
        )
        teams = list(Team.objects.filter(pk__in=team_ids).order_by("name"))
    else:
        users, teams = [], []
    if all(u.pk != actor.pk for u in users):
        users.insert(0, actor)
    return users, teams


def _pick(raw: str | None, options: list, what: str):
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404(f"no such {what}")
    for option in options:
        if option.pk == int(raw):
            return option
    raise Http404(f"no such {what}")  # unknown or outside the actor's scope: the same answer


def _whose(params) -> tuple[str | None, str | None]:
    """(user, team) from `?user=<id>` / `?team=<id>`, or from the picker's single `?who=u<id>|t<id>`."""
    who = params.get("who") or ""
    if who[:1] == "u":
        return who[1:], None
    if who[:1] == "t":
        return None, who[1:]
    return params.get("user"), params.get("team")


def _parse_date(raw: str | None) -> tuple[date, str | None]:
    if not raw:
        return timezone.localdate(), None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return timezone.localdate(), _("“%(value)s” is not a date (YYYY-MM-DD): showing today.") % {"value": raw}


# ----------------------------------------------------------------------------------------- views


@require_GET
@login_required
def calendar_view(request: HttpRequest) -> HttpResponse:
    view = request.GET.get("view") if request.GET.get("view") in VIEWS else "week"
    anchor, date_error = _parse_date(request.GET.get("date"))
    users, teams = calendar_people(request.user)
    user_raw, team_raw = _whose(request.GET)
    team = _pick(team_raw, teams, "team")
    person = None if team else (_pick(user_raw, users, "user") or request.user)
    first, last = _period(view, anchor)
    tasks = selectors.calendar_events(
        actor=request.user, start=_aware(first), end=_aware(last + timedelta(days=1)),
        user_ids=None if team else [person.pk], team_id=team.pk if team else None,
    )
    events = _to_events(list(tasks))
    grid = _week(anchor, events) if view == "week" else _month(anchor, events)
    base = {"view": view, **({"team": team.pk} if team else {"user": person.pk})}

    def link(**params) -> str:
        return f"{reverse('activities:calendar')}?{urlencode({**base, **params})}"

    context = {
        "nav": "calendar", "view": view, "anchor": anchor, "date_error": date_error, "grid": grid,
        "events": events, "users": users, "teams": teams, "person": person, "team": team,
        "prev_url": link(date=grid["prev"].isoformat()), "next_url": link(date=grid["next"].isoformat()),
        "today_url": link(date=timezone.localdate().isoformat()),
        "week_url": link(view="week", date=anchor.isoformat()), "month_url": link(view="month", date=anchor.isoformat()),
    }
    for week in grid.get("weeks", []):
        for day in week:
            if day.more:
                day.week_url = link(view="week", date=day.day.isoformat())
    template = "activities/_calendar_body.html" if request.htmx else "activities/calendar.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def calendar_feed(request: HttpRequest, secret: str) -> HttpResponse:
    """The subscription feed: the feed owner's own dated tasks (and their teams' meetings when the feed says
    so) from 30 days back to a year ahead, as the owner may see them now."""
    feed = services.calendar_feed_authenticate(secret)
    if feed is None or not feed.user.is_active:
        raise Http404("no such calendar feed")
    user = feed.user
    now = timezone.now()
    start, end = now - FEED_PAST, now + FEED_FUTURE
    tasks = list(selectors.calendar_events(actor=user, start=start, end=end, user_ids=[user.pk]))
    if feed.include_team:
        seen = {t.pk for t in tasks}
        for team_id in scopes.user_team_ids(user):
            for task in selectors.calendar_events(actor=user, start=start, end=end, team_id=team_id):
                if task.kind == Task.Kind.MEETING and task.pk not in seen:
                    seen.add(task.pk)
                    tasks.append(task)
    selectors.task_links_visible(actor=user, tasks=tasks)  # no names of clients and deals the owner may not see
    with translation.override(getattr(user, "language", None) or None):
        body = tasks_to_ical(tasks, name=_("Kramar: %(name)s") % {"name": user.get_full_name() or user.username})
    etag = quote_etag(hashlib.sha256(body).hexdigest()[:32])
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return HttpResponseNotModified(headers={"ETag": etag})
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["ETag"] = etag
    last_modified = max((t.updated_at for t in tasks if t.updated_at), default=None)
    if last_modified:
        response["Last-Modified"] = http_date(last_modified.timestamp())
    response["Content-Disposition"] = 'inline; filename="kramar.ics"'
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response


def _feeds_context(request: HttpRequest, **extra) -> dict[str, Any]:
    feeds = CalendarFeed.objects.filter(user=request.user).order_by("-created_at")
    return {"nav": "calendar", "feeds": feeds, **extra}


@require_http_methods(["GET", "POST"])
@login_required
def calendar_feeds(request: HttpRequest) -> HttpResponse:
    """List the user's feeds; a POST creates one, whose URL is shown in this response only."""
    if request.method != "POST":
        return render(request, "activities/calendar_feeds.html", _feeds_context(request))
    include_team = request.POST.get("include_team") in {"on", "1", "true"}
    feed, secret = services.calendar_feed_create(user=request.user, include_team=include_team)
    feed_url = request.build_absolute_uri(reverse("activities:calendar-feed", args=[secret]))
    webcal_url = "webcal://" + feed_url.split("://", 1)[1]
    context = _feeds_context(request, created_feed=feed, feed_url=feed_url, webcal_url=webcal_url)
    response = render(request, "activities/calendar_feeds.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def calendar_feed_revoke(request: HttpRequest, feed_id: int) -> HttpResponse:
    if services.calendar_feed_revoke(user=request.user, feed_id=feed_id):
        messages.success(request, _("The calendar feed was revoked: its URL no longer works."))
    else:
        messages.error(request, _("No such calendar feed."))
    return redirect("activities:calendar-feeds")
