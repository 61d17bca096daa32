"""Sender authentication through the real smtpd: SMTP transcripts against the real
processes (smtpd, messageserver, Karl) with the test zone as the only DNS.

The client is smtplib on 127.0.0.1, the address good.test's SPF record allows.
What was archived is read through ``manage.py shell`` (a separate process); what
was mailed out arrives at the harness's sink through Karl.
"""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
import time
from collections.abc import Iterator
from email.utils import parseaddr

import pytest

from tests.dnszone import nameserver
from tests.e2e.platform import Platform
from tests.messageserver.senderauth.conftest import message, sign, tamper

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory, dns_server) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("senderauth")).prepare()
    p.env.update({"SENDER_AUTH": "on", "DMARC_NAMESERVER": nameserver(dns_server[0])})
    try:
        p.manage("creategroup", "club", "--owner", "olga@good.test", "--title", "Club")
        p.manage("addmembers", "club", "Bob <bob@quiet.test>", "Sue <sue@strict.test>")
        p.manage("creategroup", "vault", "--owner", "olga@good.test", "--title", "Vault")
        p.manage("shell", "-c", "from groups.models import Group; "
                 "Group.objects.filter(name='club').update(privacy='private_archive'); "
                 "Group.objects.filter(name='vault').update(privacy='hidden')")
        p.start("smtpd", "messageserver", "karl")
        yield p
    finally:
        p.stop()
        for name in ("smtpd", "messageserver", "karl"):
            print(f"--- {name} log ---\n{p.log(name)[-2000:]}")


def transcript(platform: Platform, helo: str, mail_from: str, rcpt: str,
               data: bytes) -> list[tuple[int, str]]:
    """RCPT's and DATA's replies (DATA is not sent when RCPT is refused)."""
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.ehlo(helo)
        client.mail(mail_from)
        code, text = client.rcpt(rcpt)
        replies = [(code, text.decode())]
        if code == 250:
            try:
                code, text = client.data(data)
            except smtplib.SMTPDataError as exc:
                code, text = exc.smtp_code, exc.smtp_error
            replies.append((code, text.decode() if isinstance(text, bytes) else text))
    return replies


def mail_to(platform: Platform, address: str, subject_part: str, timeout: float = 30.0
            ) -> email.message.EmailMessage:
    """The first message at the sink for ``address`` whose Subject holds ``subject_part``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with platform.sink.lock:
            received = list(platform.sink.messages)
        for item in received:
            msg = email.message_from_bytes(item.data, policy=email.policy.default)
            if item.rcpt_tos == [address] and subject_part in str(msg["Subject"]):
                return msg
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} about {subject_part!r} in {timeout}s")


def query(platform: Platform, code: str):
    script = f"import json\n{code}\nprint('@@' + json.dumps(out))"
    return json.loads(platform.manage("shell", "-c", script).stdout.rsplit("@@", 1)[1])


def test_transcripts(platform, keys):
    club = "club@groups.localhost"
    # authenticated (SPF pass, aligned): 250, archived with our Authentication-Results
    assert transcript(platform, "mx.good.test", "olga@good.test", club,
                      message("olga@good.test", club, "Agenda"))[1][0] == 250
    [header] = query(platform, """
