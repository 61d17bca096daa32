"""URLs of the website."""

from django.contrib import admin
from django.urls import include, path

from groups import webmetrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", webmetrics.health, name="health"),
    path("metrics", webmetrics.metrics, name="metrics"),
    path("", include("groups.web.urls")),
]
