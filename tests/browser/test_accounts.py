"""Accounts in a real browser (#17 item 1): sign up from a group's Join button and come
back joined; log in by an emailed link; add an address and receive a group's mail there.

Fields, buttons and links are found by their visible labels; mail comes from the
sink Karl delivered to, so the links are the ones people really get.
"""

from __future__ import annotations

import re

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import PASSWORD, link_in, log_in, mail_to, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_sign_up_from_a_groups_join_button_ends_logged_in_and_joined(page, platform):
    web = platform.url("web")
    page.goto(web + "/g/hikers/")
    page.get_by_role("button", name="Join this group").click()
    page.wait_for_url(re.compile(r".*/accounts/login/\?next="))
    page.get_by_role("link", name="Sign up").last.click()
    page.wait_for_url(re.compile(r".*/accounts/signup/\?next=/g/hikers/join/"))
    page.get_by_label(re.compile(r"^Email:?$")).fill("jo@example.net")
    page.get_by_label("Your name").fill("Jo Joiner")
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()

    confirmation = mail_to(platform, "jo@example.net", "Confirm")
    page.goto(link_in(confirmation, re.escape(web) + r"/confirm/email/\S+"))
    page.wait_for_url(re.compile(r".*/g/hikers/$"))
    expect(page.locator(".flash")).to_contain_text("Welcome to Hikers")
    expect(page.get_by_role("button", name="Leave this group")).to_be_visible()
    expect(page.get_by_role("navigation", name="Site")).to_contain_text("Jo Joiner")
    mail_to(platform, "jo@example.net", "Welcome to Hikers")  # the join's welcome, via Karl
    screenshot(page, "accounts-signed-up-and-joined")


def test_log_in_by_link_then_add_an_address_for_a_group(page, platform):
    web = platform.url("web")
    page.goto(web + "/accounts/login/")
    page.get_by_label("Email for a login link").fill("dana@example.org")
    page.get_by_role("button", name="Email me a login link").click()
    expect(page.locator("main")).to_contain_text("login link is on its way")
    page.goto(link_in(mail_to(platform, "dana@example.org", "login link"),
                      re.escape(web) + r"/login/\S+"))
    page.get_by_role("button", name="Log in").last.click()
    page.wait_for_url(re.compile(r".*/my/groups/"))

    page.goto(web + "/accounts/profile/")
    page.get_by_role("link", name="Email addresses").click()
    page.get_by_label("New email address").fill("dana@home.example")
    page.get_by_role("button", name="Add address").click()
    expect(page.locator(".flash")).to_contain_text("dana@home.example")
    page.goto(link_in(mail_to(platform, "dana@home.example", "Confirm your new address"),
                      re.escape(web) + r"/confirm/address/\S+"))
    page.get_by_role("button", name="Confirm this address").click()
    page.wait_for_url(re.compile(r".*/accounts/emails/"))
    expect(page.locator("main")).to_contain_text("Verified")

    page.goto(web + "/g/hikers/subscription/")
    page.get_by_label("Send this group's mail to").select_option("dana@home.example")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("saved")
    screenshot(page, "accounts-address-for-a-group")
    log_in(page, platform, "dana@example.org")  # the password still works as well
