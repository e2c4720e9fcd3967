"""`kramar mail_idle [--channel ID …]`: watch the IDLE-enabled mailboxes (IMAP IDLE) in the foreground, a thread per
mailbox, and read new mail within seconds; until SIGTERM or Ctrl-C. `kramar serve` starts it beside the Huey worker
(it follows the channel list, so a mailbox switched to IDLE later is watched without a restart). See
kramar/comms/idle.py and docs/email.md."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from kramar.comms.idle import IdleOptions, WatchEvent, channels_idle, mailboxes_watch


class Command(BaseCommand):
    help = (
        "Watch the mailboxes of the mail channels with IDLE enabled (settings: \"idle\": true) over IMAP IDLE and "
        "read new messages as they arrive; runs until SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--channel", type=int, action="append", dest="channels", metavar="ID",
            help="Only this channel (repeatable), even if IDLE is not enabled in its settings.",
        )
        parser.add_argument(
            "--refresh", type=float, default=IdleOptions.refresh_seconds, metavar="SECONDS",
            help="How often the channel list is read again (new, disabled or changed channels).",
        )

    def handle(self, *args, channels=None, refresh=IdleOptions.refresh_seconds, verbosity=1, **options):
        if channels:
            found = set(channels_idle(channel_ids=channels).values_list("pk", flat=True))
            missing = sorted(set(channels) - found)
            if missing:
                raise CommandError(f"No active mail channel with an IMAP server: {', '.join(map(str, missing))}.")
        count = channels_idle(channel_ids=channels).count()
        self._verbosity = int(verbosity)
        self._lock = threading.Lock()
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():  # signal handlers only live there
            previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if count:
                self.stdout.write(f"Watching {count} mailbox{'es' if count != 1 else ''} with IMAP IDLE "
                                  "(SIGTERM or Ctrl-C stops).")
            else:
                self.stdout.write(f"Watching: no mailbox has IDLE enabled yet; the channels are read again every "
                                  f"{refresh:g} s (SIGTERM or Ctrl-C stops).")
            mailboxes_watch(stop=stop, options=IdleOptions(refresh_seconds=refresh), on_event=self.report,
                            channel_ids=channels)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Stopped.")

    def report(self, event: WatchEvent) -> None:
        """One line per event (from the watcher threads); `idle`, `renewed`, `held` and `notice` only with -v 2."""
        line = f"channel {event.channel_id}: "
        if event.kind == "read":
            r = event.result
            if not (r.fetched or r.error or self._verbosity >= 2):
                return
            line += f"{r.fetched} fetched, {r.stored} stored, {r.duplicates} duplicates, {r.failed} could not be " \
                    "processed" + (f"; error: {r.error}" if r.error else "")
        elif event.kind in ("idle", "renewed", "held", "notice"):
            if self._verbosity < 2:
                return
            line += {"idle": "in IDLE", "renewed": "IDLE renewed", "notice": "notice put back: " + event.message,
                     "held": "another read holds the channel; trying again"}[event.kind]
        elif event.kind == "watching":
            line += f"watching {event.message}"
        elif event.kind == "stopped":
            line += "watcher stopped"
        else:  # error, no_idle
            line += event.message
        with self._lock:
            self.stdout.write(line)
