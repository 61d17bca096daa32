"""Loaded first by pytest (-p tests.testenv): give the test run its own settings.

It must run before Django's settings are imported, since platformcore.env reads the
environment once: a throwaway DATA_DIR (secrets, spool, attachments, SQLite)
so tests never touch ./var, and fixed values for the domain and site URL.
"""

import os
import tempfile

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each xdist worker gets its own data dir (file cache, spools, attachments).
    os.environ["DATA_DIR"] = tempfile.mkdtemp(
        prefix=f"groups-test-{os.environ['PYTEST_XDIST_WORKER']}-")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="groups-test-"))
os.environ.setdefault("GROUPS_DOMAIN", "groups.localhost")
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("INTERNAL_API_TOKEN", "test-internal-token")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")
# Sender authentication asks the DNS about every message; tests that are not about
# it run without (the documented development setting). tests/messageserver/senderauth turns it on
# against a local zone.
os.environ.setdefault("SENDER_AUTH", "off")
