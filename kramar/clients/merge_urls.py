from django.urls import path

from kramar.clients import merge_views as views

app_name = "merge"
urlpatterns = [
    path("", views.merge_record_list, name="record-list"),
    path("<int:pk>/", views.merge_record_detail, name="record-detail"),
    path("<int:pk>/undo/", views.merge_record_undo, name="record-undo"),
    path("contact/<int:pk>/", views.merge_pick, {"entity": "contact"}, name="contact-pick"),
    path(
        "contact/<int:pk>/with/<int:other_pk>/",
        views.merge_confirm,
        {"entity": "contact"},
        name="contact-confirm",
    ),
    path("company/<int:pk>/", views.merge_pick, {"entity": "company"}, name="company-pick"),
    path(
        "company/<int:pk>/with/<int:other_pk>/",
        views.merge_confirm,
        {"entity": "company"},
        name="company-confirm",
    ),
]
