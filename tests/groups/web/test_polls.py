"""Polls: started on the website (a topic sent to the group through the real
messageserver), voted on the web and by replying to the poll's mail with a number,
results to voters and to the topic when it closes; the form's refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import Group, HeldMessage, Message, Poll, PollVote
from groups.pollclosing import close_due
from messageserver import moderation
from messageserver.client import MessageServerClient

pytestmark = pytest.mark.django_db(transaction=True)
TOMORROW = (timezone.localdate() + timedelta(days=1)).isoformat()


def start(client, **changes):  # noqa: ANN201
    form = {"question": "Where next?", "choices": "The ridge\nThe lake\nThe forest",
            "closes_date": TOMORROW, "closes_time": "18:00"}
    return client.post(reverse("poll_new", args=["hikers"]), {**form, **changes})


def reply(poll: Poll, sender: str, text: str) -> dict:
    """A member's mailed reply to the poll's message, through messageserver's inbound."""
    first = poll.topic.first_message
    raw = (f"From: {sender}\r\nTo: hikers@groups.localhost\r\nSubject: Re: {first.subject}"
           f"\r\nMessage-ID: <{abs(hash(text + sender))}@example.org>\r\n"
           f"In-Reply-To: {first.message_id}\r\n\r\n{text}\r\n\r\n> {first.subject}\r\n")
    return MessageServerClient().inbound(sender, ["hikers@groups.localhost"], raw.encode())


def test_the_form_refuses_what_is_not_a_poll(group, clients, messageserver):
    for changes, error in (({"choices": "Only one"}, "Give between 2 and 20 choices"),
                           ({"choices": "\n".join(f"c{i}" for i in range(21))},
                            "Give between 2 and 20 choices"),
                           ({"choices": "Same\nsame"}, "Two choices are the same."),
                           ({"closes_date": "2001-01-01"}, "Choose a closing time in the "
                                                            "future.")):
        page = start(clients["bob"], **changes)
        assert page.status_code == 400 and error in page.content.decode(), changes
    assert not Poll.objects.exists()
    assert start(clients["charlie"]).status_code == 404


def test_vote_on_the_web_and_by_mail_then_close(group, clients, messageserver, people):
    done = start(clients["bob"])
    assert done.status_code == 302, done.content.decode()[:2000]
    poll = Poll.objects.get()
    first = poll.topic.first_message
    assert first.subject == "[Poll] Where next?" and "  2. The lake" in first.body_text
    url = reverse("poll", args=["hikers", poll.pk])
    assert "The results show once you have voted." in clients["bob"].get(url).content.decode()
    assert "0 members voted." in clients["mona"].get(url).content.decode()  # moderators see
    assert clients["mona"].post(url, {"choice": "2"}).status_code == 302
    page = clients["mona"].get(url).content.decode()
    assert "1 member voted." in page and "Mona" in page
    assert clients["mona"].post(url, {"choice": "3"}).status_code == 302  # changed
    assert clients["mona"].post(url, {"choice": "9"}).status_code == 400
    assert clients["charlie"].post(url, {"choice": "1"}).status_code == 404

    messages = Message.objects.count()
    answer = reply(poll, "bob@example.org", "2")
    assert answer["results"][0]["outcome"] == "dropped"  # counted, not posted
    assert Message.objects.count() == messages
    assert reply(poll, "bob@example.org", "1, 3")["results"][0]["outcome"] == "rejected"
    talk = reply(poll, "alice@example.org", "I'd say 2, the lake is lovely.")
    assert talk["results"][0]["outcome"] == "accepted"  # a message, not a vote
    votes = sorted(PollVote.objects.values_list("membership__email", "choice__number"))
    assert votes == [("bob@example.org", 2), ("mona@example.org", 3)]

    assert close_due(poll.closes_at - timedelta(minutes=1)) == "0 polls closed"
    assert close_due(poll.closes_at + timedelta(minutes=1)) == "1 poll closed"
    assert close_due(poll.closes_at + timedelta(minutes=6)) == "0 polls closed"
    results = Message.objects.get(topic=poll.topic, body_text__contains="is closed")
    assert "2. The lake: 1 vote (Bob)" in results.body_text
    assert "3. The forest: 1 vote (Mona)" in results.body_text
    page = clients["anon"].get(url).content.decode()
    assert "This poll is closed." in page and "2 members voted." in page
    assert reply(poll, "bob@example.org", "1")["results"][0]["outcome"] == "rejected"


def test_anonymous_multiple_choice(group, clients, messageserver):
    start(clients["bob"], multiple="on", anonymous="on")
    poll = Poll.objects.get()
    url = reverse("poll", args=["hikers", poll.pk])
    assert clients["mona"].post(url, {"choice": ["1", "3"]}).status_code == 302
    assert reply(poll, "bob@example.org", "1 and 2")["results"][0]["outcome"] == "dropped"
    assert reply(poll, "alice@example.org", "2 et 3")["results"][0]["outcome"] == "dropped"
    assert reply(poll, "bob@example.org", "1 und 3")["results"][0]["outcome"] == "dropped"
    page = clients["mona"].get(url).content.decode()
    assert "Mona" not in page.split("Results", 1)[1] and "3 members voted." in page
    votes = sorted(PollVote.objects.values_list("membership__email", "choice__number"))
    assert votes == [("alice@example.org", 2), ("alice@example.org", 3),
                     ("bob@example.org", 1), ("bob@example.org", 3),
                     ("mona@example.org", 1), ("mona@example.org", 3)]


def test_a_held_poll_opens_when_approved(group, clients, messageserver):
    Group.objects.filter(pk=group.pk).update(posting_policy=Group.PostingPolicy.MODERATED)
    assert start(clients["bob"]).status_code == 302
    poll = Poll.objects.get()
    assert poll.topic is None and poll.message_id
    held = HeldMessage.objects.get()
    moderation.decide(held.pk, "approve", "mona@example.org")
    poll.refresh_from_db()
    assert poll.topic is not None and poll.topic.subject == "[Poll] Where next?"
