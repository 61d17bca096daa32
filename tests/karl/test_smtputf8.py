"""8-bit headers and SMTPUTF8 (RFC 6531, #15 item 14), against real aiosmtpd relays.

A post whose From carries a raw UTF-8 display name must go with SMTPUTF8 where
the relay offers it, and with its headers RFC 2047-encoded where it does not;
either way the copy's DKIM signature verifies and the name reads the same.
"""

from __future__ import annotations

import asyncio
import email
import email.policy

import dkim
import pytest

from karl.delivery import Batch, Deliverer
from platformcore import mailheaders
from tests.karl.conftest import dnsfunc_for, start_sink
from tests.karl.deliver import MAIL_FROM, karl_config

NAME = "Jürgen Müller 회의你好"
RAW = (f"From: {NAME} <juergen@example.org>\r\n"
       "To: grp@groups.localhost\r\n"
       "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
       "Message-ID: <utf8-1@example.org>\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\n"
       "Grüße aus Köln\r\n").encode()


def _deliver_one(smtputf8: bool):
    sink = start_sink(smtputf8=smtputf8)
    try:
        config = karl_config(sink.url)

        async def go():
            deliverer = Deliverer(config)
            try:
                return await deliverer.deliver(Batch(
                    "job-utf8", config.relays[0], RAW,
                    {"mail_from": MAIL_FROM, "dkim": True,
                     "headers": [["Subject", mailheaders.value("Subject", "[grp] Grüße")]]},
                    [(0, {"address": "bob@example.net"})]))
            finally:
                await deliverer.close()

        outcomes = asyncio.run(go())
        assert [o.state for o in outcomes] == ["sent"], outcomes
        return sink.handler.wait_for(1)[0], config
    finally:
        sink.controller.stop()


def _display_name(data: bytes) -> str:
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    raw = msg["From"]
    raw = raw if isinstance(raw, str) else str(raw)
    return mailheaders.decode(email.utils.parseaddr(raw)[0])


@pytest.mark.parametrize("smtputf8", [True, False], ids=["offers", "lacks"])
def test_8bit_headers_use_smtputf8_or_are_encoded(smtputf8):
    got, config = _deliver_one(smtputf8)
    head = got.data.split(b"\r\n\r\n", 1)[0]
    if smtputf8:
        assert "SMTPUTF8" in got.options
        assert NAME.encode() in head  # the From kept as the poster wrote it
    else:
        assert "SMTPUTF8" not in got.options
        assert head.isascii(), head
        msg = email.message_from_bytes(got.data, policy=email.policy.default)
        assert not msg.defects
        assert _display_name(got.data) == NAME
    assert dkim.verify(got.data, dnsfunc=dnsfunc_for(config.dkim_key_path))
    body = email.message_from_bytes(got.data, policy=email.policy.default).get_content()
    assert body.startswith("Grüße aus Köln")
