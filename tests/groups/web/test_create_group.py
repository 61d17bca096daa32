"""Create a group: who may, the name rule (live check and server), each starting style."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.groupcreation import STYLES
from groups.models import Group, Membership

pytestmark = pytest.mark.django_db
URL = reverse("create_group")


def _data(**extra) -> dict:
    return {"name": "climbers", "title": "Climbers", "description": "Up we go.",
            "style": "discussion", **extra}


def test_the_home_page_links_to_create_a_group(group, clients):
    for who in ("anon", "charlie"):
        assert "Create a group" in clients[who].get(reverse("directory")).content.decode()


def test_anonymous_is_sent_to_log_in_and_back(group, clients):
    response = clients["anon"].get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={URL}"


def test_any_user_creates_a_group_and_becomes_its_owner(group, clients, people):
    response = clients["charlie"].post(URL, _data(), follow=True)
    assert response.redirect_chain[-1][0] == reverse("mod_settings_section",
                                                     args=["climbers", "general"])
    assert "Climbers is created, and you are its owner" in response.content.decode()
    g = Group.objects.get(name="climbers")
    assert (g.title, g.description) == ("Climbers", "Up we go.")
    m = Membership.objects.get(group=g)
    assert (m.email, m.role, m.status, m.user_id) == (
        "charlie@example.org", "owner", "active", people["charlie"].pk)


@pytest.mark.parametrize("style", list(STYLES))
def test_each_style_sets_its_fields(group, clients, style):
    clients["bob"].post(URL, _data(name=f"g-{style}", style=style))
    g = Group.objects.get(name=f"g-{style}")
    for field, value in STYLES[style].fields.items():
        assert getattr(g, field) == value, (style, field)


def test_styles_in_words(group, clients):
    clients["bob"].post(URL, _data(name="news", style="announcement"))
    clients["bob"].post(URL, _data(name="club", style="restricted"))
    clients["bob"].post(URL, _data(name="held", style="moderated"))
    news, club, held = (Group.objects.get(name=n) for n in ("news", "club", "held"))
    assert news.posting_policy == "announce" and news.reply_to == "sender"
    assert club.join_policy == "approval" and not club.archive_is_public
    assert held.posting_policy == "moderated"


@pytest.mark.parametrize("field,value,error", [
    ("name", "", "This field is required."),
    ("name", "Bad Name!", "lower-case letters"),
    ("name", "hikers", "A group named “hikers” exists already."),
    ("name", "postmaster", "“postmaster” is reserved"),
    ("name", "x" * 65, "at most 64 characters"),
    ("title", "", "This field is required."),
    ("title", "   ", "This field is required."),
    ("style", "chaos", "Select a valid choice."),
])
def test_bad_input_names_the_field(group, clients, field, value, error):
    response = clients["charlie"].post(URL, _data(**{field: value}))
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors and error in " ".join(form.errors[field]), form.errors
    assert Group.objects.count() == 1


def test_staff_only_setting(group, clients, settings):
    settings.GROUP_CREATION = "staff"
    assert clients["charlie"].get(URL).status_code == 403
    assert clients["charlie"].post(URL, _data()).status_code == 403
    assert "Create a group" not in clients["charlie"].get(reverse("directory")).content.decode()
    refused = clients["charlie"].get(URL).content.decode()
    assert "You can't do this here" in refused  # the site's own page
    assert clients["root"].post(URL, _data()).status_code == 302


def test_live_name_check(group, clients):
    url = reverse("check_group_name")
    assert clients["bob"].get(url, {"name": "climbers"}).json() == {
        "ok": True, "name": "climbers", "message": "climbers is available."}
    taken = clients["bob"].get(url, {"name": "Hikers"}).json()
    assert taken["ok"] is False and "exists already" in taken["message"]
    assert clients["bob"].get(url, {"name": "bounce"}).json()["ok"] is False
    assert clients["bob"].get(url, {"name": "a+b"}).json()["ok"] is False
    assert clients["anon"].get(url, {"name": "x"}).status_code == 302


def test_group_creation_setting_is_parsed_strictly(monkeypatch):
    from platformcore.env import SettingError, env_choice

    monkeypatch.setenv("GROUP_CREATION", " Staff ")
    assert env_choice("GROUP_CREATION", "anyone", ("anyone", "staff")) == "staff"
    monkeypatch.setenv("GROUP_CREATION", "everybody")
    with pytest.raises(SettingError, match="GROUP_CREATION='everybody' must be one of"):
        env_choice("GROUP_CREATION", "anyone", ("anyone", "staff"))
    monkeypatch.delenv("GROUP_CREATION")
    assert env_choice("GROUP_CREATION", "anyone", ("anyone", "staff")) == "anyone"


def test_creategroup_command_shares_the_name_rule(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="reserved"):
        call_command("creategroup", "postmaster", "--owner", "a@example.org")
    with pytest.raises(CommandError, match="lower-case letters"):
        call_command("creategroup", "a+b", "--owner", "a@example.org")
    call_command("creategroup", "walkers", "--owner", "a@example.org")
    with pytest.raises(CommandError, match="exists already"):
        call_command("creategroup", "walkers", "--owner", "b@example.org")
    assert Membership.objects.get(group__name="walkers").role == "owner"
