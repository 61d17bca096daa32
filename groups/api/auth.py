"""Who is calling: an API key in ``Authorization: Bearer …``, and what that key allows.

The key's user becomes ``request.user``, so the website's own access rules
(groups.web.access) answer every question about groups; the key can only take
powers away: a read-only key can't write, a one-group key sees only its group.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.throttling import AuthRateThrottle

from groups import apikeys, ratelimit
from groups.models import ApiKey
from groups.web import access


class KeyAuth(HttpBearer):
    """A usable key (not revoked, not expired, its user active); anything else is a 401."""

    openapi_description = "An API key made on the account page: `Authorization: Bearer gp_…`"

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = apikeys.find(token)
        if key is None:
            return None
        request.user = key.user
        return key


def counter_of(key: ApiKey) -> str:
    """The name a key's calls are counted under (scope "api" in groups.ratelimit)."""
    return f"key{key.pk}"


class KeyThrottle(AuthRateThrottle):
    """API_RATE_LIMIT calls per key (e.g. "600/minute"); over it: 429 with Retry-After.

    Counted in fixed windows in the shared cache (groups.ratelimit), so every worker
    process sees the same count. Not ninja's own sliding log: that stores every call's
    time and rewrites the whole list on every call, which with the file cache was a
    large share of each request.
    """

    def __init__(self) -> None:
        super().__init__(settings.API_RATE_LIMIT)
        self._refused = threading.local()  # ninja asks wait() right after, same thread

    def allow_request(self, request: HttpRequest) -> bool:
        if self.rate != settings.API_RATE_LIMIT:  # the setting is read live (tests change it)
            self.rate = settings.API_RATE_LIMIT
            self.num_requests, self.duration = self.parse_rate(self.rate)
        key = getattr(request, "auth", None)
        ident = counter_of(key) if isinstance(key, ApiKey) else f"ip{self.get_ident(request)}"
        count, left = ratelimit.count_in_window("api", ident, self.duration)
        if count <= self.num_requests:
            return True
        self._refused.wait = max(left, 1.0)
        return False

    def wait(self) -> float | None:
        """Seconds until the window that refused the call ends (read right after it)."""
        return getattr(self._refused, "wait", None)


def key_of(request: HttpRequest) -> ApiKey:
    return request.auth  # type: ignore[attr-defined]


def require_write(request: HttpRequest) -> None:
    if key_of(request).scope != ApiKey.Scope.WRITE:
        raise PermissionDenied("This API key is read-only.")


def allowed_group_ids(request: HttpRequest) -> int | None:
    """The one group a key is limited to (its id), or None for any."""
    return key_of(request).group_id


def _in_scope(request: HttpRequest, group_name: str) -> None:
    key = key_of(request)
    if key.group_id is not None and key.group.name != group_name:
        raise PermissionDenied(f"This API key works for the group {key.group.name} only.")


def viewer(request: HttpRequest, group_name: str) -> access.Viewer:
    _in_scope(request, group_name)
    return access.viewer(request, group_name)


def reader(request: HttpRequest, group_name: str) -> access.Viewer:
    _in_scope(request, group_name)
    return access.reader(request, group_name)


def moderator(request: HttpRequest, group_name: str) -> access.Viewer:
    _in_scope(request, group_name)
    return access.moderator(request, group_name)


def owner(request: HttpRequest, group_name: str) -> access.Viewer:
    _in_scope(request, group_name)
    return access.owner(request, group_name)


def scoped_groups(request: HttpRequest, groups):  # noqa: ANN001, ANN201
    """A queryset of groups, narrowed to the key's one group when it has one."""
    only = allowed_group_ids(request)
    return groups if only is None else groups.filter(pk=only)
