"""The Django admin for site admins: every model, searchable."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from groups import models


@admin.register(models.User)
class PlatformUserAdmin(UserAdmin):
    list_display = ("username", "email", "display_name", "is_staff", "email_confirmed")
    fieldsets = UserAdmin.fieldsets + (
        ("Preferences", {"fields": ("display_name", "time_zone", "digest_hour", "email_confirmed")}),
    )


@admin.register(models.Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "privacy", "join_policy", "posting_policy", "created_at")
    search_fields = ("name", "title")
    list_filter = ("privacy", "join_policy", "posting_policy")


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("email", "group", "role", "status", "delivery", "posting_status", "bounce_state")
    search_fields = ("email", "display_name")
    list_filter = ("role", "status", "delivery", "bounce_state")
    raw_id_fields = ("user", "group")


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
