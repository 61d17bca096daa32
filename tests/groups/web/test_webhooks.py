"""Outgoing webhooks, end to end: an owner adds one on the website, things happen in the
group (a web post through the real messageserver, members joining and leaving, moderation),
and a real local HTTPS receiver gets each event signed; failures are retried with backoff,
and nothing is sent twice after a success."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cronjobs.webhooks import GIVE_UP_AFTER, sweep, verify
from groups.models import Group, HeldMessage, Membership, Webhook, WebhookDelivery
from messageserver import membership_actions, moderation, webhookevents
from tests.httpsreceiver import start_receiver

S = WebhookDelivery.State


@pytest.fixture
def receiver(monkeypatch):
    """The HTTPS receiver, trusted through WEBHOOK_CA_FILE, reachable on loopback."""
    found = start_receiver()
    monkeypatch.setenv("WEBHOOK_CA_FILE", found.ca_file)
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "true")
    # No broker in these tests: the sweep sends (tests/cronjobs/test_celery.py has the worker).
    monkeypatch.setattr(webhookevents, "_kickers", [])
    yield found
    found.close()


def add_hook(client, url: str, events: list[str]) -> Webhook:
    response = client.post(reverse("mod_webhooks", args=["hikers"]),
                           {"url": url, "description": "our CRM", "events": events,
                            "active": "on"})
    assert response.status_code == 302, response.content.decode()[:1500]
    return Webhook.objects.get(url=url)


def events(receiver) -> list[dict]:
    return [json.loads(r.body) for r in receiver.requests]


@pytest.mark.django_db(transaction=True)
def test_a_web_post_reaches_the_receiver_signed_once(messageserver, receiver, group, clients):
    hook = add_hook(clients["alice"], receiver.url, ["message.posted", "member.joined"])
    assert re.fullmatch(r"[0-9a-f]{64}", hook.secret)
    response = clients["bob"].post(reverse("new_topic", args=["hikers"]),
                                   {"subject": "Saturday route", "body": "Left at the oak."})
    assert response.status_code == 302
    assert WebhookDelivery.objects.get().state == S.PENDING  # written with the post
    assert sweep() == "1 delivered"
    [request] = receiver.requests
    assert verify(hook.secret, request.body, request.headers["X-Groups-Signature"])
    assert not verify("another secret", request.body, request.headers["X-Groups-Signature"])
    event = json.loads(request.body)
    assert event["type"] == "message.posted" == request.headers["X-Groups-Event"]
    assert event["id"] == request.headers["X-Groups-Delivery"]
    assert event["group"] == {"name": "hikers", "title": "Hikers"}
    assert event["data"]["subject"] == "Saturday route"
    assert event["data"]["sender_email"] == "bob@example.org"
    assert event["data"]["url"].endswith(f"/g/hikers/message/{event['data']['number']}/")
    assert sweep(timezone.now() + timedelta(days=2)) == "no webhook deliveries due"
    assert len(receiver.requests) == 1  # never twice after a success
    page = clients["alice"].get(reverse("mod_webhook", args=["hikers", hook.pk])).content
    assert b"message.posted" in page and b"Delivered" in page


@pytest.mark.django_db
def test_a_failing_receiver_is_retried_with_backoff_then_delivered(receiver, group, people):
    hook = Webhook.objects.create(group=group, url=receiver.url, secret="s" * 64,
                                  events=["member.left"])
    receiver.fail_next = 2
    bob = Membership.objects.get(group=group, user=people["bob"])
    membership_actions.leave(bob.pk, actor="bob@example.org")
    delivery = WebhookDelivery.objects.get()
    now = timezone.now()
    assert sweep(now) == "1 retry"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (S.PENDING, 1, 500)
    assert delivery.next_attempt_at == now + timedelta(seconds=30)
    assert sweep(now + timedelta(seconds=10)) == "no webhook deliveries due"  # waits its turn
    assert sweep(now + timedelta(seconds=31)) == "1 retry"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == now + timedelta(seconds=31 + 120)
    assert sweep(now + timedelta(seconds=200)) == "1 delivered"
    ids = {r.headers["X-Groups-Delivery"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and ids == {str(delivery.event_id)}
    assert events(receiver)[-1]["data"]["email"] == "bob@example.org"
    assert sweep(now + timedelta(hours=5)) == "no webhook deliveries due"
    assert hook.deliveries.get().state == S.DELIVERED


@pytest.mark.django_db
def test_gives_up_after_a_day(receiver, group, people):
    Webhook.objects.create(group=group, url=receiver.url, secret="s" * 64,
                           events=["member.removed"])
    receiver.fail_next = 10_000
    membership_actions.remove(Membership.objects.get(group=group, user=people["bob"]).pk,
                              actor="alice@example.org", reason="spam")
    delivery = WebhookDelivery.objects.get()
    at = delivery.created_at
    while WebhookDelivery.objects.get().state == S.PENDING:
        at = WebhookDelivery.objects.get().next_attempt_at
        sweep(at)
    delivery.refresh_from_db()
    assert delivery.state == S.FAILED and delivery.attempts == len(receiver.requests)
    assert at - delivery.created_at <= GIVE_UP_AFTER
    assert 6 <= delivery.attempts <= 12


@pytest.mark.django_db
def test_the_test_button_and_the_log(receiver, group, clients):
    hook = add_hook(clients["alice"], receiver.url, ["bounce"])
    page = clients["alice"].post(reverse("mod_webhook", args=["hikers", hook.pk]),
                                 {"do": "test"}, follow=True).content.decode()
    assert "The test event was delivered (HTTP 200)." in page
    assert events(receiver)[0]["type"] == "ping"
    receiver.fail_next = 1
    page = clients["alice"].post(reverse("mod_webhook", args=["hikers", hook.pk]),
                                 {"do": "test"}, follow=True).content.decode()
    assert "The test event was not taken" in page and "HTTP 500" in page


@pytest.mark.django_db
def test_each_kind_of_event_is_written(group, people, receiver):
    Webhook.objects.create(group=group, url=receiver.url, secret="x",
                           events=list(webhookevents.EVENTS))
    Group.objects.filter(pk=group.pk).update(posting_policy=Group.PostingPolicy.MODERATED)
    dora = Membership.objects.create(group=group, email="dora@example.net",
                                     status=Membership.Status.PENDING_APPROVAL)
    membership_actions.approve(dora.pk, actor="alice@example.org")
    membership_actions.ban(dora.pk, actor="alice@example.org", reason="spam")
    held = HeldMessage.objects.create(group=group, raw=b"Subject: x\r\n\r\nx\r\n",
                                      sender_email="eve@example.net", subject="x",
                                      reason="moderated", expires_at=timezone.now())
    webhookevents.message_held(held)
    moderation.decide(held.pk, "reject", "mona@example.org", "off topic")
    kinds = list(WebhookDelivery.objects.order_by("pk").values_list("event", flat=True))
    assert kinds == ["member.joined", "member.removed", "message.held", "message.rejected"]


@pytest.mark.django_db
def test_internal_addresses_are_refused_and_the_pages_are_for_owners(receiver, group, clients,
                                                                     monkeypatch):
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE")
    hook = Webhook.objects.create(group=group, url=receiver.url, secret="x",
                                  events=["member.left"])
    webhookevents.emit(group, "member.left", {"email": "x@example.org"}, only=hook)
    assert sweep() == "1 retry"
    assert "not a public address" in WebhookDelivery.objects.get().last_error
    assert receiver.requests == []
    bad = clients["alice"].post(reverse("mod_webhooks", args=["hikers"]),
                                {"url": "http://example.com/hook", "events": ["bounce"]})
    assert bad.status_code == 400 and b"https://" in bad.content
    for who in ("mona", "bob", "charlie", "anon"):
        status = clients[who].get(reverse("mod_webhooks", args=["hikers"])).status_code
        assert status in (302, 404), who
    assert clients["alice"].get(reverse("site_webhooks")).status_code == 403
    assert clients["root"].get(reverse("site_webhooks")).status_code == 200


@pytest.mark.django_db
def test_groups_without_webhooks_ask_for_none(group, people, django_assert_num_queries):
    """The common case: no webhook anywhere, and an event costs no query at all."""
    assert not Group.objects.get(pk=group.pk).webhooks_on
    with django_assert_num_queries(0):
        assert webhookevents.emit(group, "member.left", {"email": "x@example.org"}) == []


@pytest.mark.django_db
def test_a_webhook_counts_at_once_and_stops_counting_when_removed(group, people, clients):
    """The flag is in the database, written with the webhook: any process's next load of
    the group sees it (no cache to go stale)."""
    hook = add_hook(clients["alice"], "https://hooks.example.org/in", ["member.left"])
    fresh = Group.objects.get(pk=group.pk)
    assert fresh.webhooks_on
    assert len(webhookevents.emit(fresh, "member.left", {"email": "x@example.org"})) == 1
    other = Group.objects.create(name="quiet", title="Quiet")
    assert not other.webhooks_on and not Group.objects.get(pk=other.pk).webhooks_on
    hook.active = False
    hook.save()
    assert not Group.objects.get(pk=group.pk).webhooks_on
    hook.active = True
    hook.save()
    hook.delete()
    assert not Group.objects.get(pk=group.pk).webhooks_on


@pytest.mark.django_db
def test_a_site_wide_webhook_flags_every_group_even_new_ones(group, people):
    site = Webhook.objects.create(group=None, url="https://hooks.example.org/site",
                                  secret="s", events=["member.joined"])
    assert all(Group.objects.values_list("webhooks_on", flat=True))
    later = Group.objects.create(name="later", title="Later")
    assert later.webhooks_on and Group.objects.get(pk=later.pk).webhooks_on
    assert len(webhookevents.emit(later, "member.joined", {"email": "y@example.org"})) == 1
    site.delete()
    assert not any(Group.objects.values_list("webhooks_on", flat=True))


@pytest.mark.django_db
def test_the_sweep_mends_a_wrong_flag(group, people):
    """A flag wrong by a race (see webhookevents) is right again after the minute's sweep."""
    Webhook.objects.create(group=group, url="https://hooks.example.org/a", secret="s",
                           events=["member.left"])
    Group.objects.filter(pk=group.pk).update(webhooks_on=False)  # as the race leaves it
    sweep()
    assert Group.objects.get(pk=group.pk).webhooks_on
