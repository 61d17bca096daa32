"""One received message on its way through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messageserver.mailparse import ParsedMail


@dataclass
class InboundMail:
    mail_from: str  # envelope sender ("" for bounces)
    raw: bytes
    parsed: ParsedMail
    now: datetime
    via: str = "smtp"  # smtp | webhook | web | feed
    peer: str = ""
