from django.urls import path

from kramar.core import views

app_name = "core"
urlpatterns = [
    path("<slug:entity>/<int:pk>/", views.audit, name="audit"),
]
