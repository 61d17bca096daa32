"""messageserver's URLs (its process sets GROUPS_URLCONF to this module)."""

from django.urls import path

from messageserver import api, webhook

urlpatterns = [
    path("v1/recipients/check", api.recipient_check),
    path("v1/inbound", api.inbound),
    # Public (proxied from the website's /inbound/webhook): its own secret, no bearer token.
    path("inbound/webhook", webhook.inbound_webhook),
    path("v1/posts", api.web_post),
    path("v1/edits", api.edit_post),
    path("v1/moderation/<int:held_id>", api.moderate),
    path("v1/delivery-events", api.delivery_events),
    path("health", api.health),
    path("metrics", api.metrics_view),
]

handler500 = "groups.unavailable.api_error"  # JSON; 503 while the database is unreachable
