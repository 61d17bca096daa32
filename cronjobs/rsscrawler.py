"""rsscrawler: new entries of a group's RSS/Atom feeds become posts from the feed's poster.

Each due feed is claimed (a conditional UPDATE of next_check_at, so two
workers never poll one feed at once), fetched with its ETag and Last-Modified
(a 304 costs nothing), parsed by feedparser, and every entry not seen before
(by id, else link, else a hash of its text) is composed as a MIME message and
submitted through messageserver's posts.submit_post like any post: the posting
rules, moderation, archive, threading and fan-out all apply. The FeedEntry row
is written in the same transaction as the post, so a second poll never posts
it again, and a post that fails leaves the entry to be tried next time.

A feed that cannot be fetched or parsed backs off exponentially (interval *
2^failures, capped); after ``failures_to_report`` consecutive failures the
owners get a notice and errord gets a logging.error, once per failing spell.
A broken feed never stops the others: each is polled on its own.
"""

from __future__ import annotations

import hashlib
import html
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx
from django.db import transaction

from cronjobs import publichttp
from cronjobs.config import FeedSettings
from groups import links
from groups.models import Feed, FeedEntry, Membership
from messageserver import mailparse, notices, posts
from messageserver.inbound import InboundMail
from platformcore.backoff import delay as backoff_delay
from platformcore.htmltext import html_to_text

log = logging.getLogger(__name__)

USER_AGENT = "groups-rsscrawler/1.0 (+https://github.com/; mailing-list feed import)"
CLAIM_LEASE = timedelta(minutes=10)
SNIPPET_CHARS = 60


class FeedError(Exception):
    """The feed could not be fetched or read; the message says why, for people."""


@dataclass
class Fetched:
    status: int
    content: bytes
    headers: dict[str, str]


@dataclass
class FeedResult:
    feed_id: int
    status: str  # ok | not_modified | failed
    posted: list[int] = field(default_factory=list)  # message numbers (0: held)
    error: str = ""
    warning: str = ""  # imported, but the feed is ill-formed (shown to the owners)


def http_client(cfg: FeedSettings) -> httpx.Client:
    """One client per crawl pass (building its TLS context per feed costs more than the GET).

    It connects to public addresses only (cronjobs.publichttp), unless the
    operator set FEED_ALLOW_PRIVATE.
    """
    resolve = (publichttp.nameserver_resolve(cfg.nameserver, cfg.timeout_seconds)
               if cfg.nameserver else publichttp.system_resolve)
    return publichttp.public_client(cfg.timeout_seconds, allow_private=cfg.allow_private,
                                    resolve=resolve)


def fetch(feed: Feed, cfg: FeedSettings, client: httpx.Client) -> Fetched:
    """GET the feed with its validators; raises FeedError for anything but 200 or 304."""
    if urlsplit(feed.url).scheme not in ("http", "https"):
        raise FeedError(f"the feed address {feed.url!r} is not an http(s) URL")
    headers = {"User-Agent": USER_AGENT,
               "Accept": "application/rss+xml, application/atom+xml, application/xml, */*"}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.modified:
        headers["If-Modified-Since"] = feed.modified
    try:
        with client.stream("GET", feed.url, headers=headers) as resp:
            if resp.status_code == 304:
                return Fetched(304, b"", dict(resp.headers))
            if resp.status_code != 200:
                # the status only: nothing the server wrote is echoed onto the feeds page
                raise FeedError(f"the server answered HTTP {resp.status_code}")
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > cfg.max_bytes:
                    raise FeedError(f"the feed is larger than {cfg.max_bytes} bytes")
            return Fetched(200, bytes(body), dict(resp.headers))
    except httpx.HTTPError as exc:
        raise FeedError(f"could not fetch the feed: {type(exc).__name__}: {exc}") from None


def parse(fetched: Fetched, url: str) -> Any:
    """feedparser's result; a document with no usable entries and a parse error is a FeedError."""
    parsed = feedparser.parse(fetched.content, response_headers={
        "content-type": fetched.headers.get("content-type", "application/xml"),
        "content-location": url})
    if parsed.get("bozo") and not parsed.entries:
        exc = parsed.get("bozo_exception")
        raise FeedError(f"not a readable feed: {type(exc).__name__}: {exc}")
    if not parsed.get("version") and not parsed.entries:
        raise FeedError("not an RSS or Atom feed")
    return parsed


def entry_key(entry: Any) -> str:
    """What identifies an entry across polls: its id, else its link, else its content."""
    for attr in ("id", "link"):
        value = (entry.get(attr) or "").strip()
        if value:
            return value[:1000]
    text = "\x1f".join(str(entry.get(k) or "") for k in ("title", "published"))
    text += "\x1f" + entry_html(entry)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def entry_keys(entries: list[Any]) -> list[str]:
    """Keys of a document's entries; identical id-less entries are told apart by occurrence."""
    keys, seen = [], Counter()
    for entry in entries:
        key = entry_key(entry)
        seen[key] += 1
        keys.append(key if seen[key] == 1 or not key.startswith("sha256:")
                    else f"{key}#{seen[key]}")
    return keys


