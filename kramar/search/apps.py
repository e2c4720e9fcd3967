from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _search_index_ensure(sender, using="default", **kwargs):
    """SQLite: a later migration that rebuilds a client table drops its search triggers and prefix index;
    put them back (and rebuild the index) after migrate. Django sends post_migrate only for apps with a
    models module, which this one hasn't: listen to the clients app's."""
    if sender.label != "clients":
        return
    from django.db import connections

    from kramar.search.ddl import sqlite_ensure

    connection = connections[using]
    if connection.vendor == "sqlite":
        sqlite_ensure(connection)


class SearchConfig(AppConfig):
    name = "kramar.search"
    label = "search"
    verbose_name = _("Search")

    def ready(self) -> None:
        post_migrate.connect(_search_index_ensure, dispatch_uid="kramar.search.index_ensure")
