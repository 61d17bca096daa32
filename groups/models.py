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


class User(AbstractUser):
    """A person with a web account. Email is the identity that mail is matched on."""

    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    digest_hour = models.PositiveSmallIntegerField(
        default=0, help_text="Local hour (0-23) at which digests are sent."
    )
    email_confirmed = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.display_name or self.email or self.username


class Group(models.Model):
    class Privacy(models.TextChoices):
        PUBLIC = "public", "Listed, public archive"
        PRIVATE_ARCHIVE = "private_archive", "Listed, archive visible to members only"
        HIDDEN = "hidden", "Hidden, archive visible to members only"

    class JoinPolicy(models.TextChoices):
        OPEN = "open", "Anyone may join"
        APPROVAL = "approval", "Owners approve each join request"
        INVITE = "invite", "By invitation only"

    class PostingPolicy(models.TextChoices):
        MEMBERS = "members", "Members may post"
        MODERATED = "moderated", "All posts are moderated"
        NEW_MODERATED = "new_moderated", "New members are moderated"
        ANNOUNCE = "announce", "Announce only: owners and moderators post"

    class NonMemberPolicy(models.TextChoices):
        REJECT = "reject", "Reject with a notice"
        HOLD = "hold", "Hold for moderation"

    class UnauthenticatedPolicy(models.TextChoices):
        AUTO = "auto", "Hold if the group is private or closed, otherwise accept"
        ACCEPT = "accept", "Accept"
        HOLD = "hold", "Hold for moderation"
        REJECT = "reject", "Refuse"

    class ReplyTo(models.TextChoices):
        GROUP = "group", "Reply to the group"
        SENDER = "sender", "Reply to the sender"
        MODERATORS = "moderators", "Reply to the moderators only"
        GROUP_AND_SENDER = "both", "Reply to the group and the sender"

    class DmarcHandling(models.TextChoices):
        AUTO = "auto", "Rewrite From when the poster's DMARC policy is quarantine or reject"
        ALWAYS = "always", "Always rewrite From"
        NEVER = "never", "Never rewrite From"

    name = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True)
    guidelines_monthly = models.BooleanField(default=False)
    guidelines_sent_month = models.CharField(
        max_length=7, blank=True, help_text="YYYY-MM of the last monthly guidelines reminder.")
    privacy = models.CharField(max_length=20, choices=Privacy.choices, default=Privacy.PUBLIC)
    join_policy = models.CharField(
        max_length=20, choices=JoinPolicy.choices, default=JoinPolicy.OPEN
    )
    posting_policy = models.CharField(
        max_length=20, choices=PostingPolicy.choices, default=PostingPolicy.MEMBERS
    )
    new_member_posts_moderated = models.PositiveIntegerField(
        default=1, help_text="With 'new members are moderated': approved posts before posting freely."
    )
    nonmember_policy = models.CharField(
        max_length=20, choices=NonMemberPolicy.choices, default=NonMemberPolicy.REJECT
    )
    unauthenticated_policy = models.CharField(
        max_length=20, choices=UnauthenticatedPolicy.choices, default=UnauthenticatedPolicy.AUTO,
        verbose_name="Posts whose sender is not authenticated",
        help_text="Mail whose From domain vouches for it by neither SPF nor DKIM (see "
                  "docs/security.md, Sender authentication).")
    reply_to = models.CharField(max_length=20, choices=ReplyTo.choices, default=ReplyTo.GROUP)
    dmarc_handling = models.CharField(
        max_length=20, choices=DmarcHandling.choices, default=DmarcHandling.AUTO
    )
    subject_tag = models.CharField(max_length=64, blank=True)
    footer_template = models.TextField(blank=True)
    bulk_delivery = models.BooleanField(
        default=False, verbose_name="Bulk delivery (no personal footer)",
        help_text="For very large announcement groups: every member gets one identical copy, "
                  "sent to many members at once, so posts go out far faster. Copies carry no "
                  "personal footer links (the footer's personal parts are left out) and no "
                  "personal unsubscribe link: List-Unsubscribe is the group's unsubscribe "
                  "email address. Bounces are matched to members by reading the bounce "
                  "report itself instead of a per-member return address.")
    max_message_size = models.PositiveIntegerField(default=10 * 1024 * 1024)
    max_attachment_size = models.PositiveIntegerField(default=10 * 1024 * 1024)
    allowed_attachment_types = models.TextField(
        blank=True, help_text="Comma-separated MIME types or prefixes (image/); empty allows all."
    )
    moderation_expiry_days = models.PositiveIntegerField(default=14)
    auto_lock_days = models.PositiveIntegerField(
        default=0, help_text="Lock topics after this many days without a post (0: never)."
    )
    last_message_number = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    suspended = models.BooleanField(
        default=False, help_text="Set by a site admin: the group refuses every post "
                                 "(messageserver.policy) until it is lifted.")

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
        OWNER = "owner", "Owner"
        MODERATOR = "moderator", "Moderator"
        MEMBER = "member", "Member"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING_CONFIRM = "pending_confirm", "Waiting for the subscriber to confirm"
        PENDING_APPROVAL = "pending_approval", "Waiting for owner approval"
        INVITED = "invited", "Invited"
        BANNED = "banned", "Banned"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        REMOVED = "removed", "Removed"

    class Delivery(models.TextChoices):
        INDIVIDUAL = "individual", "Individual messages"
        DIGEST = "digest", "Full-featured digest"
        PLAIN_DIGEST = "plain_digest", "Plain digest"
        SUMMARY = "summary", "Daily summary"
        SPECIAL = "special", "Special notices only"
        NOMAIL = "nomail", "No email"

    class PostingStatus(models.TextChoices):
        DEFAULT = "default", "Group default"
        MODERATED = "moderated", "Moderated"
        NEW_MODERATED = "new_moderated", "New member moderated"
        NOT_ALLOWED = "not_allowed", "Not allowed to post"
        OVERRIDE = "override", "Override: never moderated"

    class Selection(models.TextChoices):
        ALL = "all", "All messages"
        FOLLOWED = "followed", "Followed topics only"
        FOLLOWED_AND_FIRST = "followed_first", "Followed topics and the first message of new topics"

    class BounceState(models.TextChoices):
        OK = "ok", "Delivering"
        BOUNCING = "bouncing", "Bouncing: delivery stopped, probes sent"

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="memberships",
    )
    email = models.EmailField(help_text="The address mail is delivered to and matched on.")
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
        if self.display_name:
            return self.display_name
        if self.user_id and self.user.display_name:
            return self.user.display_name
        return self.email.split("@", 1)[0]


