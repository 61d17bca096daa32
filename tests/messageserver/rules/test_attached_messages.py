"""The message attached to a moderator's notice (and to mail forwarded to the owners) opens
in a mail client: message/rfc822 in 7bit/8bit, never base64 (RFC 2046 §5.2.1); #15 item 2.

Checked by parsing the queued notice with Python's email parser, as a client would.
"""

from __future__ import annotations

import pytest

from groups.models import Membership
from tests.conftest import mail
from tests.messageserver.rules.conftest import DOMAIN, deliver, queued


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
    # the notice is CRLF on the wire, and the parser keeps a body's line ends
    assert held.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == text


def test_mail_to_the_owners_carries_a_readable_original(demo_group):
    raw = mail("member_post_8bit.eml").replace(b"To: demo@", b"To: demo+owner@")
    assert deliver("charlie@example.net", f"demo+owner@{DOMAIN}", raw).kind == "accepted"
    [forwarded] = queued("alice@example.org")
    [attached] = list(forwarded.iter_attachments())
    assert attached["Content-Transfer-Encoding"] == "8bit"
    assert attached.get_content()["Subject"] == "Grüße aus Köln"


def test_the_delivered_notice_opens_in_a_mail_client(demo_group, tmp_path):
    """Through the real Karl (footer, DKIM) to a real SMTP sink: what the moderator receives."""
    import email
    import email.policy
    import time

    from groups.models import OutboxItem
    from messageserver import outbox
    from tests.karl.conftest import EventReceiver, KarlProcess, start_sink

    Membership.objects.filter(email="bob@example.org").update(posting_status="moderated")
    assert deliver("bob@example.org", f"demo@{DOMAIN}", mail("member_post_8bit.eml")).kind == "held"
    sink, receiver = start_sink(), EventReceiver()
    (tmp_path / "karl").mkdir()
    karl = KarlProcess(tmp_path / "karl", sink.url, receiver.url).start()
    try:
        OutboxItem.objects.exclude(description__contains="alice@example.org").delete()
        assert outbox.dispatch_due(client=karl.client()) == 1
        deadline = time.monotonic() + 20
        while not sink.handler.messages:
            assert time.monotonic() < deadline, karl.logs()
            time.sleep(0.1)
    finally:
        karl.stop()
        sink.controller.stop()
        receiver.stop()
    [received] = sink.handler.messages
    notice = email.message_from_bytes(received.data, policy=email.policy.default)
    [attached] = list(notice.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    assert attached["Content-Transfer-Encoding"] in ("7bit", "8bit")
    held = attached.get_content()
    assert held["Subject"] == "Grüße aus Köln"
    assert held.get_body(("plain",)).get_content().strip().startswith("Ärger über Öl")


def test_a_received_message_with_raw_8bit_headers_is_attached_as_it_came():
    """A Mailman 2 bounce from the shared corpus: long header lines with raw 8-bit bytes,
    which the email package cannot refold; attached unchanged, the notice still builds."""
    import email
    import email.policy

    from messageserver import notices
    from tests.conftest import CORPORA

    raw = (CORPORA / "bounces" / "mailman2" / "simple_39.txt").read_bytes()
    original = email.message_from_bytes(raw, policy=email.policy.default)
    msg = notices.build(None, ["alice@example.org"], "Held", "Have a look.\n", attach=raw)
    out = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    [attached] = list(out.iter_attachments())
    assert attached["Content-Transfer-Encoding"] == "8bit"
    assert attached.get_content()["Subject"] == original["Subject"]
    assert out["Subject"] == "Held"
