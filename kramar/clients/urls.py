from django.urls import path
from django.views.generic import RedirectView

from kramar.clients import views

app_name = "clients"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="desk:my-day", permanent=False), name="home"),
    path("contacts/", views.contact_list, name="contact-list"),
    path("contacts/new/", views.contact_new, name="contact-create"),
    path("contacts/bulk/", views.contacts_bulk, name="contact-bulk"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact-edit"),
    path("companies/", views.company_list, name="company-list"),
    path("companies/new/", views.company_new, name="company-create"),
    path("companies/bulk/", views.companies_bulk, name="company-bulk"),
    path("companies/pick/", views.company_pick, name="company-pick"),
    path("companies/<int:pk>/", views.company_detail, name="company-detail"),
    path("companies/<int:pk>/edit/", views.company_edit, name="company-edit"),
]
