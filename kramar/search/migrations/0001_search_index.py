"""Search indexes over clients_contact / clients_company (the search app has no models).

PostgreSQL: pg_trgm + GIN trigram indexes; SQLite: FTS5 trigram tables with sync triggers. The SQL is
in kramar/search/ddl.py, shared with the bulk-load hooks."""

from django.db import migrations

from kramar.search import ddl


def _run(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql)


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, ddl.pg_forward())
    elif vendor == "sqlite":
        _run(schema_editor, ddl.sqlite_forward())


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, ddl.pg_backward())
    elif vendor == "sqlite":
        _run(schema_editor, ddl.sqlite_backward())


class Migration(migrations.Migration):
    dependencies = [("clients", "0001_initial")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
