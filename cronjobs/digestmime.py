"""The three digest formats, as MIME bytes: plain (RFC 1153), full-featured, daily summary.

Pure construction: given the group, the archived messages and the clock, build
the message, in the language and time zone active (cronjobs.digests sets the
readers'). Who gets which digest and when is decided in cronjobs.digests;
delivery (List headers, footer, VERP, DKIM) is Karl's, as for every post.

- plain_digest: one text/plain part laid out as RFC 1153 says (a table of
  contents, 70 dashes, then each message's Date/From/Subject and body separated
  by 30 dashes, and an "End of ... Digest" trailer), so old digest readers can
  burst it.
- digest: multipart/mixed holding an HTML table of contents, then a
  multipart/digest whose parts are the archived originals (message/rfc822),
  attachments and all, so a mail client can open or reply to each one.
- summary: multipart/alternative (text and HTML) listing topics, authors, the
  first line of each message and links to read it on the website.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import datetime
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.template import Context, Engine
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from groups import links, plaintext
from groups.models import Group, Message
from messageserver.fanout import tagged_subject
from platformcore import mailheaders
from platformcore.env import PROJECT_DIR

_HTML = Engine(dirs=[str(PROJECT_DIR / "templates")], autoescape=True,
               libraries=plaintext.LIBRARIES)

KINDS = ("digest", "plain_digest", "summary")
FIRST_LINE_CHARS = 160


@dataclass
class AttachmentLink:
    """An attachment as a text digest names it: the plain digest carries no files."""

    filename: str
    content_type: str
    size: int
    url: str

    @property
    def size_text(self) -> str:
        size = float(self.size)
        for unit in ("bytes", "KB", "MB"):
            if size < 1024 or unit == "MB":
                return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
            size /= 1024
        return f"{size:.1f} MB"


@dataclass
class Entry:
    """One message as a digest shows it."""

    number: int
    subject: str
    author: str
    sender_email: str
    date: datetime
    text: str
    first_line: str
    url: str
    topic_id: int
    topic_subject: str
    topic_url: str
    attachments: list[AttachmentLink] = field(default_factory=list)


@dataclass
class TopicBlock:
    subject: str
    url: str
    entries: list[Entry]


def first_line(text: str) -> str:
    """The first line a person wrote: skipping quotes, attributions and blank lines."""
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith(">"):
            continue
        if line.lower().startswith("on ") and line.endswith("wrote:"):
            continue
        if len(line) > FIRST_LINE_CHARS:
            return line[:FIRST_LINE_CHARS].rstrip() + "..."
        return line
    return ""


def entries_of(group: Group, messages: list[Message]) -> list[Entry]:
    out = []
    for m in messages:
        author = m.sender_name or m.sender_email.split("@", 1)[0]
        out.append(Entry(
            number=m.number, subject=m.subject, author=author, sender_email=m.sender_email,
            date=m.date, text=m.body_text or "", first_line=first_line(m.body_text),
            url=links.message_url(group.name, m.number), topic_id=m.topic_id,
            topic_subject=m.topic.subject, topic_url=links.topic_url(group.name, m.topic_id),
            attachments=[AttachmentLink(a.filename, a.content_type, a.size,
                                        links.attachment_url(group.name, a.id, a.filename))
                         for a in m.attachments.all()]))
    return out


def topics_of(entries: list[Entry]) -> list[TopicBlock]:
    """Entries grouped by topic, topics in order of their first message here."""
    blocks: dict[int, TopicBlock] = {}
    for e in entries:
        block = blocks.setdefault(e.topic_id, TopicBlock(e.topic_subject, e.topic_url, []))
        block.entries.append(e)
    return list(blocks.values())


def digest_subject(group: Group, kind: str, entries: list[Entry], now: datetime) -> str:
    first, last = entries[0].number, entries[-1].number
    span = f"#{first}" if first == last else f"#{first}-#{last}"
    count = ngettext("%(count)d message", "%(count)d messages", len(entries)) % {
        "count": len(entries)}
    if kind == "summary":
        text = _("%(title)s Daily Summary for %(date)s: %(count)s") % {
            "title": group.display_title, "date": formats.date_format(timezone.localtime(now), "DATE_FORMAT"),
            "count": count}
    else:
        text = _("%(title)s Digest %(span)s: %(count)s") % {
            "title": group.display_title, "span": span, "count": count}
    return tagged_subject(group, text)


def _context(group: Group, kind: str, entries: list[Entry], now: datetime) -> dict:
    return {"group": group, "kind": kind, "entries": entries, "topics": topics_of(entries),
            "now": now, "group_url": links.group_url(group.name),
            "first": entries[0].number, "last": entries[-1].number,
            "post_address": group.post_address}


def _headers(msg, group: Group, kind: str, entries: list[Entry], now: datetime) -> None:
    put = mailheaders.put
    put(msg, "From", mailheaders.mailbox(group.display_title, group.post_address))
    put(msg, "To", group.post_address)
    put(msg, "Subject", digest_subject(group, kind, entries, now))
    put(msg, "Date", format_datetime(now))
    put(msg, "Message-ID", make_msgid(idstring=f"{kind}.{group.name}.{entries[0].number}-"
                                                f"{entries[-1].number}",
                                      domain=settings.GROUPS_DOMAIN))
    put(msg, "X-Groups-Digest", f"{kind}; first={entries[0].number}; last={entries[-1].number}")


SEPARATOR_1153 = "-" * 30


def escape_1153(text: str) -> str:
    """A body line that looks like RFC 1153's message separator would split the message."""
    return "\n".join(" " + line if line.rstrip() == SEPARATOR_1153 else line
                     for line in text.rstrip().splitlines())


