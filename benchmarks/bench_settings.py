"""Settings for the benchmark servers: Kramar's own settings (so the database still comes from
DATABASE_URL / KRAMAR_DATA_DIR) plus the benchmark urlconf, production-like DEBUG=False."""

from kramar.config.settings.base import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
DEBUG = False
WHITENOISE_AUTOREFRESH = False
# 127.0.0.1 for the servers; testserver for the in-process query count with django.test.Client.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
