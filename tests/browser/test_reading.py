"""Reading and search in a browser: the header's search box, a filter, a threaded topic.

Three posts reach hikers through the real smtpd (one a reply to the first,
one a reply to the reply, by their In-Reply-To), are archived and indexed by
the real messageserver. Dana types into the search box in the site header,
narrows the results with the Author filter that follows them, opens the topic
and switches it to Threaded; the choice stays when she comes back. Everything
is found by its visible label.
"""

from __future__ import annotations

import smtplib

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def send(platform, sender: str, subject: str, text: str, n: int, reply_to: int = 0) -> None:
    headers = (f"From: {sender}\r\nTo: hikers@groups.localhost\r\nSubject: {subject}\r\n"
               f"Message-ID: <reading.{n}@example.org>\r\n"
               f"Date: Mon, 23 Nov 2026 10:0{n}:00 +0000\r\n")
    if reply_to:
        headers += (f"In-Reply-To: <reading.{reply_to}@example.org>\r\n"
                    f"References: <reading.{reply_to}@example.org>\r\n")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.sendmail(sender, ["hikers@groups.localhost"], f"{headers}\r\n{text}\r\n".encode())


def test_header_search_then_a_filter_then_a_threaded_topic(page, platform):
    send(platform, "olivia@example.org", "Lantern walk", "Bring a lantern for the evening.", 1)
    send(platform, "dana@example.org", "Re: Lantern walk",
         "My lantern is broken.\n\nOn Mon, Olivia wrote:\n> Bring a lantern for the evening.",
         2, reply_to=1)
    send(platform, "olivia@example.org", "Re: Lantern walk",
         "Borrow my spare lantern.\n\n> My lantern is broken.", 3, reply_to=2)
    log_in(page, platform, "dana@example.org")

    page.goto(platform.url("web", "/"))
    header = page.get_by_role("banner")
    header.get_by_role("searchbox", name="Search").fill("lantern")
    header.get_by_role("button", name="Search", exact=True).click()
    # Indexing follows archiving; the three posts arrive within moments.
    for _ in range(30):
        if "3 messages found" in page.locator("#result-count").inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator("#result-count")).to_contain_text("3 messages found")
    expect(page.locator(".search-results")).to_contain_text("Hikers")
    screenshot(page, "search-results")

    refine = page.locator("section.refine")
    refine.get_by_label("Author").fill("dana@example.org")
    refine.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#result-count")).to_contain_text("1 message found")
    expect(page.locator(".search-results")).to_contain_text("Re: Lantern walk")

    page.locator(".search-results a.subject").first.click()
    page.get_by_role("link", name="In topic: Lantern walk").click()
    expect(page.locator("article.message")).to_have_count(3)
    page.get_by_role("button", name="Threaded").click()
    expect(page.locator("article.message.depth-1")).to_contain_text("My lantern is broken.")
    expect(page.locator("article.message.depth-2")).to_contain_text("Borrow my spare lantern.")
    quoted = page.locator("article.message.depth-1 details.quote")
    expect(quoted.locator("pre")).not_to_be_visible()
    quoted.get_by_text("Show quoted text").click()
    expect(quoted.locator("pre")).to_be_visible()
    screenshot(page, "threaded-topic")
    page.reload()
    expect(page.get_by_role("button", name="Threaded")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("article.message.depth-2")).to_have_count(1)
