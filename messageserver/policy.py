"""Who may post where: the one function that both the email and the web path call.

Groups.io's rules are the reference: a member's own posting status wins over
the group's policy; banned and not-allowed members are refused; announce-only
groups take posts from owners and moderators; moderated groups, moderated
hashtags and new members (until N posts were approved) are held; a locked
topic refuses replies except from moderators; non-members are rejected or held
per the group's setting. A ban (an address or a pattern, groups.senderrules)
refuses anyone it names but the group's moderators, member or not; a
non-member named by a sender rule is accepted, held, rejected with the rule's
reason or discarded silently (Mailman 3's accept/hold/reject/discard lists),
before the group's non-member setting applies. A post whose sender could not be authenticated
(messageserver.senderauth) is accepted, held or refused per the group's
``unauthenticated_policy`` (``unauthenticated_action``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from groups import senderrules
from groups.models import Group, Hashtag, Membership, SenderRule, Topic


@dataclass(frozen=True)
class Decision:
    action: str  # allow | hold | reject | discard (taken, and dropped without a word)
    reason: str = ""
    nonmember: bool = False

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


ALLOW = Decision("allow")


def _hold(reason: str, nonmember: bool = False) -> Decision:
    return Decision("hold", reason, nonmember)


def _reject(reason: str) -> Decision:
    return Decision("reject", reason)


def _banned(reason: str = "") -> Decision:
    return _reject("you are banned from this group" + (f": {reason}" if reason else ""))


def _nonmember(group: Group, sender: str) -> Decision | None:
    """What a sender rule says of a non-member's post, or None (no rule names them)."""
    rule = senderrules.sender_rule_for(group, sender)
    if rule is None:
        return None
    A = SenderRule.Action
    if rule.action == A.ACCEPT:
        return Decision("allow", f"accepted by the sender rule {rule.pattern}", nonmember=True)
    if rule.action == A.HOLD:
        return _hold(f"the sender rule {rule.pattern} holds this sender's posts",
                     nonmember=True)
    if rule.action == A.DISCARD:
        return Decision("discard", f"discarded by the sender rule {rule.pattern}")
    return _reject(rule.reason or f"{group.name} does not accept posts from {sender}")


def decide_post(
    group: Group,
    membership: Membership | None,
    *,
    sender: str = "",
    topic: Topic | None = None,
    hashtags: Iterable[Hashtag] = (),
) -> Decision:
    """Decide a post by ``membership`` (None for a non-member) to ``group``.

    ``sender`` is the From address (the membership's when it is not given);
    ``topic`` is the existing topic a reply would join (None for a new topic);
    ``hashtags`` are the group's hashtags named in the subject.
    """
    hashtags = list(hashtags)
    sender = (sender or (membership.email if membership is not None else "")).lower()
    if membership is not None and membership.status == Membership.Status.BANNED:
        return _banned()
    is_moderator = (membership is not None and membership.is_active
                    and membership.is_moderator)
    if not is_moderator:
        ban = senderrules.ban_for(group, sender)
        if ban is not None:
            return _banned(ban.reason)
    if membership is None or membership.status != Membership.Status.ACTIVE:
        ruled = _nonmember(group, sender)
        if ruled is not None:
            return ruled
        if group.nonmember_policy == Group.NonMemberPolicy.HOLD:
            return _hold("post from a non-member", nonmember=True)
        return _reject(
            f"you are not a member of {group.name}; to join, send a message to "
            f"{group.address('subscribe')}"
        )
    status = membership.posting_status
    if status == Membership.PostingStatus.NOT_ALLOWED:
        return _reject(f"you are not allowed to post to {group.name}")
    moderator = membership.is_moderator
    if topic is not None and topic.locked and not moderator:
        return _reject(f"the topic \"{topic.subject}\" is locked: replies are not accepted")
    for tag in hashtags:
        if tag.moderators_only and not moderator:
            return _reject(f"only moderators may post with #{tag.name}")
        if tag.replies_moderators_only and topic is not None and not moderator:
            return _reject(f"only moderators may reply to topics tagged #{tag.name}")
    if group.posting_policy == Group.PostingPolicy.ANNOUNCE and not moderator:
        if status != Membership.PostingStatus.OVERRIDE:
            return _reject(f"{group.name} is announce-only: only owners and moderators post")
    if moderator or status == Membership.PostingStatus.OVERRIDE:
        return ALLOW
    if status == Membership.PostingStatus.MODERATED:
        return _hold("your posts are moderated")
    new_member_rule = status == Membership.PostingStatus.NEW_MODERATED or (
        status == Membership.PostingStatus.DEFAULT
        and group.posting_policy == Group.PostingPolicy.NEW_MODERATED
    )
    if new_member_rule and membership.approved_posts < max(group.new_member_posts_moderated, 1):
        return _hold("posts from new members are moderated")
    if status == Membership.PostingStatus.DEFAULT and (
        group.posting_policy == Group.PostingPolicy.MODERATED
    ):
        return _hold("all posts to this group are moderated")
    for tag in hashtags:
        if tag.moderated:
            return _hold(f"posts tagged #{tag.name} are moderated")
    return ALLOW


def unauthenticated_action(group: Group) -> str:
    """accept | hold | reject: what ``group`` does with a post nobody vouches for.

    "auto" holds where a forged member post costs the most: groups whose
    archive is for members only or whose membership is vetted (join by
    approval or invitation), where being a member is what grants the right to
    post. An open public group, where anyone may join and read, accepts: the
    forger could join anyway, and the Authentication-Results header in the
    archive shows what was (not) checked.
    """
    policy = group.unauthenticated_policy
    if policy != Group.UnauthenticatedPolicy.AUTO:
        return str(policy)
    closed = (group.privacy != Group.Privacy.PUBLIC
              or group.join_policy != Group.JoinPolicy.OPEN)
    return "hold" if closed else "accept"


def decide_unauthenticated(group: Group, decision: Decision, why: str) -> Decision:
    """``decision`` for a post whose sender is not authenticated (``why`` says what failed).

    Refusing wins over everything; holding replaces an "allow" only (a post
    already held or refused stays so, with its own reason).
    """
    action = unauthenticated_action(group)
    if action == "reject":
        return _reject(f"{group.name} accepts only mail whose sender is authenticated, and "
                       f"this message's is not: {why}")
    if action == "hold" and decision.allowed:
        return _hold(f"the sender could not be authenticated ({why})")
    return decision
