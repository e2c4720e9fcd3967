"""What the browser tests share: Debian's Chromium driven by Playwright (fixtures `browser_page` and
`static_files` in kramar/conftest.py), the marks every such module sets, and signing in.

    from kramar.core.tests.browser import BROWSER_MARKS, sign_in
    pytestmark = BROWSER_MARKS
"""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("KRAMAR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]


def sign_in(page, live_server, username: str, password: str, *, lands_on: str = "/my-day/") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{lands_on}")
