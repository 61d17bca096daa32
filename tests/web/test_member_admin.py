"""The owners' member pages, bans, sender rules, activity log and charts (Django client).

alice owns "hikers", mona moderates it, bob is a member, charlie an outsider.
Every page: who may see it, valid input and its effect (in the database and the
activity log), invalid input (a form error naming the field, never a 500).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import ActivityEntry, BanRule, BounceEvent, Membership, SenderRule
from tests.web.conftest import make_post

pytestmark = pytest.mark.django_db
M = Membership


def url(name: str, *args) -> str:
    return reverse(name, args=["hikers", *args])


def bob(group) -> Membership:
    return Membership.objects.get(group=group, email="bob@example.org")


def logged(verb: str, target: str) -> ActivityEntry:
    return ActivityEntry.objects.filter(verb=verb, target=target).latest("id")


def test_who_may_see_each_page(group, clients):
    pages = [url("mod_members"), url("mod_member", bob(group).pk), url("mod_members_export"),
             url("mod_add_members"), url("mod_bans"), url("mod_sender_rules"),
             url("mod_activity")]
    for page in pages:
        for who in ("alice", "mona", "root"):
            assert clients[who].get(page).status_code == 200, (who, page)
        for who in ("bob", "charlie"):
            assert clients[who].get(page).status_code == 404, (who, page)
        assert clients["anon"].get(page).status_code == 302, page
    assert clients["alice"].get(url("mod_charts")).status_code == 200
    assert clients["mona"].get(url("mod_charts")).status_code == 404
    assert clients["bob"].get(url("mod_charts")).status_code == 404
    # a member of another group can't reach this group's member page through its id
    assert clients["alice"].get(reverse("mod_member", args=["hikers", 999999])).status_code == 404


def _many(group, n: int = 120) -> None:
    Membership.objects.bulk_create([
        Membership(group=group, email=f"walker{i:03d}@example.net", display_name=f"Walker {i}",
                   delivery="digest" if i % 10 == 0 else "individual",
                   posting_status="moderated" if i % 7 == 0 else "default",
                   bounce_state="bouncing" if i == 5 else "ok",
                   status="invited" if i == 6 else "active")
        for i in range(n)])


def test_member_list_search_filters_and_pages(group, clients):
    _many(group)
    alice = clients["alice"]
    first = alice.get(url("mod_members")).content.decode()
    assert "123</strong> matches" in first  # 120 walkers (one invited) and alice, mona, bob
    assert "alice@example.org" in first and "walker000@example.net" in first
    assert "walker060@example.net" not in first  # 50 a page
    assert "after=walker046%40example.net" in first
    second = alice.get(url("mod_members") + "?after=walker046%40example.net").content.decode()
    assert "walker047@example.net" in second and "walker046@example.net" not in second
    last = alice.get(url("mod_members") + "?last=1").content.decode()
    assert "walker119@example.net" in last and "walker000@example.net" not in last
    back = alice.get(url("mod_members") + "?before=walker047%40example.net").content.decode()
    assert "walker046@example.net" in back and "walker047@example.net" not in back

    def emails(query: str) -> set[str]:
        page = alice.get(url("mod_members") + query).content.decode()
        return {e for e in (f"walker{i:03d}@example.net" for i in range(120)) if e in page}

    assert emails("?q=Walker 11") == {f"walker{i:03d}@example.net" for i in
                                      (11, *range(110, 120))}
    assert emails("?delivery=digest") == {f"walker{i:03d}@example.net" for i in
                                          range(0, 120, 10)}
    assert emails("?bouncing=on") == {"walker005@example.net"}
    assert emails("?status=pending") == {"walker006@example.net"}
    assert "walker007@example.net" in alice.get(url("mod_members") + "?posting=moderated"
                                                 ).content.decode()
    only_mods = alice.get(url("mod_members") + "?role=moderator").content.decode()
    assert "mona@example.org" in only_mods and "bob@example.org" not in only_mods
    bad = alice.get(url("mod_members") + "?role=emperor")
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()


def test_bulk_actions_set_posting_status_and_delivery(group, clients):
    b = bob(group)
    clients["mona"].post(url("mod_members"), {"ids": [b.pk], "action": "posting_moderated"})
    clients["mona"].post(url("mod_members"), {"ids": [b.pk], "action": "delivery_digest"})
    b.refresh_from_db()
    assert (b.posting_status, b.delivery) == ("moderated", "digest")
    entry = logged("set_posting_status", "bob@example.org")
    assert entry.actor == "mona@example.org"
    assert entry.detail == {"posting_status": ["default", "moderated"]}
    # nothing selected, or an action that does not exist: a message, not a 500
    for data in ({"action": "ban"}, {"ids": [b.pk], "action": "explode"},
                 {"ids": ["x"], "action": "ban"}):
        response = clients["alice"].post(url("mod_members"), data, follow=True)
        assert response.status_code == 200
        assert 'class="error"' in response.content.decode()
    # moderators get no role actions
    assert "role_owner" not in clients["mona"].get(url("mod_members")).content.decode()
    assert "role_owner" in clients["alice"].get(url("mod_members")).content.decode()


def test_member_page_shows_and_changes_everything(group, clients):
    b = bob(group)
    now = timezone.now()
    Membership.objects.filter(pk=b.pk).update(last_probe_at=now, probes_sent=2)
    BounceEvent.objects.create(membership=b, at=now - timedelta(days=1), kind="hard",
                               status="5.1.1", diagnostic="user unknown", message_number=7)
    page = clients["mona"].get(url("mod_member", b.pk)).content.decode()
    for text in ("bob@example.org", "Individual messages", "Group default", "user unknown",
                 "#7", "Last probe", "Save changes", "Ban from the group"):
        assert text in page, text
    assert 'name="role"' not in page  # moderators don't change roles
    response = clients["alice"].post(url("mod_member", b.pk), {
        "do": "settings", "display_name": "Bobby", "role": "moderator", "delivery": "summary",
        "posting_status": "override"})
    assert response.status_code == 302
    b.refresh_from_db()
    assert (b.display_name, b.role, b.delivery, b.posting_status) == (
        "Bobby", "moderator", "summary", "override")
    page = clients["alice"].get(url("mod_member", b.pk)).content.decode()
    for verb in ("set_name", "set_role", "set_delivery", "set_posting_status"):
        assert logged(verb, "bob@example.org").actor == "alice@example.org"
    assert "changed delivery of" in page and "Individual messages → Daily summary" in page


def test_member_page_invalid_input_and_powers(group, clients):
    b = bob(group)
    bad = clients["alice"].post(url("mod_member", b.pk), {
        "do": "settings", "display_name": "B", "role": "member", "delivery": "pigeon",
        "posting_status": "default"})
    assert bad.status_code == 400
    assert 'id="id_delivery_error"' in bad.content.decode()
    alice = Membership.objects.get(email="alice@example.org")
    # a moderator can't touch an owner; the last owner can't be demoted or removed
    clients["mona"].post(url("mod_member", alice.pk), {"do": "ban"})
    clients["alice"].post(url("mod_member", alice.pk), {
        "do": "settings", "display_name": "", "role": "member", "delivery": "individual",
        "posting_status": "default"})
    clients["alice"].post(url("mod_member", alice.pk), {"do": "remove"})
    alice.refresh_from_db()
    assert (alice.status, alice.role) == ("active", "owner")
    assert clients["alice"].post(url("mod_member", b.pk), {"do": "fly"}).status_code == 302
    too_long = clients["alice"].post(url("mod_member", b.pk), {"do": "ban", "reason": "x" * 600})
    assert too_long.status_code == 400 and "id_reason_error" in too_long.content.decode()


def test_remove_and_ban_from_the_member_page_with_a_reason(group, clients):
    b = bob(group)
    clients["mona"].post(url("mod_member", b.pk), {"do": "ban", "reason": "spam links"})
    b.refresh_from_db()
    assert b.status == "banned"
    entry = logged("ban", "bob@example.org")
    assert (entry.actor, entry.detail["reason"]) == ("mona@example.org", "spam links")
    clients["mona"].post(url("mod_member", b.pk), {"do": "unban"})
    b.refresh_from_db()
    assert b.status == "unsubscribed"
    clients["mona"].post(url("mod_member", b.pk), {"do": "remove"})
    b.refresh_from_db()
    assert b.status == "removed"


def test_add_preview_says_what_will_happen_then_does_it(group, clients):
    BanRule.objects.create(group=group, pattern="*@spam.example")
    Membership.objects.create(group=group, email="gone@example.org", status="unsubscribed")
    add = url("mod_add_members")
    text = "new@example.org\nbob@example.org\nx@spam.example\ngone@example.org\nnope"
    preview = clients["alice"].post(add, {"addresses": text, "delivery": "individual"})
    page = preview.content.decode()
    for row in ("new@example.org</td><td></td><td>will be added",
                "bob@example.org</td><td></td><td>already a member",
                "x@spam.example</td><td></td><td>banned: not added",
                "gone@example.org</td><td></td><td>left or was removed",
                "nope</td><td></td><td>invalid address"):
        assert row in page, row
    assert "Add 1" in page
    assert not Membership.objects.filter(email="new@example.org").exists()
    done = clients["alice"].post(add, {"addresses": text, "delivery": "individual",
                                       "confirm": "yes"}).content.decode()
    assert "1 added" in done and "1 banned" in done
    assert Membership.objects.get(email="new@example.org").status == "active"
    assert logged("add", "new@example.org").actor == "alice@example.org"
    assert not Membership.objects.filter(email="x@spam.example").exists()
    # a moderator's preview says "invited", whatever they ask
    page = clients["mona"].post(add, {"addresses": "guest@example.org", "invite": "",
                                      "delivery": "individual"}).content.decode()
    assert "will be invited" in page and "Invite 1" in page
    # nothing given, or a bad delivery: errors on the fields
    empty = clients["alice"].post(add, {"addresses": "", "delivery": "individual"})
    assert empty.status_code == 400 and "id_addresses_error" in empty.content.decode()
    bad = clients["alice"].post(add, {"addresses": "a@example.org", "delivery": "x"})
    assert bad.status_code == 400 and "id_delivery_error" in bad.content.decode()


def test_csv_upload_with_a_header_row(group, clients):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("m.csv", b"email,name\nzed@example.org,Zed\n")
    page = clients["alice"].post(url("mod_add_members"), {
        "csv_file": upload, "delivery": "individual"}).content.decode()
    assert "zed@example.org</td><td>Zed</td><td>will be added" in page
    assert "email</td>" not in page


def test_export_is_csv_of_the_filtered_list_and_safe_in_spreadsheets(group, clients):
    Membership.objects.filter(email="bob@example.org").update(display_name="=HYPERLINK(1)")
    response = clients["mona"].get(url("mod_members_export"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["email", "name", "role", "status"]
    assert {r[0] for r in rows[1:]} == {"alice@example.org", "bob@example.org",
                                        "mona@example.org"}
    assert ["bob@example.org", "'=HYPERLINK(1)"] == rows[[r[0] for r in rows].index(
        "bob@example.org")][:2]
    only = clients["mona"].get(url("mod_members_export") + "?role=owner")
    rows = list(csv.reader(io.StringIO(b"".join(only.streaming_content).decode())))
    assert [r[0] for r in rows[1:]] == ["alice@example.org"]


def test_bans_page(group, clients):
    page = url("mod_bans")
    assert clients["mona"].post(page, {"pattern": "*@Spam.Example", "reason": "spam"}
                                ).status_code == 302
    rule = BanRule.objects.get()
    assert (rule.pattern, rule.created_by) == ("*@spam.example", "mona@example.org")
    assert logged("ban_rule", "*@spam.example").actor == "mona@example.org"
    for bad, error in (("^(unclosed", "Not a valid regular expression"),
                       ("", "This field is required"), ("*@spam.example", "banned already"),
                       ("two words", "has an @")):
        response = clients["mona"].post(page, {"pattern": bad})
        assert response.status_code == 400, bad
        assert "id_pattern_error" in response.content.decode() and error in (
            response.content.decode()), bad
    # banning a member's address bans the membership too
    clients["alice"].post(page, {"pattern": "bob@example.org"})
    assert bob(group).status == "banned"
    # a banned address can't join on the web
    clients["alice"].post(page, {"pattern": "charlie@example.org"})
    clients["charlie"].post(reverse("join", args=["hikers"]))
    assert not Membership.objects.filter(email="charlie@example.org", status="active").exists()
    clients["mona"].post(page, {"lift": rule.pk})
    assert not BanRule.objects.filter(pk=rule.pk).exists()
    assert logged("unban_rule", "*@spam.example").actor == "mona@example.org"


def test_sender_rules_page(group, clients):
    page = url("mod_sender_rules")
    assert clients["alice"].post(page, {"pattern": "pest@example.net", "action": "reject",
                                        "reason": "Use the form"}).status_code == 302
    rule = SenderRule.objects.get()
    assert (rule.action, rule.reason) == ("reject", "Use the form")
    assert logged("sender_rule", "pest@example.net").detail["action"] == "reject"
    wrong = clients["alice"].post(page, {"pattern": "x@example.net", "action": "accept",
                                         "reason": "why"})
    assert wrong.status_code == 400 and "id_reason_error" in wrong.content.decode()
    unknown = clients["alice"].post(page, {"pattern": "x@example.net", "action": "smite"})
    assert unknown.status_code == 400 and "id_action_error" in unknown.content.decode()
    clients["mona"].post(page, {"delete": rule.pk})
    assert not SenderRule.objects.exists()
    assert clients["mona"].post(page, {"delete": 12345}).status_code == 404


def test_activity_log_page_search_and_pages(group, clients):
    ActivityEntry.objects.bulk_create([
        ActivityEntry(group=group, actor="system", verb="join" if i % 2 else "leave",
                      target=f"p{i:03d}@example.net") for i in range(120)])
    log = url("mod_activity")
    first = clients["mona"].get(log).content.decode()
    assert "p119@example.net" in first and "p060@example.net" not in first
    assert "Next" in first
    last = clients["mona"].get(log + "?last=1").content.decode()
    assert "p000@example.net" in last and "p119@example.net" not in last
    found = clients["mona"].get(log + "?q=P05").content.decode()
    assert "p050@example.net" in found and "p060@example.net" not in found
    joins = clients["mona"].get(log + "?verb=leave").content.decode()
    assert "p050@example.net" in joins and "p051@example.net" not in joins
    bad = clients["mona"].get(log + "?verb=nonsense&after=abc")
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()


def test_charts_are_inline_svg_with_tables(group, clients):
    make_post(group, "A walk", minutes_ago=60 * 24 * 3)
    make_post(group, "Another walk")
    BounceEvent.objects.create(membership=bob(group), kind="hard")
    page = clients["alice"].get(url("mod_charts")).content.decode()
    assert page.count("<svg") == 3 and "<script" not in page.split("<footer")[0]
    assert "style=" not in page
    assert "Messages per day" in page and "Members at the end of each week" in page
    today = timezone.localdate()
    assert f"<td>{today:%Y-%m-%d}</td><td>2</td>" in page  # by the day archived
    assert f"<td>week to {today:%Y-%m-%d}</td><td>1</td>" in page


def test_a_long_list_is_counted_up_to_a_cap(group, clients, monkeypatch):
    from groups.web.views import memberadmin

    _many(group)
    monkeypatch.setattr(memberadmin, "COUNT_CAP", 100)
    page = clients["alice"].get(url("mod_members")).content.decode()
    assert "More than <strong>100</strong> match." in page
    one = clients["alice"].get(url("mod_members") + "?q=walker007").content.decode()
    assert "<strong>1</strong> match." in one
    many = clients["alice"].get(url("mod_members") + "?q=walker").content.decode()
    assert "More than <strong>50</strong> match: narrow the search" in many


def test_the_dashboard_shows_recent_activity_and_links_to_the_log(group, clients):
    clients["alice"].post(url("mod_member", bob(group).pk), {"do": "remove"})
    page = clients["mona"].get(url("mod_dashboard")).content.decode()
    assert "alice@example.org — removed bob@example.org" in page
    assert url("mod_activity") in page and url("mod_charts") not in page
    assert url("mod_charts") in clients["alice"].get(url("mod_dashboard")).content.decode()
