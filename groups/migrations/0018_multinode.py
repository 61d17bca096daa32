from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("groups", "0017_search1m"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxitem",
            name="karl_node",
            field=models.CharField(
                blank=True, max_length=200,
                help_text="Base URL of the Karl node this row was handed to (or is being "
                          "handed to): set before the hand-off, so a row that may be there is "
                          "never sent elsewhere."),
        ),
    ]
