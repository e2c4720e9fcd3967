"""Task pages (owned by the tasks module)."""

from django.urls import path

from kramar.activities import views

urlpatterns: list = [
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/new/", views.task_create, name="task-create"),
    path("tasks/log-call/", views.task_log_call, name="task-log-call"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("tasks/<int:pk>/edit/", views.task_edit, name="task-edit"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task-complete"),
    path("tasks/<int:pk>/cancel/", views.task_cancel, name="task-cancel"),
]
