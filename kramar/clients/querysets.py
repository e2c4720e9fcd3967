from django.db import models

from kramar.core.scopes import restrict


class ClientQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(merged_into__isnull=True)

    def visible_to(self, user, action: str = "view"):
        """The records `user` may `action` (own / team / all, from their roles). The one place."""
        return restrict(self.alive(), user, action)
