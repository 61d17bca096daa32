"""Which identity providers this site offers, from the environment (read by the settings,
so nothing here may import allauth or Django models).

``OIDC_PROVIDERS`` is a JSON list of ``{"id", "name", "server_url", "client_id", "secret"}``
(Google is ``https://accounts.google.com``, Microsoft
``https://login.microsoftonline.com/TENANT/v2.0``, or any provider a self-hoster runs);
``GITHUB_CLIENT_ID`` and ``GITHUB_SECRET`` add GitHub (OAuth, not OIDC).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit


class ProviderConfigError(ValueError):
    """OIDC_PROVIDERS isn't the JSON it should be (the web refuses to start, naming it)."""


def configured(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """SOCIALACCOUNT_PROVIDERS for allauth, from OIDC_PROVIDERS and GITHUB_* (may be empty)."""
    environ = os.environ if environ is None else environ
    providers: dict[str, Any] = {}
    raw = environ.get("OIDC_PROVIDERS", "").strip()
    if raw:
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ProviderConfigError(f"OIDC_PROVIDERS is not JSON: {exc}") from None
        if not isinstance(entries, list):
            raise ProviderConfigError("OIDC_PROVIDERS must be a JSON list of providers")
        apps = []
        for i, entry in enumerate(entries):
            missing = [k for k in ("id", "name", "server_url", "client_id", "secret")
                       if not isinstance(entry, dict) or not entry.get(k)]
            if missing:
                raise ProviderConfigError(f"OIDC_PROVIDERS[{i}] lacks {', '.join(missing)}")
            apps.append({"provider_id": entry["id"], "name": entry["name"],
                         "client_id": entry["client_id"], "secret": entry["secret"],
                         "settings": {"server_url": entry["server_url"].rstrip("/")}})
        providers["openid_connect"] = {"APPS": apps, "OAUTH_PKCE_ENABLED": True}
    if environ.get("GITHUB_CLIENT_ID") and environ.get("GITHUB_SECRET"):
        providers["github"] = {"APPS": [{"client_id": environ["GITHUB_CLIENT_ID"],
                                         "secret": environ["GITHUB_SECRET"]}],
                               "SCOPE": ["read:user", "user:email"]}
    return providers


def form_origins(providers: dict[str, Any]) -> list[str]:
    """Where a login button's form may lead (CSP form-action follows its redirect)."""
    origins = []
    for app in providers.get("openid_connect", {}).get("APPS", []):
        parts = urlsplit(app["settings"]["server_url"])
        origins.append(f"{parts.scheme}://{parts.netloc}")
    if "github" in providers:
        origins.append("https://github.com")
    return origins
