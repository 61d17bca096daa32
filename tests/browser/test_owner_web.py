"""An owner runs a group from the website only: creates it, sets each settings section,
rewords a notice; a site admin suspends and deletes groups; a logged-out visitor's Join
survives the login. Each walk ends by checking the effect: the database (through the
platform's own manage.py), the mail Karl delivered to the sink, or a post refused by smtpd.
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

from tests.browser.conftest import PASSWORD, log_in, mail_to, screenshot, text_of

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def db(platform, code: str) -> dict:
    """Run ``code`` in the platform's Django; it sets ``out`` (a dict), returned here."""
    script = ("import json\nfrom groups.models import *\nout = {}\n" + code
              + "\nprint('OUT=' + json.dumps(out, default=str))")
    stdout = platform.manage("shell", "--no-imports", "-c", script).stdout
    return json.loads(stdout.split("OUT=", 1)[1])


def person(platform, email: str, name: str, **extra: bool) -> None:
    flags = "".join(f", {k}={v!r}" for k, v in extra.items())
    db(platform, f"User.objects.create_user(username={email!r}, email={email!r}, "
                 f"password={PASSWORD!r}, display_name={name!r}, email_confirmed=True{flags})")


def test_owner_creates_a_group_from_the_home_page(page, platform):
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/"))
    page.get_by_role("link", name="Create a group").click()
    name = page.get_by_label("Group name")
    name.fill("hikers")
    expect(page.locator("#name-check")).to_contain_text("exists already")  # checked live
    name.fill("walkers")
    expect(page.locator("#name-check")).to_contain_text("walkers is available.")
    page.get_by_label("Title").fill("Walkers' news")
    page.get_by_label("Description").fill("News of the walking club.")
    page.get_by_role("radio", name=re.compile(r"Announcement:")).check()
    page.get_by_role("button", name="Create the group").click()
    expect(page.locator(".flash")).to_contain_text("Walkers' news is created, and you are "
                                                   "its owner")
    expect(page.get_by_role("heading", name="General")).to_be_visible()
    screenshot(page, "owner-created-group")
    found = db(platform, """
g = Group.objects.get(name="walkers")
m = Membership.objects.get(group=g)
out = {"title": g.title, "posting": g.posting_policy, "reply_to": g.reply_to,
       "owner": [m.email, m.role, m.status]}""")
    assert found == {"title": "Walkers' news", "posting": "announce", "reply_to": "sender",
                     "owner": ["olivia@example.org", "owner", "active"]}


