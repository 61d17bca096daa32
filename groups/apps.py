from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = "Groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from groups import errorreports

        errorreports.connect()  # 500s go to errord once its reporting is installed
        from messageserver import webhookevents

        webhookevents.on_queued(queue_webhook_deliveries)


def queue_webhook_deliveries(ids: list[int]) -> None:
    """After an event's commit: a task per delivery, so it goes out now, not at the next
    minute's sweep (which sends it anyway if the broker can't take the task)."""
    from cronjobs.celeryapp import app
    from cronjobs.tasks import TASK_NAMES

    for delivery_id in ids:
        app.send_task(TASK_NAMES["webhook_deliver"], args=[delivery_id])
