"""The platform's data: groups, members, topics, messages, hashtags, the moderation queue.

The web app and messageserver share these models. Rules about them (who may
post, where a message threads) live in messageserver, not here: a model only
knows its own fields and small derived facts.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person with a web account. Email is the identity that mail is matched on."""

    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    # blank: follow the browser's Accept-Language (groups/languages.py)
    language = models.CharField(max_length=10, blank=True, default="",
                                choices=settings.LANGUAGES)
    digest_hour = models.PositiveSmallIntegerField(
        default=0, help_text=_("Local hour (0-23) at which digests are sent.")
    )
    email_confirmed = models.BooleanField(default=False)
    default_delivery = models.CharField(
        max_length=20, default="individual",
        help_text=_("The delivery a membership starts with when joining a group on the website "
                  "(one of Membership.Delivery)."))

    def __str__(self) -> str:
        return self.display_name or self.email or self.username


class UserEmail(models.Model):
    """A further address of an account (the primary one is ``User.email``).

    Verified by a signed link mailed to it (groups.accountemails); once verified, a
    post from it counts as the account's member and a membership may choose it to
    receive mail. An unverified claim blocks nobody: only verified rows are unique.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="emails")
    email = models.EmailField()
    verified = models.BooleanField(default=False)
    make_primary = models.BooleanField(
        default=False, help_text=_("Becomes the primary address once verified (changing one's "
                                 "email address in one step)."))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "email"], name="useremail_unique_per_user"),
            models.UniqueConstraint(fields=["email"], condition=models.Q(verified=True),
                                    name="useremail_verified_unique"),
        ]
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class Group(models.Model):
    class Privacy(models.TextChoices):
        PUBLIC = "public", _("Listed, public archive")
        PRIVATE_ARCHIVE = "private_archive", _("Listed, archive visible to members only")
        HIDDEN = "hidden", _("Hidden, archive visible to members only")

    class JoinPolicy(models.TextChoices):
        OPEN = "open", _("Anyone may join")
        APPROVAL = "approval", _("Owners approve each join request")
        INVITE = "invite", _("By invitation only")

    class PostingPolicy(models.TextChoices):
        MEMBERS = "members", _("Members may post")
        MODERATED = "moderated", _("All posts are moderated")
        NEW_MODERATED = "new_moderated", _("New members are moderated")
        ANNOUNCE = "announce", _("Announce only: owners and moderators post")

    class NonMemberPolicy(models.TextChoices):
        REJECT = "reject", _("Reject with a notice")
        HOLD = "hold", _("Hold for moderation")

    class UnauthenticatedPolicy(models.TextChoices):
        AUTO = "auto", _("Hold if the group is private or closed, otherwise accept")
        ACCEPT = "accept", _("Accept")
        HOLD = "hold", _("Hold for moderation")
        REJECT = "reject", _("Refuse")

    class ReplyTo(models.TextChoices):
        GROUP = "group", _("Reply to the group")
        SENDER = "sender", _("Reply to the sender")
        MODERATORS = "moderators", _("Reply to the moderators only")
        GROUP_AND_SENDER = "both", _("Reply to the group and the sender")

    class DmarcHandling(models.TextChoices):
        AUTO = "auto", _("Rewrite From when the poster's DMARC policy is quarantine or reject")
        ALWAYS = "always", _("Always rewrite From")
        NEVER = "never", _("Never rewrite From")

    # A subgroup is named PARENT+CHILD (its address PARENT+CHILD@, as on Groups.io).
    name = models.CharField(max_length=129, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="subgroups",
                               help_text=_("A subgroup's parent: its owners own the subgroup, and "
                                         "only the parent's members may join."))
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True)
    guidelines_monthly = models.BooleanField(default=False)
    guidelines_sent_month = models.CharField(
        max_length=7, blank=True, help_text=_("YYYY-MM of the last monthly guidelines reminder."))
    privacy = models.CharField(max_length=20, choices=Privacy.choices, default=Privacy.PUBLIC)
    join_policy = models.CharField(
        max_length=20, choices=JoinPolicy.choices, default=JoinPolicy.OPEN
    )
    posting_policy = models.CharField(
        max_length=20, choices=PostingPolicy.choices, default=PostingPolicy.MEMBERS
    )
    new_member_posts_moderated = models.PositiveIntegerField(
        default=1, help_text=_("With 'new members are moderated': approved posts before posting freely.")
    )
    nonmember_policy = models.CharField(
        max_length=20, choices=NonMemberPolicy.choices, default=NonMemberPolicy.REJECT
    )
    unauthenticated_policy = models.CharField(
        max_length=20, choices=UnauthenticatedPolicy.choices, default=UnauthenticatedPolicy.AUTO,
        verbose_name=_("Posts whose sender is not authenticated"),
        help_text=_("Mail whose From domain vouches for it by neither SPF nor DKIM (see "
                  "docs/security.md, Sender authentication)."))
    reply_to = models.CharField(max_length=20, choices=ReplyTo.choices, default=ReplyTo.GROUP)
    dmarc_handling = models.CharField(
        max_length=20, choices=DmarcHandling.choices, default=DmarcHandling.AUTO
    )
    subject_tag = models.CharField(max_length=64, blank=True)
    footer_template = models.TextField(blank=True)
    bulk_delivery = models.BooleanField(
        default=False, verbose_name=_("Bulk delivery (no personal footer)"),
        help_text=_("For very large announcement groups: every member gets one identical copy, "
                  "sent to many members at once, so posts go out far faster. Copies carry no "
                  "personal footer links (the footer's personal parts are left out) and no "
                  "personal unsubscribe link: List-Unsubscribe is the group's unsubscribe "
                  "email address. Bounces are matched to members by reading the bounce "
                  "report itself instead of a per-member return address."))
    max_message_size = models.PositiveIntegerField(default=10 * 1024 * 1024)
    # Whether an active webhook (the group's own or a site-wide one) wants its events: kept
    # by messageserver.webhookevents.refresh_flags in the transaction of every webhook
    # change, so an event of a group without any asks for no webhooks (most groups).
    webhooks_on = models.BooleanField(default=False, editable=False)
    max_attachment_size = models.PositiveIntegerField(default=10 * 1024 * 1024)
    allowed_attachment_types = models.TextField(
        blank=True, help_text=_("Comma-separated MIME types or prefixes (image/); empty allows all.")
    )
    moderation_expiry_days = models.PositiveIntegerField(default=14)
    edit_window_minutes = models.PositiveIntegerField(
        default=1440, verbose_name=_("Members may edit their posts for (minutes)"),
        help_text=_("How long after posting a member may still edit their message on the "
                  "website (0: members can't edit)."))
    send_edits = models.BooleanField(
        default=False, verbose_name=_("Send edits to members as a reply"),
        help_text=_("Members who get each message by email also get the corrected version, "
                  "as a reply to the original."))
    auto_lock_days = models.PositiveIntegerField(
        default=0, help_text=_("Lock topics after this many days without a post (0: never).")
    )
    last_message_number = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    suspended = models.BooleanField(
        default=False, help_text=_("Set by a site admin: the group refuses every post "
                                 "(messageserver.policy) until it is lifted."))
    # Group tools (issue #18): each can be switched off per group.
    calendar_enabled = models.BooleanField(
        _("Calendar"), default=True, help_text=_("Members see the group's calendar of events."))
    calendar_events_by = models.CharField(
        _("Who may add events"), max_length=20, default="members",
        choices=[("members", _("Members")), ("moderators", _("Moderators and owners only"))])
    polls_enabled = models.BooleanField(
        _("Polls"), default=True, help_text=_("Members may start polls; votes by web or by mail."))
    wiki_enabled = models.BooleanField(_("Wiki"), default=True)
    wiki_edited_by = models.CharField(
        _("Who may edit the wiki"), max_length=20, default="members",
        choices=[("members", _("Members")), ("moderators", _("Moderators and owners only"))])
    files_enabled = models.BooleanField(_("Files"), default=True)
    photos_enabled = models.BooleanField(_("Photos"), default=True)
    files_added_by = models.CharField(
        _("Who may add files and photos"), max_length=20, default="members",
        choices=[("members", _("Members")), ("moderators", _("Moderators and owners only"))])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_title(self) -> str:
        return self.title or self.name

    @property
    def post_address(self) -> str:
        return f"{self.name}@{settings.GROUPS_DOMAIN}"

    def address(self, command: str) -> str:
        return f"{self.name}+{command}@{settings.GROUPS_DOMAIN}"

    @property
    def list_id(self) -> str:
        return f"{self.name}.{settings.GROUPS_DOMAIN}"

    @property
    def archive_is_public(self) -> bool:
        return self.privacy == self.Privacy.PUBLIC

    @property
    def is_listed(self) -> bool:
        return self.privacy != self.Privacy.HIDDEN

    def allocate_message_number(self) -> int:
        """Take the next per-group message number atomically (a conditional UPDATE)."""
        Group.objects.filter(pk=self.pk).update(last_message_number=F("last_message_number") + 1)
        self.refresh_from_db(fields=["last_message_number"])
        return self.last_message_number


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MODERATOR = "moderator", _("Moderator")
        MEMBER = "member", _("Member")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PENDING_CONFIRM = "pending_confirm", _("Waiting for the subscriber to confirm")
        PENDING_APPROVAL = "pending_approval", _("Waiting for owner approval")
        INVITED = "invited", _("Invited")
        BANNED = "banned", _("Banned")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        REMOVED = "removed", _("Removed")

    class Delivery(models.TextChoices):
        INDIVIDUAL = "individual", _("Individual messages")
        DIGEST = "digest", _("Full-featured digest")
        PLAIN_DIGEST = "plain_digest", _("Plain digest")
        SUMMARY = "summary", _("Daily summary")
        SPECIAL = "special", _("Special notices only")
        NOMAIL = "nomail", _("No email")

    class PostingStatus(models.TextChoices):
        DEFAULT = "default", _("Group default")
        MODERATED = "moderated", _("Moderated")
        NEW_MODERATED = "new_moderated", _("New member moderated")
        NOT_ALLOWED = "not_allowed", _("Not allowed to post")
        OVERRIDE = "override", _("Override: never moderated")

    class Selection(models.TextChoices):
        ALL = "all", _("All messages")
        FOLLOWED = "followed", _("Followed topics only")
        FOLLOWED_AND_FIRST = "followed_first", _("Followed topics and the first message of new topics")

    class BounceState(models.TextChoices):
        OK = "ok", _("Delivering")
        BOUNCING = "bouncing", _("Bouncing: delivery stopped, probes sent")

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    # SET_NULL: a deleted account's ended memberships stay (a ban keeps holding its address).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="memberships",
    )
    email = models.EmailField(help_text=_("The address mail is delivered to and matched on."))
    display_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    delivery = models.CharField(max_length=20, choices=Delivery.choices, default=Delivery.INDIVIDUAL)
    posting_status = models.CharField(
        max_length=20, choices=PostingStatus.choices, default=PostingStatus.DEFAULT
    )
    message_selection = models.CharField(
        max_length=20, choices=Selection.choices, default=Selection.ALL
    )
    approved_posts = models.PositiveIntegerField(default=0)
    joined_at = models.DateTimeField(default=timezone.now)
    # Bounce processing (cronjobs.bouncer acts on these).
    bounce_state = models.CharField(max_length=20, choices=BounceState.choices, default="ok")
    bounce_score = models.FloatField(default=0)
    first_bounce_at = models.DateTimeField(null=True, blank=True)
    last_bounce_at = models.DateTimeField(null=True, blank=True)
    bouncing_since = models.DateTimeField(null=True, blank=True)
    probes_sent = models.PositiveSmallIntegerField(default=0)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    # Digests (cronjobs.senddigests): the last message number already sent in a digest.
    digest_last_number = models.PositiveIntegerField(default=0)
    digest_last_sent_at = models.DateTimeField(null=True, blank=True)
    # Counts the removals (by a complaint, an owner, a ban, leaving) and restores of this
    # membership. A restore link carries the count it was issued at, so it undoes only that
    # removal: a later removal or a use of the link moves the count on and the link dies.
    # The bouncer's own removal does not count: the probe links of that spell still work.
    removal_serial = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "email"], name="membership_unique_email")
        ]
        indexes = [
            models.Index(fields=["group", "status", "delivery"]),
            models.Index(fields=["email"]),
            # The owners' member list: pages in address order (keyset), under each filter.
            models.Index(fields=["group", "status", "email"], name="member_status_list_idx"),
            models.Index(fields=["group", "role", "email"], name="member_role_list_idx"),
            models.Index(fields=["group", "delivery", "email"], name="member_delivery_list_idx"),
            models.Index(fields=["group", "posting_status", "email"],
                         name="member_posting_list_idx"),
            models.Index(fields=["group", "bounce_state", "email"],
                         name="member_bounce_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email} in {self.group_id}"

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_moderator(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.MODERATOR)

    @property
    def name(self) -> str:
        return member_name(self.display_name,
                           self.user.display_name if self.user_id else "", self.email)


def member_name(display_name: str, user_display_name: str | None, email: str) -> str:
    """What a member is called: their name in the group, else their account's, else the
    address's local part. A function of the columns, so a fan-out reading rows rather
    than model instances (messageserver.fanout.Recipient) names members the same way."""
    return display_name or user_display_name or email.split("@", 1)[0]


class Hashtag(models.Model):
    class ExpireAction(models.TextChoices):
        LOCK = "lock", _("Lock the topic")
        DELETE = "delete", _("Delete the topic")

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="hashtags")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    color = models.CharField(max_length=16, blank=True)
    moderated = models.BooleanField(default=False)
    no_email = models.BooleanField(default=False)
    expires_days = models.PositiveIntegerField(default=0)
    expire_action = models.CharField(
        max_length=10, choices=ExpireAction.choices, default=ExpireAction.LOCK
    )
    moderators_only = models.BooleanField(default=False)
    replies_moderators_only = models.BooleanField(default=False)
    special_notice = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="hashtag_unique_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"#{self.name}"


class Topic(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="topics")
    subject = models.CharField(max_length=500)
    normalized_subject = models.CharField(max_length=500, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_post_at = models.DateTimeField(default=timezone.now)
    message_count = models.PositiveIntegerField(default=0)
    locked = models.BooleanField(default=False)
    sticky = models.BooleanField(default=False)
    hashtags = models.ManyToManyField(Hashtag, blank=True, related_name="topics")
    first_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            # The topic list's order, to the last tie-break: its pages are read from it.
            models.Index(fields=["group", "-sticky", "-last_post_at", "-id"],
                         name="topic_list_page_idx"),
            models.Index(fields=["group", "normalized_subject", "last_post_at"]),
        ]

    def __str__(self) -> str:
        return self.subject


class Message(models.Model):
    class Source(models.TextChoices):
        EMAIL = "email", _("Email")
        WEB = "web", _("Web")
        FEED = "feed", _("Feed")
        IMPORT = "import", _("Import")

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="messages")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="messages")
    number = models.PositiveIntegerField()
    message_id = models.CharField(max_length=500, db_index=True)
    in_reply_to = models.CharField(max_length=500, blank=True)
    references = models.TextField(blank=True)
    sender_email = models.CharField(max_length=320)
    sender_name = models.CharField(max_length=200, blank=True)
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    subject = models.CharField(max_length=500)
    date = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True, help_text=_("Sanitised with nh3; safe to show."))
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EMAIL)
    markdown = models.BooleanField(
        default=False, help_text=_("body_text is the Markdown source of body_html (a web post)."))
    edited_at = models.DateTimeField(null=True, blank=True,
                                     help_text=_("When its author last edited it on the web."))
    nonmember = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "number"], name="message_unique_number")
        ]
        indexes = [
            models.Index(fields=["topic", "date"]),
            models.Index(fields=["group", "message_id"]),
            models.Index(fields=["group", "created_at"]),
            # A topic page's count and its page of keys, in the page's order, read from
            # the index alone however long the topic (a thousand messages at a million).
            models.Index(fields=["topic", "date", "number"], condition=models.Q(deleted=False),
                         name="message_topic_page"),
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.group_id}#{self.number} {self.subject}"


class MessageRevision(models.Model):
    """A version of a message that an edit replaced (messageserver.edits keeps them)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    subject = models.CharField(max_length=500)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True, help_text=_("Sanitised with nh3; safe to show."))
    markdown = models.BooleanField(default=False)
    written_at = models.DateTimeField(help_text=_("When this version was posted or edited."))
    replaced_at = models.DateTimeField(default=timezone.now)
    replaced_by = models.CharField(max_length=320, blank=True,
                                   help_text=_("The address of whoever edited it."))

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} as of {self.written_at:%Y-%m-%d %H:%M}"


