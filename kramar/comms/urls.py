"""Pages of the Communication Center, under /comms/."""

from django.urls import path

from kramar.comms import live

app_name = "comms"

urlpatterns = [
    path("events/", live.live_events, name="live-events"),
]
