"""The webhooks over real HTTP: a signed ringing event reaches the agent's live connection (server-sent events) and
pops the caller's card in a real browser within two seconds; the web form posted from a page of another origin
(CORS for real); and the declared OpenAPI schemas match the answers."""

import http.server
import socket
import threading
import time
from functools import partial

import pytest
from django.core.cache import cache
from django.test import Client

from kramar.accounts.tests.factories import UserFactory
from kramar.clients.tests.factories import CompanyFactory, ContactFactory, ContactPointFactory
from kramar.comms.tests.factories import ChatChannelFactory, PhoneChannelFactory, WebFormChannelFactory
from kramar.comms.tests.hooks import http_signed_post, signed_post
from kramar.comms.tests.sse import SseClient, session_id_for
from kramar.core.tests.browser import BROWSER_MARKS, sign_in
from kramar.core.tests.test_openapi import _check, _response_schema

POP_SECONDS = 2.0
NEEDS_CHROMIUM = BROWSER_MARKS[-1]  # skipped without Debian's Chromium


def _seed_caller():
    olena = UserFactory(username="olena", password="correct horse", first_name="Олена", last_name="Коваль")
    company = CompanyFactory(name="ТОВ Зоря", owner=olena)
    taras = ContactFactory(first_name="Тарас", last_name="Шевченко", owner=olena, primary_company=company)
    ContactPointFactory(contact=taras, kind="phone", value="067 123 45 67", normalized="+380671234567")
    channel = PhoneChannelFactory(settings={"extensions": {"101": "olena"}})
    return olena, taras, channel


def _ringing(call_id: str) -> dict:
    return {"event": "ringing", "call_id": call_id, "from": "+380671234567", "to": "+380441234567",
            "extension": "101"}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_signed_ringing_reaches_the_agents_live_connection_within_two_seconds(live_server, client):
    # given: the agent's browser is listening
    olena, taras, channel = _seed_caller()
    url = f"{live_server.url}/api/v1/comms/hooks/calls/{channel.pk}"
    with SseClient(live_server.url, session_id_for(client, olena)) as sse:
        assert sse.status == 200
        # when: the PBX posts a signed event over HTTP
        started = time.monotonic()
        status, body, _took = http_signed_post(url, _ringing("e2e-1"), secret=channel.secret)
        event = sse.next_event(timeout=5)
        elapsed = time.monotonic() - started
    # then
    assert status == 200, body
    assert event is not None and event.kind == "call.ringing"
    assert event.data["contact"]["name"] == "Тарас Шевченко" and event.data["company"]["name"] == "ТОВ Зоря"
    print(f"call.ringing reached the SSE client {elapsed:.3f} s after the webhook POST started")
    assert elapsed < POP_SECONDS


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_forged_webhook_over_http_is_401_and_pushes_nothing(live_server, client):
    olena, _taras, channel = _seed_caller()
    url = f"{live_server.url}/api/v1/comms/hooks/calls/{channel.pk}"
    with SseClient(live_server.url, session_id_for(client, olena)) as sse:
        status, body, _took = http_signed_post(url, _ringing("e2e-2"), secret="forged")
        assert status == 401 and body["code"] == "bad_signature"
        assert sse.next_event(timeout=1.0) is None


# ----------------------------------------------------------------------------------------- browser
@pytest.fixture
def _browser_env(static_files, monkeypatch):
    pytest.importorskip("playwright.sync_api")
    # the ORM runs in this thread while Playwright's event loop lives here (the server is another thread)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@NEEDS_CHROMIUM
def test_call_pop_shows_the_callers_card_in_the_browser_within_two_seconds(_browser_env, live_server, browser_page):
    # given: the agent has Kramar open and its live connection is up
    olena, taras, channel = _seed_caller()
    page = browser_page
    sign_in(page, live_server, "olena", "correct horse")
    page.wait_for_function("window.krLive && window.krLive.source.readyState === 1", timeout=10_000)
    pop = page.locator("[data-testid=call-pop]")
    assert pop.count() == 0
    # when
    started = time.monotonic()
    status, body, _took = http_signed_post(f"{live_server.url}/api/v1/comms/hooks/calls/{channel.pk}",
                                           _ringing("browser-1"), secret=channel.secret)
    pop.wait_for(state="visible", timeout=POP_SECONDS * 1000)
    elapsed = time.monotonic() - started
    # then
    assert status == 200, body
    print(f"the call pop was visible {elapsed:.3f} s after the webhook POST started")
    assert elapsed < POP_SECONDS
    name = pop.locator("[data-testid=call-pop-name]")
    assert name.inner_text() == "Тарас Шевченко"
    assert name.get_attribute("href") == f"/contacts/{taras.pk}/"
    assert pop.locator("a[href='tel:+380671234567']").count() == 1
    assert "ТОВ Зоря" in pop.text_content() and "Incoming call" in pop.text_content()
    # when: the call ends the panel says so; dismiss closes it
    http_signed_post(f"{live_server.url}/api/v1/comms/hooks/calls/{channel.pk}",
                     {**_ringing("browser-1"), "event": "ended", "duration": 3}, secret=channel.secret)
    page.wait_for_selector(".kr-callpop-ended", timeout=3000)
    pop.get_by_role("button", name="Dismiss").click()
    assert pop.count() == 0
    page.goto("about:blank")  # closes the live connection before the database goes away


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def other_site(tmp_path):
    """A tiny site on another origin (http.server on a free port) serving `index.html` written by the test."""
    port = _free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@NEEDS_CHROMIUM
