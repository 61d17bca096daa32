"""Account flows a stranger must not be able to abuse, in a real browser (#22 item 5).

Fields are found by their visible labels. Mail comes from the sink Karl
delivered to, so the links are the ones people really get.
"""

from __future__ import annotations

import email
import email.policy
import re
import time

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import PASSWORD, screenshot, text_of

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

STRANGER_PW = "a stranger's guessable secret"
OWNER_PW = "the real owner's own passphrase"


def mails_to(platform, address: str, subject_has: str, count: int = 1,
             timeout: float = 30.0) -> list[email.message.EmailMessage]:
    """At least ``count`` messages to ``address`` with ``subject_has``, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        with platform.sink.lock:
            received = list(platform.sink.messages)
        found = [email.message_from_bytes(m.data, policy=email.policy.default)
                 for m in received if address in m.rcpt_tos]
        found = [m for m in found if subject_has in str(m["Subject"] or "")]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{len(found)} mails to {address} ({subject_has!r})"
            return found
        time.sleep(0.1)


def sign_up(page, web: str, address: str, password: str, name: str) -> str:
    page.goto(web + "/accounts/signup/")
    page.get_by_label(re.compile(r"^Email:?$")).fill(address)
    page.get_by_label("Your name").fill(name)
    page.get_by_label(re.compile(r"^Password:?$")).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    return page.locator("main").inner_text()


def logs_in(page, web: str, address: str, password: str) -> bool:
    page.goto(web + "/accounts/login/")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    return "/accounts/login/" not in page.url


def test_sign_up_with_an_existing_address_looks_like_any_sign_up(page, platform):
    web = platform.url("web")
    existing = sign_up(page, web, "olivia@example.org", OWNER_PW, "Not Olivia")
    new = sign_up(page, web, "fresh@example.net", OWNER_PW, "Fresh")
    assert existing.replace("olivia@example.org", "X") == new.replace("fresh@example.net", "X")
    [notice] = mails_to(platform, "olivia@example.org", "You already have an account")
    assert web + "/accounts/password-reset/" in text_of(notice)
    assert logs_in(page, web, "olivia@example.org", PASSWORD)  # nothing changed
    screenshot(page, "security-signup-existing")


def test_password_reset_by_the_mailed_link(page, platform):
    web = platform.url("web")
    page.goto(web + "/accounts/password-reset/")
    page.get_by_label(re.compile(r"^Email:?$")).fill("dana@example.org")
    page.get_by_role("button", name="Send me a reset link").click()
    [mail] = mails_to(platform, "dana@example.org", "Reset your password")
    link = re.search(re.escape(web) + r"/accounts/password-reset/\S+/", text_of(mail)).group(0)
    page.goto(link)
    page.get_by_label(re.compile(r"^New password:?$")).fill(OWNER_PW)
    page.get_by_label("New password confirmation").fill(OWNER_PW)
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_url(re.compile(r".*/password-reset/done/"))
    assert not logs_in(page, web, "dana@example.org", PASSWORD)
    assert logs_in(page, web, "dana@example.org", OWNER_PW)
    screenshot(page, "security-reset")


def confirm_link(web: str, mail: email.message.EmailMessage) -> str:
    return re.search(re.escape(web) + r"/confirm/email/[^\s/]+/", text_of(mail)).group(0)


def test_a_strangers_unconfirmed_sign_up_then_the_owners(browser, platform):
    web = platform.url("web")
    stranger = browser.new_context().new_page()
    owner = browser.new_context().new_page()
    try:
        sign_up(stranger, web, "quinn@example.net", STRANGER_PW, "Stranger")
        [first] = mails_to(platform, "quinn@example.net", "Confirm")
        # the owner follows the stranger's link: without the stranger's password the
        # account is not activated, and the page says what to do instead
        owner.goto(confirm_link(web, first))
        owner.get_by_label("Password").fill(OWNER_PW)
        owner.get_by_role("button", name="Confirm", exact=True).click()
        expect(owner.locator("main")).to_contain_text("choose a new password instead")
        screenshot(owner, "security-strangers-link-refused")
        # the owner signs up too: not blocked, and the stranger's password dies
        sign_up(owner, web, "quinn@example.net", OWNER_PW, "Quinn")
        latest = mails_to(platform, "quinn@example.net", "Confirm", count=2)[-1]
        # the owner's own browser signed up last: the link confirms and logs in at once
        owner.goto(confirm_link(web, latest))
        owner.wait_for_url(re.compile(r".*/my/groups/"))
        expect(owner.locator(".flash")).to_contain_text("confirmed")
        assert logs_in(owner, web, "quinn@example.net", OWNER_PW)
        assert not logs_in(stranger, web, "quinn@example.net", STRANGER_PW)
        screenshot(owner, "security-owner-after-stranger")
    finally:
        stranger.context.close()
        owner.context.close()
