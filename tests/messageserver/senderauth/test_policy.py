"""What the pipeline does with the verdict: refusals, holds, membership by From, commands,
moderation replies and hidden groups. Real DNS zone on loopback, no SMTP (see test_smtp).

People: olga@good.test owns both groups (her domain passes SPF from 127.0.0.1),
bob@quiet.test is a member whose domain publishes nothing (never authenticated),
sue@strict.test is a member who signs with DKIM; charlie@quiet.test is an outsider.
"""

from __future__ import annotations

import base64
import email
import email.policy
from email.utils import parseaddr

import pytest
from django.test import Client

from groups.membership import add_members
from groups.models import Group, HeldMessage, Membership, Message, OutboxItem
from messageserver import pipeline
from tests.messageserver.senderauth.conftest import message, sign, tamper

PEER = "127.0.0.1"


@pytest.fixture
def groups(db, sender_auth):
    club = Group.objects.create(name="club", title="Private club",
                                privacy=Group.Privacy.PRIVATE_ARCHIVE)
    town = Group.objects.create(name="town", title="Town square")
    for group in (club, town):
        add_members(group, ["Olga Owner <olga@good.test>"], role=Membership.Role.OWNER)
        add_members(group, ["Bob <bob@quiet.test>", "Sue <sue@strict.test>"])
    return club, town


def deliver(mail_from: str, rcpt: str, raw: bytes, peer: str = PEER):
    [(_, outcome)] = pipeline.handle_inbound(mail_from, [rcpt], raw, peer=peer,
                                             helo="mx.example.net")
    return outcome


def notices_to(address: str) -> list[email.message.EmailMessage]:
    out = []
    for item in OutboxItem.objects.order_by("id"):
        if item.payload.get("meta", {}).get("kind") != "notice":
            continue
        if item.payload["recipients"][0]["address"] == address:
            out.append(email.message_from_bytes(base64.b64decode(item.payload["message_b64"]),
                                                policy=email.policy.default))
    return out


# --- posts ---------------------------------------------------------------------------

def test_authenticated_post_is_archived_with_its_authentication_results(groups):
    outcome = deliver("olga@good.test", "club@groups.localhost",
                      message("olga@good.test", "club@groups.localhost"))
    assert outcome.kind == "accepted", outcome
    archived = Message.objects.get(group=groups[0], number=outcome.number)
    parsed = email.message_from_bytes(bytes(archived.raw.data), policy=email.policy.default)
    [results] = parsed.get_all("Authentication-Results")
    assert str(results).startswith("groups.localhost;")
    assert "spf=pass" in str(results) and "dmarc=pass" in str(results)


def test_forged_member_post_to_a_private_group_is_held(groups):
    """#22 item 4: From bob (a member) written by anyone: held, not sent to all."""
    club, town = groups
    outcome = deliver("mallory@quiet.test", "club@groups.localhost",
                      message("bob@quiet.test", "club@groups.localhost"))
    assert outcome.kind == "held" and "not be authenticated" in outcome.reason
    held = HeldMessage.objects.get(group=club)
    assert held.sender_email == "bob@quiet.test" and not Message.objects.filter(group=club)
    # an open public group accepts it (the default "auto"), with the verdict on record
    outcome = deliver("bob@quiet.test", "town@groups.localhost",
                      message("bob@quiet.test", "town@groups.localhost"))
    assert outcome.kind == "accepted"
    raw = bytes(Message.objects.get(group=town).raw.data)
    assert b"Authentication-Results: groups.localhost; spf=none" in raw


@pytest.mark.parametrize(("setting", "kind"), [("reject", "rejected"), ("accept", "accepted"),
                                               ("hold", "held")])
def test_the_group_setting_decides_unauthenticated_posts(groups, setting, kind):
    town = groups[1]
    Group.objects.filter(pk=town.pk).update(unauthenticated_policy=setting)
    outcome = deliver("bob@quiet.test", "town@groups.localhost",
                      message("bob@quiet.test", "town@groups.localhost"))
    assert outcome.kind == kind
    if kind == "rejected":
        assert outcome.status == "5.7.1" and "authenticated" in outcome.reason


def test_authenticated_member_is_not_held_by_the_sender_rule(groups, keys):
    raw = sign(message("sue@strict.test", "club@groups.localhost"), "strict.test", keys)
    assert deliver("sue@strict.test", "club@groups.localhost", raw).kind == "accepted"


def test_reject_domain_with_a_broken_signature_is_refused_not_resigned(groups, keys):
    """#22 item 4: p=reject and DKIM broken: refused 5.7.1 naming DMARC, nothing kept."""
    raw = tamper(sign(message("sue@strict.test", "town@groups.localhost"), "strict.test", keys))
    outcome = deliver("sue@strict.test", "town@groups.localhost", raw)
    assert (outcome.kind, outcome.status) == ("rejected", "5.7.1")
    assert "DMARC" in outcome.reason and "strict.test" in outcome.reason
    assert not Message.objects.exists() and not HeldMessage.objects.exists()
    assert not OutboxItem.objects.filter(kind="job").exists()