def plain_digest(group: Group, entries: list[Entry], now: datetime) -> bytes:
    ctx = _context(group, "plain_digest", entries, now)
    end = f"End of {group.display_title} Digest"  # RFC 1153's trailer: English, for bursters
    ctx.update(bodies=[(e, escape_1153(e.text)) for e in entries], end_line=end,
               stars="*" * len(end), toc_rule="-" * 70, rule=SEPARATOR_1153)
    body = plaintext.render_file("email/digest_plain.txt", ctx)
    msg = mailheaders.message()
    _headers(msg, group, "plain_digest", entries, now)
    msg.set_content(body)
    return msg.as_bytes()


def summary(group: Group, entries: list[Entry], now: datetime) -> bytes:
    ctx = _context(group, "summary", entries, now)
    msg = mailheaders.message()
    _headers(msg, group, "summary", entries, now)
    msg.set_content(plaintext.render_file("email/digest_summary.txt", ctx))
    msg.add_alternative(_HTML.get_template("email/digest_summary.html").render(Context(ctx)),
                        subtype="html")
    return msg.as_bytes()


def full_digest(group: Group, entries: list[Entry], raws: dict[int, bytes],
                now: datetime) -> bytes:
    """multipart/mixed: the HTML table of contents, then a multipart/digest of the originals."""
    ctx = _context(group, "digest", entries, now)
    outer = MIMEMultipart("mixed", policy=email.policy.compat32)
    _headers(outer, group, "digest", entries, now)
    outer.preamble = _("This is a MIME digest; your mail program shows each message in it.") + "\n"
    toc = MIMEText(_HTML.get_template("email/digest_toc.html").render(Context(ctx)),
                   "html", "utf-8")
    mailheaders.put(toc, "Content-Description", _("Table of contents"))
    outer.attach(toc)
    inner = MIMEMultipart("digest")
    for e in entries:
        raw = raws.get(e.number)
        if raw is None:  # an import without its original: rebuild a plain copy
            raw = _rebuilt(group, e)
        original = email.message_from_bytes(raw, policy=email.policy.compat32)
        part = MIMEMessage(original)
        mailheaders.put(part, "Content-Description", f"#{e.number}")
        inner.attach(part)
    outer.attach(inner)
    return outer.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))


def _rebuilt(group: Group, e: Entry) -> bytes:
    msg = mailheaders.message()
    mailheaders.put(msg, "From", mailheaders.mailbox(e.author, e.sender_email))
    mailheaders.put(msg, "To", group.post_address)
    mailheaders.put(msg, "Subject", e.subject)
    mailheaders.put(msg, "Date", format_datetime(e.date))
    msg.set_content(e.text)
    return msg.as_bytes()


def build(kind: str, group: Group, messages: list[Message], raws: dict[int, bytes],
          now: datetime) -> bytes:
    """The digest of ``kind`` holding ``messages`` (in number order)."""
    if kind not in KINDS:
        raise ValueError(f"unknown digest kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not messages:
        raise ValueError("a digest needs at least one message")
    entries = entries_of(group, messages)
    if kind == "plain_digest":
        return plain_digest(group, entries, now)
    if kind == "summary":
        return summary(group, entries, now)
    return full_digest(group, entries, raws, now)
