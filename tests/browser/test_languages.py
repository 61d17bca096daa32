"""The language menu in a real browser: a visitor switches the site to German; a member
switches to French and the choice is kept in their account (checked in the database)."""

from __future__ import annotations

import json

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_visitor_switches_to_german(page, platform):
    page.goto(platform.url("web", "/g/hikers/"))
    expect(page.get_by_role("heading", name="Latest topics")).to_be_visible()
    page.get_by_label("Language").select_option(label="Deutsch")
    page.get_by_role("button", name="Change language").click()
    expect(page.get_by_role("heading", name="Neueste Themen")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.url.endswith("/g/hikers/")  # back where the visitor was
    page.goto(platform.url("web", "/g/nosuch/"))  # the choice stays on every page
    expect(page.get_by_role("heading", name="Diese Seite gibt es hier nicht")).to_be_visible()


def test_a_member_switches_to_french_and_keeps_it(page, platform):
    log_in(page, platform, "dana@example.org")
    page.goto(platform.url("web", "/g/hikers/subscription/"))
    page.get_by_label("Language").select_option(label="Français")
    page.get_by_role("button", name="Change language").click()
    expect(page.get_by_role("heading", name="Votre abonnement à Hikers")).to_be_visible()
    expect(page.get_by_role("button", name="Quitter ce groupe")).to_be_visible()
    stdout = platform.manage("shell", "--no-imports", "-c",
                             "import json\nfrom groups.models import User\n"
                             "print('OUT=' + json.dumps(User.objects.get("
                             "email='dana@example.org').language))").stdout
    assert json.loads(stdout.split("OUT=", 1)[1]) == "fr"
