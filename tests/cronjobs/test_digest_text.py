"""Text digests are text (#15 items 4, 5): never HTML-escaped, and attachments named with a link.

Checked by parsing each queued digest with Python's email parser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cronjobs.config import DigestSettings
from cronjobs.digests import send_digests
from groups.models import Attachment
from tests.cronjobs.conftest import jobs, parsed

DAY = datetime(2026, 11, 23, tzinfo=UTC)
TRICKY = "l'entrée & <b>gras</b> \"cité\" > 3"


def _post(group, subject: str, text: str, attachments=None) -> int:
    from messageserver import pipeline, posts

    raw = posts.compose(group, "bob@example.org", "Bob O'Brien", subject, text,
                        attachments=attachments)
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", [group.post_address], raw,
                                             now=DAY + timedelta(hours=2))
    assert outcome.kind == "accepted", outcome
    return outcome.number


def test_plain_digest_and_summary_text_are_never_escaped(digest_group):
    _post(digest_group, f"Menu: {TRICKY}", f"{TRICKY}\n")
    send_digests(DAY + timedelta(days=1), DigestSettings())
    plain = parsed(jobs("plain_digest")[0]).get_content()
    summary = parsed(jobs("summary")[0])
    summary_text = summary.get_body(("plain",)).get_content()
    for text in (plain, summary_text):
        assert TRICKY in text and "Bob O'Brien" in text
        assert "&#x27;" not in text and "&amp;" not in text and "&lt;" not in text
    html = summary.get_body(("html",)).get_content()
    assert "<b>gras</b>" not in html and "&lt;b&gt;gras&lt;/b&gt;" in html  # HTML still escaped


@pytest.mark.parametrize("kind", ["plain_digest"])
def test_plain_digest_names_each_attachment_with_a_link(digest_group, kind):
    number = _post(digest_group, "Minutes", "See the files.\n", attachments=[
        ("minutes 2026.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 3000),
        ("photo.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"y" * 10),
    ])
    send_digests(DAY + timedelta(days=1), DigestSettings())
    text = parsed(jobs(kind)[0]).get_content()
    assert "[2 attachments, not included in this digest]" in text
    for att in Attachment.objects.filter(message__number=number):
        assert att.filename in text
        line = next(ln for ln in text.splitlines() if att.filename in ln)
        assert f"/attachment/{att.id}/" in line and line.split(": ")[-1].startswith("http")
    assert "(application/pdf, 2.9 KB)" in text and "(image/png, 18 bytes)" in text
