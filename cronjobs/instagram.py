"""Instagram into a group: an owner's connected professional account's new media become
the group's posts (the picture attached) and photos in the chosen album.

It reads the Instagram Graph API's ``/me/media`` with the account's long-lived token
(``fields=id,caption,media_type,media_url,thumbnail_url,permalink,timestamp``), oldest
new item first, and refreshes the token (``/refresh_access_token``) when it is older
than REFRESH_AFTER, so it never lapses. Each item is stored as a Photo first (its
``instagram_id`` is what "already seen" means) and then posted through messageserver;
if the post fails, the photo is taken back and the next run tries again.

Downloads go through the feed crawler's public-only client (cronjobs.publichttp):
FEED_ALLOW_PRIVATE=true also lets this crawler reach a private address (tests serve
the documented response shapes from loopback). INSTAGRAM_GRAPH_URL moves the API's base.
"""

from __future__ import annotations

import base64
import logging
import os
from datetime import datetime, timedelta

import httpx

from cronjobs.publichttp import public_client
from groups.models import InstagramAccount, Photo
from groups.photos import NotAnImage, add_photo

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.instagram.com"
FIELDS = "id,caption,media_type,media_url,thumbnail_url,permalink,timestamp"
REFRESH_AFTER = timedelta(days=30)  # long-lived tokens last 60 days
TIMEOUT = 20.0


def _graph_url() -> str:
    return os.environ.get("INSTAGRAM_GRAPH_URL", GRAPH_URL).rstrip("/")


def _client() -> httpx.Client:
    allow = os.environ.get("FEED_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes")
    return public_client(TIMEOUT, allow_private=allow)


class GraphError(RuntimeError):
    pass


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise GraphError(f"HTTP {response.status_code}: not JSON") from None
    if response.status_code != 200 or "error" in body:
        error = body.get("error") or {}
        raise GraphError(f"HTTP {response.status_code}: {error.get('message') or body}"[:500])
    return body


def refresh_token(account: InstagramAccount, client: httpx.Client, now: datetime) -> None:
    body = _json(client.get(f"{_graph_url()}/refresh_access_token", params={
        "grant_type": "ig_refresh_token", "access_token": account.access_token}))
    InstagramAccount.objects.filter(pk=account.pk).update(
        access_token=body["access_token"], token_refreshed_at=now)
    account.access_token = body["access_token"]


def poll_account(account: InstagramAccount, now: datetime, client: httpx.Client) -> int:
    """Post and store the account's new media; how many."""
    from messageserver.client import MessageServerClient

    if now - account.token_refreshed_at > REFRESH_AFTER:
        refresh_token(account, client, now)
    body = _json(client.get(f"{_graph_url()}/me/media", params={
        "fields": FIELDS, "access_token": account.access_token, "limit": 25}))
    seen = set(Photo.objects.filter(album__group=account.group, instagram_id__in=[
        str(item.get("id")) for item in body.get("data", [])]).values_list(
        "instagram_id", flat=True))
    posted = 0
    for item in sorted(body.get("data", []), key=lambda i: i.get("timestamp", "")):
        media_id = str(item.get("id", ""))
        if not media_id or media_id in seen:
            continue
        url = item.get("thumbnail_url") if item.get("media_type") == "VIDEO" else item.get(
            "media_url")
        if not url:
            continue
        data = client.get(url).raise_for_status().content
        caption = (item.get("caption") or "").strip()
        try:
            photo = add_photo(account.album, data, caption=caption[:500], strip_location=True,
                              user=None, instagram_id=media_id)
        except NotAnImage as exc:
            log.warning("instagram %s: media %s is not a picture: %s", account.pk, media_id,
                        exc)
            continue
        subject = (caption.splitlines()[0][:120] if caption else "New on Instagram")
        text = f"{caption}\n\n{item.get('permalink', '')}\n".lstrip()
        name = photo.image.name.rsplit("/", 1)[-1]
        try:
            MessageServerClient().post(account.group.name, account.poster_email, subject,
                                       text, attachments=[{
                                           "filename": name, "content_type": "image/jpeg"
                                           if name.endswith(".jpg") else "image/png",
                                           "data_b64": base64.b64encode(data).decode()}])
        except Exception:
            photo.delete()  # seen only once it is posted: the next run tries again
            raise
        posted += 1
    return posted


def crawl(now: datetime) -> str:
    accounts = InstagramAccount.objects.filter(active=True).select_related("group", "album")
    posted, failed = 0, 0
    with _client() as client:
        for account in accounts:
            try:
                posted += poll_account(account, now, client)
                InstagramAccount.objects.filter(pk=account.pk).update(last_checked_at=now,
                                                                      last_error="")
            except Exception as exc:
                failed += 1
                log.warning("instagram account %s of %s failed: %s", account.pk,
                            account.group.name, exc)
                InstagramAccount.objects.filter(pk=account.pk).update(
                    last_checked_at=now, last_error=str(exc)[:500])
    return f"{len(accounts)} Instagram accounts polled, {posted} posted, {failed} failed"
