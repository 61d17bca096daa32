"""Members and settings through the API: cursor pages over a long list, filters, adding,
changing and removing by the member pages' rules, settings checked by the settings page's
forms — and every bad value a 422 naming its field."""

from __future__ import annotations

import pytest

from groups.membership import LAST_OWNER, add_members
from groups.models import ActivityEntry, Group, Membership

pytestmark = pytest.mark.django_db


def test_pages_through_every_member_once_in_order(api, group):
    add_members(group, [f"walker{i:03}@example.net" for i in range(250)])
    seen, url, pages = [], "/groups/hikers/members?page_size=100", 0
    while url:
        page = api["owner"].get(url).json()
        seen += [m["email"] for m in page["results"]]
        pages += 1
        url = page["next"] and page["next"].split("/api/v1", 1)[1]
    assert pages == 3
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 253  # + alice, mona, bob


def test_member_filters(api, group, people):
    add_members(group, ["Carla Climber <carla@example.net>", "dan@example.net"])
    Membership.objects.filter(email="dan@example.net").update(delivery="digest")
    def emails(query):
        return [m["email"] for m in api["owner"].get(
            f"/groups/hikers/members?{query}").json()["results"]]
    assert emails("q=climber") == ["carla@example.net"]
    assert emails("delivery=digest") == ["dan@example.net"]
    assert emails("role=moderator") == ["mona@example.org"]
    bad = api["owner"].get("/groups/hikers/members?delivery=pigeon")
    assert bad.status_code == 422 and "delivery" in bad.json()["fields"]
    bad = api["owner"].get("/groups/hikers/members?role=king")
    assert bad.status_code == 422 and "role" in bad.json()["fields"]


def test_add_change_remove_ban(api, group):
    made = api["owner"].call("POST", "/groups/hikers/members",
                             {"email": "Erin@Example.net", "display_name": "Erin",
                              "delivery": "digest"})
    assert made.status_code == 201, made.json()
    erin = made.json()
    assert (erin["email"], erin["status"], erin["delivery"]) == (
        "erin@example.net", "active", "digest")
    again = api["owner"].call("POST", "/groups/hikers/members", {"email": "erin@example.net"})
    assert again.status_code == 409
    bad = api["owner"].call("POST", "/groups/hikers/members", {"email": "not an address"})
    assert bad.status_code == 422 and "email" in bad.json()["fields"]

    changed = api["owner"].call("PATCH", f"/groups/hikers/members/{erin['id']}",
                                {"role": "moderator", "posting_status": "moderated"})
    assert changed.status_code == 200
    assert (changed.json()["role"], changed.json()["posting_status"]) == (
        "moderator", "moderated")
    wrong = api["owner"].call("PATCH", f"/groups/hikers/members/{erin['id']}",
                              {"delivery": "pigeon"})
    assert wrong.status_code == 422 and "delivery" in wrong.json()["fields"]

    removed = api["owner"].call("DELETE", f"/groups/hikers/members/{erin['id']}?reason=bye")
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    twice = api["owner"].call("DELETE", f"/groups/hikers/members/{erin['id']}")
    assert twice.status_code == 200  # removing again is allowed: it ends any restore link
    unban = api["owner"].call("POST", f"/groups/hikers/members/{erin['id']}/unban", {})
    assert unban.status_code == 409 and "removed" in unban.json()["detail"]
    banned = api["owner"].call("POST", f"/groups/hikers/members/{erin['id']}/ban",
                               {"reason": "spam"})
    assert banned.status_code == 200 and banned.json()["status"] == "banned"
    verbs = set(ActivityEntry.objects.filter(group=group, target="erin@example.net")
                .values_list("verb", flat=True))
    assert {"add", "set_role", "set_posting_status", "remove", "ban"} <= verbs
    assert ActivityEntry.objects.filter(verb="add", actor="alice@example.org").exists()


def test_moderators_only_invite_and_the_last_owner_stays(api, group, people):
    invited = api["moderator"].call("POST", "/groups/hikers/members",
                                    {"email": "fay@example.net"})
    assert invited.status_code == 201 and invited.json()["status"] == "invited"
    alice = Membership.objects.get(group=group, user=people["alice"])
    demote = api["owner"].call("PATCH", f"/groups/hikers/members/{alice.pk}",
                               {"role": "member"})
    assert demote.status_code == 409 and demote.json()["detail"] == LAST_OWNER
    gone = api["admin"].call("DELETE", f"/groups/hikers/members/{alice.pk}")
    assert gone.status_code == 409
    alice.refresh_from_db()
    assert alice.role == "owner" and alice.status == "active"


def test_settings_are_checked_by_the_settings_forms(api, group):
    got = api["owner"].get("/groups/hikers/settings").json()
    assert got["privacy"] == "public" and got["title"] == "Hikers"
    ok = api["owner"].call("PATCH", "/groups/hikers/settings",
                           {"title": "Hill Walkers", "max_message_size": "5 MB",
                            "max_attachment_size": 2 * 1024 * 1024,
                            "privacy": "private_archive"})
    assert ok.status_code == 200, ok.json()
    group.refresh_from_db()
    assert (group.title, group.max_message_size, group.max_attachment_size, group.privacy) == (
        "Hill Walkers", 5 * 1024 * 1024, 2 * 1024 * 1024, "private_archive")
    assert group.description == "Walks and talks."  # not given, not changed
    bad = api["owner"].call("PATCH", "/groups/hikers/settings", {"privacy": "secret"})
    assert bad.status_code == 422 and "privacy" in bad.json()["fields"]
    bad = api["owner"].call("PATCH", "/groups/hikers/settings",
                            {"max_attachment_size": 6 * 1024 * 1024})
    assert bad.status_code == 422 and "max_attachment_size" in bad.json()["fields"]
    bad = api["owner"].call("PATCH", "/groups/hikers/settings", {"auto_lock_days": "soon"})
    assert bad.status_code == 422 and "auto_lock_days" in bad.json()["fields"]
    group.refresh_from_db()
    assert group.privacy == "private_archive"  # a refused change changes nothing


def test_create_group(api, people):
    made = api["member"].call("POST", "/groups/", {"name": "cyclists", "title": "Cyclists",
                                                   "style": "announcement"})
    assert made.status_code == 201, made.json()
    assert made.json()["your_role"] == "owner" and made.json()["member_count"] == 1
    assert Group.objects.get(name="cyclists").posting_policy == "announce"
    taken = api["member"].call("POST", "/groups/", {"name": "cyclists", "title": "Again"})
    assert taken.status_code == 409 and "exists already" in taken.json()["detail"]
    bad = api["member"].call("POST", "/groups/", {"name": "Not A Name!", "title": "x"})
    assert bad.status_code == 422 and "name" in bad.json()["fields"]
    missing = api["member"].call("POST", "/groups/", {"name": "solo"})
    assert missing.status_code == 422 and "title" in missing.json()["fields"]


def test_bad_json_and_wrong_types_are_422s_naming_the_field(api, group):
    broken = api["owner"].client.patch("/api/v1/groups/hikers/settings", data="{not json",
                                       content_type="application/json",
                                       headers=api["owner"].headers)
    assert broken.status_code in (400, 422) and broken.json()["detail"]
    wrong = api["owner"].call("PATCH", "/groups/hikers/settings",
                              {"guidelines_monthly": {"a": 1}})
    assert wrong.status_code == 422 and "guidelines_monthly" in wrong.json()["fields"]
