"""One received message on its way through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from messageserver.mailparse import ParsedMail

if TYPE_CHECKING:
    from messageserver.senderauth import Verdict


@dataclass
class InboundMail:
    mail_from: str  # envelope sender ("" for bounces)
    raw: bytes
    parsed: ParsedMail
    now: datetime
    via: str = "smtp"  # smtp | webhook | web | feed
    peer: str = ""  # the SMTP client's IP address
    helo: str = ""  # what it said in HELO/EHLO
    # Sender authentication (messageserver.senderauth) of mail received by SMTP;
    # None where nothing was checked: web posts, feeds, SENDER_AUTH=off.
    auth: Verdict | None = None
