"""A URLconf with one view that fails, for the Django 500 report test."""

from django.urls import path


def broken(request):
    raise LookupError("no such archive page")


urlpatterns = [path("broken/", broken)]
