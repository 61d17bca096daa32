from django.db import migrations, models


def set_flags(apps, schema_editor):  # noqa: ANN001, ANN201
    """Groups that already have webhooks (or all, when a site-wide one exists) get the flag."""
    Group = apps.get_model("groups", "Group")
    Webhook = apps.get_model("groups", "Webhook")
    if Webhook.objects.filter(group__isnull=True, active=True).exists():
        Group.objects.update(webhooks_on=True)
    else:
        Group.objects.filter(pk__in=Webhook.objects.filter(active=True).values("group_id")
                             ).update(webhooks_on=True)


class Migration(migrations.Migration):

    dependencies = [
        ('groups', '0022_fanout_continuation'),
    ]

    operations = [
        migrations.AddField(
            model_name='group',
            name='webhooks_on',
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(set_flags, migrations.RunPython.noop),
    ]
