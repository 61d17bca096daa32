"""The group tools as members and owners use them, in headless Chromium against the real
platform, each field and button found by its visible label; effects checked on the web and
in the mail the sink received (the event's announcement with an .ics that icalendar reads
back, the poll's results when it closes).

hikers: Olivia owns it; Dana and erik are members.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from PIL import Image

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import log_in, mail_to, screenshot, text_of

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
SOON = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()


def test_an_event_is_announced_with_its_ics_and_answered(page, platform):
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/"))
    page.get_by_role("link", name="Calendar").click()
    page.get_by_role("link", name="Add an event").click()
    page.get_by_label("Title").fill("Ridge walk")
    page.get_by_label("Location").fill("The old oak")
    page.get_by_label("Start date").fill(SOON)
    page.get_by_label("Start time").fill("09:30")
    page.get_by_label("End time").fill("12:00")
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_label("Places (RSVP limit)").fill("12")
    page.get_by_label("Announce it to the group now").check()
    page.get_by_role("button", name="Add the event").click()
    expect(page.get_by_text("The event is on the calendar.")).to_be_visible()
    expect(page.get_by_role("heading", name="Ridge walk")).to_be_visible()

    announcement = mail_to(platform, "dana@example.org", "New event: Ridge walk", post=True)
    [part] = [p for p in announcement.walk() if p.get_content_type() == "text/calendar"]
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    [event] = cal.walk("VEVENT")
    assert str(event["summary"]) == "Ridge walk" and str(event["location"]) == "The old oak"
    assert event.decoded("dtstart").strftime("%H:%M") == "09:30"
    assert str(event["dtstart"].params["TZID"]) == "Europe/Paris"

    page.context.clear_cookies()
    log_in(page, platform, "dana@example.org")
    page.goto(platform.url("web", "/g/hikers/calendar/"))
    page.get_by_role("link", name="Ridge walk").click()
    page.get_by_label("Yes").check()
    page.get_by_role("button", name="Save my answer").click()
    expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    expect(page.get_by_text("1 yes, 0 maybe, 0 no")).to_be_visible()
    screenshot(page, "tools-event")


def test_a_poll_voted_on_the_web_and_its_results_mailed(page, platform):
    log_in(page, platform, "dana@example.org")
    page.goto(platform.url("web", "/g/hikers/"))
    page.get_by_role("link", name="Polls").click()
    page.get_by_role("link", name="Start a poll").click()
    page.get_by_label("Question").fill("Where next?")
    page.get_by_label("Choices").fill("The ridge\nThe lake\nThe forest")
    page.get_by_label("Closes on").fill(SOON)
    page.get_by_role("button", name="Start the poll").click()
    expect(page.get_by_text("The poll is started and sent to the group.")).to_be_visible()
    poll_mail = mail_to(platform, "erik@example.org", "[Poll] Where next?", post=True)
    assert "2. The lake" in text_of(poll_mail)

    page.get_by_label("The lake").check()
    page.get_by_role("button", name="Vote").click()
    expect(page.get_by_text("Your vote is counted.")).to_be_visible()
    expect(page.get_by_text("1 member voted.")).to_be_visible()

    later = (datetime.now(UTC) + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    assert "1 poll closed" in platform.manage("eventreminders", "--now", later).stdout
    results = mail_to(platform, "erik@example.org", "Re: [Poll] Where next?", post=True)
    assert "2. The lake: 1 vote (Dana Digest)" in text_of(results)
    page.reload()
    expect(page.get_by_text("This poll is closed.")).to_be_visible()


def test_files_photos_and_the_wiki(page, platform, tmp_path):
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/"))
    page.get_by_role("link", name="Files").click()
    route = tmp_path / "route.gpx"
    route.write_text("<gpx/>")
    page.get_by_label("Files to add").set_input_files(str(route))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("link", name="route.gpx")).to_be_visible()

    page.get_by_role("link", name="Photos").click()
    page.get_by_label("Album title").fill("Summer")
    page.get_by_role("button", name="Add the album").click()
    picture = tmp_path / "top.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 120, 200)).save(buffer, format="JPEG")
    picture.write_bytes(buffer.getvalue())
    page.get_by_label("Pictures to add").set_input_files(str(picture))
    page.get_by_label("Caption").fill("From the top")
    page.get_by_role("button", name="Upload").click()
    thumb = page.get_by_role("img", name="From the top")
    expect(thumb).to_be_visible()
    assert thumb.evaluate("i => i.naturalWidth") <= 360  # the thumbnail, not the picture

    page.get_by_role("link", name="Wiki").click()
    page.get_by_role("link", name="Write the wiki's home page").click()
    page.get_by_label("Text (Markdown)").fill("Welcome! See [[Trail notes]].")
    page.get_by_role("button", name="Save the page").click()
    expect(page.get_by_role("link", name="Trail notes (new page)")).to_be_visible()
    page.get_by_role("link", name="Edit this page").click()
    page.get_by_label("Text (Markdown)").fill("Welcome, walkers! See [[Trail notes]].")
    page.get_by_label("What you changed").fill("friendlier")
    page.get_by_role("button", name="Save the page").click()
    page.get_by_role("link", name="History").click()
    page.get_by_role("button", name="Compare the chosen versions").click()
    expect(page.locator("pre.diff .added")).to_contain_text("Welcome, walkers!")
    screenshot(page, "tools-wiki-history")


def test_an_owner_makes_a_subgroup_and_a_member_joins_it(page, platform):
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/admin/"))
    page.get_by_role("link", name="Subgroups").click()
    page.get_by_label("Subgroup name").fill("walkers")
    page.get_by_label("Title").fill("Walkers")
    page.get_by_role("button", name="Make the subgroup").click()
    expect(page.get_by_text("hikers+walkers@")).to_be_visible()

    page.context.clear_cookies()
    log_in(page, platform, "dana@example.org")
    page.goto(platform.url("web", "/g/hikers/"))
    page.get_by_role("link", name="Walkers").click()
    page.get_by_role("button", name="Join this group").click()
    expect(page.get_by_text("Welcome to Walkers.")).to_be_visible()