def test_owner_sets_each_settings_section(page, platform):
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/admin/"))
    page.get_by_role("link", name="Settings").click()

    page.get_by_label("Title").fill("Hill Walkers")
    page.get_by_label(re.compile(r"^Guidelines:?$")).fill("Be kind on the trail.")
    page.get_by_role("button", name="Save general").click()
    expect(page.locator(".flash")).to_contain_text("General settings are saved.")

    page.get_by_role("link", name="Privacy and joining").click()
    page.get_by_label("Who can join").select_option(label="Owners approve each join request")
    page.get_by_role("button", name="Save privacy and joining").click()
    expect(page.locator(".flash")).to_contain_text("Privacy and joining settings are saved.")

    page.get_by_role("link", name="Posting and moderation").click()
    page.get_by_label("Posts whose sender is not authenticated").select_option(label="Refuse")
    page.get_by_label("Days a held message waits").fill("0")
    page.get_by_role("button", name="Save posting and moderation").click()
    expect(page.locator(".has-error")).to_contain_text("Choose from 1 to 365 days.")
    page.get_by_label("Days a held message waits").fill("10")
    page.get_by_role("button", name="Save posting and moderation").click()
    expect(page.locator(".flash")).to_contain_text("Posting and moderation settings are saved")

    page.get_by_role("link", name="Message formatting").click()
    page.get_by_label("Subject tag").fill("[walk]")
    page.get_by_label(re.compile(r"^Footer:?$")).fill("Sent to {{ name }} by {{ group_name }}")
    expect(page.locator("#footer-preview")).to_have_text("Sent to Alex Example by hikers")
    page.get_by_label("Sender's address on posts").select_option(
        label="Always show posts as from “Name via the group”")
    page.get_by_role("button", name="Save message formatting").click()
    expect(page.locator(".flash")).to_contain_text("Message formatting settings are saved.")

    page.get_by_role("link", name="Limits").click()
    expect(page.get_by_label("Largest message")).to_have_value("10 MB")
    page.get_by_label("Largest message").fill("5 MB")
    page.get_by_label("Largest attachment").fill("500 KB")
    page.get_by_role("button", name="Save limits").click()
    expect(page.locator(".flash")).to_contain_text("Limits settings are saved.")
    expect(page.get_by_label("Largest attachment")).to_have_value("500 KB")
    screenshot(page, "owner-settings-limits")

    found = db(platform, """
g = Group.objects.get(name="hikers")
out = {f: getattr(g, f) for f in ("title", "guidelines", "join_policy", "unauthenticated_policy",
       "moderation_expiry_days", "subject_tag", "footer_template", "dmarc_handling",
       "max_message_size", "max_attachment_size")}""")
    assert found == {"title": "Hill Walkers", "guidelines": "Be kind on the trail.",
                     "join_policy": "approval", "unauthenticated_policy": "reject",
                     "moderation_expiry_days": 10, "subject_tag": "[walk]",
                     "footer_template": "Sent to {{ name }} by {{ group_name }}",
                     "dmarc_handling": "always", "max_message_size": 5 * 1024 * 1024,
                     "max_attachment_size": 500 * 1024}
    db(platform, 'Group.objects.filter(name="hikers").update(join_policy="open", '
                 'unauthenticated_policy="auto", subject_tag="", footer_template="", '
                 'title="Hikers")')


def test_owner_transfers_a_group_and_deletes_another(page, platform):
    db(platform, """
from groups.membership import add_members
for name in ("relay", "doomed"):
    g = Group.objects.create(name=name, title=name.title())
    add_members(g, ["olivia@example.org"], role="owner")
    add_members(g, ["Dana Digest <dana@example.org>"])""")
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/relay/admin/settings/"))
    page.get_by_role("link", name="Danger zone").click()
    page.get_by_label("New owner").select_option(label="Dana Digest <dana@example.org>")
    page.get_by_role("button", name="Transfer ownership").click()
    expect(page.locator(".flash")).to_contain_text("Dana Digest is now an owner of Relay.")

    page.goto(platform.url("web", "/g/doomed/admin/settings/danger/"))
    page.get_by_label("Type the group's name to confirm").fill("Doomed")
    page.get_by_role("button", name="Delete the group and its archive").click()
    expect(page.locator(".has-error")).to_contain_text("Type doomed exactly")
    page.get_by_label("Type the group's name to confirm").fill("doomed")
    page.get_by_role("button", name="Delete the group and its archive").click()
    expect(page.locator(".flash")).to_contain_text("Doomed is deleted")
    found = db(platform, """
out = {"roles": dict(Membership.objects.filter(group__name="relay").values_list("email", "role")),
       "doomed": Group.objects.filter(name="doomed").exists()}""")
    assert found == {"roles": {"olivia@example.org": "moderator",
                               "dana@example.org": "owner"}, "doomed": False}


