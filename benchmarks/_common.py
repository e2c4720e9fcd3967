"""Helpers shared by the scripts in benchmarks/: percentiles, a local server subprocess, `wrk` runs,
database set-up and plain-text tables.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def repo_on_path() -> None:
    """Make `kramar` and `benchmarks` importable when a script is run as `python benchmarks/x.py`."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


# --- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) by linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    k = (len(data) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return float(data[lo] + (data[hi] - data[lo]) * (k - lo))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# --- printing -----------------------------------------------------------------------------------


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A left/right aligned plain-text table (numbers right-aligned)."""
    cells = [[str(h) for h in header]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) if rows else False for i in range(len(header))
    ]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


# --- a server subprocess ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def running_server(
    name: str,
    argv: list[str],
    *,
    port: int,
    env: dict[str, str],
    ready_path: str = "/",
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Start `argv` (a server listening on 127.0.0.1:`port`) in its own process group, wait until
    `ready_path` answers (any HTTP status), yield it, and always stop the whole group afterwards."""
    log = Path(tempfile.gettempdir()) / f"kramar-bench-{name}-{port}.log"
    server = Server(name=name, argv=argv, port=port, env=env, log_path=log)
    with open(log, "wb") as log_file:
        server.process = subprocess.Popen(  # noqa: S603
            argv, env=env, cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(server, ready_path, timeout, headers or {})
            yield server
        finally:
            _stop(server.process)


def _wait_ready(server: Server, path: str, timeout: float, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            request = urllib.request.Request(server.base_url + path, headers=headers)
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310 (127.0.0.1 only)
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of one GET, redirects not followed (a 301 is a 301)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- load with wrk --------------------------------------------------------------------------------

# Counts every status that is not exactly 200 (wrk itself only counts non-2xx/3xx) and prints the
# summary as one JSON line. Per-thread counters are collected through the thread objects.
_WRK_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non200 = 0 end
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("non200") or 0) end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"non200":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, bad, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class LoadResult:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non200: int
    socket_errors: int
    raw: dict = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def valid(self) -> bool:
        return self.requests > 0 and self.non200 == 0 and self.socket_errors == 0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_run(
    label: str,
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    headers: dict[str, str] | None = None,
    timeout_s: float = 5.0,
) -> LoadResult:
    """One bounded `wrk` run against a 127.0.0.1 URL (keep-alive connections)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("load goes to 127.0.0.1 only")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_LUA)
    try:
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            script.name,
        ]
        for name, value in (headers or {}).items():
            argv += ["-H", f"{name}: {value}"]
        argv.append(url)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)  # noqa: S603
    finally:
        os.unlink(script.name)
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    data = json.loads(line)
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return LoadResult(
        label=label,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        non200=data["non200"],
        socket_errors=socket_errors,
        raw=data,
    )


# --- databases ----------------------------------------------------------------------------------


def postgres_database_ensure(url: str) -> None:
    """Create the PostgreSQL database named in `url` when it does not exist (connects to `postgres`)."""
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    name = cfg["NAME"]
    admin = psycopg.connect(
        host=cfg.get("HOST") or "127.0.0.1",
        port=cfg.get("PORT") or 5432,
        user=cfg.get("USER") or None,
        password=cfg.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')


def django_setup(sqlite_default: str, data_dir: str) -> None:
    """Point Kramar at the benchmark's database (DATABASE_URL, else `sqlite_default`) and data folder, with the
    production settings and DEBUG off; create the PostgreSQL database when missing; set Django up."""
    os.environ.setdefault("DATABASE_URL", sqlite_default)
    os.environ["DJANGO_SETTINGS_MODULE"] = "kramar.config.settings.base"
    os.environ.setdefault("KRAMAR_DEBUG", "0")
    os.environ.setdefault("KRAMAR_DATA_DIR", data_dir)
    url = os.environ["DATABASE_URL"]
    if url.startswith(("postgres://", "postgresql://")):
        postgres_database_ensure(url)
    import django

    django.setup()


def database_describe() -> str:
    """One line naming the database engine, its version and (PostgreSQL) shared_buffers as configured."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            version = cur.fetchone()[0]
            cur.execute("SHOW shared_buffers")
            buffers = cur.fetchone()[0]
        return f"PostgreSQL {version} db={connection.settings_dict['NAME']} shared_buffers={buffers} (as configured)"
    import sqlite3

    conn_max_age = connection.settings_dict.get("CONN_MAX_AGE", 0)
    return f"SQLite {sqlite3.sqlite_version} file={connection.settings_dict['NAME']} (WAL, CONN_MAX_AGE={conn_max_age})"


# --- pages in process -----------------------------------------------------------------------------


def page_measure(client, url: str, *, requests: int, warmup: int, show_sql: bool = False) -> dict:
    """In-process server time of GET `url` with a signed-in django.test.Client: `warmup` untimed requests, then
    `requests` timed ones (ms), the SQL queries of one more (printed with `show_sql`) and the response size.
    Stops at the first answer that is not 200 (its status is returned)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        response = client.get(url)
        if response.status_code != 200:
            return {"status": response.status_code, "times": [], "queries": 0, "bytes": len(response.content)}
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            return {"status": response.status_code, "times": times, "queries": 0, "bytes": len(response.content)}
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    queries = list(captured.captured_queries)
    reset_queries()
    if show_sql:
        for q in queries:
            print(f"    {q['time']}s  {q['sql'][:400]}")
    return {"status": response.status_code, "times": times, "queries": len(queries), "bytes": len(response.content)}
