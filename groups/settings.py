"""Django settings: every value comes from platformcore.env, so all processes agree."""

from __future__ import annotations

import json
import os

import dj_database_url

from groups import oidcproviders
from platformcore.env import PROJECT_DIR, env_choice, get_env

ENV = get_env()

SECRET_KEY = ENV.secret_key
DEBUG = ENV.debug
ALLOWED_HOSTS = list(ENV.allowed_hosts)  # SITE_URL's host (+ ALLOWED_HOSTS): never "*"
SITE_URL = ENV.site_url
GROUPS_DOMAIN = ENV.groups_domain
DATA_DIR = ENV.data_dir

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "ninja",  # the API's browsable docs use its bundled Swagger UI (no CDN)
    "groups",
    "search",
    # Logging in with an existing identity (groups/oidc.py): allauth's social accounts only;
    # the site's own sign-up, login and addresses stay in groups.web.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.github",
]

MIDDLEWARE = [
    "groups.webmetrics.TimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Accept-Language (or the language cookie) picks the page's language; a logged-in
    # member's own setting and time zone override it below (groups/web/localemiddleware.py).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "groups.web.localemiddleware.MemberLocaleMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

# messageserver serves its own JSON API from the same project (messageserver/wsgi.py).
ROOT_URLCONF = os.environ.get("GROUPS_URLCONF", "groups.urls")
if ROOT_URLCONF == "messageserver.urls":
    # The internal API answers to the names it is reached by (INTERNAL_BIND_ADDRESS,
    # MESSAGESERVER_URL), not the site's; it builds no links from the request either.
    # The site's names too: a proxy may pass the website's /inbound/webhook on with its Host.
    ALLOWED_HOSTS = list(dict.fromkeys([*ENV.internal_hosts, *ENV.allowed_hosts]))

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PROJECT_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "groups.context.site",
            ],
        },
    },
]

WSGI_APPLICATION = "groups.wsgi.application"

# Connections are kept a minute, and checked before reuse: after the database was
# unreachable, a thread's dead connection is replaced instead of failing one request.
DATABASES = {"default": dj_database_url.parse(ENV.database_url, conn_max_age=60,
                                              conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web and messageserver processes read while the other writes;
    # IMMEDIATE transactions avoid "database is locked" upgrade deadlocks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

AUTH_USER_MODEL = "groups.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Who may create a group on the website: "anyone" logged in, or "staff" only.
GROUP_CREATION = env_choice("GROUP_CREATION", "anyone", ("anyone", "staff"))
# Calls per API key, as django-ninja writes rates: N/s, N/m, N/h, N/d (N/10m: per 10 minutes).
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600/m")

# OpenID Connect and GitHub logins (groups/oidc.py, groups/oidcproviders.py): providers from OIDC_PROVIDERS (JSON)
# and GITHUB_CLIENT_ID/GITHUB_SECRET; allauth does the protocol, our adapter the rules.
SOCIALACCOUNT_PROVIDERS = oidcproviders.configured()
SOCIALACCOUNT_ADAPTER = "groups.oidc.SocialAdapter"
SOCIALACCOUNT_ONLY = True  # allauth's own password login, sign-up and email pages: off
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"  # a provider's *verified* email is required instead
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # linking by address is the adapter's rule
SOCIALACCOUNT_LOGIN_ON_GET = False  # a login starts with a POST (CSRF), never a link
SOCIALACCOUNT_STORE_TOKENS = False
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_USER_DISPLAY = "groups.oidc.display"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "my_groups"
LOGOUT_REDIRECT_URL = "directory"

# --- Languages, formats and time zones (docs/design.md "Languages") ----------------------
# English is the default and the source language; every page, notice and digest is
# translated into the others (locale/<code>/LC_MESSAGES/django.po, `make messages`).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
LOCALE_PATHS = [PROJECT_DIR / "locale"]
# Our own English formats ("7 Dec 2026, 14:05"); other languages use Django's per locale.
FORMAT_MODULE_PATH = ["groups.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [PROJECT_DIR / "groups" / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Static files are served by the app itself (no CDN: the machine may be offline).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

ATTACHMENTS_DIR = DATA_DIR / "attachments"

def _storage_options() -> dict:
    """FILES_STORAGE_OPTIONS as a dict; a value that isn't a JSON object stops start-up."""
    raw = os.environ.get("FILES_STORAGE_OPTIONS", "").strip()
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"FILES_STORAGE_OPTIONS is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("FILES_STORAGE_OPTIONS must be a JSON object of the storage's options")
    return value


# Files and photos of the group tools go through Django's storage API: on disk under
# DATA_DIR/files by default; FILES_STORAGE_BACKEND and FILES_STORAGE_OPTIONS (JSON) plug in
# another, e.g. django-storages' "storages.backends.s3.S3Storage" with its bucket options.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(DATA_DIR / "media")}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "groupfiles": {
        "BACKEND": os.environ.get("FILES_STORAGE_BACKEND",
                                  "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": _storage_options() or {"location": str(DATA_DIR / "files")}},
}

# Posts and webhook bodies carry whole messages (base64 inflates by 4/3).
DATA_UPLOAD_MAX_MEMORY_SIZE = ENV.max_message_size * 2 + 1024 * 1024

# Mail the website sends (sign-up, password reset, invitations) goes through Karl.
EMAIL_BACKEND = "groups.web.karlbackend.KarlEmailBackend"
DEFAULT_FROM_EMAIL = f"no-reply@{GROUPS_DOMAIN}"

if ENV.redis_url:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": ENV.redis_url}}
else:
    # Shared by the web and messageserver processes without any server (rate limits).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(DATA_DIR / "cache")}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- HTTPS and browser policy (docs/security.md) ---------------------------------------
# Every page carries a Content-Security-Policy: our own scripts and styles only (no inline
# code anywhere in the templates), no plugins, no framing, forms post only to us.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        # A login button's form is redirected to the identity provider.
        "form-action": ["'self'", *oidcproviders.form_origins(SOCIALACCOUNT_PROVIDERS)],
    },
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SITE_IS_HTTPS = SITE_URL.startswith("https://")
if SITE_IS_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = ENV.hsts_seconds
    SECURE_HSTS_INCLUDE_SUBDOMAINS = False  # other services may live on sibling names
    CSRF_TRUSTED_ORIGINS = [SITE_URL]
if ENV.behind_tls_proxy:
    # Only behind a proxy that sets (and overwrites) X-Forwarded-Proto: otherwise a client
    # could claim https itself. Then the app can tell plain http and redirects it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = SITE_IS_HTTPS
# Chosen, not forgotten (docs/security.md): HSTS covers SITE_URL's host only (sibling names
# may serve other things) and is not preloaded; without BEHIND_TLS_PROXY the TLS proxy in
# front, not the app (which cannot see the scheme), redirects http to https.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"] + (
    [] if ENV.behind_tls_proxy else ["security.W008"])
