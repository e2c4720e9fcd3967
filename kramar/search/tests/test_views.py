"""The global search box, through HTTP."""

import pytest
from django.urls import reverse

from kramar.clients.services import company_create, contact_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_search_as_you_type_returns_a_partial_within_scope(client, rep_a, rep_b):
    # given
    mine = contact_create(actor=rep_a, data={"first_name": "Олена", "last_name": "Шевчук"})
    contact_create(actor=rep_b, data={"first_name": "Оксана", "last_name": "Шевчишин"})
    client.force_login(rep_a)
    # when
    response = client.get(reverse("search:search"), {"q": "ШЕВЧ"}, **HTMX)
    # then
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Шевчук" in body and reverse("clients:contact-detail", args=[mine.pk]) in body
    assert "Шевчишин" not in body


def test_search_finds_companies_by_latin_text(client, rep_a):
    # given
    company = company_create(actor=rep_a, data={"name": "Sunflower Trade"})
    client.force_login(rep_a)
    # when
    body = client.get(reverse("search:search"), {"q": "flower"}, **HTMX).content.decode()
    # then
    assert reverse("clients:company-detail", args=[company.pk]) in body


def test_search_page_without_htmx_is_a_full_page(client, rep_a):
    # given
    contact_create(actor=rep_a, data={"last_name": "Коваленко"})
    client.force_login(rep_a)
    # when
    response = client.get(reverse("search:search"), {"q": "ковал"})
    # then
    assert b"<html" in response.content and "Коваленко" in response.content.decode()


def test_too_short_and_empty_results_say_so(client, rep_a):
    # given
    client.force_login(rep_a)
    # when
    short = client.get(reverse("search:search"), {"q": "к"}, **HTMX).content.decode()
    none = client.get(reverse("search:search"), {"q": "нічогонемає"}, **HTMX).content.decode()
    # then
    assert "at least two characters" in short
    assert "Nothing found" in none


def test_search_needs_login(client):
    assert client.get(reverse("search:search"), {"q": "abc"}).status_code == 302
