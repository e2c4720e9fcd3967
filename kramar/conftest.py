"""Shared fixtures: two sales teams with a rep each, a team lead, a director and an administrator; a page in
a real browser for the end-to-end tests."""

import threading
from pathlib import Path

import pytest

import kramar
from kramar.accounts.tests.factories import TeamFactory, UserFactory


@pytest.fixture
def team_a(db):
    return TeamFactory(name="Sales Kyiv")


@pytest.fixture
def team_b(db):
    return TeamFactory(name="Sales Lviv")


@pytest.fixture
def rep_a(team_a):
    return UserFactory(username="rep_a", team=team_a, role="Sales rep")


@pytest.fixture
def rep_a2(team_a):
    return UserFactory(username="rep_a2", team=team_a, role="Sales rep")


@pytest.fixture
def rep_b(team_b):
    return UserFactory(username="rep_b", team=team_b, role="Sales rep")


@pytest.fixture
def lead_a(team_a):
    return UserFactory(username="lead_a", team=team_a, role="Team lead")


@pytest.fixture
def director(db):
    return UserFactory(username="director", role="Sales director")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_superuser=True, is_staff=True)


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _live_server_requests_end(request):
    """After a live-server test: end the open event streams and wait for the server's request threads, so none
    of them touches the test's database after it is gone."""
    yield
    if "live_server" not in request.fixturenames:
        return
    from kramar.comms.live import sync_streams_end

    sync_streams_end(timeout=5)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and "process_request_thread" in thread.name:
            thread.join(timeout=5)



@pytest.fixture(scope="session", autouse=True)
def _test_database_sessions_end(django_db_setup, django_db_blocker):
    """PostgreSQL: before the test database is dropped, end the sessions still open on it. A test driving Playwright
    (whose sync API runs the test body beside its own event loop) leaves its connection in a context the teardown
    cannot reach; without this the drop fails with "being accessed by other users" and the database stays."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def browser_page():
    """A page of headless Chromium (Debian's package, driven by Playwright), 1400×900, English locale."""
    from kramar.core.tests.browser import CHROMIUM, CHROMIUM_ARGS

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def static_files(settings):
    """The vendored htmx and Pico and Kramar's own CSS/JS live in kramar/static (not an app's folder)."""
    folder = Path(kramar.__file__).parent / "static"
    if folder not in [Path(d) for d in getattr(settings, "STATICFILES_DIRS", [])]:
        settings.STATICFILES_DIRS = [*getattr(settings, "STATICFILES_DIRS", []), folder]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) on 127.0.0.1, on a free port per test, with Django's SMTP backend pointed at
    it (the rest of the suite uses the in-memory backend)."""
    from kramar.core.tests.smtp_server import SmtpServer

    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()
