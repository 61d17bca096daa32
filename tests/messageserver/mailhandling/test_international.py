"""International and odd mail from SMTP to the delivered copy (#15 items 1, 11, 12, 15).

Each test posts a real .eml through the pipeline, then builds the copies the
way Karl does (its contract and composer, tests/messageserver/mailhandling/karlcopy.py) and
reads them with the email package and dkimpy.
"""

from __future__ import annotations

from groups.models import Attachment, Group, Message, RawMessage
from messageserver import pipeline
from tests.messageserver.mailhandling.helpers import fixture, job_for
from tests.messageserver.mailhandling.karlcopy import check_copy, copies, display_name, subject

RUSSIAN = "Приглашение на встречу выпускников физического факультета"


def post(name: str) -> Message:
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             fixture(name))
    assert outcome.kind == "accepted", outcome
    return Message.objects.get(group__name="demo", number=outcome.number)


def test_a_long_non_ascii_subject_is_folded_so_karl_takes_it(demo_group):
    """Item 1: the folded subject was refused by Karl with 422 (a bare LF in the value)."""
    Group.objects.filter(pk=demo_group.pk).update(subject_tag="Demo")
    message = post("intl_long_subject.eml")
    assert message.subject == RUSSIAN
    out = copies(job_for("demo", message.number))
    assert len(out) == 3
    for data in out:
        msg = check_copy(data)
        assert subject(msg) == f"[Demo] {RUSSIAN}"
        assert msg.get_content().startswith("Привет всем!")


def test_an_unquoted_boundary_with_equals_is_parsed_alike_by_archive_and_karl(demo_group):
    """Item 11: the archive read ``boundary=----`` (an empty body and one .bin blob)."""
    message = post("outlook_nextpart_boundary.eml")
    assert message.body_text.strip() == "The minutes are attached. Grüße, Bob"
    [att] = Attachment.objects.filter(message=message)
    assert (att.filename, att.content_type, att.size) == ("minutes.csv", "text/csv", 24)
    for data in copies(job_for("demo", message.number)):
        msg = check_copy(data)
        text = msg.get_body(preferencelist=("plain",)).get_content()
        assert text.startswith("The minutes are attached. Grüße, Bob")
        [csv] = list(msg.iter_attachments())
        assert csv.get_filename() == "minutes.csv"


def test_a_blank_before_the_colon_keeps_the_header(demo_group):
    """Item 11: ``Date  :`` ended the header block for the archive; copies failed DKIM."""
    message = post("obs_field_space_before_colon.eml")
    assert message.subject == "Agenda for Monday"
    assert message.date.isoformat() == "2026-11-23T10:00:00+00:00"
    assert message.body_text.strip() == "Item one: the budget."
    raw = bytes(RawMessage.objects.get(message=message).data)
    assert b"\r\nDate: Mon, 23 Nov 2026" in raw
    for data in copies(job_for("demo", message.number)):
        msg = check_copy(data)
        assert subject(msg) == "Agenda for Monday"
        assert msg.get_content().strip().startswith("Item one: the budget.")


def test_a_message_without_message_id_gets_one_for_archive_and_copies(demo_group):
    """Item 12: the archive and Karl each made up their own."""
    message = post("no_message_id.eml")
    assert message.message_id.endswith("@groups.localhost>")
    for data in copies(job_for("demo", message.number)):
        msg = check_copy(data)
        assert msg["Message-ID"] == message.message_id
    raw = bytes(RawMessage.objects.get(message=message).data)
    assert raw.count(b"\r\nMessage-ID: ") == 1
    # the same bytes sent again (the 250 lost) are the same message, not a second post
    [(_, again)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                           fixture("no_message_id.eml"))
    assert (again.kind, again.number) == ("accepted", message.number)


def test_adjacent_encoded_words_in_a_name_are_joined(demo_group):
    """Item 15: "회의 你好" for "회의你好"; the DMARC From rewrite carried it to everyone."""
    Group.objects.filter(pk=demo_group.pk).update(dmarc_handling=Group.DmarcHandling.ALWAYS)
    message = post("adjacent_encoded_words_from.eml")
    assert message.sender_name == "회의你好"
    assert message.subject == "회의你好"
    for data in copies(job_for("demo", message.number)):
        msg = check_copy(data)
        assert display_name(msg) == "회의你好 via demo"


def test_a_nested_unquoted_boundary_with_equals_is_parsed_alike(demo_group):
    """Item 11, one level down: the inner multipart/alternative's bare boundary."""
    message = post("outlook_nested_nextpart.eml")
    assert message.body_text.strip() == "The plain text of the nested part."
    assert "<b>HTML</b>" in message.body_html
    [att] = Attachment.objects.filter(message=message)
    assert (att.filename, att.content_type) == ("agenda.pdf", "application/pdf")
    for data in copies(job_for("demo", message.number)):
        msg = check_copy(data)
        text = msg.get_body(preferencelist=("plain",)).get_content()
        assert text.startswith("The plain text of the nested part.")
        assert [a.get_filename() for a in msg.iter_attachments()] == ["agenda.pdf"]
