"""Bring an existing archive into a group: mbox (Mailman/pipermail, Google Takeout) or Maildir.

Messages are archived in date order through the same archive and threader as
live mail (so topics form as they would have), with their own dates as "now",
source "import", and nothing queued for delivery: nobody is emailed. A
Message-ID already in the group (or seen earlier in the file) is skipped, so
importing twice adds nothing; a message without one gets an id derived from
its bytes, which makes that true for it too. The search index is fed in bulk.
"""

from __future__ import annotations

import hashlib
import mailbox
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction

import search
from groups.models import Group, Membership, Message, RawMessage, Topic
from messageserver import archive, threader
from messageserver.mailparse import ParsedMail, parse

BATCH = 200
# Pipermail hides addresses as "bob at example.org"; put the @ back.
_PIPERMAIL_FROM = re.compile(r"^\s*([\w.+-]+) at ([\w-]+(?:\.[\w-]+)+)\s*(?:\((.*)\))?\s*$")
_FROM_LINE_DATE = re.compile(r"^(?:From )?\S+\s+(.*)$")


class ImportError_(ValueError):  # noqa: N801 - a clear name for a bad archive path
    """The file is neither an mbox nor a Maildir we can read."""


@dataclass
class ImportReport:
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    unreadable: int = 0
    topics_before: int = 0
    topics_after: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def new_topics(self) -> int:
        return self.topics_after - self.topics_before


@dataclass
class _Item:
    raw: bytes
    parsed: ParsedMail
    date: datetime
    order: int


def read_archive(path: Path) -> Iterator[tuple[bytes, str]]:
    """Each message's bytes and its mbox From-line (empty for Maildir), in file order."""
    path = Path(path)
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise ImportError_(f"{path} is a directory but not a Maildir (no cur/ or new/)")
        box = mailbox.Maildir(str(path), factory=None, create=False)
        for key in sorted(box.keys()):
            yield box.get_bytes(key), ""
        return
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(5)
    if head and head != b"From ":
        raise ImportError_(f"{path} is not an mbox file (it does not start with 'From ')")
    box = mailbox.mbox(str(path), factory=None, create=False)
    for key in box.keys():
        msg = box.get_message(key)
        yield box.get_bytes(key, from_=False), msg.get_from()


def _fix_pipermail_from(parsed: ParsedMail) -> None:
    if "@" in parsed.from_email:
        return
    raw = next((str(v) for k, v in parsed.msg.raw_items() if k.lower() == "from"), "")
    m = _PIPERMAIL_FROM.match(" ".join(raw.replace('"', "").split()))
    if m:
        parsed.from_email = f"{m.group(1)}@{m.group(2)}".lower()
        parsed.from_name = parsed.from_name if "@" in parsed.from_name else (m.group(3) or "")


def _from_line_date(from_line: str) -> datetime | None:
    m = _FROM_LINE_DATE.match(from_line or "")
    if not m:
        return None
    try:
        when = datetime.strptime(" ".join(m.group(1).split()[-5:]), "%a %b %d %H:%M:%S %Y")
        return when.replace(tzinfo=UTC)
    except ValueError:
        try:
            return parsedate_to_datetime(m.group(1))
        except Exception:
            return None


def _synthetic_id(raw: bytes) -> str:
    return f"<import-{hashlib.sha256(raw).hexdigest()[:32]}@{settings.GROUPS_DOMAIN}>"


def import_archive(group: Group, path: Path, *, progress: Callable[[int], None] | None = None,
                   now: datetime | None = None) -> ImportReport:
    report = ImportReport(topics_before=group.topics.count())
    fallback = (now or datetime.now(UTC)).replace(microsecond=0)
    items: list[_Item] = []
    for order, (raw, from_line) in enumerate(read_archive(path)):
        report.read += 1
        try:
            parsed = parse(raw)
        except Exception as exc:  # one broken message never stops an import
            report.unreadable += 1
            report.problems.append(f"message {order + 1}: {exc}")
            continue
        _fix_pipermail_from(parsed)
        if not parsed.message_id:
            parsed.message_id = _synthetic_id(raw)
        date = parsed.date or _from_line_date(from_line) or fallback
        items.append(_Item(raw, parsed, date, order))
    items.sort(key=lambda i: (i.date, i.order))
    seen = set(Message.objects.filter(group=group).values_list("message_id", flat=True))
    members = {m.email: m for m in Membership.objects.filter(group=group)}
    fresh: list[_Item] = []
    for item in items:
        if item.parsed.message_id in seen:
            report.duplicates += 1
            if progress:
                progress(1)
            continue
        seen.add(item.parsed.message_id)
        fresh.append(item)
    threads = _threads(fresh)
    topics: dict[str, Topic] = {}  # thread root -> the topic its first message opened
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start:start + BATCH]
        archived = []
        with transaction.atomic():
            group.refresh_from_db()
            for item in batch:
                root = threads[item.parsed.message_id]
                message = _archive_one(group, item, members.get(item.parsed.from_email),
                                       topics.get(root))
                topics.setdefault(root, message.topic)
                archived.append(message)
            search.index_many(Message.objects.filter(pk__in=[m.pk for m in archived])
                              .select_related("group", "topic")
                              .prefetch_related("topic__hashtags", "attachments"))
        report.imported += len(batch)
        if progress:
            progress(len(batch))
    report.topics_after = group.topics.count()
    return report