class RawMessage(models.Model):
    """The original bytes as received, kept apart so lists never load them."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="raw")
    data = models.BinaryField()


class Attachment(models.Model):
    """An attachment stored as a file under ATTACHMENTS_DIR; the row only points at it."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    path = models.CharField(max_length=500, help_text=_("Relative to ATTACHMENTS_DIR."))
    content_id = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return self.filename


class HeldMessage(models.Model):
    """A message waiting for a moderator. Its raw bytes live here until decided."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")
        DISCARDED = "discarded", _("Discarded")

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="held_messages")
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raw = models.BinaryField()
    mail_from = models.CharField(max_length=320, blank=True)
    sender_email = models.CharField(max_length=320)
    subject = models.CharField(max_length=500, blank=True)
    reason = models.CharField(max_length=200)
    nonmember = models.BooleanField(default=False)
    source = models.CharField(max_length=10, default="email")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=320, blank=True)
    decision_reason = models.TextField(blank=True)
    edited_raw = models.BinaryField(
        null=True, blank=True,
        help_text=_("The moderator's edited version, archived and sent instead of raw (which "
                  "stays as received, for the record)."))

    class Meta:
        indexes = [models.Index(fields=["group", "state", "created_at"])]

    def __str__(self) -> str:
        return f"held {self.pk} in {self.group_id}: {self.subject}"


class ModerationReason(models.Model):
    """A rejection reason a group's moderators saved, to pick instead of typing it again."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="moderation_reasons")
    title = models.CharField(max_length=100)
    text = models.TextField(help_text=_("Sent to the poster with the rejection notice."))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "title"],
                                               name="moderationreason_unique_title")]
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class DeliverySummary(models.Model):
    """What became of every copy of one Karl job, from the job's "finished" event.

    A post to a large group is several jobs; the message's delivery report adds
    them up. Karl forgets finished jobs after KARL_KEEP_DONE, this row does not.
    """

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+")
    message_number = models.PositiveIntegerField(null=True, blank=True)
    karl_job_id = models.CharField(max_length=64, unique=True)
    total = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    bounced = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)
    deferred = models.PositiveIntegerField(
        default=0, help_text=_("Copies deferred at least once before their final outcome."))
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["group", "message_number"])]


