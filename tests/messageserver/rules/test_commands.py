"""Email commands and the answers they get, each answer parsed as MIME and its headers checked."""

from __future__ import annotations

import pytest

from groups import links
from groups.models import Group, Membership, NoticeTemplate
from tests.messageserver.rules.conftest import (
    DOMAIN,
    address_in,
    body,
    deliver,
    last_outbox_id,
    queued,
    simple_mail,
)

CHARLIE = "charlie@example.net"


def _command(sender: str, command: str, subject: str = "", **kw) -> object:
    to = f"demo+{command}@{DOMAIN}"
    return deliver(sender, to, simple_mail(sender, to, subject, **kw))


def _one_answer(to: str, since: int = 0):
    [msg] = queued(to, since)
    assert msg["Auto-Submitted"] == "auto-replied"  # RFC 3834: an answer to a person's mail
    assert address_in(msg["From"]) == f"demo+owner@{DOMAIN}"
    assert address_in(msg["To"]) == to
    assert msg["In-Reply-To"]  # names the mail it answers
    return msg


def test_subscribe_open_group_is_double_opt_in_confirmed_by_reply(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(guidelines="Be kind. No spam.")
    outcome = _command(CHARLIE, "subscribe")
    assert outcome.kind == "accepted"
    m = Membership.objects.get(group=demo_group, email=CHARLIE)
    assert m.status == Membership.Status.PENDING_CONFIRM
    confirm = _one_answer(CHARLIE)
    assert "confirm" in confirm["Subject"].lower() and confirm["Subject"].startswith("[demo]")
    reply_to = address_in(confirm["Reply-To"])
    assert reply_to.startswith("demo+confirm+") and reply_to.endswith("@" + DOMAIN)
    assert links.confirm_subscription_url(m.id) in body(confirm)

    # A vacation responder answering the confirmation must not subscribe anybody.
    auto = deliver(CHARLIE, reply_to, simple_mail(
        CHARLIE, reply_to, "Out of office", headers={"Auto-Submitted": "auto-replied"}))
    assert auto.kind == "dropped"
    assert Membership.objects.get(pk=m.pk).status == Membership.Status.PENDING_CONFIRM

    mark = last_outbox_id()
    outcome = deliver(CHARLIE, reply_to, simple_mail(CHARLIE, reply_to, "Re: " +
                                                     confirm["Subject"]))
    assert outcome.kind == "accepted"
    assert Membership.objects.get(pk=m.pk).status == Membership.Status.ACTIVE
    [welcome] = queued(CHARLIE, mark)
    assert welcome["Subject"] == "[demo] Welcome to Demo group"
    assert welcome["Auto-Submitted"] == "auto-generated"
    assert "Be kind. No spam." in body(welcome)  # the guidelines come with the welcome


def test_subscribe_approval_group_waits_for_the_owners(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(join_policy=Group.JoinPolicy.APPROVAL)
    assert _command(CHARLIE, "join").kind == "accepted"
    assert Membership.objects.get(email=CHARLIE).status == Membership.Status.PENDING_APPROVAL
    pending = _one_answer(CHARLIE)
    assert "awaiting approval" in pending["Subject"]
    [owner_notice] = queued("alice@example.org")
    assert CHARLIE in owner_notice["Subject"] and owner_notice["Auto-Submitted"] == (
        "auto-generated")
    assert not queued("bob@example.org")


def test_subscribe_invite_only_group_is_refused_politely(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(join_policy=Group.JoinPolicy.INVITE)
    assert _command(CHARLIE, "subscribe").kind == "accepted"
    assert not Membership.objects.filter(email=CHARLIE).exists()
    refusal = _one_answer(CHARLIE)
    assert "invitation" in body(refusal) and f"demo+owner@{DOMAIN}" in body(refusal)


def test_unsubscribe_confirmed_by_reply_then_goodbye(demo_group):
    assert _command("bob@example.org", "unsubscribe").kind == "accepted"
    bob = Membership.objects.get(email="bob@example.org")
    assert bob.status == Membership.Status.ACTIVE  # not before the confirmation
    confirm = _one_answer("bob@example.org")
    reply_to = address_in(confirm["Reply-To"])
    assert reply_to.startswith("demo+confirm+")
    assert links.unsubscribe_url(bob.id) in body(confirm)
    mark = last_outbox_id()
    assert deliver("bob@example.org", reply_to, simple_mail(
        "bob@example.org", reply_to, "Re: confirm")).kind == "accepted"
    assert Membership.objects.get(pk=bob.pk).status == Membership.Status.UNSUBSCRIBED
    [goodbye] = queued("bob@example.org", mark)
    assert "no longer a member" in body(goodbye)


def test_help_answers_anyone_with_the_group_help(demo_group):
    _command(CHARLIE, "help")
    answer = _one_answer(CHARLIE)
    assert answer["Subject"] == "[demo] Help for Demo group"
    assert f"demo+subscribe@{DOMAIN}" in body(answer)


@pytest.mark.parametrize("command,mode", [("digest", "digest"), ("nomail", "nomail"),
                                          ("single", "individual")])
def test_delivery_commands_change_the_mode_and_say_so(demo_group, command, mode):
    Membership.objects.filter(email="bob@example.org").update(delivery="special")
    assert _command("bob@example.org", command).kind == "accepted"
    assert Membership.objects.get(email="bob@example.org").delivery == mode
    answer = _one_answer("bob@example.org")
    assert str(Membership.Delivery(mode).label) in answer["Subject"]


def test_delivery_command_from_a_non_member_is_refused(demo_group):
    _command(CHARLIE, "digest")
    assert "not a member" in body(_one_answer(CHARLIE))
    assert not Membership.objects.filter(email=CHARLIE).exists()


def test_request_address_reads_the_command_from_the_subject(demo_group):
    _command("bob@example.org", "request", subject="Re: digest please")
    assert Membership.objects.get(email="bob@example.org").delivery == "digest"
    mark = last_outbox_id()
    _command(CHARLIE, "request", subject="SUBSCRIBE")
    assert Membership.objects.get(email=CHARLIE).status == Membership.Status.PENDING_CONFIRM
    assert "confirm" in _one_answer(CHARLIE, mark)["Subject"].lower()
    mark = last_outbox_id()
    _command("dora@example.org", "request", subject="what is this")
    refusal = _one_answer("dora@example.org", mark)
    assert "names no command" in body(refusal)


def test_owner_address_reaches_owners_and_moderators(demo_group):
    Membership.objects.filter(email="dora@example.org").update(role="moderator")
    outcome = _command(CHARLIE, "owner", subject="Question about the group",
                       body="Can I post job offers?\n")
    assert outcome.kind == "accepted"
    for mod in ("alice@example.org", "dora@example.org"):
        [fwd] = queued(mod)
        assert address_in(fwd["Reply-To"]) == CHARLIE  # the owners' answer reaches charlie
        assert "Question about the group" in fwd["Subject"]
        assert "Can I post job offers?" in body(fwd)
        [attached] = [p for p in fwd.iter_attachments()]
        assert attached.get_content_type() == "message/rfc822"
    assert not queued("bob@example.org") and not queued(CHARLIE)


def test_answers_use_the_owners_own_wording(demo_group):
    NoticeTemplate.objects.create(group=demo_group, kind="help", subject="Help from {{ group.name }}",
                                  body="Ask {{ owner_address }} anything.")
    _command(CHARLIE, "help")
    answer = _one_answer(CHARLIE)
    assert answer["Subject"] == "Help from demo"
    assert body(answer).strip() == f"Ask demo+owner@{DOMAIN} anything."


@pytest.mark.parametrize("mail_from,headers", [
    (CHARLIE, {"Auto-Submitted": "auto-replied"}),
    (CHARLIE, {"Precedence": "bulk"}),
    (CHARLIE, {"Precedence": "junk"}),
    (CHARLIE, {"Precedence": "list", "List-Id": "<other.example.com>"}),
    ("", {}),
    ("MAILER-DAEMON@example.net", {}),
    (CHARLIE, {"List-Id": f"Demo <demo.{DOMAIN}>"}),
    (CHARLIE, {"X-Loop": f"other@{DOMAIN}"}),
])
def test_automated_mail_is_never_answered(demo_group, mail_from, headers):
    to = f"demo+help@{DOMAIN}"
    outcome = deliver(mail_from, to, simple_mail(CHARLIE, to, "help", headers=headers))
    assert outcome.kind == "dropped"
    assert not queued()


def test_auto_submitted_no_is_a_person(demo_group):
    to = f"demo+help@{DOMAIN}"
    deliver(CHARLIE, to, simple_mail(CHARLIE, to, "help", headers={"Auto-Submitted": "no"}))
    assert len(queued(CHARLIE)) == 1


def test_answers_to_one_address_are_rate_limited(demo_group, monkeypatch):
    monkeypatch.setenv("COMMAND_REPLIES_PER_HOUR", "3")
    for _ in range(6):
        assert _command(CHARLIE, "help").kind == "accepted"
    assert len(queued(CHARLIE)) == 3
    _command("bob@example.org", "help")  # another address has its own share
    assert len(queued("bob@example.org")) == 1


def test_rate_limit_still_carries_out_the_command(demo_group, monkeypatch):
    monkeypatch.setenv("COMMAND_REPLIES_PER_HOUR", "1")
    _command("bob@example.org", "help")
    _command("bob@example.org", "digest")
    assert Membership.objects.get(email="bob@example.org").delivery == "digest"
    assert len(queued("bob@example.org")) == 1


def test_bad_confirmation_token_gets_a_clear_answer(demo_group):
    to = f"demo+confirm+12-0123456789abcdef0123@{DOMAIN}"
    assert deliver(CHARLIE, to, simple_mail(CHARLIE, to, "Re: confirm")).kind == "accepted"
    assert "not valid" in body(_one_answer(CHARLIE))
    assert not Membership.objects.filter(email=CHARLIE).exists()


def test_robot_answering_our_answers_does_not_loop(demo_group):
    """A robot that answers every mail it gets, to From, without marking its answers as
    automated, writes to +help: it gets one answer (from demo+owner@); its answer to that
    reaches the owners, who are people, and nothing more goes back to the robot."""
    to, raw = f"demo+help@{DOMAIN}", simple_mail(CHARLIE, f"demo+help@{DOMAIN}", "help")
    exchanged = 0
    mark = 0
    while exchanged < 10:
        deliver(CHARLIE, to, raw)
        exchanged += 1
        answers = queued(CHARLIE, mark)
        mark = last_outbox_id()
        if not answers:
            break
        to = address_in(answers[-1]["From"])
        raw = simple_mail(CHARLIE, to, "Re: " + answers[-1]["Subject"], body="I am away.\n")
    assert exchanged == 2
    [forwarded] = queued("alice@example.org")
    assert "I am away." in body(forwarded)
    # And a robot that does mark its answers (RFC 3834) is not even forwarded.
    deliver(CHARLIE, to, simple_mail(CHARLIE, to, "Auto: away",
                                     headers={"Auto-Submitted": "auto-replied"}))
    assert len(queued("alice@example.org")) == 1
