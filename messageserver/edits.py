"""A member editing their own post from the website (Groups.io's "edit message").

The one rule of who may edit what and until when is ``refusal``: the website
asks it to decide whether to offer "Edit", and ``apply`` asks it again before
changing anything. Only the author, matched by their account (or, for a
membership without one, its address), while a member of the group, within the group's
``edit_window_minutes`` of posting; never a deleted message or one in a
locked topic. Moderators change the archive through groups.archiveedit
(topics, moves, deletion), not by rewriting members' words.

An edit keeps the version it replaces (MessageRevision), shows the new one in
the archive with "Edited" and its time, and indexes it again for search
(the after-archive hook). Raw bytes stay as they were received: the mbox
export is the mail that was sent. When the group asks for it
(``send_edits``), members who get each message by email receive the new
version as a reply to the original, marked "[Edited Message Follows]" as on
Groups.io. Digest members get nothing extra: a digest reads the archive when
it is sent, so one sent after the edit already has the new text, and one sent
before cannot be called back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from groups import activitylog
from groups.models import Group, Membership, Message, MessageRevision
from messageserver import fanoutqueue, heldedit, hooks, posts
from messageserver.heldedit import EditError
from messageserver.mailparse import sanitize_html
from platformcore import markdown

__all__ = ["EDITED_MARK", "EditError", "apply", "deadline", "is_author", "refusal"]

EDITED_MARK = "[Edited Message Follows]"


def deadline(message: Message, group: Group) -> datetime | None:
    """Until when the author may edit ``message``; None when the group allows no edits."""
    if not group.edit_window_minutes:
        return None
    return message.created_at + timedelta(minutes=group.edit_window_minutes)


def is_author(message: Message, editor: Membership | None) -> bool:
    """The editor wrote the message: the same account, else the same membership."""
    author = message.membership
    if editor is None or author is None:
        return False
    if author.user_id is not None and editor.user_id is not None:
        return author.user_id == editor.user_id
    return author.pk == editor.pk


def refusal(message: Message, editor: Membership | None, now: datetime) -> str:
    """Why ``editor`` may not edit ``message`` now, or "" when they may."""
    group = message.group
    if message.deleted:
        return _("This message was deleted.")
    if not is_author(message, editor):
        return _("Only the author of a message can edit it.")
    if not editor.is_active:  # type: ignore[union-attr] - is_author ruled out None
        return _("Only the group's members can edit their messages.")
    until = deadline(message, group)
    if until is None:
        return _("Members can't edit their messages in this group.")
    if now > until:
        return _("The time to edit this message is over: this group allows edits for "
                 "%(minutes)d minutes after posting.") % {"minutes": group.edit_window_minutes}
    if message.topic.locked:
        return _("This topic is locked.")
    return ""


def _image_sources(message: Message) -> dict[str, str]:
    """File names of the message's inline images, as the Markdown names them → cid:."""
    out: dict[str, str] = {}
    for att in message.attachments.exclude(content_id=""):
        out[att.filename] = out[f"cid:{att.filename}"] = f"cid:{att.content_id}"
    return out


def _inline_parts(message: Message, fragment: str) -> list[tuple[str, str, bytes, str]]:
    """The stored images the new fragment shows by Content-ID, for the correction mail."""
    shown = set(markdown.image_sources(fragment))
    parts = []
    for att in message.attachments.exclude(content_id=""):
        if f"cid:{att.content_id}" in shown:
            data = (Path(settings.ATTACHMENTS_DIR) / att.path).read_bytes()
            parts.append((att.filename, att.content_type, data, att.content_id))
    return parts


def apply(message: Message, editor: Membership | None, subject: str, text: str, *,
          markdown_source: bool, now: datetime) -> int:
    """Edit ``message`` (or raise PermissionError with the refusal, or EditError naming
    the field); returns how many members the correction was queued for."""
    why = refusal(message, editor, now)
    if why:
        raise PermissionError(why)
    assert editor is not None
    subject, text = heldedit.check(subject, text)
    fragment = ""
    if markdown_source:
        fragment = markdown.replace_image_sources(markdown.render(text),
                                                  _image_sources(message))
    group = message.group
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        MessageRevision.objects.create(
            message=locked, subject=locked.subject, body_text=locked.body_text,
            body_html=locked.body_html, markdown=locked.markdown,
            written_at=locked.edited_at or locked.date, replaced_at=now,
            replaced_by=editor.email)
        Message.objects.filter(pk=locked.pk).update(
            subject=subject, body_text=text, body_html=sanitize_html(fragment),
            markdown=markdown_source, edited_at=now)
        message.refresh_from_db()
        activitylog.record(group, actor=editor.email, verb="edit_message",
                           target=f"message #{message.number}")
        hooks.message_archived(message)  # the search index takes the new text
        count = 0
        if group.send_edits:
            count = _queue_correction(message, editor, fragment)
    return count


def _queue_correction(message: Message, editor: Membership, fragment: str) -> int:
    """The new version, as a reply to the original, to members who take each message."""
    group = message.group
    mark = _(EDITED_MARK)
    text = f"{mark}\n\n{message.body_text}"
    html = ""
    inline: list[tuple[str, str, bytes, str]] = []
    if message.markdown:
        html = markdown.mail_document(f"<p><em>{mark}</em></p>\n{fragment}", message.subject)
        inline = _inline_parts(message, fragment)
    subject = message.subject if message.subject.lower().startswith("re:") else (
        f"Re: {message.subject}")
    raw = posts.compose(group, message.sender_email, message.sender_name or editor.name,
                        subject, text, html, reply_to=message, inline=inline,
                        markdown=message.markdown)
    tags = list(message.topic.hashtags.all())
    return fanoutqueue.queue_fanout(message, tags, raw=raw, subject=subject, kind="edit")