class TopicPreference(models.Model):
    class Mode(models.TextChoices):
        MUTE = "mute", _("Muted")
        FOLLOW = "follow", _("Followed")

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="topic_prefs")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="prefs")
    mode = models.CharField(max_length=10, choices=Mode.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "topic"], name="topicpref_unique")
        ]


class TopicRead(models.Model):
    """How far one person has read one topic: the highest message number shown to them.

    Written by one upsert each time the topic page is viewed (groups.readstate),
    so "new since your last visit" costs no extra bookkeeping anywhere else.
    Per user, not per membership: reading a public archive needs no membership.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="topic_reads")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="reads")
    last_number = models.PositiveIntegerField(
        default=0, help_text=_("Highest message number of the topic this person has been shown."))
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "topic"], name="topicread_unique")
        ]


class ReaderSettings(models.Model):
    """A person's reading choices kept apart from User (one row, made on first change)."""

    class Layout(models.TextChoices):
        FLAT = "flat", _("Flat")
        THREADED = "threaded", _("Threaded")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="reader_settings")
    topic_layout = models.CharField(max_length=10, choices=Layout.choices, default=Layout.FLAT)


class HashtagPreference(models.Model):
    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="hashtag_prefs"
    )
    hashtag = models.ForeignKey(Hashtag, on_delete=models.CASCADE, related_name="prefs")
    mode = models.CharField(max_length=10, choices=TopicPreference.Mode.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "hashtag"], name="hashtagpref_unique")
        ]