def test_forged_envelope_sender_is_not_a_member(groups):
    """#22 item 4: MAIL FROM a member, From the attacker: a non-member's post."""
    town = groups[1]
    outcome = deliver("bob@quiet.test", "town@groups.localhost",
                      message("charlie@quiet.test", "town@groups.localhost"))
    assert outcome.kind == "rejected" and "not a member" in outcome.reason
    assert not Message.objects.filter(group=town).exists()


def test_forged_envelope_sender_without_sender_auth(groups, monkeypatch):
    """Membership is matched on From alone whatever SENDER_AUTH says."""
    monkeypatch.setenv("SENDER_AUTH", "off")
    outcome = deliver("bob@quiet.test", "town@groups.localhost",
                      message("charlie@quiet.test", "town@groups.localhost"))
    assert outcome.kind == "rejected" and not Message.objects.exists()


@pytest.mark.urls("messageserver.urls")
def test_dns_failure_answers_451_through_the_api(groups):
    """A temperror is a temporary refusal at the API smtpd speaks to (never accepted)."""
    add_members(groups[1], ["fay@flaky.test"])
    raw = message("fay@flaky.test", "town@groups.localhost")
    response = Client().post("/v1/inbound", {
        "mail_from": "fay@flaky.test", "rcpt_tos": ["town@groups.localhost"],
        "data_b64": base64.b64encode(raw).decode(), "peer": PEER, "helo": "mx.flaky.test",
    }, content_type="application/json", HTTP_AUTHORIZATION="Bearer test-internal-token")
    body = response.json()
    assert (body["code"], body["status"]) == (451, "4.7.0"), body
    assert "temperror" in body["reason"]
    assert not Message.objects.exists() and not HeldMessage.objects.exists()


# --- commands ------------------------------------------------------------------------

def test_unauthenticated_nomail_is_confirmed_by_reply(groups):
    """#22 item 3: a forged +nomail changes nothing until the member replies."""
    town = groups[1]
    outcome = deliver("mallory@quiet.test", "town+nomail@groups.localhost",
                      message("bob@quiet.test", "town+nomail@groups.localhost"))
    assert outcome.kind == "accepted" and "confirmation sent" in outcome.reason
    bob = Membership.objects.get(group=town, email="bob@quiet.test")
    assert bob.delivery == Membership.Delivery.INDIVIDUAL
    [ask] = notices_to("bob@quiet.test")
    confirm = parseaddr(ask["Reply-To"])[1]
    assert confirm.startswith("town+confirm+") and confirm in ask.get_content()
    # Bob replies (his mail is no more authenticated than before: the token is the proof)
    outcome = deliver("bob@quiet.test", confirm, message("bob@quiet.test", confirm, "Re: x"))
    assert outcome.kind == "accepted", outcome
    bob.refresh_from_db()
    assert bob.delivery == Membership.Delivery.NOMAIL
    # a tampered token does nothing
    outcome = deliver("bob@quiet.test", confirm[:-6] + "000000@groups.localhost",
                      message("bob@quiet.test", confirm))
    assert "not valid" in outcome.reason


def test_authenticated_digest_is_carried_out_at_once(groups):
    town = groups[1]
    outcome = deliver("olga@good.test", "town+digest@groups.localhost",
                      message("olga@good.test", "town+digest@groups.localhost"))
    assert outcome.kind == "accepted" and outcome.reason == "delivery is now digest"
    assert Membership.objects.get(group=town, email="olga@good.test").delivery == "digest"


def test_request_address_obeys_the_same_rule(groups):
    town = groups[1]
    deliver("bob@quiet.test", "town+request@groups.localhost",
            message("bob@quiet.test", "town+request@groups.localhost", subject="single"))
    Membership.objects.filter(group=town, email="bob@quiet.test").update(delivery="digest")
    deliver("bob@quiet.test", "town+request@groups.localhost",
            message("bob@quiet.test", "town+request@groups.localhost", subject="nomail"))
    assert Membership.objects.get(group=town, email="bob@quiet.test").delivery == "digest"


# --- moderation replies ----------------------------------------------------------------

def _held_approve_address(club: Group) -> str:
    deliver("charlie@quiet.test", "club@groups.localhost",
            message("bob@quiet.test", "club@groups.localhost"))
    [notice] = [n for n in notices_to("olga@good.test") if "+approve+" in n["Reply-To"]]
    return parseaddr(notice["Reply-To"])[1]


