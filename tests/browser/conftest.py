"""Headless Chromium (Debian's, driven by Playwright) against the real running platform.

One platform (web, smtpd, messageserver, karl, errord as real processes, an
aiosmtpd sink as Karl's relay) serves every test in a module; each test gets
a fresh browser context, so cookies never leak between people. Without
/usr/bin/chromium the tests skip, except in CI (CI=true), where they fail:
CI installs chromium, so its absence there is a broken build, not a choice.
Playwright's own browser downloads are never used (no `playwright install`).
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import PROJECT, Platform

ARTIFACTS = PROJECT / "test-artifacts"
PASSWORD = "a long browser-test passphrase"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's outcome on the item, so a failing test leaves a screenshot."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser, request) -> Iterator:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.set_default_timeout(15_000)
    the_page = context.new_page()
    yield the_page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        the_page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"),
                            full_page=True)
    context.close()


def screenshot(page, name: str) -> Path:
    """Save the page under test-artifacts/ (git-ignored) for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


# The people and groups the journeys start from, made with the real models in the
# platform's own database (one `manage.py shell` run, so it costs one Django start-up).
SETUP = f"""
from groups.membership import add_members
from groups.models import Group, Membership, User

def person(email, name):
    return User.objects.create_user(username=email, email=email, password={PASSWORD!r},
                                    display_name=name, email_confirmed=True)

olivia = person("olivia@example.org", "Olivia Owner")
dana = person("dana@example.org", "Dana Digest")
hikers = Group.objects.create(name="hikers", title="Hikers", description="Walks and talks.")
add_members(hikers, ["Olivia Owner <olivia@example.org>"], role=Membership.Role.OWNER)
add_members(hikers, ["Dana Digest <dana@example.org>", "erik@example.org"])
council = Group.objects.create(name="council", title="Council",
                               posting_policy=Group.PostingPolicy.MODERATED)
add_members(council, ["Olivia Owner <olivia@example.org>"], role=Membership.Role.OWNER)
add_members(council, ["Mel Member <mel@example.org>"])
assert Membership.objects.filter(user=dana, group=hikers).exists()  # matched by address
print("ready")
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory, browser) -> Iterator[Platform]:
    """The running platform, with hikers (open) and council (moderated) set up."""
    p = Platform(tmp_path_factory.mktemp("platform")).prepare()
    try:
        assert "ready" in p.manage("shell", "--no-imports", "-c", SETUP).stdout
        p.start()
        yield p
    finally:
        p.stop()
        for name in ("web", "messageserver", "karl"):
            print(f"--- {name} log ---\n{p.log(name)[-3000:]}")


def mail_to(platform: Platform, address: str, subject_has: str = "", *, post: bool = False,
            timeout: float = 30.0) -> email.message.EmailMessage:
    """The first message the sink received for ``address`` (optionally by subject).

    ``post=True`` takes only group posts (they carry List-Id), not the notices
    about them (a held-message notice repeats the post's subject).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with platform.sink.lock:
            received = list(platform.sink.messages)
        for item in received:
            if address not in item.rcpt_tos:
                continue
            msg = email.message_from_bytes(item.data, policy=email.policy.default)
            if subject_has in str(msg["Subject"] or "") and (not post or msg["List-Id"]):
                return msg
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} with {subject_has!r} in {timeout}s; the sink "
                         f"holds {[(m.rcpt_tos) for m in platform.sink.messages]}")


def text_of(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def link_in(msg: email.message.EmailMessage, pattern: str) -> str:
    found = re.search(pattern, text_of(msg))
    assert found, f"no link matching {pattern} in:\n{text_of(msg)}"
    return found.group(0)


def log_in(page, platform: Platform, address: str, password: str = PASSWORD) -> None:
    page.goto(platform.url("web", "/accounts/login/"))
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