class BounceEvent(models.Model):
    """One failed delivery to a member, from a parsed bounce or Karl's delivery events."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="bounces")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=10)  # hard | soft
    status = models.CharField(max_length=16, blank=True)
    diagnostic = models.TextField(blank=True)
    source = models.CharField(max_length=20, default="dsn")  # dsn | karl | probe
    message_number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["membership", "at"])]


class ProcessedReport(models.Model):
    """A bounce or spam complaint already acted on, by the report's own Message-ID.

    MTAs redeliver: a report we took but whose answer got lost in transit comes
    again, and must not count twice (or remove a member who has since restored
    their membership). Reports without a Message-ID are keyed on a hash of
    their bytes instead (messageserver.bouncehandling.report_key).
    """

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    report_id = models.CharField(max_length=500)
    kind = models.CharField(max_length=10)  # bounce | complaint
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["membership", "report_id"],
                                               name="processedreport_unique")]


class OutboxItem(models.Model):
    """Mail to hand to Karl, written in the same transaction as what caused it.

    messageserver answers "accepted" once the archive row and this row are
    committed; the dispatcher then submits it to Karl, retrying while Karl is
    down, so an accepted post is never lost between the two services.
    """

    class Kind(models.TextChoices):
        JOB = "job", _("Fan-out job (POST /v1/jobs)")
        MAIL = "mail", _("One message (POST /v1/mail)")
        # Not handed to Karl itself: the dispatcher turns it into JOB rows, a slice of
        # its FanoutRecipient snapshot at a time (messageserver.fanoutcontinuation).
        FANOUT = "fanout", _("Fan-out still to build (continued after acceptance)")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Being submitted")
        DONE = "done", _("Submitted to Karl")
        FAILED = "failed", _("Refused by Karl")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True, help_text=_("host:pid"))
    created_at = models.DateTimeField(default=timezone.now)
    karl_job_id = models.CharField(max_length=64, blank=True)
    karl_node = models.CharField(
        max_length=200, blank=True,
        help_text=_("Base URL of the Karl node this row was handed to (or is being handed to): "
                  "set before the hand-off, so a row that may be there is never sent elsewhere."))
    last_error = models.TextField(blank=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"])]


class FanoutRecipient(models.Model):
    """One member a post goes to, fixed when the post was accepted (the fan-out's snapshot).

    Written in the archive transaction by one INSERT ... SELECT (no Python per
    member), read and deleted a keyset slice at a time by the continuation that
    builds the Karl jobs after smtpd's 250 (messageserver.fanoutcontinuation).
    What is left here is exactly who has not been put into a job yet. No
    foreign key to the membership: a membership deleted meanwhile just gets
    nothing, and the insert stays cheap.
    """

    fanout = models.ForeignKey(OutboxItem, on_delete=models.CASCADE, related_name="snapshot",
                               db_index=False)
    membership_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fanout", "membership_id"],
                                    name="fanoutrecipient_keyset"),
        ]


class NoticeTemplate(models.Model):
    """An owner's own wording of one of the group's notices (else the site default)."""

    class Kind(models.TextChoices):
        WELCOME = "welcome", _("Welcome")
        GOODBYE = "goodbye", _("Goodbye")
        GUIDELINES = "guidelines", _("Guidelines")
        REJECTED = "rejected", _("Message rejected")
        HELD = "held", _("Message held")
        PENDING = "pending", _("Subscription pending")
        HELP = "help", _("Help")
        CONFIRM_SUBSCRIBE = "confirm_subscribe", _("Confirm subscription")
        CONFIRM_UNSUBSCRIBE = "confirm_unsubscribe", _("Confirm unsubscription")
        PENDING_OWNER = "pending_owner", _("Subscription pending (to owners)")
        DELIVERY_CHANGED = "delivery_changed", _("Delivery changed")
        CONFIRM_DELIVERY = "confirm_delivery", _("Confirm a delivery change")
        COMMAND_REFUSED = "command_refused", _("Command refused")
        COMMAND_DONE = "command_done", _("Command done")
        OWNER_FORWARD = "owner_forward", _("Message to the owners")
        EXPIRED = "expired", _("Held message expired")
        MODERATION_REFUSED = "moderation_refused", _("Moderation reply refused")
        RESTORED = "restored", _("Membership restored by its link")
        DECLINED = "declined", _("Join request declined")

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="notice_templates")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text=_("Django template syntax; see the defaults for variables."))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "kind"], name="notice_unique_kind")
        ]


class Feed(models.Model):
    """An RSS/Atom feed whose new entries become posts to a group (cronjobs.rsscrawler)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="feeds")
    url = models.URLField(max_length=1000)
    title = models.CharField(max_length=200, blank=True)
    poster_email = models.EmailField(help_text=_("The member the posts come from."))
    subject_prefix = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)
    etag = models.CharField(max_length=500, blank=True)
    modified = models.CharField(max_length=200, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(default=timezone.now)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_warning = models.TextField(
        blank=True, help_text=_("Why the last read feed was imperfect (ill-formed, wrong "
                              "charset) though its entries were imported; empty when clean."))
    failure_reported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "url"], name="feed_unique_url")]

    def __str__(self) -> str:
        return self.title or self.url