def test_owner_rewords_the_welcome_and_a_logged_out_joiner_gets_it(page, platform):
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/admin/"))
    page.get_by_role("link", name="Notices").click()
    page.get_by_role("link", name="Welcome", exact=True).click()
    expect(page.get_by_role("cell", name="{{ membership.name }}")).to_be_visible()
    page.get_by_label("Subject").fill("Hello {{ membership.name }}, welcome to {{ group.name }}")
    page.get_by_label("Text").fill("Boots on, {{ membership.name }}! Post to {{ post_address }}.")
    expect(page.locator("#notice-preview-subject")).to_have_text(
        "Hello Alex Example, welcome to hikers")  # rendered live with a sample member
    expect(page.locator("#notice-preview-body")).to_contain_text("Boots on, Alex Example!")
    page.get_by_label("Text").fill("{{ membership.user.password }}")
    expect(page.locator("#notice-problem")).to_contain_text("not one of this notice's")
    page.get_by_label("Text").fill("Boots on, {{ membership.name }}! Post to {{ post_address }}.")
    page.get_by_role("button", name="Save the notice").click()
    expect(page.locator(".flash")).to_contain_text("The notice “Welcome” is saved.")
    page.get_by_role("button", name="Log out").click()

    # A visitor presses Join while logged out: log in, land on the join, confirm it.
    person(platform, "wes@example.org", "Wes Walker")
    page.goto(platform.url("web", "/g/hikers/"))
    page.get_by_role("button", name="Join this group").click()
    page.get_by_label("Email address").fill("wes@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Join Hikers?")).to_be_visible()
    page.get_by_role("button", name="Join this group").click()
    expect(page.locator(".flash")).to_contain_text("Welcome to Hikers")
    welcome = mail_to(platform, "wes@example.org", "Hello Wes Walker, welcome to hikers")
    assert "Boots on, Wes Walker! Post to hikers@groups.localhost." in text_of(welcome)
    page.get_by_role("button", name="Log out").click()

    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/admin/notices/welcome/"))
    page.get_by_role("button", name="Reset to the default").click()
    expect(page.locator(".flash")).to_contain_text("back to the default")
    expect(page.get_by_label("Subject")).to_have_value("[{{ group.name }}] Welcome to "
                                                       "{{ group.display_title }}")
    assert db(platform, 'out = {"n": NoticeTemplate.objects.count()}') == {"n": 0}


def test_site_admin_suspends_a_group_whose_posts_are_then_refused(page, platform):
    person(platform, "root@example.org", "Site Admin", is_superuser=True, is_staff=True)
    db(platform, 'Group.objects.create(name="spam-den", title="Spam den")')
    log_in(page, platform, "root@example.org")
    page.get_by_role("link", name="All groups").click()
    page.get_by_label("Search groups").fill("council")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="council", exact=True).click()
    page.get_by_role("button", name="Suspend the group").click()
    expect(page.locator(".flash")).to_contain_text("council is suspended")
    screenshot(page, "site-admin-suspended")

    message = (b"From: Mel Member <mel@example.org>\r\nTo: council@groups.localhost\r\n"
               b"Subject: While suspended\r\nMessage-ID: <suspended.1@example.org>\r\n"
               b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nHello?\r\n")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        with pytest.raises(smtplib.SMTPException) as refused:
            client.sendmail("mel@example.org", ["council@groups.localhost"], message)
    assert "suspended" in str(refused.value)
    assert "5.7.1" in str(refused.value)
    page.goto(platform.url("web", "/g/council/"))
    expect(page.locator("main")).to_contain_text("This group is suspended")

    page.goto(platform.url("web", "/site/groups/council/"))
    page.get_by_role("button", name="Lift the suspension").click()
    expect(page.locator(".flash")).to_contain_text("council is no longer suspended")

    page.goto(platform.url("web", "/site/groups/spam-den/"))
    page.get_by_label("Type the group's name to confirm").fill("spam-den")
    page.get_by_role("button", name="Delete the group and its archive").click()
    expect(page.locator(".flash")).to_contain_text("spam-den is deleted")
    found = db(platform, """
out = {"council": Group.objects.get(name="council").suspended,
       "spam": Group.objects.filter(name="spam-den").exists(),
       "held": HeldMessage.objects.filter(subject="While suspended").count(),
       "archived": Message.objects.filter(subject="While suspended").count()}""")
    assert found == {"council": False, "spam": False, "held": 0, "archived": 0}
