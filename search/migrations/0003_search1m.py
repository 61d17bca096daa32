"""The author filter's trigram index (issue #20 item 4), created by search.schema.

An FTS5 trigram table on SQLite (filled from the documents when created), a
pg_trgm GIN index on PostgreSQL (skipped with a warning where pg_trgm cannot
be created). search.schema also runs after every migrate, so the test suite
(--nomigrations) gets it too; this step records it in the migration history.
"""

from django.db import migrations


def engine_schema(apps, schema_editor):
    from search import schema

    schema.ensure(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0002_document_browse_indexes"),
    ]

    operations = [
        migrations.RunPython(engine_schema, migrations.RunPython.noop),
    ]
