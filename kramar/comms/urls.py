"""Pages of the Communication Center, under /comms/."""

from django.urls import path

from kramar.comms import live, views

app_name = "comms"

urlpatterns = [
    path("events/", live.live_events, name="live-events"),
    path("inbox/", views.inbox, name="inbox"),
    path("conversations/<int:pk>/", views.conversation_detail, name="conversation-detail"),
    path("conversations/<int:pk>/live/", views.conversation_live, name="conversation-live"),
    path("conversations/<int:pk>/accept/", views.conversation_accept, name="conversation-accept"),
    path("conversations/<int:pk>/decline/", views.conversation_decline, name="conversation-decline"),
    path("conversations/<int:pk>/transfer/", views.conversation_transfer, name="conversation-transfer"),
    path("conversations/<int:pk>/reply/", views.conversation_reply, name="conversation-reply"),
    path("conversations/<int:pk>/note/", views.conversation_note, name="conversation-note"),
    path("conversations/<int:pk>/close/", views.conversation_close, name="conversation-close"),
    path("conversations/<int:pk>/reopen/", views.conversation_reopen, name="conversation-reopen"),
    path("supervisor/", views.supervisor, name="supervisor"),
    path("presence/", views.presence, name="presence"),
    path("presence/heartbeat/", views.presence_heartbeat, name="presence-heartbeat"),
    path("letters/new/", views.letter_register, name="letter-register"),
    path("letters/pick/", views.client_pick, name="client-pick"),
    path("channels/", views.channels, name="channels"),
    path("failures/", views.failures, name="failures"),
    path("failures/<int:pk>/original/", views.failure_raw, name="failure-raw"),
    path("failures/<int:pk>/retry/", views.failure_retry, name="failure-retry"),
    path("failures/<int:pk>/resolve/", views.failure_resolve, name="failure-resolve"),
]
