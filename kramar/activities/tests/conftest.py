"""Fixtures of the activities tests: a real SMTP server (aiosmtpd) that Django's SMTP backend sends to."""

import pytest

from kramar.activities.tests.smtp_server import SmtpServer


@pytest.fixture
def smtp_server(settings):
    """An SMTP server on 127.0.0.1 (a free port per test) with Django's SMTP backend pointed at it."""
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
