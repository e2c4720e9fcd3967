from django.urls import path

from kramar.history import views

app_name = "history"
urlpatterns = [
    path("timeline/", views.timeline, name="timeline"),
    path("log/", views.interaction_create_view, name="interaction-create"),
    path("<int:pk>/", views.interaction_detail, name="interaction-detail"),
    path("<int:pk>/edit/", views.interaction_edit, name="interaction-edit"),
    path("<int:pk>/delete/", views.interaction_delete_view, name="interaction-delete"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment-download"),
]
