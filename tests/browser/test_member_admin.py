"""An owner runs the membership in a real browser against the real running platform.

Olivia owns hikers: she finds Erik in the member list, opens his page and
switches him to digest; adds and invites people after a preview of what will
happen to each address; acts on a selection; bans a domain and sees a post from
it refused at SMTP; reads the activity log and the charts. Each journey ends
by checking the effect in the database, the sink's mail or SMTP's answer.
"""

from __future__ import annotations

import json
import re
import smtplib

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import log_in, mail_to, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def stored(platform, code: str) -> object:
    """Run ``code`` (which assigns ``out``) in the platform's Django; its value as JSON."""
    script = ("import json\nfrom groups.models import *\n" + code
              + "\nprint(json.dumps(out, default=str))")
    return json.loads(platform.manage("shell", "--no-imports", "-c", script).stdout
                      .strip().splitlines()[-1])


def to_admin(page, platform) -> None:
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/admin/"))


def test_owner_finds_a_member_and_changes_delivery(page, platform):
    to_admin(page, platform)
    nav = page.get_by_role("navigation", name="Group administration")
    nav.get_by_role("link", name="Members", exact=True).click()
    page.get_by_label("Search by address or name").fill("erik")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("main")).to_contain_text("1 match.")
    page.get_by_role("link", name="erik").click()
    page.wait_for_url(re.compile(r".*/admin/members/\d+/$"))
    expect(page.locator("main")).to_contain_text("erik@example.org")
    page.get_by_label("Delivery").select_option(label="Full-featured digest")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash")).to_contain_text("erik@example.org's settings are saved.")
    expect(page.locator("main")).to_contain_text("changed delivery of")
    screenshot(page, "owner-changed-member-delivery")
    assert stored(platform, (
        "m = Membership.objects.get(group__name='hikers', email='erik@example.org')\n"
        "e = ActivityEntry.objects.filter(target=m.email, verb='set_delivery').latest('id')\n"
        "out = [m.delivery, e.actor, e.detail]")) == [
        "digest", "olivia@example.org", {"delivery": ["individual", "digest"]}]
    nav = page.get_by_role("navigation", name="Group administration")
    nav.get_by_role("link", name="Activity log").click()
    page.get_by_label("Address or message").fill("erik@")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row", name=re.compile("changed delivery of"))
    expect(row).to_contain_text("olivia@example.org")


def test_owner_adds_and_invites_after_a_preview(page, platform):
    to_admin(page, platform)
    page.get_by_role("link", name="Add or invite", exact=True).click()
    page.get_by_label("Addresses").fill(
        "Newt Walker <newt@example.net>\nnot-an-address\nerik@example.org")
    page.get_by_label(re.compile("Invite them")).check()
    page.get_by_role("button", name="Preview").click()
    table = page.get_by_role("table")
    expect(table.get_by_role("row", name=re.compile("newt@example.net"))).to_contain_text(
        "will be invited")
    expect(table.get_by_role("row", name=re.compile("not-an-address"))).to_contain_text(
        "invalid address")
    expect(table.get_by_role("row", name=re.compile("erik@example.org"))).to_contain_text(
        "already a member")
    screenshot(page, "owner-add-members-preview")
    assert stored(platform, "out = Membership.objects.filter(email='newt@example.net')"
                            ".count()") == 0
    page.get_by_role("button", name="Invite 1").click()
    expect(page.get_by_role("status")).to_contain_text("1 added")
    invitation = mail_to(platform, "newt@example.net", "Invitation to join Hikers")
    assert "/confirm/subscription/" in invitation.get_body(("plain",)).get_content()
    assert stored(platform, "out = Membership.objects.get(email='newt@example.net').status"
                  ) == "invited"

    # and adding directly (no invitation box ticked): a member at once
    page.get_by_label("Addresses").fill("Rosa <rosa@example.net>")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("row", name=re.compile("rosa@example.net"))).to_contain_text(
        "will be added")
    page.get_by_role("button", name="Add 1").click()
    expect(page.get_by_role("status")).to_contain_text("1 added")
    assert stored(platform, "m = Membership.objects.get(email='rosa@example.net')\n"
                            "out = [m.status, m.display_name]") == ["active", "Rosa"]