def test_forged_moderator_reply_does_not_approve(groups):
    """#22 item 4: the moderator's From plus a leaked notice is not enough."""
    club = groups[0]
    approve = _held_approve_address(club)
    outcome = deliver("olga@good.test", approve, message("olga@good.test", approve),
                      peer="192.0.2.66")
    assert outcome.kind == "rejected" and "DMARC" in outcome.reason  # good.test: p=reject
    # and from a moderator whose domain publishes no DMARC: not refused, but not obeyed
    Membership.objects.filter(group=club, email="bob@quiet.test").update(
        role=Membership.Role.MODERATOR)
    outcome = deliver("bob@quiet.test", approve, message("bob@quiet.test", approve))
    assert "could not be authenticated" in outcome.reason
    assert HeldMessage.objects.get(group=club).state == HeldMessage.State.PENDING
    [refused] = [n for n in notices_to("bob@quiet.test") if "not carried out" in n["Subject"]]
    assert "on the web" in refused.get_content()


def test_authenticated_moderator_reply_approves(groups):
    club = groups[0]
    approve = _held_approve_address(club)
    outcome = deliver("olga@good.test", approve, message("olga@good.test", approve))
    assert "approved" in outcome.reason, outcome
    assert HeldMessage.objects.get(group=club).state == HeldMessage.State.APPROVED


# --- hidden groups ---------------------------------------------------------------------

def test_hidden_group_looks_like_a_missing_one_to_outsiders(groups):
    """#22 item 8: same RCPT answer, same DATA answer, no group name in either."""
    club = groups[0]
    Group.objects.filter(pk=club.pk).update(privacy=Group.Privacy.HIDDEN)
    answers = []
    for name in ("club", "nosuch"):
        for address in (f"{name}@groups.localhost", f"{name}+subscribe@groups.localhost",
                        f"{name}+approve+abc-123@groups.localhost"):
            rcpt = pipeline.check_recipient(address)
            data = deliver("charlie@quiet.test", address, message("charlie@quiet.test", address))
            answers.append((rcpt.kind, rcpt.status, rcpt.reason, data.kind, data.status,
                            data.reason))
            assert name not in data.reason and name not in rcpt.reason
    assert answers[:3] == answers[3:]
    assert answers[0][3:5] == ("rejected", "5.1.1")


def test_members_of_a_hidden_group_still_post(groups):
    club = groups[0]
    Group.objects.filter(pk=club.pk).update(privacy=Group.Privacy.HIDDEN)
    outcome = deliver("olga@good.test", "club@groups.localhost",
                      message("olga@good.test", "club@groups.localhost"))
    assert outcome.kind == "accepted"


def test_unauthenticated_digest_is_confirmed_by_its_link(groups):
    """The confirmation's web link: a GET (a mail scanner) changes nothing, the POST does."""
    town = groups[1]
    deliver("mallory@quiet.test", "town+digest@groups.localhost",
            message("bob@quiet.test", "town+digest@groups.localhost"))
    [ask] = notices_to("bob@quiet.test")
    [url] = [w for w in ask.get_content().split() if "/confirm/delivery/" in w]
    path = url.removeprefix("http://testserver")
    client = Client()
    page = client.get(path)
    assert page.status_code == 200 and b"Full-featured digest" in page.content
    bob = Membership.objects.get(group=town, email="bob@quiet.test")
    assert bob.delivery == Membership.Delivery.INDIVIDUAL
    assert client.post(path).status_code == 200
    bob.refresh_from_db()
    assert bob.delivery == Membership.Delivery.DIGEST
    assert [n["Subject"] for n in notices_to("bob@quiet.test")][-1].endswith(
        "Full-featured digest")
    assert client.get(path.replace("/confirm/delivery/", "/confirm/delivery/x")).status_code == 400


def test_webhook_mail_is_checked_without_spf_on_the_providers_address(groups):
    """The webhook's client is the provider, not the sender's MTA: no SPF pass from it."""
    raw = message("olga@good.test", "club@groups.localhost")
    [(_, outcome)] = pipeline.handle_inbound("olga@good.test", ["club@groups.localhost"], raw,
                                             via="webhook", peer=PEER)
    # only DKIM could have vouched for it, it is unsigned, and good.test says p=reject
    assert (outcome.kind, outcome.status) == ("rejected", "5.7.1")
    assert "spf=none" in outcome.reason


def test_web_posts_and_bounces_are_not_checked(groups):
    verdict = pipeline.authenticate(b"From: x@quiet.test\r\n\r\nhi\r\n", "",
                                    ["bounce+abc-def@groups.localhost"], via="smtp",
                                    peer=PEER, helo="mx")
    assert verdict is None
    verdict = pipeline.authenticate(b"From: x@quiet.test\r\n\r\nhi\r\n", "x@quiet.test",
                                    ["town@groups.localhost"], via="web", peer="", helo="")
    assert verdict is None
