"""Calendar pages and the iCalendar feed."""

from django.urls import path

from kramar.activities import calendar_views

urlpatterns: list = [
    path("calendar/", calendar_views.calendar_view, name="calendar"),
    path("calendar/feeds/", calendar_views.calendar_feeds, name="calendar-feeds"),
    path("calendar/feeds/<int:feed_id>/revoke/", calendar_views.calendar_feed_revoke, name="calendar-feed-revoke"),
    path("calendar/feed/<str:secret>.ics", calendar_views.calendar_feed, name="calendar-feed"),
]