def test_web_form_posted_from_another_origin_in_a_browser(_browser_env, live_server, browser_page, other_site):
    from kramar.clients.models import Contact
    from kramar.comms.webforms import webform_snippet

    cache.clear()
    folder, origin = other_site
    allowed = WebFormChannelFactory(settings={"allowed_origins": [origin]})
    refused = WebFormChannelFactory(settings={"allowed_origins": ["https://elsewhere.example"]})
    for name, channel in (("allowed.html", allowed), ("refused.html", refused)):
        (folder / name).write_text(
            "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
            + webform_snippet(channel, live_server.url) + "</body></html>", encoding="utf-8")
    page = browser_page
    # when: a visitor fills the form on the allowed site
    page.goto(f"{origin}/allowed.html")
    page.wait_for_selector("form[data-kramar-ready]")
    trap = page.locator("input[name=website]").bounding_box()
    assert trap is not None and trap["x"] + trap["width"] < 0  # the honeypot is moved out of people's sight
    page.fill("input[name=name]", "Марія Іваненко")
    page.fill("input[name=email]", "maria@example.com")
    page.fill("textarea[name=message]", "Потрібна консультація")
    page.click("button[type=submit]")
    # then
    status = page.locator("[data-kramar-status]")
    page.wait_for_function("document.querySelector('[data-kramar-status]').hasAttribute('data-kramar-ok')",
                           timeout=5000)
    assert "Thank you" in status.inner_text()
    lead = Contact.objects.get()
    assert lead.source == "web form" and lead.first_name == "Марія"
    # when: the same form on a site that is not allowed
    page.goto(f"{origin}/refused.html")
    page.fill("input[name=name]", "Bot")
    page.fill("input[name=email]", "bot@example.com")
    page.click("button[type=submit]")
    page.wait_for_function("document.querySelector('[data-kramar-status]').textContent.length > 1", timeout=5000)
    # then: the browser never hands the answer to the page, and nothing is stored
    assert "data-kramar-ok" not in (status.evaluate("n => n.outerHTML"))
    assert Contact.objects.count() == 1
    # when: a validation error is shown next to its field
    page.goto(f"{origin}/allowed.html")
    page.fill("input[name=name]", "Ann")  # neither e-mail nor phone
    page.click("button[type=submit]")
    page.wait_for_selector("[data-kramar-field-error=email]", timeout=5000)
    assert Contact.objects.count() == 1


# ----------------------------------------------------------------------------------------- OpenAPI
@pytest.mark.django_db
def test_webhook_answers_match_the_declared_schemas(client):
    cache.clear()
    doc = Client().get("/api/v1/openapi.json").json()
    _olena, _taras, phone = _seed_caller()
    chat = ChatChannelFactory()
    form = WebFormChannelFactory()
    calls = "/api/v1/comms/hooks/calls/{channel_id}"
    chats = "/api/v1/comms/hooks/chat/{channel_id}"
    forms = "/api/v1/comms/hooks/forms/{channel_id}"
    checks = [
        (calls, 200, signed_post(client, f"/api/v1/comms/hooks/calls/{phone.pk}", _ringing("s-1"),
                                 secret=phone.secret)),
        (calls, 401, signed_post(client, f"/api/v1/comms/hooks/calls/{phone.pk}", _ringing("s-1"), secret="x")),
        (calls, 422, signed_post(client, f"/api/v1/comms/hooks/calls/{phone.pk}", {"event": "x"},
                                 secret=phone.secret)),
        (calls, 404, signed_post(client, f"/api/v1/comms/hooks/calls/{chat.pk}", _ringing("s-1"),
                                 secret=chat.secret)),
        (chats, 200, signed_post(client, f"/api/v1/comms/hooks/chat/{chat.pk}",
                                 {"chat_id": "1", "message_id": "1", "from": {"name": "A"}, "text": "hi"},
                                 secret=chat.secret)),
        (forms, 200, client.post(f"/api/v1/comms/hooks/forms/{form.pk}", {"name": "A", "email": "a@example.com"})),
        (forms, 422, client.post(f"/api/v1/comms/hooks/forms/{form.pk}", {"name": ""})),
        (forms, 403, client.post(f"/api/v1/comms/hooks/forms/{form.pk}", {"name": "A"},
                                 headers={"Origin": "https://evil.example"})),
    ]
    for path, status, response in checks:
        assert response.status_code == status, (path, response.content)
        assert _check(response.json(), _response_schema(doc, path, "post", status), doc, path) == []
