import django.db.models.deletion
from django.db import migrations, models


def engine_schema(apps, schema_editor):
    from search import schema

    schema.ensure(schema_editor.connection)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("groups", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Document",
            fields=[
                ("message", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                                 primary_key=True, related_name="search_document",
                                                 serialize=False, to="groups.message")),
                ("date", models.DateTimeField()),
                ("subject", models.TextField()),
                ("body", models.TextField()),
                ("author", models.TextField(help_text="'Name <address>' as shown and searched.")),
                ("author_email", models.CharField(help_text="Lower case, for exact filters.",
                                                  max_length=320)),
                ("group", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            related_name="+", to="groups.group")),
            ],
            options={
                "db_table": "search_document",
                "indexes": [models.Index(fields=["group", "date"], name="search_doc_group_date")],
            },
        ),
        migrations.RunPython(engine_schema, migrations.RunPython.noop),
    ]
