"""Calendar pages (week, month, per user and team, scopes, navigation, query counts) and the private feed."""

import datetime as dt
import re
import time

import icalendar
import pytest
import vobject
from django.urls import reverse
from django.utils import timezone

from kramar.activities.ical import ical_host
from kramar.activities.models import CalendarFeed, Task
from kramar.activities.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

KYIV = timezone.get_default_timezone()
WEDNESDAY = dt.date(2026, 3, 11)  # the week of 9–15 March 2026


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=KYIV)


def cal_url(**params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{reverse('activities:calendar')}?{query}"


def uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


def uid(task: Task) -> str:
    return f"{task.ical_uid}@{ical_host()}"


# ----------------------------------------------------------------------------------------- pages


def test_calendar_needs_a_login(client):
    # when
    response = client.get(reverse("activities:calendar"))

    # then
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_week_shows_my_events_of_that_week_positioned_by_time(client, rep_a, rep_a2):
    # given
    mine = TaskFactory(owner=rep_a, kind=Task.Kind.MEETING, title="Demo at Romashka", due_at=at(10, 14),
                       duration_minutes=60)
    all_day = TaskFactory(owner=rep_a, title="Quarter report", due_at=at(12, 9), all_day=True)
    next_week = TaskFactory(owner=rep_a, title="Next week thing", due_at=at(17, 10))
    colleague = TaskFactory(owner=rep_a2, team=None, title="Not mine", due_at=at(10, 11))
    client.force_login(rep_a)

    # when
    response = client.get(cal_url(view="week", date=WEDNESDAY.isoformat()))

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Demo at Romashka" in html and "Quarter report" in html
    assert next_week.title not in html and colleague.title not in html
    # 14:00 in an 08:00–20:00 grid: 6 of 12 hours from the top, one hour high
    assert re.search(rf'style="top:50\.0%;height:8\.333%;left:0\.0%;width:100\.0%"[^>]*data-task="{mine.pk}"', html)
    assert f'data-task="{all_day.pk}"' in html
    assert 'data-date="2026-03-09"' in html and 'data-date="2026-03-15"' in html


def test_overlapping_events_sit_side_by_side(client, rep_a):
    # given
    first = TaskFactory(owner=rep_a, title="A", due_at=at(10, 10), duration_minutes=60)
    second = TaskFactory(owner=rep_a, title="B", due_at=at(10, 10, 30), duration_minutes=60)
    client.force_login(rep_a)

    # when
    html = client.get(cal_url(view="week", date=WEDNESDAY.isoformat())).content.decode()

    # then
    assert re.search(rf'left:0\.0%;width:50\.0%"[^>]*data-task="{first.pk}"', html)
    assert re.search(rf'left:50\.0%;width:50\.0%"[^>]*data-task="{second.pk}"', html)


def test_month_grid_lists_events_per_day_and_links_the_rest(client, rep_a):
    # given five tasks on one day and one on another
    for hour in range(9, 14):
        TaskFactory(owner=rep_a, title=f"Call {hour}", kind=Task.Kind.CALL, due_at=at(20, hour))
    TaskFactory(owner=rep_a, title="Lunch with client", kind=Task.Kind.MEETING, due_at=at(2, 13))
    client.force_login(rep_a)

    # when
    response = client.get(cal_url(view="month", date="2026-03-05"))

    # then the grid covers Monday 23 Feb – Sunday 5 April in whole weeks
    html = response.content.decode()
    assert 'data-date="2026-02-23"' in html and 'data-date="2026-04-05"' in html
    assert 'data-date="2026-04-06"' not in html
    assert html.count("<tr>") == 1 + 6  # the header and six weeks
    assert "Lunch with client" in html
    assert "Call 9" in html and "Call 12" in html and "Call 13" not in html  # four shown, the fifth behind a link
    assert "+1 more" in html
    assert "view=week" in html and "date=2026-03-20" in html


def test_navigation_links_move_by_a_week_or_a_month(client, rep_a):
    # given
    client.force_login(rep_a)

    # when
    week = client.get(cal_url(view="week", date=WEDNESDAY.isoformat())).content.decode()
    month = client.get(cal_url(view="month", date=WEDNESDAY.isoformat())).content.decode()

    # then
    assert "date=2026-03-02" in week and "date=2026-03-16" in week
    assert "date=2026-02-01" in month and "date=2026-04-01" in month
    assert f"date={timezone.localdate().isoformat()}" in week  # "today"


def test_empty_state_and_a_bad_date_are_explained(client, rep_a):
    # given
    client.force_login(rep_a)

    # when
    response = client.get(cal_url(view="week", date="2026-02-30"))

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "“2026-02-30” is not a date" in html
    assert 'data-testid="cal-empty"' in html
    today = timezone.localdate()
    monday = today - dt.timedelta(days=today.weekday())
    assert f'data-date="{monday.isoformat()}"' in html


def test_htmx_navigation_returns_only_the_calendar(client, rep_a):
    # given
    TaskFactory(owner=rep_a, title="Visit", due_at=at(10, 9))
    client.force_login(rep_a)

    # when
    response = client.get(cal_url(view="week", date=WEDNESDAY.isoformat()), HTTP_HX_REQUEST="true")

    # then
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="kr-calendar"')
    assert "<html" not in html and "Visit" in html
    assert "HX-Request" in response["Vary"]


def test_lead_sees_the_team_calendar_with_each_owner(client, lead_a, rep_a, rep_a2, rep_b, team_a):
    # given
    TaskFactory(owner=rep_a, team=team_a, title="Rep A meeting", kind=Task.Kind.MEETING, due_at=at(10, 10))
    TaskFactory(owner=rep_a2, team=team_a, title="Rep A2 call", kind=Task.Kind.CALL, due_at=at(11, 10))
    TaskFactory(owner=rep_b, title="Other team", due_at=at(11, 12))
    client.force_login(lead_a)

    # when
    html = client.get(cal_url(view="week", date=WEDNESDAY.isoformat(), team=team_a.pk)).content.decode()

    # then
    assert "Rep A meeting" in html and "Rep A2 call" in html and "Other team" not in html
    assert rep_a.get_full_name() in html


def test_lead_opens_a_reps_calendar_within_their_team(client, lead_a, rep_a, team_a):
    # given
    TaskFactory(owner=rep_a, team=team_a, title="Rep A meeting", due_at=at(10, 10))
    client.force_login(lead_a)

    # when
    html = client.get(cal_url(view="week", date=WEDNESDAY.isoformat(), user=rep_a.pk)).content.decode()

    # then
    assert "Rep A meeting" in html
    assert f'<option value="u{rep_a.pk}" selected>' in html


def test_a_user_or_team_outside_the_scope_is_not_found(client, rep_a, rep_b, team_b):
    # given
    TaskFactory(owner=rep_b, team=team_b, title="Secret", due_at=at(10, 10))
    client.force_login(rep_a)

    # when
    responses = [
        client.get(cal_url(user=rep_b.pk)), client.get(cal_url(team=team_b.pk)), client.get(cal_url(user="abc")),
        client.get(cal_url(user=999_999)),
    ]

    # then
    assert [r.status_code for r in responses] == [404, 404, 404, 404]


def test_director_picks_any_team_or_person_with_the_picker(client, director, rep_b, rep_a, team_b):
    # given
    TaskFactory(owner=rep_b, team=team_b, title="Lviv meeting", due_at=at(12, 10))
    TaskFactory(owner=rep_a, title="Kyiv call", due_at=at(12, 11))
    client.force_login(director)

    # when
    by_team = client.get(cal_url(date=WEDNESDAY.isoformat(), who=f"t{team_b.pk}")).content.decode()
    by_person = client.get(cal_url(date=WEDNESDAY.isoformat(), who=f"u{rep_a.pk}", team=team_b.pk)).content.decode()

    # then the picker's choice wins over a stale parameter
    assert "Lviv meeting" in by_team and "Kyiv call" not in by_team
    assert f'<option value="t{team_b.pk}" selected>' in by_team
    assert "Kyiv call" in by_person and "Lviv meeting" not in by_person


@pytest.mark.parametrize("view", ["week", "month"])
def test_calendar_queries_are_bounded(client, django_assert_max_num_queries, lead_a, team_a, view):
    # given forty tasks of eight reps of the team, with clients
    from kramar.accounts.tests.factories import UserFactory
    from kramar.clients.tests.factories import CompanyFactory

    reps = [UserFactory(team=team_a, role="Sales rep") for _ in range(8)]
    company = CompanyFactory()
    for i in range(40):
        TaskFactory(owner=reps[i % 8], team=team_a, company=company, kind=Task.Kind.MEETING,
                    due_at=at(9 + i % 7, 8 + i % 10))
    client.force_login(lead_a)

    # when / then: session, user, grants, teams, the pickers and one query for the events
    with django_assert_max_num_queries(12):
        response = client.get(cal_url(view=view, date=WEDNESDAY.isoformat(), team=team_a.pk))
    assert response.status_code == 200
    assert response.content.decode().count("kr-cal-event ") >= 28


# ----------------------------------------------------------------------------------------- feeds


def _create_feed(client, **data) -> str:
    response = client.post(reverse("activities:calendar-feeds"), data)
    assert response.status_code == 200
    match = re.search(r'data-testid="feed-url">([^<]+)<', response.content.decode())
    assert match, "the new feed's URL is shown once"
    return match.group(1)


def test_feed_page_creates_a_feed_and_shows_its_url_once(client, rep_a):
    # given
    client.force_login(rep_a)

    # when
    url = _create_feed(client)
    listing = client.get(reverse("activities:calendar-feeds")).content.decode()

    # then
    feed = CalendarFeed.objects.get(user=rep_a)
    assert url.startswith("http://testserver/calendar/feed/") and url.endswith(".ics")
    secret = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert secret not in listing and "feed-url" not in listing
    assert f"{feed.prefix}…" in listing
    assert feed.digest != secret


def test_feed_serves_my_dated_tasks_in_the_window_to_both_parsers(client, rep_a, rep_a2, team_a):
    # given
    client.force_login(rep_a)
    url = _create_feed(client)
    client.logout()
    now = timezone.now()
    meeting = TaskFactory(owner=rep_a, team=team_a, kind=Task.Kind.MEETING, title="Зустріч", due_at=now + dt.timedelta(days=2))
    recent = TaskFactory(owner=rep_a, title="Last week", due_at=now - dt.timedelta(days=7))
    TaskFactory(owner=rep_a, title="Long ago", due_at=now - dt.timedelta(days=60))
    TaskFactory(owner=rep_a, title="Far future", due_at=now + dt.timedelta(days=400))
    TaskFactory(owner=rep_a, title="Undated", due_at=None)
    team_meeting = TaskFactory(owner=rep_a2, team=team_a, kind=Task.Kind.MEETING, due_at=now + dt.timedelta(days=1))

    # when (no session: the secret authenticates)
    response = client.get(url)

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert uids(response.content) == {uid(meeting), uid(recent)}
    assert uid(team_meeting) not in uids(response.content)
    parsed = vobject.readOne(response.content.decode("utf-8"))
    assert {e.uid.value for e in parsed.vevent_list} == {uid(meeting), uid(recent)}
    assert "Зустріч" in {e.summary.value for e in parsed.vevent_list}
    assert CalendarFeed.objects.get(user=rep_a).last_used_at is not None


def test_a_team_feed_adds_the_teams_meetings_only(client, rep_a, rep_a2, rep_b, team_a, team_b):
    # given
    client.force_login(rep_a)
    url = _create_feed(client, include_team="on")
    client.logout()
    soon = timezone.now() + dt.timedelta(days=3)
    team_meeting = TaskFactory(owner=rep_a2, team=team_a, kind=Task.Kind.MEETING, due_at=soon)
    team_call = TaskFactory(owner=rep_a2, team=team_a, kind=Task.Kind.CALL, due_at=soon)
    other_team = TaskFactory(owner=rep_b, team=team_b, kind=Task.Kind.MEETING, due_at=soon)

    # when
    found = uids(client.get(url).content)

    # then
    assert uid(team_meeting) in found
    assert uid(team_call) not in found and uid(other_team) not in found


def test_wrong_or_revoked_secret_is_not_found(client, rep_a):
    # given
    client.force_login(rep_a)
    url = _create_feed(client)
    feed = CalendarFeed.objects.get(user=rep_a)

    # when
    wrong = client.get(url.replace(".ics", "x.ics"))
    revoke = client.post(reverse("activities:calendar-feed-revoke", args=[feed.pk]))
    revoked = client.get(url)

    # then
    assert wrong.status_code == 404
    assert revoke.status_code == 302
    assert revoked.status_code == 404
    assert not CalendarFeed.objects.filter(pk=feed.pk).exists()


def test_nobody_revokes_another_users_feed(client, rep_a, rep_b):
    # given
    client.force_login(rep_a)
    url = _create_feed(client)
    feed = CalendarFeed.objects.get(user=rep_a)
    client.force_login(rep_b)

    # when
    response = client.post(reverse("activities:calendar-feed-revoke", args=[feed.pk]), follow=True)

    # then
    assert "No such calendar feed." in response.content.decode()
    assert client.get(url).status_code == 200


def test_feed_answers_not_modified_to_a_matching_etag(client, rep_a):
    # given
    client.force_login(rep_a)
    url = _create_feed(client)
    task = TaskFactory(owner=rep_a, due_at=timezone.now() + dt.timedelta(days=1))
    first = client.get(url)

    # when: asked again later with the ETag, nothing changed in between
    time.sleep(1.1)  # DTSTAMP is the event's last revision, not the time of the request
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    # and once the task is changed
    task.title = "Moved to Friday"
    task.save()
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])

    # then
    assert first["ETag"] and again.status_code == 304
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"] and b"Moved to Friday" in changed.content


