"""Exit 0 when the PostgreSQL server in the URL accepts connections (to its maintenance database)."""

import sys
from urllib.parse import urlparse

import psycopg

url = urlparse(sys.argv[1])
try:
    psycopg.connect(
        host=url.hostname or "127.0.0.1", port=url.port or 5432, user=url.username or "root",
        password=url.password, dbname="postgres", connect_timeout=3,
    ).close()
except psycopg.OperationalError as exc:
    print(f"PostgreSQL not reachable: {exc}".strip(), file=sys.stderr)
    sys.exit(1)