class Hashtag(models.Model):
    class ExpireAction(models.TextChoices):
        LOCK = "lock", "Lock the topic"
        DELETE = "delete", "Delete the topic"

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
        EMAIL = "email", "Email"
        WEB = "web", "Web"
        FEED = "feed", "Feed"
        IMPORT = "import", "Import"

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
    body_html = models.TextField(blank=True, help_text="Sanitised with nh3; safe to show.")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EMAIL)
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
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.group_id}#{self.number} {self.subject}"


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
    path = models.CharField(max_length=500, help_text="Relative to ATTACHMENTS_DIR.")
    content_id = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return self.filename


class HeldMessage(models.Model):
    """A message waiting for a moderator. Its raw bytes live here until decided."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        DISCARDED = "discarded", "Discarded"

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
        help_text="The moderator's edited version, archived and sent instead of raw (which "
                  "stays as received, for the record).")

    class Meta:
        indexes = [models.Index(fields=["group", "state", "created_at"])]

    def __str__(self) -> str:
        return f"held {self.pk} in {self.group_id}: {self.subject}"


class ModerationReason(models.Model):
    """A rejection reason a group's moderators saved, to pick instead of typing it again."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="moderation_reasons")
    title = models.CharField(max_length=100)
    text = models.TextField(help_text="Sent to the poster with the rejection notice.")

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
        default=0, help_text="Copies deferred at least once before their final outcome.")
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["group", "message_number"])]


class TopicPreference(models.Model):
    class Mode(models.TextChoices):
        MUTE = "mute", "Muted"
        FOLLOW = "follow", "Followed"

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="topic_prefs")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="prefs")
    mode = models.CharField(max_length=10, choices=Mode.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "topic"], name="topicpref_unique")
        ]


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
        JOB = "job", "Fan-out job (POST /v1/jobs)"
        MAIL = "mail", "One message (POST /v1/mail)"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Being submitted"
        DONE = "done", "Submitted to Karl"
        FAILED = "failed", "Refused by Karl"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True, help_text="host:pid")
    created_at = models.DateTimeField(default=timezone.now)
    karl_job_id = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"])]


class NoticeTemplate(models.Model):
    """An owner's own wording of one of the group's notices (else the site default)."""

    class Kind(models.TextChoices):
        WELCOME = "welcome", "Welcome"
        GOODBYE = "goodbye", "Goodbye"
        GUIDELINES = "guidelines", "Guidelines"
        REJECTED = "rejected", "Message rejected"
        HELD = "held", "Message held"
        PENDING = "pending", "Subscription pending"
        HELP = "help", "Help"
        CONFIRM_SUBSCRIBE = "confirm_subscribe", "Confirm subscription"
        CONFIRM_UNSUBSCRIBE = "confirm_unsubscribe", "Confirm unsubscription"
        PENDING_OWNER = "pending_owner", "Subscription pending (to owners)"
        DELIVERY_CHANGED = "delivery_changed", "Delivery changed"
        CONFIRM_DELIVERY = "confirm_delivery", "Confirm a delivery change"
        COMMAND_REFUSED = "command_refused", "Command refused"
        COMMAND_DONE = "command_done", "Command done"
        OWNER_FORWARD = "owner_forward", "Message to the owners"
        EXPIRED = "expired", "Held message expired"
        MODERATION_REFUSED = "moderation_refused", "Moderation reply refused"
        RESTORED = "restored", "Membership restored by its link"
        DECLINED = "declined", "Join request declined"

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="notice_templates")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text="Django template syntax; see the defaults for variables.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "kind"], name="notice_unique_kind")
        ]


class Feed(models.Model):
    """An RSS/Atom feed whose new entries become posts to a group (cronjobs.rsscrawler)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="feeds")
    url = models.URLField(max_length=1000)
    title = models.CharField(max_length=200, blank=True)
    poster_email = models.EmailField(help_text="The member the posts come from.")
    subject_prefix = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)
    etag = models.CharField(max_length=500, blank=True)
    modified = models.CharField(max_length=200, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(default=timezone.now)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_warning = models.TextField(
        blank=True, help_text="Why the last read feed was imperfect (ill-formed, wrong "
                              "charset) though its entries were imported; empty when clean.")
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
        ACCEPT = "accept", "Accept (post as if a member)"
        HOLD = "hold", "Hold for moderation"
        REJECT = "reject", "Reject with a reason"
        DISCARD = "discard", "Discard silently"

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
