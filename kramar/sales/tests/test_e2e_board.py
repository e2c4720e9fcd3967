"""End to end in a real browser (Debian Chromium driven by Playwright): drag a deal to another stage on the
pipeline board and see it moved with the totals updated; drag one that breaks a stage rule and see it come
back with the message naming what is missing; drop one on "Lost" and give the reason."""

import datetime as dt
import os
import shutil
from decimal import Decimal

import pytest

from kramar.accounts.services import roles_ensure_defaults
from kramar.core.tests.browser import BROWSER_MARKS

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS


@pytest.fixture
def seeded(transactional_db):
    roles_ensure_defaults()
    from kramar.accounts.tests.factories import TeamFactory, UserFactory
    from kramar.sales.tests.factories import CurrencyFactory, DealFactory, LostReasonFactory, PipelineFactory

    team = TeamFactory(name="Sales Kyiv")
    rep = UserFactory(username="olena", password="correct horse", team=team, role="Sales rep")
    CurrencyFactory(code="UAH")
    pipeline = PipelineFactory(with_stages=True, name="E2E pipeline")
    ready = DealFactory(
        title="Ready deal", owner=rep, team=team, pipeline=pipeline, amount=Decimal("5000"),
        expected_close_date=dt.date.today() + dt.timedelta(days=30),
    )
    unready = DealFactory(title="Unready deal", owner=rep, team=team, pipeline=pipeline, amount=Decimal("700"))
    LostReasonFactory(name="Too expensive")
    return {"pipeline": pipeline, "ready": ready, "unready": unready}


def _column(page, name):
    return page.locator("[data-kr-column]", has=page.locator("h2", has_text=name))


def test_drag_a_deal_across_stages_and_see_rules_applied(static_files, seeded, live_server, browser_page, tmp_path):
    page = browser_page
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 500 else None)
    # given: signed in, on the board
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "olena")
    page.fill("#id_password", "correct horse")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/sales/board/{seeded['pipeline'].pk}/")
    lead, proposal, lost = _column(page, "Lead"), _column(page, "Proposal"), _column(page, "Lost")
    assert lead.locator("[data-kr-deal]").count() == 2
    assert proposal.locator("[data-testid=col-count]").inner_text() == "0"

    # when: the ready deal is dragged to Proposal
    page.drag_and_drop(f"#deal-{seeded['ready'].pk}", "[data-kr-column][data-stage-name=Proposal]")

    # then: it is there after the server's answer, and the column totals follow
    message = page.locator("[data-testid=board-message]")
    message.filter(has_text="Proposal").wait_for(timeout=10_000)
    proposal.locator("[data-testid=col-count]", has_text="1").wait_for(timeout=10_000)
    assert proposal.locator(f"#deal-{seeded['ready'].pk}").is_visible()
    assert "5" in proposal.locator("[data-testid=col-total]").inner_text()
    assert lead.locator("[data-testid=col-count]").inner_text() == "1"

    # when: the deal without a close date is dragged to Proposal
    page.drag_and_drop(f"#deal-{seeded['unready'].pk}", "[data-kr-column][data-stage-name=Proposal]")

    # then: refused, the card is back in Lead, the message names what is missing
    message.filter(has_text="close date").wait_for(timeout=10_000)
    assert "kr-message-error" in message.get_attribute("class")
    assert lead.locator(f"#deal-{seeded['unready'].pk}").is_visible()
    assert proposal.locator(f"#deal-{seeded['unready'].pk}").count() == 0

    # when: it is dropped on Lost, the reason is asked for and given
    page.drag_and_drop(f"#deal-{seeded['unready'].pk}", "[data-kr-column][data-stage-name=Lost]")
    dialog = page.locator("[data-testid=lost-dialog]")
    dialog.wait_for(state="visible", timeout=5_000)
    dialog.locator("select[name=lost_reason]").select_option(label="Too expensive")
    dialog.locator("button[type=submit]").click()

    # then
    lost.locator(f"#deal-{seeded['unready'].pk}").wait_for(timeout=10_000)
    lost.locator("[data-testid=col-count]", has_text="1").wait_for(timeout=10_000)
    # and it stays there after a reload (the server has it; the ORM is not usable inside Playwright's loop)
    page.reload()
    assert lost.locator(f"#deal-{seeded['unready'].pk}").is_visible()
    assert lead.locator("[data-kr-deal]").count() == 0
    shot = tmp_path / "board.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert failed == []
    keep = os.environ.get("KRAMAR_E2E_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
