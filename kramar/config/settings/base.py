"""Kramar settings, read from the environment (KRAMAR_* and DATABASE_URL).

With nothing set Kramar runs on an SQLite file in ./data, and a secret key is generated there on first
run. Production (KRAMAR_DEBUG unset or 0 and KRAMAR_ENV=production) refuses to start without an explicit
KRAMAR_SECRET_KEY.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # .../kramar


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


DATA_DIR = Path(env("KRAMAR_DATA_DIR", str(Path.cwd() / "data"))).resolve()
KRAMAR_ENV = env("KRAMAR_ENV", "development")
DEBUG = env_bool("KRAMAR_DEBUG", KRAMAR_ENV != "production")


def _secret_key() -> str:
    key = env("KRAMAR_SECRET_KEY")
    if key:
        return key
    if KRAMAR_ENV == "production":
        raise ImproperlyConfigured("KRAMAR_SECRET_KEY must be set when KRAMAR_ENV=production")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("KRAMAR_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("KRAMAR_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "huey.contrib.djhuey",
    "kramar.core",
    "kramar.accounts",
    "kramar.clients",
    "kramar.history",
    "kramar.search",
    "kramar.sales",
    "kramar.activities",
    "kramar.desk",
    "kramar.control",
    "kramar.comms",
    "kramar.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "kramar.accounts.middleware.UserLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "kramar.core.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "kramar.config.urls"
WSGI_APPLICATION = "kramar.config.wsgi.application"
ASGI_APPLICATION = "kramar.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# Database: DATABASE_URL (postgres://… or sqlite:///…); SQLite file in the data folder by default.
_db_url = env("DATABASE_URL")
# Persistent connections stay off by default: under ASGI every request runs in a new thread, so kept
# connections pile up until PostgreSQL refuses more (set KRAMAR_DB_CONN_MAX_AGE for a WSGI server).
if _db_url:
    DATABASES = {"default": dj_database_url.parse(_db_url, conn_max_age=int(env("KRAMAR_DB_CONN_MAX_AGE", "0")))}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "kramar.sqlite3")}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets readers run beside the writer; IMMEDIATE avoids "database is locked" upgrades.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
            "transaction_mode": "IMMEDIATE",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "desk:my-day"
LOGOUT_REDIRECT_URL = "accounts:login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("uk", _("Ukrainian"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = env("KRAMAR_TIME_ZONE", "Europe/Kyiv")
# Sales: deals default to this currency; reports convert to it with the dated exchange rates.
KRAMAR_BASE_CURRENCY = env("KRAMAR_BASE_CURRENCY", "UAH").upper()
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("KRAMAR_MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# E-mail
EMAIL_HOST = env("KRAMAR_EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(env("KRAMAR_EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("KRAMAR_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env("KRAMAR_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("KRAMAR_EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("KRAMAR_EMAIL_FROM", "kramar@localhost")
EMAIL_BACKEND = env("KRAMAR_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")

# Links and identifiers that leave the server: the public address put in front of links in e-mails (reminders),
# and the host part of iCalendar UIDs (default: the domain of KRAMAR_EMAIL_FROM; keep it stable once set).
KRAMAR_BASE_URL = (env("KRAMAR_BASE_URL", "") or "").rstrip("/")
KRAMAR_ICAL_HOST = env("KRAMAR_ICAL_HOST", "")
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto: trust it, so links (the calendar feed URL) are https.
if env_bool("KRAMAR_BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Background jobs: Huey on SQLite in the data folder, Redis when KRAMAR_REDIS_URL is set.
_redis_url = env("KRAMAR_REDIS_URL")
if _redis_url:
    HUEY = {"huey_class": "huey.RedisHuey", "name": "kramar", "url": _redis_url, "immediate": False}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    HUEY = {"huey_class": "huey.SqliteHuey", "name": "kramar", "filename": str(DATA_DIR / "huey.sqlite3"), "immediate": False}

# Attachments
KRAMAR_MAX_ATTACHMENT_BYTES = int(env("KRAMAR_MAX_ATTACHMENT_BYTES", str(25 * 1024 * 1024)))
KRAMAR_DEFAULT_PHONE_REGION = env("KRAMAR_DEFAULT_PHONE_REGION", "UA")

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("KRAMAR_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("KRAMAR_SECURE_COOKIES", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("KRAMAR_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Communication Center: an online agent without a heartbeat for this long becomes away
KRAMAR_PRESENCE_AWAY_MINUTES = int(env("KRAMAR_PRESENCE_AWAY_MINUTES", "10") or 10)