class FeedEntry(models.Model):
    """An entry already posted, by its id (else link): what makes the crawler idempotent."""

    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="entries")
    key = models.CharField(max_length=1000)
    seen_at = models.DateTimeField(default=timezone.now)
    message_number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["feed", "key"], name="feedentry_unique")]


class DigestRun(models.Model):
    """One digest sent to one member: the record that makes senddigests idempotent."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="digests")
    kind = models.CharField(max_length=20)  # digest | plain_digest | summary
    first_number = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["membership", "kind", "last_number"],
                                               name="digestrun_unique")]


class ActivityEntry(models.Model):
    """One line of a group's activity log: who did what to whom, and when.

    Written only by groups.activitylog.record, inside the transaction that makes
    the change it tells of (a membership action, a moderator's decision), so the
    log and the change commit together or not at all. Never edited afterwards.
    """

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="activity")
    at = models.DateTimeField(default=timezone.now)
    # An email address, "system" or "bounce processor".
    actor = models.CharField(max_length=320)
    # What happened, e.g. "join", "ban", "set_delivery", "approve_message".
    verb = models.CharField(max_length=40)
    # Whom or what it happened to: an email address or "message #N".
    target = models.CharField(max_length=320, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            # The log's pages, newest first (keyset on id: entries are appended in order).
            models.Index(fields=["group", "-id"], name="activity_pages_idx"),
            # One member's history, and the log searched by target or verb.
            models.Index(fields=["group", "target", "-at"], name="activity_target_idx"),
            models.Index(fields=["group", "verb", "-at"], name="activity_verb_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.verb} {self.target}"


class BanRule(models.Model):
    """An address or pattern banned from a group: no posts, no joining, members or not.

    ``pattern`` is read by platformcore.addresspatterns (an address, a glob such
    as ``*@spam.example``, or a regular expression starting with ``^``). Matched
    by groups.senderrules, for the posting policy and the join rule alike.
    """

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="ban_rules")
    pattern = models.CharField(max_length=254)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=320, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "pattern"],
                                               name="banrule_unique_pattern")]
        ordering = ["pattern"]

    def __str__(self) -> str:
        return f"ban {self.pattern} in {self.group_id}"


class SenderRule(models.Model):
    """What to do with a non-member's post, by sender (Mailman 3's accept/hold/reject/
    discard lists). Members are governed by their posting status instead."""

    class Action(models.TextChoices):
        ACCEPT = "accept", _("Accept (post as if a member)")
        HOLD = "hold", _("Hold for moderation")
        REJECT = "reject", _("Reject with a reason")
        DISCARD = "discard", _("Discard silently")

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="sender_rules")
    pattern = models.CharField(max_length=254)
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=320, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "pattern"],
                                               name="senderrule_unique_pattern")]
        ordering = ["pattern"]

    def __str__(self) -> str:
        return f"{self.action} {self.pattern} in {self.group_id}"


class ApiKey(models.Model):
    """A user's key to the public API (/api/v1/): it acts as that user, within its scope.

    Only a SHA-256 digest of the key is kept (keys are 256-bit random strings, so a fast
    hash is enough: nothing to brute-force); ``prefix`` is shown on the account page and
    finds the row. A key can be read-only, limited to one group, and expire.
    """

    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        WRITE = "write", _("Read and write")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="api_keys",
                              help_text=_("When set, the key works for this group only."))
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"api key {self.prefix}"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Webhook(models.Model):
    """An owner's (or, with no group, a site admin's) endpoint that gets the group's events.

    Each event is POSTed as JSON, signed with HMAC-SHA256 over the body with ``secret``
    (messageserver.webhookevents writes the deliveries, cronjobs.webhooks sends them).
    """

    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="webhooks",
                              help_text=_("Empty: a site-wide hook, for every group's events."))
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text=_("The event types it is sent."))
    secret = models.CharField(max_length=64)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=320, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"webhook {self.pk} -> {self.url}"


class WebhookDelivery(models.Model):
    """One event for one webhook: written in the transaction of the change it reports, so
    nothing that happened goes unannounced, then sent (and retried) until it is taken."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Being sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Gave up")

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(unique=True)
    event = models.CharField(max_length=40)
    payload = models.TextField(help_text=_("The JSON body, exactly as signed and sent."))
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"]),
                   models.Index(fields=["webhook", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} -> webhook {self.webhook_id}: {self.state}"


class Event(models.Model):
    """An event on a group's calendar: once, or repeating by an RFC 5545 RRULE.

    ``start`` and ``end`` are stored in UTC and meant in ``time_zone`` (an IANA name):
    a weekly 18:00 meeting stays at 18:00 local time across daylight-saving changes,
    because occurrences are computed in that zone (groups/calendar.py). An all-day event
    keeps its dates (``start``'s date in its zone; ``end`` the last day).
    """

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="events")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    location = models.CharField(max_length=300, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    time_zone = models.CharField(max_length=64, default="UTC")
    all_day = models.BooleanField(default=False)
    rrule = models.CharField(_("Repeats"), max_length=500, blank=True,
                             help_text=_("An RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=TU"))
    rsvp_limit = models.PositiveIntegerField(null=True, blank=True)
    remind_minutes = models.PositiveIntegerField(null=True, blank=True)
    reminded_for = models.DateTimeField(
        null=True, blank=True, help_text=_("The occurrence whose reminder was last sent."))
    announced_number = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sequence = models.PositiveIntegerField(default=0, help_text=_("iCalendar SEQUENCE: edits."))

    class Meta:
        indexes = [models.Index(fields=["group", "start"])]
        ordering = ["start", "pk"]

    def __str__(self) -> str:
        return self.title


class EventRSVP(models.Model):
    """A member's answer to an event (the whole series, for a repeating one)."""

    class Answer(models.TextChoices):
        YES = "yes", _("Yes")
        MAYBE = "maybe", _("Maybe")
        NO = "no", _("No")

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="rsvps")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="rsvps")
    answer = models.CharField(max_length=5, choices=Answer.choices)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "user"],
                                               name="rsvp_one_per_member")]


