"""Pages speak the reader's language: the member's own setting, else the language menu's
cookie, else the browser's Accept-Language; times show in the member's zone, named."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation

from groups.models import Membership, User
from tests.groups.web.conftest import client_for


def _page(client, url: str, language: str = "") -> str:
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = client.get(url, **headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_browsers_language_picks_the_page_language(group, clients):
    url = reverse("group_home", args=["hikers"])
    german = _page(clients["anon"], url, "de-DE,de;q=0.9,en;q=0.5")
    assert '<html lang="de">' in german
    assert "Neueste Themen" in german and "Latest topics" not in german
    french = _page(clients["anon"], url, "fr-CH, fr;q=0.9")
    assert '<html lang="fr">' in french and "Derniers sujets" in french
    english = _page(clients["anon"], url, "")
    assert '<html lang="en">' in english and "Latest topics" in english
    # a language the site does not offer falls back to English
    assert "Latest topics" in _page(clients["anon"], url, "ja")


def test_a_members_own_language_outranks_the_browser(group, people):
    User.objects.filter(pk=people["bob"].pk).update(language="fr")
    page = _page(client_for(people["bob"]), reverse("subscription", args=["hikers"]), "de")
    assert '<html lang="fr">' in page
    assert "Votre abonnement à Hikers" in page and "Quitter ce groupe" in page
    # "follow my browser" (blank) leaves Accept-Language in charge
    User.objects.filter(pk=people["bob"].pk).update(language="")
    page = _page(client_for(people["bob"]), reverse("subscription", args=["hikers"]), "de")
    assert "Ihr Abonnement von Hikers" in page and "Diese Gruppe verlassen" in page


def test_the_language_menu_sets_a_cookie_for_visitors(group, clients):
    anon = clients["anon"]
    home = reverse("group_home", args=["hikers"])
    page = _page(anon, home)
    footer = page[page.index("<footer"):page.index("</footer>")]
    assert 'action="/language/"' in footer and 'method="get"' in footer
    assert "csrfmiddlewaretoken" not in footer  # the menu adds no token to public pages
    response = anon.get(reverse("set_language"), {"language": "de", "next": home})
    assert response.status_code == 302 and response["Location"] == home
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    assert "Neueste Themen" in _page(anon, home, "en")  # the choice outranks the browser
    # a link elsewhere is not followed
    away = anon.get(reverse("set_language"), {"language": "fr", "next": "https://evil.example/"})
    assert away["Location"] == "/"


def test_a_member_choosing_in_the_menu_keeps_it_in_their_account(group, people):
    bob = client_for(people["bob"])
    page = _page(bob, reverse("group_home", args=["hikers"]))
    assert 'method="post"' in page and 'name="language"' in page
    response = bob.post(reverse("set_language"), {"language": "fr", "next": "/"})
    assert response.status_code == 302
    assert User.objects.get(pk=people["bob"].pk).language == "fr"
    # a fresh session elsewhere (no cookie) still gets French
    assert "Derniers sujets" in _page(client_for(people["bob"]),
                                      reverse("group_home", args=["hikers"]), "de")


def test_owner_pages_and_form_labels_are_translated(group, people):
    page = _page(client_for(people["alice"]), reverse("mod_settings", args=["hikers"]), "de")
    assert "Einstellungen von Hikers" in page and "Allgemein" in page
    assert ">Titel:</label>" in page and ">Beschreibung:</label>" in page
    assert "Der Name, den man auf der Website und in E-Mails sieht." in page
    page = _page(client_for(people["alice"]), reverse("mod_members", args=["hikers"]), "fr")
    assert "Membres de Hikers" in page and "Propriétaire" in page  # a choice's label
    assert "Exporter en CSV" in page


def test_times_are_in_the_members_zone_with_the_zone_named(group, people):
    m = Membership.objects.get(group=group, email="bob@example.org")
    Membership.objects.filter(pk=m.pk).update(joined_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    url = reverse("mod_member", args=["hikers", m.pk])
    User.objects.filter(pk=people["alice"].pk).update(time_zone="Europe/Berlin")
    page = _page(client_for(people["alice"]), url)
    assert "15 Jan 2026, 13:00 CET" in page
    page = _page(client_for(people["alice"]), url, "de")
    assert "15. Januar 2026 13:00 CET" in page
    User.objects.filter(pk=people["alice"].pk).update(time_zone="America/New_York")
    page = _page(client_for(people["alice"]), url, "fr")
    assert "15 janvier 2026 07:00 EST" in page
    # a visitor's (and a member's without a zone of their own) times are UTC
    User.objects.filter(pk=people["alice"].pk).update(time_zone="UTC")
    assert "15 Jan 2026, 12:00 UTC" in _page(client_for(people["alice"]), url)


def test_numbers_follow_the_language():
    template = Template("{% load humanize %}{{ n|intcomma }} {{ x|floatformat:1 }}")
    for language, expected in (("en", "1,234,567 2.5"), ("de", "1.234.567 2,5")):
        with translation.override(language):
            assert template.render(Context({"n": 1234567, "x": 2.5})) == expected
    with translation.override("fr"):
        french = template.render(Context({"n": 1234567, "x": 2.5}))
    assert french.replace("\u202f", " ").replace("\xa0", " ") == "1 234 567 2,5"
