"""The moderation queue, archive management and a post's delivery report, in a browser.

An owner saves a reject reason, then walks the queue: approves one held
message, rejects one with the saved reason, edits one and approves it; each
ends in the sink (the members' copies, the poster's rejection notice) and in
the archive. Then she merges two topics of the archive and reads a post's
delivery report. Everything is found by its visible label.
"""

from __future__ import annotations

import smtplib
import time

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import log_in, mail_to, screenshot, text_of

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def send(platform, sender: str, group: str, subject: str, text: str, n: int) -> None:
    message = (f"From: {sender}\r\nTo: {group}@groups.localhost\r\nSubject: {subject}\r\n"
               f"Message-ID: <modarchive.{n}@example.org>\r\n"
               f"Date: Mon, 23 Nov 2026 10:0{n}:00 +0000\r\n\r\n{text}\r\n").encode()
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.sendmail(sender, [f"{group}@groups.localhost"], message)


def test_owner_walks_the_queue_approve_reject_with_saved_reason_edit(page, platform):
    send(platform, "mel@example.org", "council", "Minutes of the meeting", "All agreed.", 1)
    send(platform, "mel@example.org", "council", "Cheap tickets", "Buy now!", 2)
    send(platform, "mel@example.org", "council", "teh park plan", "We meet at noon tommorow.", 3)
    log_in(page, platform, "olivia@example.org")

    # a saved reason first
    page.goto(platform.url("web", "/g/council/admin/"))
    page.get_by_role("link", name="Reject reasons").click()
    page.get_by_label("Name of the reason").fill("Off topic")
    page.get_by_label("What the poster is told").fill("The council list is for council business.")
    page.get_by_role("button", name="Save reason").click()
    expect(page.locator(".flash")).to_contain_text("Off topic")

    page.get_by_role("link", name="Pending messages").click()
    expect(page.locator("section.held-item")).to_have_count(3)
    minutes = page.locator("section.held-item", has_text="Minutes of the meeting")
    expect(minutes).to_contain_text("because:")
    screenshot(page, "moderation-queue")

    # approve one
    minutes.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("approved")
    assert "All agreed." in text_of(mail_to(platform, "olivia@example.org",
                                            "Minutes of the meeting", post=True))

    # reject one with the saved reason
    tickets = page.locator("section.held-item", has_text="Cheap tickets")
    tickets.get_by_label("Saved reason").select_option(label="Off topic")
    tickets.get_by_role("button", name="Reject", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("rejected")
    notice = mail_to(platform, "mel@example.org", "Your message was rejected: Cheap tickets")
    assert "The council list is for council business." in text_of(notice)

    # edit one, then approve the edit
    plan = page.locator("section.held-item", has_text="teh park plan")
    plan.get_by_text("Edit before approving").click()
    plan.get_by_label("Subject").fill("The park plan")
    plan.get_by_label("Message text").fill("We meet at noon tomorrow.")
    screenshot(page, "moderation-edit")
    plan.get_by_role("button", name="Approve edited message").click()
    expect(page.locator(".flash")).to_contain_text("approved as edited")
    expect(page.locator("main")).to_contain_text("No messages are waiting.")
    copy = mail_to(platform, "mel@example.org", "The park plan", post=True)
    assert "noon tomorrow" in text_of(copy) and "tommorow" not in text_of(copy)

    # the archive has the approved and the edited message, not the rejected one
    page.goto(platform.url("web", "/g/council/topics/"))
    expect(page.get_by_role("link", name="Minutes of the meeting")).to_be_visible()
    expect(page.get_by_role("link", name="The park plan")).to_be_visible()
    expect(page.get_by_role("link", name="Cheap tickets")).to_have_count(0)
    assert not [m for m in platform.sink.messages
                if b"Cheap tickets" in m.data and b"List-Id" in m.data]


def test_owner_merges_two_topics_and_reads_a_delivery_report(page, platform):
    send(platform, "erik@example.org", "hikers", "Boots for the glacier", "Crampons too?", 4)
    send(platform, "dana@example.org", "hikers", "Glacier gear", "Rope and helmet.", 5)
    mail_to(platform, "olivia@example.org", "Glacier gear", post=True)
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/topics/"))
    page.get_by_role("link", name="Glacier gear").click()
    page.get_by_role("link", name="Manage topic").click()
    merge = page.get_by_label("Merge into topic")
    value = merge.locator("option", has_text="Boots for the glacier").get_attribute("value")
    merge.select_option(value)
    page.get_by_role("button", name="Merge topics").click()
    expect(page.locator(".flash")).to_contain_text("merged into “Boots for the glacier”")
    expect(page.locator("h1")).to_have_text("Boots for the glacier")
    expect(page.locator("article.message")).to_have_count(2)
    expect(page.locator("main")).to_contain_text("Rope and helmet.")
    screenshot(page, "merged-topic")
    page.goto(platform.url("web", "/g/hikers/topics/"))
    expect(page.get_by_role("link", name="Glacier gear")).to_have_count(0)
    expect(page.get_by_role("link", name="Boots for the glacier")).to_be_visible()

    # the delivery report of the merged-in post: every member's copy delivered
    page.get_by_role("link", name="Boots for the glacier").click()
    page.locator("article.message", has_text="Rope and helmet.").get_by_role(
        "link", name="Delivery report").click()
    deadline = time.monotonic() + 30
    while "Delivery is finished" not in page.locator("main").inner_text():
        assert time.monotonic() < deadline, page.locator("main").inner_text()
        time.sleep(0.5)
        page.reload()
    # copies, delivered, deferred, bounced, expired, not tried yet: olivia, dana and erik
    counts = page.get_by_role("table", name="Copies")
    expect(counts.get_by_role("row", name="3 3 0 0 0 0", exact=True)).to_be_visible()
    screenshot(page, "delivery-report")

    # the merge is in the group's activity log, by whom and of what
    page.goto(platform.url("web", "/g/hikers/admin/"))
    page.get_by_role("link", name="Activity log", exact=True).click()
    expect(page.locator("main")).to_contain_text("merged the topic")
    expect(page.locator("main")).to_contain_text("Glacier gear")
