"""Notices and answers go out in the recipient's language (their account's, else English).

Mail goes through the real pipeline (messageserver.pipeline, as smtpd hands it
over); each queued notice is parsed as MIME and read in full.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from groups.models import Group, HeldMessage, Membership, NoticeTemplate, User
from messageserver import notices
from tests.messageserver.rules.conftest import (
    DOMAIN,
    address_in,
    body,
    deliver,
    last_outbox_id,
    queued,
    simple_mail,
)

GERTA = "gerta@example.net"
FRANCOISE = "francoise@example.net"


def _account(email: str, language: str, time_zone: str = "UTC") -> User:
    return User.objects.create_user(username=email, email=email, password="x" * 12,
                                    email_confirmed=True, language=language,
                                    time_zone=time_zone)


def test_subscribing_by_mail_is_answered_and_welcomed_in_german(demo_group):
    _account(GERTA, "de")
    Group.objects.filter(pk=demo_group.pk).update(guidelines="Seid freundlich.")
    to = f"demo+subscribe@{DOMAIN}"
    assert deliver(GERTA, to, simple_mail(GERTA, to)).kind == "accepted"
    [confirm] = queued(GERTA)
    assert confirm["Subject"] == "[demo] Bitte bestätigen Sie Ihr Abonnement"
    text = body(confirm).replace("\r\n", "\n")
    assert f"Jemand (hoffentlich Sie) möchte {GERTA} bei\nDemo group anmelden." in text
    assert "Please confirm" not in text

    reply_to = address_in(confirm["Reply-To"])
    mark = last_outbox_id()
    assert deliver(GERTA, reply_to, simple_mail(GERTA, reply_to, "Re: ok")).kind == "accepted"
    [welcome] = queued(GERTA, mark)
    assert welcome["Subject"] == "[demo] Willkommen bei Demo group"
    text = body(welcome)
    assert "Bitte lesen Sie die Richtlinien der Gruppe:" in text and "Seid freundlich." in text
    assert f"Zum Schreiben an die Gruppe: demo@{DOMAIN}." in text


def test_an_address_without_an_account_gets_english(demo_group):
    to = f"demo+help@{DOMAIN}"
    deliver("stranger@example.net", to, simple_mail("stranger@example.net", to))
    [help_] = queued("stranger@example.net")
    assert help_["Subject"] == "[demo] Help for Demo group"
    assert "Email commands (send any message to the address):" in body(help_)


def test_a_refused_command_is_explained_in_french(demo_group):
    _account(FRANCOISE, "fr")
    to = f"demo+digest@{DOMAIN}"
    assert deliver(FRANCOISE, to, simple_mail(FRANCOISE, to)).kind == "accepted"
    [answer] = queued(FRANCOISE)
    assert answer["Subject"] == "[demo] Votre demande n’a pas pu être exécutée"
    text = body(answer)
    assert "Nous n’avons pas pu exécuter votre demande à Demo group :" in text
    assert f"{FRANCOISE} n’est pas membre de Demo group." in text  # the reason, too


def test_held_notices_each_in_their_readers_language_and_zone(demo_group):
    """The poster reads French; the owner reads German in Berlin, with a German date."""
    alice = _account("alice@example.org", "de", "Europe/Berlin")
    Membership.objects.filter(email="alice@example.org").update(user=alice)
    bob = _account("bob@example.org", "fr")
    Membership.objects.filter(email="bob@example.org").update(user=bob)
    held = HeldMessage.objects.create(
        group=demo_group, sender_email="bob@example.org", subject="Question",
        reason="posts from new members are moderated", raw=b"Subject: Question\r\n\r\nHi\r\n",
        membership=Membership.objects.get(email="bob@example.org"),
        expires_at=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    notices.message_held(held)
    [owner] = queued("alice@example.org")
    assert owner["Subject"] == "[demo] Nachricht wartet auf Freigabe: Question"
    # 23:30 UTC on New Year's Eve is already 1 January in Berlin
    assert "Ohne Freigabe läuft sie am 1. Januar 2027 ab." in body(owner)
    [poster] = queued("bob@example.org")
    assert poster["Subject"] == "[demo] Votre message attend une approbation : Question"
    assert "Motif : posts from new members are moderated" in body(poster)


def test_an_owners_own_wording_is_sent_as_written(demo_group):
    _account("bob@example.org", "de")
    NoticeTemplate.objects.create(group=demo_group, kind="goodbye", subject="Bye {{ membership.name }}",
                                  body="See you.")
    notices.goodbye(Membership.objects.get(email="bob@example.org"))
    [msg] = queued("bob@example.org")
    assert msg["Subject"] == "Bye Bob Member" and body(msg).strip() == "See you."


def test_the_notice_editor_offers_the_default_in_the_owners_language(demo_group):
    from django.utils import translation

    from groups.web import noticeeditor

    with translation.override("fr"):
        subject, text = noticeeditor.default_wording("welcome")
    assert subject == "[{{ group.name }}] Bienvenue dans {{ group.display_title }}"
    assert "Pour publier, écrivez à {{ post_address }}." in text
    assert "{% if guidelines %}" in text and "translate" not in text
    # and it is a wording the editor accepts, rendering as the French default does
    sample = noticeeditor.sample_context("welcome", demo_group)
    with translation.override("fr"):
        assert noticeeditor.preview("welcome", demo_group, subject, text) == \
            notices.render("welcome", demo_group, sample)


def test_expiry_is_one_day_later_in_a_western_zone_too(demo_group):
    """A sanity check of the zone: the same instant in Los Angeles is still 31 December."""
    alice = _account("alice@example.org", "en", "America/Los_Angeles")
    Membership.objects.filter(email="alice@example.org").update(user=alice)
    held = HeldMessage.objects.create(
        group=demo_group, sender_email="x@example.net", subject="S", reason="r", raw=b"x",
        nonmember=True, expires_at=datetime(2027, 1, 1, 3, 0, tzinfo=UTC) - timedelta(hours=1))
    notices.message_held(held)
    [owner] = queued("alice@example.org")
    assert "It expires unapproved on 31 Dec 2026." in body(owner)
