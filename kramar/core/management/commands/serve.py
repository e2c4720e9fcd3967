import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


def _die_with_parent() -> None:
    """In the worker, before it starts (Linux): ask the kernel for SIGTERM when the server process dies, however
    it ends (uvicorn re-raises the signal that stopped it, so the server's own clean-up may not run)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _idle_mailboxes() -> int:
    """How many mail channels have IMAP IDLE enabled (0 when the channel table cannot be read)."""
    from django.db import DatabaseError, connection

    from kramar.comms.idle import channels_idle

    try:
        return channels_idle().count()
    except DatabaseError:
        return 0
    finally:
        connection.close()


def _children_stop(*procs: subprocess.Popen | None) -> None:
    running = [p for p in procs if p is not None and p.poll() is None]
    for proc in running:
        proc.terminate()
    for proc in running:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Command(BaseCommand):
    help = (
        "Apply migrations, collect static files and serve Kramar with uvicorn (ASGI); the background worker "
        "(reminders, invitations) and the IMAP IDLE watcher (kramar mail_idle) run beside it unless --no-jobs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("KRAMAR_WORKERS", "1")))
        parser.add_argument("--no-migrate", action="store_true")
        parser.add_argument(
            "--no-jobs", action="store_true", default=os.environ.get("KRAMAR_SERVE_JOBS", "1") == "0",
            help="do not start the background worker nor the IMAP IDLE watcher (run `kramar run_huey` and "
                 "`kramar mail_idle` yourself, e.g. on another machine)",
        )

    def handle(self, *args, host, port, workers, no_migrate, no_jobs, **options):
        import uvicorn

        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        jobs = watcher = None
        if not no_jobs:
            # the worker is a child process with the same settings; it stops with the server
            jobs = subprocess.Popen(
                [sys.executable, "-m", "kramar.cli", "run_huey"], env=os.environ.copy(),
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            self.stdout.write(f"Background worker started (pid {jobs.pid}): reminders and invitations.")
            # IMAP IDLE: a thread per IDLE-enabled mailbox in a child process of its own, stopped like the worker;
            # it reads the channel list every 30 s, so a mailbox switched to IDLE later needs no restart
            idle = _idle_mailboxes()
            watcher = subprocess.Popen(
                [sys.executable, "-m", "kramar.cli", "mail_idle"], env=os.environ.copy(),
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            self.stdout.write(f"IMAP IDLE watcher started (pid {watcher.pid}): {idle} mailbox(es) now.")
        self.stdout.write(f"Kramar on http://{host}:{port}/ (database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})")
        try:
            uvicorn.run(
                "kramar.config.asgi:application", host=host, port=port, workers=workers, log_level="info",
                lifespan="off", http="kramar.config.uvicorn_protocol:H11NoDelayProtocol",
            )
        finally:
            _children_stop(jobs, watcher)
