"""The one "is this mail automated" check, for answers and for posts."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messageserver import automated, mailparse
from messageserver.inbound import InboundMail
from tests.messageserver.rules.conftest import DOMAIN, simple_mail


def _inbound(mail_from: str = "bob@example.org", sender: str = "bob@example.org",
             **headers: str) -> InboundMail:
    raw = simple_mail(sender, f"demo@{DOMAIN}", "hi",
                      headers={k.replace("_", "-"): v for k, v in headers.items()})
    return InboundMail(mail_from, raw, mailparse.parse(raw), timezone.now())


@pytest.mark.parametrize("kwargs,for_answer,for_post", [
    ({}, False, False),
    ({"Auto_Submitted": "no"}, False, False),
    ({"Auto_Submitted": "auto-replied; owner-email=x@y"}, True, True),
    ({"Precedence": "bulk"}, True, True),
    ({"Precedence": "list", "List_Id": "<news.example.com>"}, True, False),
    ({"List_Id": f"<other.{DOMAIN}>"}, True, True),
    ({"X_Loop": f"demo@{DOMAIN}"}, True, True),
    ({"X_Autoreply": "yes"}, True, True),
    ({"mail_from": ""}, True, True),
    ({"mail_from": "MAILER-DAEMON@mx.example.net"}, True, True),
    ({"sender": "noreply@example.com"}, True, False),
])
def test_automated_for_answers_and_for_posts(kwargs, for_answer, for_post):
    inbound = _inbound(**kwargs)
    assert automated.is_automated(inbound) is for_answer
    assert automated.is_automated(inbound, for_post=True) is for_post
    if for_answer:
        assert automated.reason(inbound)  # always says why
