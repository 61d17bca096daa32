"""The settings in sections: each saves only its own fields, bad input names the field,
sizes in KB/MB, the danger zone (transfer ownership, delete), and who may open them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.models import Group, Membership, Message, Topic
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db
SECTIONS = ["general", "privacy", "posting", "formatting", "delivery", "limits", "danger"]


def url(section: str) -> str:
    return reverse("mod_settings_section", args=["hikers", section])


VALID = {
    "general": {"title": "Hill walkers", "description": "Walks.", "guidelines": "Be kind.",
                "guidelines_monthly": "on"},
    "privacy": {"privacy": "private_archive", "join_policy": "approval"},
    "posting": {"posting_policy": "new_moderated", "new_member_posts_moderated": "3",
                "nonmember_policy": "hold", "unauthenticated_policy": "reject",
                "moderation_expiry_days": "7", "auto_lock_days": "90",
                "edit_window_minutes": "30", "send_edits": "on"},
    "formatting": {"subject_tag": "[hike]", "reply_to": "sender",
                   "footer_template": "Leave: {{ unsubscribe_url }}",
                   "dmarc_handling": "always"},
    "delivery": {"bulk_delivery": "on"},
    "limits": {"max_message_size": "5 MB", "max_attachment_size": "500 KB",
               "allowed_attachment_types": "image/, application/pdf"},
}
SAVED = {
    "general": {"title": "Hill walkers", "guidelines": "Be kind.", "guidelines_monthly": True},
    "privacy": {"privacy": "private_archive", "join_policy": "approval"},
    "posting": {"posting_policy": "new_moderated", "new_member_posts_moderated": 3,
                "nonmember_policy": "hold", "unauthenticated_policy": "reject",
                "moderation_expiry_days": 7, "auto_lock_days": 90,
                "edit_window_minutes": 30, "send_edits": True},
    "formatting": {"subject_tag": "[hike]", "reply_to": "sender",
                   "footer_template": "Leave: {{ unsubscribe_url }}", "dmarc_handling": "always"},
    "delivery": {"bulk_delivery": True},
    "limits": {"max_message_size": 5 * 1024 * 1024, "max_attachment_size": 500 * 1024,
               "allowed_attachment_types": "image/, application/pdf"},
}


@pytest.mark.parametrize("section", SECTIONS)
def test_only_owners_and_site_admins_open_a_section(group, clients, section):
    assert clients["anon"].get(url(section)).status_code == 302
    for who in ("charlie", "bob", "mona"):
        response = clients[who].get(url(section))
        assert response.status_code == 404, who
        assert "This page isn't here" in response.content.decode()  # the site's own page
    for who in ("alice", "root"):
        assert clients[who].get(url(section)).status_code == 200, who
    if section != "danger":
        assert clients["mona"].post(url(section), VALID[section]).status_code == 404


@pytest.mark.parametrize("section", list(VALID))
def test_each_section_saves_its_own_fields_only(group, clients, section):
    before = Group.objects.values().get(pk=group.pk)
    response = clients["alice"].post(url(section), VALID[section], follow=True)
    assert response.redirect_chain[-1][0] == url(section)
    assert "settings are saved" in response.content.decode()
    after = Group.objects.values().get(pk=group.pk)
    for field, value in SAVED[section].items():
        assert after[field] == value, field
    untouched = set(before) - set(VALID[section])
    assert {f: after[f] for f in untouched} == {f: before[f] for f in untouched}


def test_every_option_has_one_sentence_of_help(group, clients):
    for section in VALID:
        form = clients["alice"].get(url(section)).context["form"]
        for name, field in form.fields.items():
            assert field.help_text and field.help_text.strip(), (section, name)


def test_limits_are_shown_in_kb_and_mb(group, clients):
    Group.objects.filter(pk=group.pk).update(max_message_size=10 * 1024 * 1024,
                                             max_attachment_size=300 * 1024)
    page = clients["alice"].get(url("limits")).content.decode()
    assert 'value="10 MB"' in page and 'value="300 KB"' in page


def test_dmarc_handling_is_in_plain_words(group, clients):
    page = clients["alice"].get(url("formatting")).content.decode()
    assert "Name via the group" in page and "forbid others to send mail" in page


INVALID = [
    ("general", "title", {"title": " "}, "Give the group a title."),
    ("general", "guidelines_monthly", {"guidelines": "", "guidelines_monthly": "on"},
     "Write the guidelines first"),
    ("privacy", "privacy", {"privacy": "secret"}, "Select a valid choice."),
    ("privacy", "join_policy", {"join_policy": ""}, "This field is required."),
    ("posting", "posting_policy", {"posting_policy": "anyone"}, "Select a valid choice."),
    ("posting", "new_member_posts_moderated", {"new_member_posts_moderated": "0"},
     "Choose from 1 to 1000"),
    ("posting", "nonmember_policy", {"nonmember_policy": "x"}, "Select a valid choice."),
    ("posting", "unauthenticated_policy", {"unauthenticated_policy": "x"},
     "Select a valid choice."),
    ("posting", "moderation_expiry_days", {"moderation_expiry_days": "999"},
     "Choose from 1 to 365"),
    ("posting", "auto_lock_days", {"auto_lock_days": "-1"}, "greater than or equal to 0"),
    ("posting", "edit_window_minutes", {"edit_window_minutes": "600000"}, "at most 525600"),
    ("formatting", "subject_tag", {"subject_tag": "x" * 65}, "at most 64 characters"),
    ("formatting", "reply_to", {"reply_to": "nobody"}, "Select a valid choice."),
    ("formatting", "footer_template", {"footer_template": "{% if %}"},
     "footer template has an error"),
    ("formatting", "dmarc_handling", {"dmarc_handling": "maybe"}, "Select a valid choice."),
    ("limits", "max_message_size", {"max_message_size": "lots"}, "such as 10 MB"),
    ("limits", "max_message_size", {"max_message_size": "9000 MB"}, "This site takes"),
    ("limits", "max_attachment_size", {"max_attachment_size": "10 bytes"}, "such as 10 MB"),
    ("limits", "max_attachment_size", {"max_attachment_size": "6 MB"},
     "larger than the largest message"),
    ("limits", "allowed_attachment_types", {"allowed_attachment_types": "pictures"},
     "is not a type"),
]


@pytest.mark.parametrize("section,field,change,error", INVALID)
def test_bad_input_names_the_field(group, clients, section, field, change, error):
    before = Group.objects.values().get(pk=group.pk)
    response = clients["alice"].post(url(section), {**VALID[section], **change})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and error in " ".join(errors[field]), errors
    assert Group.objects.values().get(pk=group.pk) == before


def test_transfer_ownership(group, clients, people):
    bob = Membership.objects.get(group=group, email="bob@example.org")
    response = clients["alice"].post(url("danger"), {"action": "transfer",
                                                     "new_owner": bob.pk})
    assert response.status_code == 302
    roles = dict(Membership.objects.filter(group=group).values_list("email", "role"))
    assert roles["bob@example.org"] == "owner" and roles["alice@example.org"] == "moderator"
    assert clients["bob"].get(url("general")).status_code == 200
    assert clients["alice"].get(url("general")).status_code == 404


def test_transfer_refuses_outsiders_and_owners(group, clients, people):
    other = Group.objects.create(name="other")
    stranger = Membership.objects.create(group=other, email="x@example.org")
    alice = Membership.objects.get(group=group, email="alice@example.org")
    for bad in (stranger.pk, alice.pk, "", "nope"):
        response = clients["alice"].post(url("danger"), {"action": "transfer",
                                                         "new_owner": bad})
        assert response.status_code == 400
        assert "new_owner" in response.context["transfer"].errors
    assert Membership.objects.get(pk=alice.pk).role == "owner"


def test_delete_the_group_after_typing_its_name(group, clients):
    make_post(group, "A walk")
    wrong = clients["alice"].post(url("danger"), {"action": "delete",
                                                  "confirm_name": "Hikers"})
    assert wrong.status_code == 400
    assert "Type hikers exactly" in " ".join(wrong.context["delete"].errors["confirm_name"])
    assert Group.objects.filter(name="hikers").exists()
    assert clients["mona"].post(url("danger"), {"action": "delete",
                                                "confirm_name": "hikers"}).status_code == 404
    done = clients["alice"].post(url("danger"), {"action": "delete", "confirm_name": "hikers"},
                                 follow=True)
    assert "Hikers is deleted" in done.content.decode()
    assert not Group.objects.filter(name="hikers").exists()
    assert not Message.objects.exists() and not Topic.objects.exists()
    assert not Membership.objects.filter(email="bob@example.org").exists()


def test_bulk_delivery_is_off_by_default_and_explained_on_the_delivery_page(group, clients):
    assert group.bulk_delivery is False
    page = clients["alice"].get(url("delivery")).content.decode()
    assert "Bulk delivery (no personal footer)" in page
    assert "one identical copy" in page and "List-Unsubscribe" in page
    assert "reading the bounce report" in page
