from django.urls import path

from kramar.control import views

app_name = "control"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("list/<slug:kind>/", views.drilldown, name="drilldown"),
]