def test_feed_of_a_deactivated_user_is_gone(client, rep_a):
    # given
    client.force_login(rep_a)
    url = _create_feed(client)
    rep_a.is_active = False
    rep_a.save(update_fields=["is_active"])

    # when / then
    assert client.get(url).status_code == 404


def test_feed_does_not_name_clients_and_deals_outside_its_owners_scope(client, rep_a, team_a, rep_b, team_b):
    # given: rep_a's meetings, one with their own client, one with team B's client and deal (a director's doing)
    from kramar.clients.tests.factories import CompanyFactory, ContactFactory
    from kramar.sales.tests.factories import DealFactory

    client.force_login(rep_a)
    url = _create_feed(client)
    client.logout()
    now = timezone.now()
    foreign = CompanyFactory(owner=rep_b, team=team_b, name="Кварц Львів")
    TaskFactory(owner=rep_a, team=team_a, kind=Task.Kind.MEETING, title="Foreign", due_at=now + dt.timedelta(days=1),
                company=foreign, contact=ContactFactory(owner=rep_b, team=team_b, last_name="Мельник"),
                deal=DealFactory(owner=rep_b, team=team_b, title="Львівська угода"))
    TaskFactory(owner=rep_a, team=team_a, kind=Task.Kind.MEETING, title="Ours", due_at=now + dt.timedelta(days=2),
                company=CompanyFactory(owner=rep_a, team=team_a, name="Ромашка Київ"))
    # when
    body = client.get(url).content.decode("utf-8")
    # then: the meetings, the visible client's name, none of team B's names
    assert "Foreign" in body and "Ours" in body and "Ромашка Київ" in body
    assert "Кварц" not in body and "Мельник" not in body and "Львівська" not in body
