"""#17 item 6: an email command for every delivery mode the site offers.

Every command goes through ``pipeline.handle_inbound`` with the real sender
authentication (the test zone of conftest.py): olga@good.test passes SPF, so her
commands are carried out at once; bob@quiet.test publishes nothing, so his are
only carried out after he confirms by reply to the ``NAME+confirm+TOKEN@``
address the confirmation names. The answers are read back as MIME from the outbox.
"""

from __future__ import annotations

from email.utils import parseaddr

import pytest

from groups.membership import add_members
from groups.models import Group, Membership
from messageserver import addresses, pipeline
from tests.messageserver.senderauth.conftest import message
from tests.messageserver.senderauth.test_policy import deliver, notices_to

D = Membership.Delivery
# The command word -> the one mode its name says (written out here, not read from the code).
EXPECTED = [
    ("single", D.INDIVIDUAL),
    ("fullfeatured", D.DIGEST),
    ("digest", D.DIGEST),
    ("plaindigest", D.PLAIN_DIGEST),
    ("summary", D.SUMMARY),
    ("special", D.SPECIAL),
    ("nomail", D.NOMAIL),
]


@pytest.fixture(autouse=True)
def fresh_cache():
    """The answers' rate limit lives in the django cache; each test starts with none used."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def town(db, sender_auth) -> Group:
    town = Group.objects.create(name="town", title="Town square")
    add_members(town, ["Olga Owner <olga@good.test>"], role=Membership.Role.OWNER)
    add_members(town, ["Bob <bob@quiet.test>"])
    return town


def _other_mode(mode: str) -> str:
    """A starting mode that differs from ``mode``, so the change is visible."""
    return D.INDIVIDUAL if mode != D.INDIVIDUAL else D.NOMAIL


def _delivery(group: Group, address: str) -> str:
    return Membership.objects.get(group=group, email=address).delivery


def test_every_delivery_mode_has_a_command_and_rcpt_takes_it(db):
    assert dict(EXPECTED) == addresses.DELIVERY_COMMANDS
    assert {mode for _, mode in EXPECTED} == set(D.values)  # no mode without a command
    for word, _ in EXPECTED:
        rcpt = f"town+{word}@groups.localhost"
        assert pipeline.check_recipient(rcpt).kind == "accepted"
        assert addresses.parse(rcpt) == addresses.Destination("command", group="town",
                                                              command=word)
    # A word that is no command names a subgroup (PARENT+CHILD@): whether that exists is
    # decided at DATA, like every group (hidden ones must look missing).
    typo = "town+plaindigests@groups.localhost"
    assert addresses.parse(typo) == addresses.Destination("post", group="town+plaindigests")
    [(_, outcome)] = pipeline.handle_inbound("olga@good.test", [typo],
                                             b"From: olga@good.test\r\nSubject: x\r\n\r\nx\r\n")
    assert (outcome.kind, outcome.status) == ("rejected", "5.1.1")


@pytest.mark.parametrize(("word", "mode"), EXPECTED)
def test_authenticated_command_sets_its_mode_at_once(town, word, mode):
    Membership.objects.filter(group=town, email="olga@good.test").update(
        delivery=_other_mode(mode))
    rcpt = f"town+{word}@groups.localhost"
    outcome = deliver("olga@good.test", rcpt, message("olga@good.test", rcpt, word))
    assert outcome.kind == "accepted" and outcome.reason == f"delivery is now {mode}"
    assert _delivery(town, "olga@good.test") == mode
    [answer] = notices_to("olga@good.test")
    assert answer["Subject"] == f"[town] Your delivery setting is now: {D(mode).label}"
    assert answer["Auto-Submitted"] == "auto-replied"
    text = answer.get_content()
    for other in ("single", "fullfeatured", "plaindigest", "summary", "special", "nomail"):
        assert f"town+{other}@groups.localhost" in text  # how to change it again


@pytest.mark.parametrize(("word", "mode"), EXPECTED)
def test_unauthenticated_command_waits_for_the_members_reply(town, word, mode):
    start = _other_mode(mode)
    Membership.objects.filter(group=town, email="bob@quiet.test").update(delivery=start)
    rcpt = f"town+{word}@groups.localhost"
    outcome = deliver("mallory@quiet.test", rcpt, message("bob@quiet.test", rcpt, word))
    assert outcome.kind == "accepted" and "confirmation sent" in outcome.reason
    assert _delivery(town, "bob@quiet.test") == start  # nothing changes yet
    [ask] = notices_to("bob@quiet.test")
    assert ask["Subject"] == (
        f"[town] Please confirm your new delivery setting: {D(mode).label}")
    confirm = parseaddr(ask["Reply-To"])[1]
    assert confirm.startswith("town+confirm+") and confirm in ask.get_content()

    outcome = deliver("bob@quiet.test", confirm, message("bob@quiet.test", confirm, "Re: ok"))
    assert outcome.kind == "accepted" and outcome.reason == f"delivery is now {mode} (confirmed)"
    assert _delivery(town, "bob@quiet.test") == mode
    done = notices_to("bob@quiet.test")[-1]
    assert done["Subject"] == f"[town] Your delivery setting is now: {D(mode).label}"


@pytest.mark.parametrize(("word", "mode"), [("plaindigest", D.PLAIN_DIGEST),
                                            ("summary", D.SUMMARY), ("special", D.SPECIAL),
                                            ("fullfeatured", D.DIGEST)])
def test_request_address_takes_the_new_words(town, word, mode):
    rcpt = "town+request@groups.localhost"
    deliver("olga@good.test", rcpt, message("olga@good.test", rcpt, subject=f"Re: {word}"))
    assert _delivery(town, "olga@good.test") == mode


def test_unauthenticated_request_word_is_confirmed_too(town):
    rcpt = "town+request@groups.localhost"
    deliver("bob@quiet.test", rcpt, message("bob@quiet.test", rcpt, subject="summary"))
    assert _delivery(town, "bob@quiet.test") == D.INDIVIDUAL
    [ask] = notices_to("bob@quiet.test")
    assert ask["Subject"].endswith("Daily summary")


def test_non_member_is_refused(town):
    rcpt = "town+plaindigest@groups.localhost"
    deliver("charlie@good.test", rcpt, message("charlie@good.test", rcpt, "x"))
    assert not Membership.objects.filter(email="charlie@good.test").exists()
    [refusal] = notices_to("charlie@good.test")
    assert "not a member" in refusal.get_content()


def test_help_lists_every_delivery_command(town):
    rcpt = "town+help@groups.localhost"
    deliver("charlie@good.test", rcpt, message("charlie@good.test", rcpt, "help"))
    [answer] = notices_to("charlie@good.test")
    text = answer.get_content()
    for word, _ in EXPECTED:
        assert f"town+{word}@groups.localhost" in text
    for phrase in ("full-featured digest", "plain-text digest", "daily summary",
                   "special notices only", "no mail at all"):
        assert phrase in text


def test_answers_are_rate_limited_but_the_command_is_carried_out(town, monkeypatch):
    monkeypatch.setenv("COMMAND_REPLIES_PER_HOUR", "2")
    for word in ("summary", "plaindigest", "special"):
        rcpt = f"town+{word}@groups.localhost"
        deliver("olga@good.test", rcpt, message("olga@good.test", rcpt, word))
    assert _delivery(town, "olga@good.test") == D.SPECIAL
    assert len(notices_to("olga@good.test")) == 2