import email
from groups.models import Message
raw = bytes(Message.objects.get(group__name='club', subject='Agenda').raw.data)
out = email.message_from_bytes(raw).get_all('Authentication-Results')""")
    assert header.startswith("groups.localhost;") and "spf=pass" in header
    assert "dmarc=pass" in header and "header.from=good.test" in header
    assert "smtp.helo=mx.good.test" in header  # smtpd passed on the HELO name

    # p=reject with a broken DKIM signature: refused at DATA, naming DMARC
    broken = tamper(sign(message("sue@strict.test", club, "Broken"), "strict.test", keys))
    [rcpt, data] = transcript(platform, "mx.strict.test", "sue@strict.test", club, broken)
    assert rcpt[0] == 250 and data[0] == 550
    assert data[1].startswith("5.7.1 DMARC policy of strict.test is reject")

    # the same message intact passes by DKIM although SPF fails
    intact = sign(message("sue@strict.test", club, "Intact"), "strict.test", keys)
    assert transcript(platform, "mx.strict.test", "sue@strict.test", club, intact)[1][0] == 250

    # a member's From that nobody vouches for: held in the private group
    [_, data] = transcript(platform, "mx.quiet.test", "bob@quiet.test", club,
                           message("bob@quiet.test", club, "Unvouched"))
    assert data[0] == 250 and "held for moderation" in data[1]
    assert query(platform, "from groups.models import HeldMessage\n"
                           "out = list(HeldMessage.objects.values_list('subject', flat=True))"
                 ) == ["Unvouched"]

    # the DNS fails: 451 4.7.0, nothing kept
    [_, data] = transcript(platform, "mx.flaky.test", "fay@flaky.test", club,
                           message("fay@flaky.test", club, "Flaky"))
    assert data[0] == 451 and data[1].startswith("4.7.0") and "temperror" in data[1]


def test_hidden_and_missing_groups_answer_alike(platform):
    answers = {}
    for name in ("vault", "nosuch"):
        rcpt = f"{name}@groups.localhost"
        answers[name] = transcript(platform, "mx.quiet.test", "charlie@quiet.test", rcpt,
                                   message("charlie@quiet.test", rcpt, "Anyone there?"))
    assert answers["vault"] == answers["nosuch"]
    [(rcpt_code, _), (data_code, text)] = answers["vault"]
    assert (rcpt_code, data_code) == (250, 550) and text.startswith("5.1.1")
    assert "vault" not in text and "nosuch" not in text
    # its owner (authenticated) posts as usual
    rcpt = "vault@groups.localhost"
    assert transcript(platform, "mx.good.test", "olga@good.test", rcpt,
                      message("olga@good.test", rcpt, "Minutes"))[1][0] == 250


def test_unauthenticated_command_is_confirmed_by_reply(platform):
    command = "club+nomail@groups.localhost"
    platform.sink.clear()
    [_, data] = transcript(platform, "mx.evil.test", "mallory@quiet.test", command,
                           message("bob@quiet.test", command, "nomail"))
    assert data[0] == 250
    delivery = ("from groups.models import Membership\nout = Membership.objects.get("
                "group__name='club', email='bob@quiet.test').delivery")
    assert query(platform, delivery) == "individual"
    notice = mail_to(platform, "bob@quiet.test", "Please confirm your new delivery setting")
    confirm = parseaddr(notice["Reply-To"])[1]
    assert confirm.startswith("club+confirm+")

    platform.sink.clear()
    [_, data] = transcript(platform, "mx.quiet.test", "bob@quiet.test", confirm,
                           message("bob@quiet.test", confirm, "Re: confirm"))
    assert data[0] == 250
    assert query(platform, delivery) == "nomail"
    mail_to(platform, "bob@quiet.test", "Your delivery setting is now: No email")


def test_new_delivery_commands_through_smtpd(platform):
    """#17 item 6: RCPT takes +plaindigest@ and +summary@; an authenticated sender's
    command is carried out at once, an unauthenticated one's after the reply."""
    def delivery(address: str) -> str:
        return query(platform, "from groups.models import Membership\nout = Membership."
                               f"objects.get(group__name='club', email='{address}').delivery")

    platform.sink.clear()
    command = "club+plaindigest@groups.localhost"
    [rcpt, data] = transcript(platform, "mx.good.test", "olga@good.test", command,
                              message("olga@good.test", command, "plaindigest"))
    assert rcpt[0] == 250 and data[0] == 250 and "delivery is now plain_digest" in data[1]
    assert delivery("olga@good.test") == "plain_digest"
    mail_to(platform, "olga@good.test", "Your delivery setting is now: Plain digest")

    command = "club+summary@groups.localhost"
    [rcpt, data] = transcript(platform, "mx.quiet.test", "bob@quiet.test", command,
                              message("bob@quiet.test", command, "summary"))
    assert rcpt[0] == 250 and data[0] == 250
    assert delivery("bob@quiet.test") != "summary"
    notice = mail_to(platform, "bob@quiet.test",
                     "Please confirm your new delivery setting: Daily summary")
    confirm = parseaddr(notice["Reply-To"])[1]
    [_, data] = transcript(platform, "mx.quiet.test", "bob@quiet.test", confirm,
                           message("bob@quiet.test", confirm, "Re: confirm"))
    assert data[0] == 250
    assert delivery("bob@quiet.test") == "summary"
    mail_to(platform, "bob@quiet.test", "Your delivery setting is now: Daily summary")