class Poll(models.Model):
    """A poll is a topic: its first message asks the question and lists numbered choices.

    Members vote on the web or by replying to the poll's mail with the number(s) of their
    choice (messageserver/polls.py, the one place votes are counted).
    """

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="polls")
    topic = models.OneToOneField(Topic, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="poll",
                                 help_text=_("Empty while its message waits for a moderator."))
    message_id = models.CharField(max_length=500, blank=True,
                                  help_text=_("Its first message's Message-ID (held or sent)."))
    question = models.CharField(max_length=500)
    multiple = models.BooleanField(_("Several choices allowed"), default=False)
    anonymous = models.BooleanField(_("Anonymous"), default=False)
    closes_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.question


class PollChoice(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="choices")
    number = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=200)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["poll", "number"],
                                               name="pollchoice_unique_number")]


class PollVote(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="votes")
    choice = models.ForeignKey(PollChoice, on_delete=models.CASCADE, related_name="votes")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["choice", "membership"],
                                               name="pollvote_once_per_choice")]
        indexes = [models.Index(fields=["poll", "membership"])]


def group_files_storage():
    """The storage of the group tools' files and photos (settings.STORAGES["groupfiles"])."""
    from django.core.files.storage import storages

    return storages["groupfiles"]


def _file_path(instance, filename: str) -> str:
    return f"{instance.group_id}/files/{timezone.now():%Y/%m}/{filename}"


