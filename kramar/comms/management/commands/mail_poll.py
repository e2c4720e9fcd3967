"""`kramar mail_poll [--channel ID]`: read the mail channels now (all that are due, or one, due or not)."""

from django.core.management.base import BaseCommand, CommandError

from kramar.comms.imap import channel_poll, mailboxes_due_poll
from kramar.comms.ingest import MAIL_KINDS
from kramar.comms.models import Channel


class Command(BaseCommand):
    help = "Read new messages from the IMAP mailboxes of the e-mail, BCC and fax channels."

    def add_arguments(self, parser):
        parser.add_argument("--channel", type=int, help="Only this channel (id), even if it is not due yet.")

    def handle(self, *args, **options):
        if options["channel"]:
            channel = Channel.objects.filter(pk=options["channel"], kind__in=MAIL_KINDS).first()
            if channel is None:
                raise CommandError(f"No mail channel with id {options['channel']}.")
            results = [channel_poll(channel=channel)]
        else:
            results = mailboxes_due_poll()
        failed = False
        for r in results:
            line = f"channel {r.channel_id}: {r.fetched} fetched, {r.stored} stored, {r.duplicates} duplicates, " \
                   f"{r.failed} could not be processed"
            if r.error:
                failed = True
                line += f"; error: {r.error}"
            self.stdout.write(line)
        if not results:
            self.stdout.write("No mail channel is due.")
        if failed and options["channel"]:
            raise CommandError("The mailbox could not be read.")
