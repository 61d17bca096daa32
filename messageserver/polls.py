"""Polls: the rules of voting, for the website and for votes by mail — one place.

A vote by mail is a reply to the poll's topic whose first line (quoted text and
signatures aside) is nothing but choice numbers ("2", or "1, 3", "1 & 3", "1 and 3",
"1 und 3", "1 et 3" where several choices are allowed: "and" in every language the
site ships, whatever the member's). It is counted and not posted: the group doesn't get a "2"
from every member. A reply that says more is an ordinary post.

Results are shown to those who voted and to everyone once the poll closes; an
anonymous poll never shows who chose what. Closing posts the results to the topic
(``close_due``, every five minutes from the scheduler).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count

from groups.models import Membership, Poll, PollChoice, PollVote, Topic

MIN_CHOICES, MAX_CHOICES = 2, 20

#: "and" in each language the site ships (settings.LANGUAGES; a test keeps them equal),
#: so "1 and 3", "1 und 3" and "1 et 3" are all votes, whoever writes them: a word list,
#: not gettext, since a vote must parse the same whatever language is active.
CONJUNCTIONS: dict[str, tuple[str, ...]] = {
    "en": ("and",),
    "de": ("und",),
    "fr": ("et",),
}
_AND = "|".join(sorted({w for words in CONJUNCTIONS.values() for w in words}, key=len,
                       reverse=True))
# Between two numbers: commas, "&", spaces and the words above ("1, 3 and 4", "1 & 3"),
# one space or one word a step, so a line has one reading (no backtracking blow-up).
_SEPARATOR = rf"(?:\s|,|&|{_AND})++"  # possessive: a failed line fails in linear time
_NUMBERS = re.compile(rf"^\s*(\d{{1,2}}(?:{_SEPARATOR}\d{{1,2}})*)\s*+(?:[.!]\s*+)?$", re.I)


class VoteError(ValueError):
    """A vote that can't be counted; the message says why (the form, the mail reply)."""


def is_open(poll: Poll, now: datetime) -> bool:
    return poll.closed_at is None and poll.closes_at > now


def vote(poll: Poll, membership: Membership, numbers: list[int], now: datetime) -> None:
    """Record ``membership``'s vote (replacing an earlier one), or VoteError."""
    if not membership.is_active:
        raise VoteError("Only members vote in this poll.")
    if not is_open(poll, now):
        raise VoteError("This poll is closed.")
    numbers = sorted(set(numbers))
    if not numbers:
        raise VoteError("Choose at least one answer.")
    if len(numbers) > 1 and not poll.multiple:
        raise VoteError("This poll takes one choice only.")
    choices = {c.number: c for c in poll.choices.all()}
    wrong = [n for n in numbers if n not in choices]
    if wrong:
        raise VoteError(f"Choose among 1 to {len(choices)}; there is no choice {wrong[0]}.")
    with transaction.atomic():
        PollVote.objects.filter(poll=poll, membership=membership).delete()
        PollVote.objects.bulk_create([PollVote(poll=poll, choice=choices[n],
                                               membership=membership, at=now)
                                      for n in numbers])


def has_voted(poll: Poll, membership: Membership | None) -> bool:
    return membership is not None and PollVote.objects.filter(
        poll=poll, membership=membership).exists()


@dataclass(frozen=True)
class Result:
    number: int
    text: str
    votes: int
    voters: list[str]  # names, empty for an anonymous poll


def results(poll: Poll) -> tuple[list[Result], int]:
    """Each choice with its count (and names unless anonymous), and how many voted."""
    counts = dict(PollChoice.objects.filter(poll=poll).annotate(n=Count("votes"))
                  .values_list("pk", "n"))
    names: dict[int, list[str]] = {}
    if not poll.anonymous:
        for vote_row in PollVote.objects.filter(poll=poll).select_related("membership"):
            names.setdefault(vote_row.choice_id, []).append(vote_row.membership.name)
    voters = PollVote.objects.filter(poll=poll).values("membership").distinct().count()
    return ([Result(c.number, c.text, counts.get(c.pk, 0), sorted(names.get(c.pk, [])))
             for c in poll.choices.all()], voters)


def numbers_in(text: str) -> list[int] | None:
    """The choice numbers a mailed reply is, or None when it is a message, not a vote."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(">"):
            continue
        found = _NUMBERS.match(stripped)
        if not found:
            return None
        return [int(n) for n in re.findall(r"\d+", found.group(1))]
    return None


def poll_for(topic: Topic | None) -> Poll | None:
    if topic is None:
        return None
    return Poll.objects.filter(topic=topic).first()


def attach(message) -> None:  # noqa: ANN001
    """A poll whose message was held gets its topic when the message is archived."""
    Poll.objects.filter(group_id=message.group_id, topic__isnull=True,
                        message_id=message.message_id).update(topic=message.topic)


def vote_by_mail(topic: Topic | None, membership: Membership | None, text: str,
                 now: datetime, *, authenticated: bool = True):  # noqa: ANN201
    """The outcome of a mailed reply that is a vote, or None when it is an ordinary post
    (no poll, not a member, sender not authenticated, or more than choice numbers)."""
    from messageserver import outcomes

    if membership is None or not membership.is_active or not authenticated:
        return None
    numbers = numbers_in(text)  # before the query: most replies are not votes
    if numbers is None:
        return None
    poll = poll_for(topic)
    if poll is None:
        return None
    try:
        vote(poll, membership, numbers, now)
    except VoteError as exc:
        return outcomes.rejected(f"Your vote was not counted: {exc}")
    return outcomes.dropped(f"vote recorded: {', '.join(map(str, sorted(set(numbers))))}")


def results_text(poll: Poll) -> str:
    rows, voters = results(poll)
    lines = [f"The poll “{poll.question}” is closed. {voters} member"
             f"{'s' if voters != 1 else ''} voted.", ""]
    for r in rows:
        lines.append(f"{r.number}. {r.text}: {r.votes} vote{'s' if r.votes != 1 else ''}"
                     + (f" ({', '.join(r.voters)})" if r.voters else ""))
    return "\n".join(lines) + "\n"
