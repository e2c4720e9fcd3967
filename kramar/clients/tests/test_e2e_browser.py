"""End to end in a real browser (Debian Chromium driven by Playwright): sign in, find a contact by a
Cyrillic fragment in the header search, open its card, take a screenshot."""


import os
import shutil

import pytest

from kramar.accounts.services import roles_ensure_defaults
from kramar.core.tests.browser import BROWSER_MARKS

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS


@pytest.fixture
def seeded(transactional_db):
    # A transactional test starts from a flushed database: make sure the default roles are there.
    roles_ensure_defaults()
    from kramar.accounts.tests.factories import TeamFactory, UserFactory
    from kramar.clients.services import company_create, contact_create

    team = TeamFactory(name="Sales Kyiv")
    rep = UserFactory(username="olena", password="correct horse", team=team, role="Sales rep")
    company = company_create(actor=rep, data={"name": "ТОВ Сонях", "code": "14360570"})
    contact = contact_create(
        actor=rep,
        data={
            "first_name": "Тарас",
            "last_name": "Шевченко",
            "position": "Директор",
            "emails": ["taras@example.com"],
            "phones": ["067 123 45 67"],
            "tags": ["vip"],
            "company_ids": [company.pk],
        },
    )
    return contact


def test_login_search_by_cyrillic_fragment_and_open_the_card(
    static_files, seeded, live_server, browser_page, tmp_path
):
    page = browser_page
    failed = []
    page.on(
        "response", lambda r: failed.append(r.url) if r.status >= 400 and "favicon" not in r.url else None
    )
    # given: signed in
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "olena")
    page.fill("#id_password", "correct horse")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/my-day/")  # a rep's morning starts on My day
    page.get_by_role("link", name="Contacts").first.click()
    page.wait_for_url(f"{live_server.url}/contacts/")
    assert page.locator("#list-table").get_by_text("Тарас Шевченко").is_visible()

    # when: typing a lower-case Cyrillic fragment into the header search
    page.locator("[data-kr-search] input[type=search]").press_sequentially("шевч", delay=40)
    result = page.locator("#kr-search-results a", has_text="Шевченко")
    result.wait_for(timeout=10_000)
    page.keyboard.press("ArrowDown")  # keyboard friendly: the arrow moves into the results
    assert result.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")

    # then: the card shows the contact
    page.wait_for_url(f"{live_server.url}/contacts/{seeded.pk}/")
    assert page.locator("h1").inner_text() == "Тарас Шевченко"
    assert page.get_by_text("taras@example.com").is_visible()
    assert page.get_by_role("link", name="ТОВ Сонях").first.is_visible()
    shot = tmp_path / "contact-card.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert failed == []  # every stylesheet and script loaded, nothing fetched from outside
    keep = os.environ.get("KRAMAR_E2E_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
