"""The Django admin for site admins: every model, searchable."""

from collections.abc import Callable

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from groups import models
from messageserver import membership_actions


class UserEmailInline(admin.TabularInline):
    """The account's further addresses (groups.accountemails: verified ones count as it)."""

    model = models.UserEmail
    extra = 0
    fields = ("email", "verified", "make_primary", "created_at")


@admin.register(models.User)
class PlatformUserAdmin(UserAdmin):
    list_display = ("username", "email", "display_name", "is_staff", "email_confirmed")
    search_fields = ("username", "email", "display_name", "emails__email")
    inlines = [UserEmailInline]
    fieldsets = UserAdmin.fieldsets + (
        ("Preferences", {"fields": ("display_name", "time_zone", "digest_hour",
                                    "default_delivery", "language", "email_confirmed")}),
    )


@admin.register(models.Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "privacy", "join_policy", "posting_policy", "created_at")
    search_fields = ("name", "title")
    list_filter = ("privacy", "join_policy", "posting_policy")


def _membership_action(name: str, label: str, call: Callable[..., object]) -> Callable:
    """An admin action that applies one membership action to each selected row
    (the admin's address is the actor in the activity log)."""

    def act(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        changed = sum(call(pk, actor=request.user.email) is not None
                      for pk in queryset.values_list("pk", flat=True))
        modeladmin.message_user(request, f"{label}: {changed} of {queryset.count()} changed.")

    act.__name__ = name
    act.short_description = label  # type: ignore[attr-defined]
    return act


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Memberships; their state changes only through the membership actions (never by
    editing the columns), so the admin obeys the same transitions and sends the same
    notices as the website and email commands."""

    list_display = ("email", "group", "role", "status", "delivery", "posting_status", "bounce_state")
    search_fields = ("email", "display_name")
    list_filter = ("role", "status", "delivery", "bounce_state")
    raw_id_fields = ("user", "group")
    readonly_fields = ("status", "delivery", "posting_status", "bounce_state")
    actions = [
        _membership_action("approve", "Approve join requests", membership_actions.approve),
        _membership_action("decline", "Decline join requests", membership_actions.decline),
        _membership_action("remove", "Remove", membership_actions.remove),
        _membership_action("ban", "Ban", membership_actions.ban),
        _membership_action("unban", "Unban", membership_actions.unban),
        _membership_action("restore", "Restore (removed or bouncing)",
                           lambda pk, actor: membership_actions.restore(pk, actor=actor) or None),
    ] + [
        _membership_action(f"posting_{value}", f"Posting: {label}",
                           lambda pk, actor, v=value: membership_actions.set_posting_status(
                               pk, v, actor=actor))
        for value, label in models.Membership.PostingStatus.choices
    ] + [
        _membership_action(f"delivery_{value}", f"Delivery: {label}",
                           lambda pk, actor, v=value: membership_actions.set_delivery(
                               pk, v, actor=actor))
        for value, label in models.Membership.Delivery.choices
    ]


@admin.register(models.Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("subject", "group", "message_count", "last_post_at", "locked", "sticky")
    search_fields = ("subject",)
    raw_id_fields = ("group", "first_message", "last_message")


@admin.register(models.Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("number", "group", "subject", "sender_email", "date", "source", "deleted")
    search_fields = ("subject", "sender_email", "message_id")
    raw_id_fields = ("group", "topic", "membership")


@admin.register(models.Hashtag)
class HashtagAdmin(admin.ModelAdmin):
    list_display = ("name", "group", "moderated", "no_email", "expires_days", "special_notice")


@admin.register(models.HeldMessage)
class HeldMessageAdmin(admin.ModelAdmin):
    list_display = ("pk", "group", "sender_email", "subject", "reason", "state", "created_at")
    list_filter = ("state",)
    exclude = ("raw",)


@admin.register(models.BounceEvent)
class BounceEventAdmin(admin.ModelAdmin):
    list_display = ("membership", "at", "kind", "status", "source")
    raw_id_fields = ("membership",)


admin.site.register(models.Attachment)