def _threads(items: list[_Item]) -> dict[str, str]:
    """Each Message-ID's thread root within the file (union of reply links).

    Archives are imported oldest first, but clocks lie: a reply dated before
    its parent must still join the parent's topic, so the links are resolved
    over the whole file first.
    """
    parent: dict[str, str] = {i.parsed.message_id: i.parsed.message_id for i in items}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for item in items:
        # Like threader.find_topic: the nearest ancestor present decides.
        chain = threader.reference_chain(item.parsed.in_reply_to, item.parsed.references)
        ref = next((r for r in chain if r in parent and r != item.parsed.message_id), None)
        if ref is not None:
            a, b = find(item.parsed.message_id), find(ref)
            if a != b:
                parent[a] = b
    return {mid: find(mid) for mid in parent}


def _archive_one(group: Group, item: _Item, membership: Membership | None,
                 topic: Topic | None) -> Message:
    parsed = item.parsed
    parsed.date = item.date
    if topic is None:
        chain = threader.reference_chain(parsed.in_reply_to, parsed.references)
        topic = threader.find_topic(group, parsed.subject, chain, item.date)
    tags = archive.group_hashtags(group, parsed.subject, create=True)
    return archive.archive(group, parsed, item.raw, membership=membership, now=item.date,
                           topic=topic, hashtags=tags, source=Message.Source.IMPORT)


def export_archive(group: Group, path: Path, *,
                   progress: Callable[[int], None] | None = None) -> int:
    """Write the group's messages (not deleted), oldest number first, as an mboxo file.

    The stored raw bytes are written as received (line ends made LF, lines
    starting "From " quoted as ">From "), so importing the file elsewhere gives
    the same messages, ids, dates and threads.
    """
    count = 0
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    with open(tmp, "wb") as out:
        for entry in iter_mbox(group, progress=progress):
            out.write(entry)
            count += 1
    tmp.replace(path)
    return count


def iter_mbox(group: Group, since: datetime | None = None, until: datetime | None = None, *,
              progress: Callable[[int], None] | None = None,
              chunk_size: int = 500) -> Iterator[bytes]:
    """The group's messages (not deleted) as mbox entries, one at a time, oldest number first.

    ``since`` is inclusive and ``until`` exclusive, on the message's date. Rows are
    read ``chunk_size`` at a time by number (keyset, not OFFSET), so a web
    download streams a large archive in flat memory.
    """
    rows = Message.objects.filter(group=group, deleted=False)
    if since is not None:
        rows = rows.filter(date__gte=since)
    if until is not None:
        rows = rows.filter(date__lt=until)
    after = 0
    while True:
        chunk = list(rows.filter(number__gt=after).order_by("number")
                     .values_list("pk", "number", "sender_email", "date")[:chunk_size])
        if not chunk:
            return
        after = chunk[-1][1]
        raws = dict(RawMessage.objects.filter(
            message_id__in=[pk for pk, _, _, _ in chunk]).values_list("message_id", "data"))
        for pk, _, sender, date in chunk:
            data = raws.get(pk)
            if data is not None:
                yield _mbox_entry(bytes(data), sender, date)
        if progress:
            progress(len(chunk))


def _mbox_entry(raw: bytes, sender: str, date: datetime) -> bytes:
    body = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    body = re.sub(rb"(?m)^From ", b">From ", body)
    if not body.endswith(b"\n"):
        body += b"\n"
    sender = re.sub(r"\s", "", sender) or "MAILER-DAEMON"
    stamp = date.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y")
    return f"From {sender} {stamp}\n".encode() + body + b"\n"
