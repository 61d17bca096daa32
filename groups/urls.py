"""URLs of the website."""

from django.contrib import admin
from django.urls import include, path

from groups import webmetrics
from groups.api.v1 import api, unknown_path
from messageserver import webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", webmetrics.health, name="health"),
    path("metrics", webmetrics.metrics, name="metrics"),
    # Providers' inbound-parse webhooks post raw MIME here (messageserver/webhook.py
    # authenticates them and hands the mail to the same pipeline smtpd uses).
    path("inbound/webhook", webhook.inbound_webhook, name="inbound_webhook"),
    path("api/v1/", api.urls),
    # django-allauth: only the identity providers' flows (/auth/oidc/ID/login/, callbacks)
    # and its small pages around them; sign-up and passwords are groups.web's.
    path("auth/", include("allauth.urls")),
    path("api/v1/<path:rest>", unknown_path),
    path("", include("groups.web.urls")),
]

handler500 = "groups.unavailable.page_error"  # a 503 page while the database is unreachable