def test_owner_acts_on_a_selection(page, platform):
    to_admin(page, platform)
    page.goto(platform.url("web", "/g/hikers/admin/members/"))
    page.get_by_label("Select dana@example.org").check()
    page.get_by_label("With the selected members").select_option(
        label="Set posting status: Moderated")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".flash")).to_contain_text("1 member changed.")
    assert stored(platform, "out = Membership.objects.get(group__name='hikers', "
                            "email='dana@example.org').posting_status") == "moderated"


def test_owner_bans_a_domain_and_its_posts_are_refused(page, platform):
    to_admin(page, platform)
    page.get_by_role("link", name="Bans", exact=True).click()
    page.get_by_label("Address or pattern").fill("^(bad")  # a broken expression: an error
    page.get_by_role("button", name="Ban", exact=True).click()
    expect(page.locator("#id_pattern_error")).to_be_visible()
    page.get_by_label("Address or pattern").fill("*@spam.example")
    page.get_by_label("Reason").fill("bulk advertising")
    page.get_by_role("button", name="Ban", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("*@spam.example is banned.")
    expect(page.get_by_role("row", name=re.compile(r"\*@spam\.example"))).to_contain_text(
        "bulk advertising")
    message = (b"From: Seller <seller@spam.example>\r\nTo: hikers@groups.localhost\r\n"
               b"Subject: Cheap boots\r\nMessage-ID: <boots.1@spam.example>\r\n\r\nBuy!\r\n")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        with pytest.raises((smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)) as refused:
            client.sendmail("seller@spam.example", ["hikers@groups.localhost"], message)
    assert b"bulk advertising" in str(refused.value).encode()

    page.get_by_role("link", name="Sender rules", exact=True).click()
    page.get_by_label("Sender address or pattern").fill("friend@partner.example")
    page.get_by_label("Action").select_option(label="Accept (post as if a member)")
    page.get_by_role("button", name="Add the rule").click()
    expect(page.locator(".flash")).to_contain_text("friend@partner.example")
    accepted = (b"From: Friend <friend@partner.example>\r\nTo: hikers@groups.localhost\r\n"
                b"Subject: Trail map\r\nMessage-ID: <map.1@partner.example>\r\n\r\nHere.\r\n")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.sendmail("friend@partner.example", ["hikers@groups.localhost"], accepted)
    assert mail_to(platform, "dana@example.org", "Trail map", post=True)

    page.get_by_role("link", name="Activity log").click()
    expect(page.get_by_role("row", name=re.compile(r"added a ban rule"))).to_contain_text(
        "*@spam.example")


def test_owner_sees_the_charts(page, platform):
    to_admin(page, platform)
    page.get_by_role("link", name="Charts").click()
    expect(page.get_by_role("img", name="Messages per day, last 365 days")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Members at the end of each week"))
           ).to_be_visible()
    expect(page.get_by_role("img", name="Bounces per week, last 52 weeks")).to_be_visible()
    page.get_by_text("The numbers as a table").first.click()
    expect(page.get_by_role("table").first).to_be_visible()
    screenshot(page, "owner-charts")


def test_a_moderator_only_invites_and_a_member_sees_no_member_list(page, platform):
    from tests.browser.conftest import PASSWORD

    platform.manage("shell", "--no-imports", "-c", (
        "from groups.models import Group, Membership, User\n"
        f"u = User.objects.create_user(username='mona@example.org', email='mona@example.org', "
        f"password={PASSWORD!r}, display_name='Mona Moderator', email_confirmed=True)\n"
        "Membership.objects.create(group=Group.objects.get(name='hikers'), user=u, "
        "email='mona@example.org', role='moderator')"))
    log_in(page, platform, "mona@example.org")
    page.goto(platform.url("web", "/g/hikers/admin/members/add/"))
    expect(page.get_by_role("heading", name="Invite members")).to_be_visible()
    expect(page.get_by_label(re.compile("Invite them"))).to_have_count(0)
    page.get_by_label("Addresses").fill("pia@example.net")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("row", name=re.compile("pia@example.net"))).to_contain_text(
        "will be invited")
    page.get_by_role("button", name="Invite 1").click()
    expect(page.get_by_role("status")).to_contain_text("1 added")
    assert mail_to(platform, "pia@example.net", "Invitation to join Hikers")
    assert stored(platform, "out = Membership.objects.get(email='pia@example.net').status"
                  ) == "invited"
    page.get_by_role("button", name="Log out").click()

    log_in(page, platform, "dana@example.org")
    response = page.goto(platform.url("web", "/g/hikers/admin/members/"))
    assert response.status == 404
