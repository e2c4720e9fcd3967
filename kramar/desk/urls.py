from django.urls import path

from kramar.desk import views

app_name = "desk"

urlpatterns = [
    path("", views.my_day, name="my-day"),
    path("panel/<slug:name>/", views.panel, name="panel"),
    path("tasks/<int:pk>/complete/", views.task_complete_view, name="task-complete"),
    path("inbox/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("inbox/read-all/", views.notifications_read_all, name="notifications-read-all"),
]
