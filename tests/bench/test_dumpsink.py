"""The load test's relay sink: real smtp-sink, real SMTP, and the tally it keeps."""

from __future__ import annotations

import smtplib

import pytest

from bench.bench_karl import find_sink
from bench.dumpsink import DumpSink, parse_dump
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(find_sink() is None,
                                reason="postfix's smtp-sink is not installed (bench tool)")


def test_a_dump_file_gives_its_message_id_and_every_recipient():
    dump = (b"X-Client-Addr: 127.0.0.1\nX-Mail-Args: <bounce+1@groups.localhost>\n"
            b"X-Rcpt-Args: <Bob@Example.org> NOTIFY=NEVER\nX-Rcpt-Args: <dora@example.org>\n"
            b"Received: from [127.0.0.1]\n\tby smtp-sink (smtp-sink);\n"
            b"Subject: hello\nMessage-ID:\n <folded.1@example.org>\n\n"
            b"Message-ID: <in-the-body@example.org>\n\n")
    assert parse_dump(dump) == ("folded.1@example.org", ["bob@example.org", "dora@example.org"])


def test_the_sink_counts_copies_per_post_and_sees_duplicates():
    sink = DumpSink(free_port(), sweep_every=0.05).start()
    try:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
            for rcpts in (["bob@example.org"], ["dora@example.org", "erin@example.org"],
                          ["bob@example.org"]):
                smtp.sendmail("bounce@groups.localhost", rcpts,
                              b"Message-ID: <post.1@example.org>\r\nSubject: a post\r\n\r\nhi\r\n")
            smtp.sendmail("bounce@groups.localhost", ["bob@example.org"],
                          b"Message-ID: <notice.2@example.org>\r\n\r\nA notice\r\n")
    finally:
        sink.stop()
    post = sink.posts["post.1@example.org"]
    assert post.recipients == {"bob@example.org", "dora@example.org", "erin@example.org"}
    assert (post.copies, post.duplicates) == (4, 1)
    assert post.first_at <= post.last_at
    assert sink.posts["notice.2@example.org"].copies == 1
    assert sink.total == 5
    assert not sink.dir.exists()  # the dumps are gone with the sink
