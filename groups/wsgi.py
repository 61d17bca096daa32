"""WSGI entry point of the website."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groups.settings")
application = get_wsgi_application()
