"""The account pages: profile, email addresses, password, deleting the account (#17 item 1)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from groups.accountdeletion import ANONYMOUS_ADDRESS, ANONYMOUS_NAME
from groups.models import ActivityEntry, HeldMessage, Membership, Message, User, UserEmail
from tests.groups.web.conftest import PASSWORD, client_for, make_post

pytestmark = pytest.mark.django_db


def _verify_link(message) -> str:
    return re.search(r"http://testserver(/confirm/address/\S+/)", message.body).group(1)


def _add_address(client: Client, email: str) -> str:
    response = client.post(reverse("emails"), {"action": "add", "email": email})
    assert response.status_code == 302, response.content.decode()
    assert mail.outbox[-1].to == [email]
    return _verify_link(mail.outbox[-1])


def test_profile_sections_and_fields(clients, people):
    page = clients["bob"].get(reverse("profile")).content.decode()
    for label in ("Profile", "Email addresses", "Password", "Delete account",
                  "Display name", "Time zone", "Default delivery for new groups", "Language"):
        assert label in page
    assert "Deutsch" in page and "Français" in page
    response = clients["bob"].post(reverse("profile"), {
        "display_name": "Bobby", "time_zone": "Europe/Paris", "digest_hour": 7,
        "default_delivery": "summary", "language": "de"})
    assert response.status_code == 302
    bob = User.objects.get(username="bob")
    assert (bob.display_name, bob.time_zone, bob.default_delivery, bob.language) == (
        "Bobby", "Europe/Paris", "summary", "de")
    clients["bob"].post(reverse("profile"), {"display_name": "Bobby", "time_zone": "UTC",
                                             "digest_hour": 7, "language": ""})
    bob.refresh_from_db()
    assert bob.language == "" and bob.default_delivery == "summary"  # kept when left out
    bad = clients["bob"].post(reverse("profile"), {
        "display_name": "  ", "time_zone": "UTC", "digest_hour": 7, "language": "xx",
        "default_delivery": "sometimes"})
    page = bad.content.decode()
    assert bad.status_code == 400
    for field in ("display_name", "language", "default_delivery"):
        assert f'id="id_{field}_error"' in page


def test_add_verify_and_use_a_further_address(group, clients, people):
    link = _add_address(clients["bob"], "bob@home.example")
    row = UserEmail.objects.get(email="bob@home.example")
    assert not row.verified
    assert "Not verified yet" in clients["bob"].get(reverse("emails")).content.decode()
    # an unverified address can't receive a group's mail
    url = reverse("subscription", args=["hikers"])
    refused = clients["bob"].post(url, {"address": "bob@home.example", "delivery": "individual",
                                        "message_selection": "all"})
    assert refused.status_code == 400 and 'id="id_address_error"' in refused.content.decode()
    assert Membership.objects.get(group=group, user=people["bob"]).email == "bob@example.org"
    # the link: a GET shows, a POST verifies (no login needed: the mailbox is the proof)
    anon = Client()
    assert "Confirm this address" in anon.get(link).content.decode()
    assert anon.post(link).status_code == 200
    row.refresh_from_db()
    assert row.verified
    # now the membership may send its mail there, through its action (logged)
    page = clients["bob"].get(url).content.decode()
    assert "Send this group&#x27;s mail to" in page and "bob@home.example" in page
    saved = clients["bob"].post(url, {"address": "bob@home.example", "delivery": "individual",
                                      "message_selection": "all"})
    assert saved.status_code == 302
    m = Membership.objects.get(group=group, user=people["bob"])
    assert m.email == "bob@home.example"
    entry = ActivityEntry.objects.filter(verb="member_sets_address").get()
    assert entry.detail["email"] == ["bob@example.org", "bob@home.example"]
    # the member still sees the group as theirs, and it is on My groups
    assert "hikers" in clients["bob"].get(reverse("my_groups")).content.decode()
    # removing the address moves that group's mail back to the primary address
    assert clients["bob"].post(reverse("emails"), {"action": "remove",
                                                   "address": row.pk}).status_code == 302
    assert not UserEmail.objects.filter(pk=row.pk).exists()
    assert Membership.objects.get(group=group, user=people["bob"]).email == "bob@example.org"


def test_an_address_of_another_account_cant_be_verified(people):
    link = _add_address(client_for(people["bob"]), "charlie@example.org")
    response = Client().post(link)
    assert response.status_code == 400 and "belongs to another account" in (
        response.content.decode())
    assert not UserEmail.objects.get(email="charlie@example.org").verified


def test_adding_an_address_twice_or_a_bad_one(clients):
    bad = clients["bob"].post(reverse("emails"), {"action": "add", "email": "nope"})
    assert bad.status_code == 400 and 'id="id_email_error"' in bad.content.decode()
    mine = clients["bob"].post(reverse("emails"), {"action": "add",
                                                   "email": "bob@example.org"})
    assert mine.status_code == 400 and "already one of your addresses" in (
        mine.content.decode())


def test_make_primary_tells_the_old_address(people):
    client = client_for(people["bob"])
    Client().post(_add_address(client, "bob@new.example"))
    row = UserEmail.objects.get(email="bob@new.example")
    unverified = UserEmail.objects.create(user=people["bob"], email="bob@later.example")
    refused = client.post(reverse("emails"), {"action": "primary", "address": unverified.pk})
    assert refused.status_code == 400 and "Only a verified address" in refused.content.decode()
    assert client.post(reverse("emails"), {"action": "primary",
                                           "address": row.pk}).status_code == 302
    bob = User.objects.get(pk=people["bob"].pk)
    assert bob.email == "bob@new.example"
    assert UserEmail.objects.get(pk=row.pk).email == "bob@example.org"  # kept, verified
    told = mail.outbox[-1]
    assert told.to == ["bob@example.org"] and "bob@new.example" in told.body
    assert Client().post(reverse("login"), {"username": "bob@new.example",
                                            "password": PASSWORD}).status_code == 302


def test_the_last_address_cant_be_removed(people):
    client = client_for(people["bob"])
    response = client.post(reverse("emails"), {"action": "remove", "address": "primary"})
    assert response.status_code == 400 and "your only address" in response.content.decode()
    assert User.objects.get(pk=people["bob"].pk).email == "bob@example.org"
    other = client.post(reverse("emails"), {"action": "remove",
                                            "address": UserEmail.objects.create(
                                                user=people["charlie"],
                                                email="c2@example.org").pk})
    assert other.status_code == 400 and UserEmail.objects.filter(email="c2@example.org").exists()


def test_password_change_needs_the_current_one(clients, people):
    url = reverse("password_change")
    page = clients["bob"].get(url).content.decode()
    assert "Current password" in page
    wrong = clients["bob"].post(url, {"old_password": "wrong", "new_password1": "new secret 77x",
                                      "new_password2": "new secret 77x"})
    assert wrong.status_code == 400 and 'id="id_old_password_error"' in wrong.content.decode()
    assert User.objects.get(pk=people["bob"].pk).check_password(PASSWORD)
    ok = clients["bob"].post(url, {"old_password": PASSWORD, "new_password1": "new secret 77x",
                                   "new_password2": "new secret 77x"})
    assert ok.status_code == 302
    assert User.objects.get(pk=people["bob"].pk).check_password("new secret 77x")


def test_an_account_without_a_password_sets_one(people):
    bob = people["bob"]
    bob.set_unusable_password()
    bob.save()
    client = client_for(bob)
    page = client.get(reverse("password_change")).content.decode()
    assert "Set a password" in page and "Current password" not in page
    assert client.post(reverse("password_change"), {
        "new_password1": "a first secret 5", "new_password2": "a first secret 5"}
    ).status_code == 302
    assert User.objects.get(pk=bob.pk).check_password("a first secret 5")


def test_delete_account_keeping_posts(group, people):
    bob = people["bob"]
    post = make_post(group, "Trail report", sender="bob@example.org")
    client = client_for(bob)
    page = client.get(reverse("delete_account")).content.decode()
    assert "Keep my posts under my name" in page and "Anonymise my posts" in page
    wrong = client.post(reverse("delete_account"), {"posts": "keep", "password": "wrong"})
    assert wrong.status_code == 400 and 'id="id_password_error"' in wrong.content.decode()
    assert User.objects.filter(pk=bob.pk).exists()
    done = client.post(reverse("delete_account"), {"posts": "keep", "password": PASSWORD})
    assert done.status_code == 302
    assert not User.objects.filter(pk=bob.pk).exists()
    m = Membership.objects.get(group=group, email="bob@example.org")
    assert m.status == "unsubscribed" and m.user is None  # ended through its action, kept
    assert ActivityEntry.objects.filter(verb="leave", target="bob@example.org").exists()
    post.refresh_from_db()
    assert (post.sender_name, post.sender_email) == ("Bob", "bob@example.org")
    assert "_auth_user_id" not in client.session


def test_delete_account_anonymising_posts_with_a_pending_post(
        group, people, django_capture_on_commit_callbacks):
    import search

    bob = people["bob"]
    UserEmail.objects.create(user=bob, email="bob@home.example", verified=True)
    post = make_post(group, "Trail report", sender="bob@example.org")
    other = make_post(group, "From home", sender="bob@home.example")
    mine = make_post(group, "Alice's", sender="alice@example.org")
    for p in (post, other, mine):
        search.index(p)
    before = Client().get(reverse("search"), {"q": "Trail", "author": "bob@example.org"})
    assert "Trail report" in before.content.decode()
    from django.utils import timezone

    membership = Membership.objects.get(group=group, user=bob)
    held = HeldMessage.objects.create(
        group=group, membership=membership, raw=b"From: bob@example.org\r\n\r\nhi",
        sender_email="bob@example.org", subject="Waiting", reason="moderated",
        expires_at=timezone.now() + timezone.timedelta(days=3))
    client = client_for(bob)
    page = client.get(reverse("delete_account")).content.decode()
    assert "1 post of yours still waiting for a moderator is withdrawn" in page
    missing = client.post(reverse("delete_account"), {"password": PASSWORD})
    assert missing.status_code == 400 and 'id="id_posts_error"' in missing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the search index follows
        done = client.post(reverse("delete_account"), {"posts": "anonymise",
                                                       "password": PASSWORD})
    assert done.status_code == 302
    held.refresh_from_db()
    assert held.state == "discarded"
    for p in (post, other):
        p.refresh_from_db()
        assert (p.sender_name, p.sender_email, p.membership) == (
            ANONYMOUS_NAME, ANONYMOUS_ADDRESS, None)
    mine.refresh_from_db()
    assert mine.sender_email == "alice@example.org"
    archive = Client().get(reverse("topic", args=["hikers", post.topic_id])).content.decode()
    assert ANONYMOUS_NAME in archive and "Bob" not in archive
    by_bob = Client().get(reverse("search"), {"q": "Trail", "author": "bob@example.org"})
    assert "Trail report" not in by_bob.content.decode()
    anonymous = Client().get(reverse("search"), {"q": "Trail", "author": "Former member"})
    assert "Trail report" in anonymous.content.decode()
    assert Message.objects.filter(sender_email=ANONYMOUS_ADDRESS).count() == 2


def test_the_only_owner_cant_delete_the_account(group, people):
    client = client_for(people["alice"])
    assert "You are the only owner of hikers" in client.get(
        reverse("delete_account")).content.decode()
    response = client.post(reverse("delete_account"), {"posts": "keep", "password": PASSWORD})
    assert response.status_code == 400 and "only owner of hikers" in response.content.decode()
    assert User.objects.filter(pk=people["alice"].pk).exists()
    assert Membership.objects.get(group=group, email="alice@example.org").status == "active"


def test_change_email_in_one_step_verified_by_the_new_address(people):
    client = client_for(people["bob"])
    response = client.post(reverse("emails"), {"action": "add", "email": "bob@new.example",
                                               "make_primary": "on"})
    assert response.status_code == 302
    assert User.objects.get(pk=people["bob"].pk).email == "bob@example.org"  # not yet
    assert "becomes primary once confirmed" in client.get(reverse("emails")).content.decode()
    link = _verify_link(mail.outbox[-1])
    done = client.post(link, follow=True)
    assert "bob@new.example is your primary address now" in done.content.decode()
    assert User.objects.get(pk=people["bob"].pk).email == "bob@new.example"
    assert mail.outbox[-1].to == ["bob@example.org"]  # the old address is told
    assert "bob@new.example" in mail.outbox[-1].body
    # the old address stays a verified address: it logs in by password too
    assert Client().post(reverse("login"), {"username": "bob@example.org",
                                            "password": PASSWORD}).status_code == 302


def test_an_account_without_a_password_deletes_by_typing_its_address(people):
    bob = people["bob"]
    bob.set_unusable_password()
    bob.save()
    client = client_for(bob)
    wrong = client.post(reverse("delete_account"), {"posts": "keep",
                                                    "confirm_email": "someone@else.org"})
    assert wrong.status_code == 400 and 'id="id_confirm_email_error"' in wrong.content.decode()
    assert client.post(reverse("delete_account"), {
        "posts": "keep", "confirm_email": "BOB@example.org"}).status_code == 302
    assert not User.objects.filter(pk=bob.pk).exists()
