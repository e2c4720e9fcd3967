"""End to end in a real browser (Debian Chromium driven by Playwright): a rep opens My day, sees the call to
make with a tel: link, logs its outcome with one click, and the call leaves the panel while the other panels
reload; the outcome is on the client's timeline."""

import datetime as dt

import pytest
from django.utils import timezone

from kramar.accounts.services import roles_ensure_defaults
from kramar.core.tests.browser import BROWSER_MARKS, sign_in

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS


@pytest.fixture
def seeded(transactional_db):
    roles_ensure_defaults()
    from kramar.accounts.tests.factories import TeamFactory, UserFactory
    from kramar.activities.tests.factories import TaskFactory
    from kramar.clients.tests.factories import ContactFactory, ContactPointFactory

    team = TeamFactory(name="Sales Kyiv")
    rep = UserFactory(username="olena", password="correct horse", team=team, role="Sales rep")
    taras = ContactFactory(first_name="Тарас", last_name="Шевченко", owner=rep, team=team)
    ContactPointFactory(contact=taras, kind="phone", value="067 123 45 67", normalized="+380671234567")
    call = TaskFactory(
        title="Обговорити пропозицію", kind="call", owner=rep, team=team, contact=taras,
        due_at=timezone.now() - dt.timedelta(hours=1),
    )
    other = TaskFactory(title="Send the price list", owner=rep, team=team, due_at=timezone.now() - dt.timedelta(hours=2))
    return {"rep": rep, "contact": taras, "call": call, "other": other}


def test_log_a_calls_outcome_with_one_click(static_files, seeded, live_server, browser_page, monkeypatch):
    # the ORM checks below run while Playwright's event loop lives in this thread (the server is another thread)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    from kramar.activities.models import Task
    from kramar.history.models import Interaction

    page = browser_page
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    sign_in(page, live_server, "olena", "correct horse")

    # given: the call is in "Calls to make" with a dialable link
    call_row = page.locator(f"[data-testid=call-{seeded['call'].pk}]")
    assert call_row.is_visible()
    assert call_row.locator("[data-testid=dial]").get_attribute("href") == "tel:+380671234567"

    # when: a note and one click on "No answer"
    call_row.locator("input[name=note]").fill("Передзвонити після обіду")
    call_row.get_by_role("button", name="No answer").click()

    # then: the call leaves the panel without a page reload, the other task stays
    call_row.wait_for(state="detached", timeout=10_000)
    assert page.locator(f"[data-testid=task-{seeded['other'].pk}]").is_visible()
    call = Task.objects.get(pk=seeded["call"].pk)
    assert call.status == "done" and call.outcome == "No answer"
    logged = Interaction.objects.get(contact=seeded["contact"])
    assert logged.channel == "call" and logged.outcome == "No answer" and "після обіду" in logged.body
    assert failed == []
