"""Loaded first by pytest (-p tests.testenv): give the test run its own settings.

It must run before Django's settings are imported, since groups.env reads the
environment once: a throwaway DATA_DIR (secrets, spool, attachments, SQLite)
so tests never touch ./var, and fixed values for the domain and site URL.
"""

import os
import tempfile

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="groups-test-"))
os.environ.setdefault("GROUPS_DOMAIN", "groups.localhost")
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("INTERNAL_API_TOKEN", "test-internal-token")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")
