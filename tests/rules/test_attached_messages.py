"""The message attached to a moderator's notice (and to mail forwarded to the owners) opens
in a mail client: message/rfc822 in 7bit/8bit, never base64 (RFC 2046 §5.2.1); #15 item 2.

Checked by parsing the queued notice with Python's email parser, as a client would.
"""

from __future__ import annotations

import pytest

from groups.models import Membership
from tests.conftest import mail
from tests.rules.conftest import DOMAIN, deliver, queued


@pytest.mark.parametrize("fixture, subject, text, cte", [
    ("member_post.eml", "Hello everyone #intro", "Hi all, this is my first post.\n\nBob",
     "7bit"),
    ("member_post_8bit.eml", "Grüße aus Köln", "Ärger über Öl: l'entrée & <les> \"prix\".",
     "8bit"),
])
def test_the_held_message_can_be_read_in_the_moderators_notice(demo_group, fixture, subject,
                                                                text, cte):
    Membership.objects.filter(email="bob@example.org").update(posting_status="moderated")
    assert deliver("bob@example.org", f"demo@{DOMAIN}", mail(fixture)).kind == "held"
    [notice] = queued("alice@example.org")
    [attached] = list(notice.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    assert attached["Content-Transfer-Encoding"] == cte
    assert not attached.defects and not notice.defects
    held = attached.get_content()
    assert held["Subject"] == subject
    assert held.get_body(("plain",)).get_content().strip() == text


def test_mail_to_the_owners_carries_a_readable_original(demo_group):
    raw = mail("member_post_8bit.eml").replace(b"To: demo@", b"To: demo+owner@")
    assert deliver("charlie@example.net", f"demo+owner@{DOMAIN}", raw).kind == "accepted"
    [forwarded] = queued("alice@example.org")
    [attached] = list(forwarded.iter_attachments())
    assert attached["Content-Transfer-Encoding"] == "8bit"
    assert attached.get_content()["Subject"] == "Grüße aus Köln"