def entry_html(entry: Any) -> str:
    for content in entry.get("content") or []:
        if content.get("value"):
            return content["value"]
    return entry.get("summary") or entry.get("description") or ""


_MARKUP_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")


def entry_title(entry: Any) -> str:
    """The entry's title as text: an HTML or XHTML title (Atom type="html"/"xhtml") loses
    its tags and entities, a plain one is kept as written (``a <b>`` may be literal text)."""
    title = str(entry.get("title") or "")
    detail = entry.get("title_detail") or {}
    if str(detail.get("type") or "").lower() in _MARKUP_TYPES:
        title = html_to_text(title)
    return " ".join(title.split())


def bozo_warning(parsed: Any) -> str:
    """What was wrong with a feed feedparser read anyway, in words for its owners; "" if clean."""
    if not parsed.get("bozo"):
        return ""
    exc = parsed.get("bozo_exception")
    if type(exc).__name__ == "CharacterEncodingOverride":
        return (f"The feed misstates its character set ({exc}); its entries were read as "
                f"{parsed.get('encoding') or 'the detected encoding'}. Check that the posts "
                "read correctly, and ask the feed's publisher to declare the right charset.")
    return (f"The feed is not well-formed XML ({type(exc).__name__}: {exc}); "
            f"{len(parsed.entries)} entr{'y was' if len(parsed.entries) == 1 else 'ies were'} "
            "salvaged and imported, but some may be incomplete. Ask the feed's publisher to "
            "fix it.")


def entry_subject(feed: Feed, entry: Any, feed_title: str, text: str) -> str:
    title = entry_title(entry)
    if not title:
        snippet = " ".join(text.split())[:SNIPPET_CHARS].rstrip()
        link = (entry.get("link") or "").strip()
        title = snippet or (urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1] if link else "")
        title = f"{feed_title}: {title}" if title else f"New item from {feed_title}"
    prefix = feed.subject_prefix.strip()
    return f"{prefix} {title}" if prefix else title


def compose_entry(feed: Feed, entry: Any, feed_title: str, poster_name: str) -> bytes:
    """The MIME message of one entry: its text, a link to the original, its enclosures."""
    markup = entry_html(entry)
    text = html_to_text(markup)
    link = (entry.get("link") or "").strip()
    enclosures = [e for e in entry.get("enclosures") or [] if e.get("href")]
    tail_text, tail_html = [], []
    if link:
        tail_text.append(f"Read the original: {link}")
        tail_html.append(f'<p>Read the original: <a href="{html.escape(link)}">'
                         f"{html.escape(link)}</a></p>")
    for enc in enclosures:
        desc = ", ".join(x for x in (enc.get("type", ""),
                                     f"{enc['length']} bytes" if enc.get("length") else "") if x)
        tail_text.append(f"Enclosure: {enc['href']}" + (f" ({desc})" if desc else ""))
        tail_html.append(f'<p>Enclosure: <a href="{html.escape(enc["href"])}">'
                         f'{html.escape(enc["href"])}</a>{html.escape(f" ({desc})" if desc else "")}'
                         "</p>")
    body = "\n\n".join(x for x in (text, "\n".join(tail_text)) if x) + "\n"
    body_html = (markup or "") + "\n" + "\n".join(tail_html)
    subject = entry_subject(feed, entry, feed_title, text)
    return posts.compose(feed.group, feed.poster_email, poster_name, subject, body,
                         html=body_html)


def _post_entry(feed: Feed, entry: Any, key: str, feed_title: str,
                poster: Membership | None, now: datetime) -> int | None:
    """Post one entry; returns its message number (0 if held), None if already posted."""
    raw = compose_entry(feed, entry, feed_title, poster.name if poster else "")
    parsed = mailparse.parse(raw)
    inbound = InboundMail(mail_from=feed.poster_email, raw=parsed.raw, parsed=parsed,
                          now=now, via="feed")
    with transaction.atomic():
        record, created = FeedEntry.objects.get_or_create(feed=feed, key=key,
                                                          defaults={"seen_at": now})
        if not created:
            return None
        outcome = posts.submit_post(feed.group, inbound, source="feed", membership=poster)
        if outcome.kind == "rejected":
            raise FeedError(f"the group refused the post from {feed.poster_email}: "
                            f"{outcome.reason}")  # rolls back the FeedEntry: tried again
        number = outcome.number if outcome.kind == "accepted" else 0
        FeedEntry.objects.filter(pk=record.pk).update(message_number=number or None)
    return number


