"""`manage.py last_contacted_refresh`: recompute every client's "last contacted" from the interaction history."""

from django.core.management.base import BaseCommand

from kramar.control.services import BATCH, last_contacted_refresh


class Command(BaseCommand):
    help = "Recompute Company/Contact.last_contacted_at from their interactions (set-based, in batches)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=BATCH, help="primary keys per UPDATE (default %(default)s)")

    def handle(self, *args, **options):
        batch = max(1, options["batch_size"])
        updated = last_contacted_refresh(batch_size=batch)
        self.stdout.write(f"last_contacted_at refreshed on {updated} clients")
