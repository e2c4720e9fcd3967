"""Control's writes: the bulk refresh of clients' "last contacted" (the `last_contacted_refresh` command; the demo
loader computes the value itself while it generates the history)."""

from __future__ import annotations

from django.db import transaction

from kramar.clients.models import Company, Contact
from kramar.history.services import latest_interaction_subquery

BATCH = 50_000


def last_contacted_refresh(*, batch_size: int = BATCH) -> int:
    """Recompute Company/Contact.last_contacted_at = MAX(occurred_at) of their interactions (NULL when none) for
    every client: set-based UPDATEs with a correlated subquery, in primary-key ranges of `batch_size` so a table
    of millions is not one long transaction. Works on SQLite and PostgreSQL. Returns the rows updated."""
    updated = 0
    for model, field in ((Contact, "contact_id"), (Company, "company_id")):
        pks = model.objects.order_by()
        low = pks.order_by("pk").values_list("pk", flat=True).first()
        high = pks.order_by("-pk").values_list("pk", flat=True).first()
        if low is None or high is None:
            continue
        start = low
        while start <= high:
            with transaction.atomic():
                updated += model.objects.filter(pk__gte=start, pk__lt=start + batch_size).update(
                    last_contacted_at=latest_interaction_subquery(field)
                )
            start += batch_size
    return updated