def poll(feed: Feed, now: datetime, cfg: FeedSettings, client: httpx.Client) -> FeedResult:
    """Fetch one feed and post its new entries (raises FeedError when it fails)."""
    fetched = fetch(feed, cfg, client)
    if fetched.status == 304:
        return FeedResult(feed.id, "not_modified")
    parsed = parse(fetched, feed.url)
    feed_title = " ".join(str(parsed.feed.get("title") or "").split()) or feed.title or \
        urlsplit(feed.url).netloc
    poster = Membership.objects.filter(group=feed.group,
                                       email=parseaddr(feed.poster_email)[1].lower()).first()
    entries = list(parsed.entries)
    entries.reverse()  # feeds list the newest first; post in the order they were written
    keys = entry_keys(entries)
    seen = set(FeedEntry.objects.filter(feed=feed, key__in=keys).values_list("key", flat=True))
    result = FeedResult(feed.id, "ok", warning=bozo_warning(parsed))
    for entry, key in zip(entries, keys, strict=True):
        if key in seen or len(result.posted) >= cfg.max_new_entries:
            continue
        seen.add(key)
        number = _post_entry(feed, entry, key, feed_title, poster, now)
        if number is not None:
            result.posted.append(number)
    Feed.objects.filter(pk=feed.pk).update(
        etag=fetched.headers.get("etag", "")[:500],
        modified=fetched.headers.get("last-modified", "")[:200],
        title=feed.title or feed_title[:200])
    if result.warning:
        log.warning("feed %s (%s) is not well-formed, imported what it could: %s", feed.id,
                    feed.url, parsed.get("bozo_exception"))
    return result


def _succeeded(feed: Feed, now: datetime, cfg: FeedSettings, result: FeedResult) -> None:
    fields: dict[str, Any] = {"last_checked_at": now, "consecutive_failures": 0,
                              "next_check_at": now + timedelta(minutes=cfg.interval_minutes),
                              "last_error": "", "failure_reported_at": None}
    if result.status == "ok":  # a 304 says nothing new about the document's quality
        fields["last_warning"] = result.warning[:5000]
    Feed.objects.filter(pk=feed.pk).update(**fields)


def backoff(failures: int, cfg: FeedSettings) -> timedelta:
    """How long a feed that failed ``failures`` times in a row waits before the next try."""
    return timedelta(minutes=backoff_delay(failures + 1, cfg.interval_minutes,
                                           cfg.max_backoff_minutes, jitter=0))


def _failed(feed: Feed, now: datetime, cfg: FeedSettings, error: str) -> None:
    failures = feed.consecutive_failures + 1
    Feed.objects.filter(pk=feed.pk).update(
        last_checked_at=now, next_check_at=now + backoff(failures, cfg),
        consecutive_failures=failures, last_error=error[:5000])
    log.warning("feed %s (%s) failed (%d in a row): %s", feed.id, feed.url, failures, error)
    if failures < cfg.failures_to_report or feed.failure_reported_at is not None:
        return
    with transaction.atomic():
        if not Feed.objects.filter(pk=feed.pk, failure_reported_at__isnull=True).update(
                failure_reported_at=now):
            return
        group = feed.group
        owners = list(Membership.objects.filter(
            group=group, role=Membership.Role.OWNER, status=Membership.Status.ACTIVE)
            .values_list("email", flat=True))
        subject, body = notices.render("feed_failing", group, {
            "group": group, "feed": feed, "failures": failures, "error": error,
            "next_check_at": now + backoff(failures, cfg),
            "group_url": links.group_url(group.name)}, reader=notices.common_reader(owners))
        notices.queue(notices.build(group, owners, subject, body), owners,
                      f"{group.name}: feed {feed.id} failing", group)
    # errord's handler ships ERROR records: one report per failing spell
    log.error("feed %s of group %s (%s) has failed %d times in a row: %s", feed.id,
              feed.group.name, feed.url, failures, error)


def crawl(now: datetime, cfg: FeedSettings | None = None,
          feed_id: int | None = None) -> list[FeedResult]:
    """Poll every due feed (or just ``feed_id``, due or not); run it every half hour."""
    cfg = cfg or FeedSettings.from_env()
    feeds = Feed.objects.filter(active=True).select_related("group")
    feeds = feeds.filter(pk=feed_id) if feed_id is not None else feeds.filter(
        next_check_at__lte=now)
    results: list[FeedResult] = []
    with http_client(cfg) as client:
        for feed in feeds.order_by("next_check_at", "id"):
            _crawl_one(feed, now, cfg, client, results)
    return results


def _crawl_one(feed: Feed, now: datetime, cfg: FeedSettings, client: httpx.Client,
               results: list[FeedResult]) -> None:
    if not Feed.objects.filter(pk=feed.pk, next_check_at=feed.next_check_at).update(
            next_check_at=now + CLAIM_LEASE):
        return  # another worker is polling it
    try:
        result = poll(feed, now, cfg, client)
    except FeedError as exc:
        _failed(feed, now, cfg, str(exc))
        results.append(FeedResult(feed.id, "failed", error=str(exc)))
        return
    except Exception as exc:  # a bug must not stop the other feeds; errord hears of it
        log.exception("feed %s (%s) crashed the crawler", feed.id, feed.url)
        _failed(feed, now, cfg, f"internal error: {type(exc).__name__}: {exc}")
        results.append(FeedResult(feed.id, "failed", error=str(exc)))
        return
    _succeeded(feed, now, cfg, result)
    results.append(result)
    if result.posted:
        log.info("feed %s: posted %d new entries to %s", feed.id, len(result.posted),
                 feed.group.name)