def _photo_path(instance, filename: str) -> str:
    return f"{instance.album.group_id}/photos/{timezone.now():%Y/%m}/{filename}"


class Folder(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="folders")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="children")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["group", "parent", "name"],
                                               name="folder_unique_name")]

    def __str__(self) -> str:
        return self.name


class StoredFile(models.Model):
    """A file in a group's Files (its bytes in the groupfiles storage)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="files")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="files")
    name = models.CharField(max_length=255)
    data = models.FileField(upload_to=_file_path, storage=group_files_storage,
                            max_length=500)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=255, blank=True)
    description = models.CharField(max_length=500, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Album(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="albums")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class Photo(models.Model):
    album = models.ForeignKey(Album, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to=_photo_path, storage=group_files_storage,
                             max_length=500)
    thumbnail = models.FileField(upload_to=_photo_path, storage=group_files_storage,
                                 max_length=500)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    caption = models.CharField(max_length=500, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    source_attachment = models.ForeignKey(Attachment, null=True, blank=True,
                                          on_delete=models.SET_NULL, related_name="+")
    instagram_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]


class InstagramAccount(models.Model):
    """An owner's Instagram professional account whose new media become the group's posts
    and photos (cronjobs/instagram.py, the Instagram Graph API's /me/media)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="instagram")
    album = models.ForeignKey(Album, on_delete=models.CASCADE, related_name="+")
    access_token = models.TextField(help_text=_("A long-lived Instagram user access token."))
    token_refreshed_at = models.DateTimeField(default=timezone.now)
    poster_email = models.EmailField(help_text=_("The member the posts come from."))
    active = models.BooleanField(default=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class WikiPage(models.Model):
    """A page of a group's wiki; its text is the newest of its revisions."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="wiki_pages")
    slug = models.SlugField(max_length=200, allow_unicode=True)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text=_("Markdown: the current revision's text."))
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]
        constraints = [models.UniqueConstraint(fields=["group", "slug"],
                                               name="wikipage_unique_slug")]

    def __str__(self) -> str:
        return self.title


class WikiRevision(models.Model):
    """Every saved version of a page, for its history, diffs and reverts."""

    page = models.ForeignKey(WikiPage, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    comment = models.CharField(max_length=300, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["page", "number"],
                                               name="wikirevision_unique_number")]
