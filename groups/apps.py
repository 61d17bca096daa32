from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = "Groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from groups import errorreports

        errorreports.connect()  # 500s go to errord once its reporting is installed
