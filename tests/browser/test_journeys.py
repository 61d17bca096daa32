"""What people do on the website, in a real browser against the real running platform.

A newcomer signs up, confirms from the mail Karl delivered, joins, posts and
sees the topic; an owner approves a held message and the members receive it;
a member switches to digest. Each journey leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import re
import smtplib

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import PASSWORD, link_in, log_in, mail_to, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_newcomer_signs_up_confirms_joins_and_posts_a_topic(page, platform):
    web = platform.url("web")
    page.goto(web + "/accounts/signup/")
    page.get_by_label(re.compile(r"^Email:?$")).fill("nina@example.net")
    page.get_by_label("Your name").fill("Nina Newcomer")
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("main")).to_contain_text("nina@example.net")

    # Not usable before the address is confirmed.
    page.goto(web + "/accounts/login/")
    page.get_by_label("Email address").fill("nina@example.net")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("main [role=alert]")).to_be_visible()
    assert "/accounts/login/" in page.url

    confirmation = mail_to(platform, "nina@example.net", "Confirm")
    link = link_in(confirmation, re.escape(web) + r"/confirm/email/[^\s/]+/")
    page.goto(link)  # the browser that signed up: confirmed and logged in at once
    page.wait_for_url(re.compile(r".*/my/groups/"))
    expect(page.locator(".flash")).to_contain_text("confirmed")

    page.goto(web + "/g/hikers/")
    page.get_by_role("button", name="Join this group").click()
    expect(page.locator(".flash")).to_contain_text("Welcome to Hikers")
    welcome = mail_to(platform, "nina@example.net", "Welcome to Hikers")  # through Karl
    assert "hikers@groups.localhost" in welcome.get_body(("plain",)).get_content()

    page.get_by_role("link", name="New topic", exact=True).click()
    page.get_by_label("Subject").fill("First walk of spring")
    page.get_by_label("Message").fill("Who is coming to the ridge on Saturday?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".flash")).to_contain_text("Your message was posted.")
    expect(page.locator("main")).to_contain_text("Who is coming to the ridge on Saturday?")

    page.get_by_role("link", name="Topics", exact=True).click()
    page.wait_for_url(re.compile(r".*/g/hikers/topics/"))
    page.get_by_role("link", name="First walk of spring").click()
    page.wait_for_url(re.compile(r".*/g/hikers/topic/\d+/"))
    expect(page.locator("main")).to_contain_text("Who is coming to the ridge on Saturday?")
    screenshot(page, "newcomer-posted-topic")
    # The other members got it by mail, from the web post.
    delivered = mail_to(platform, "erik@example.org", "First walk of spring", post=True)
    assert "Who is coming to the ridge" in delivered.get_body(("plain",)).get_content()


def test_owner_approves_a_held_message_and_members_receive_it(page, platform):
    message = (b"From: Mel Member <mel@example.org>\r\nTo: council@groups.localhost\r\n"
               b"Subject: Budget for the new bridge\r\nMessage-ID: <budget.1@example.org>\r\n"
               b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
               b"The council should fund the footbridge.\r\n")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.sendmail("mel@example.org", ["council@groups.localhost"], message)

    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/council/admin/"))
    page.get_by_role("link", name=re.compile(r"1 message waiting")).click()
    held = page.locator("section.held-item", has_text="Budget for the new bridge")
    assert "The council should fund the footbridge." in held.inner_text()
    screenshot(page, "owner-sees-held-message")
    held.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("approved")
    expect(page.locator("main")).to_contain_text("No messages are waiting.")
    screenshot(page, "owner-approved-held-message")

    delivered = mail_to(platform, "olivia@example.org", "Budget for the new bridge", post=True)
    assert "fund the footbridge" in delivered.get_body(("plain",)).get_content()
    assert mail_to(platform, "mel@example.org", "Budget for the new bridge", post=True)
    page.goto(platform.url("web", "/g/council/topics/"))
    expect(page.get_by_role("link", name="Budget for the new bridge")).to_be_visible()


def test_member_switches_to_digest(page, platform):
    log_in(page, platform, "dana@example.org")
    page.goto(platform.url("web", "/my/groups/"))
    page.get_by_role("link", name="Hikers").first.click()
    page.get_by_role("link", name="Subscription", exact=True).click()
    page.get_by_label("Email delivery").select_option("digest")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Your subscription settings are saved.")
    page.reload()
    expect(page.get_by_label("Email delivery")).to_have_value("digest")
    screenshot(page, "member-switched-to-digest")
    stored = platform.manage("shell", "--no-imports", "-c", (
        "from groups.models import Membership; print(Membership.objects.get("
        "group__name='hikers', email='dana@example.org').delivery)")).stdout.strip()
    assert stored == "digest", stored
