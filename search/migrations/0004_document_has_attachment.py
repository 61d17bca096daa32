"""The has-attachment flag on the search document, its partial index, and its backfill.

The column is added by plain ``ALTER TABLE ... ADD COLUMN ... DEFAULT`` on both
databases: Django's SQLite schema editor would otherwise rebuild the table
for a NOT NULL column, and a rebuilt search_document loses the triggers that
keep the FTS5 tables in step (search.schema). Both databases add such a
column without rewriting a row. The documents of messages that already
carry a file are then flagged in one UPDATE driven by the attachment table
(about 2% of an archive). On SQLite the update triggers are first made anew
to fire on text changes only, so the flag's UPDATE leaves the FTS5 tables
(and the one segment a reindex leaves them in) untouched.
"""

from django.db import migrations, models

ADD = "ALTER TABLE search_document ADD COLUMN has_attachment boolean NOT NULL DEFAULT false"
BACKFILL = ("UPDATE search_document SET has_attachment = %s WHERE message_id IN "
            "(SELECT a.message_id FROM groups_attachment a)")


def backfill(apps, schema_editor):
    from search import schema

    connection = schema_editor.connection
    if connection.vendor == "sqlite":  # the update triggers made anew: on text changes only
        with connection.cursor() as cursor:
            for name in schema.SQLITE_UPDATE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        schema.ensure(connection)
    with connection.cursor() as cursor:
        cursor.execute(BACKFILL, [True])
        if schema_editor.connection.vendor == "postgresql":  # the planner learns the flag
            cursor.execute("ANALYZE search_document")


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0001_initial"),
        ("search", "0003_search1m"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(ADD, "ALTER TABLE search_document DROP COLUMN has_attachment"),
            ],
            state_operations=[
                migrations.AddField(
                    model_name="document",
                    name="has_attachment",
                    field=models.BooleanField(db_default=False, default=False),
                ),
            ],
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(condition=models.Q(("has_attachment", True)),
                               fields=["message", "group"], name="search_doc_attachment"),
        ),
    ]
