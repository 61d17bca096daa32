"""manage.py seeddemo: the demo group of a fresh install, created once."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from groups.membership import add_members
from groups.models import Group, Membership


class Command(BaseCommand):
    help = "Create the 'demo' group with an owner and two members, if it does not exist yet."

    def handle(self, *args, **options):
        # A name reserved for testing (RFC 6761) that publishes nothing: on a machine
        # with working DNS, example.com's SPF "-all" and DMARC p=reject would make
        # sender authentication refuse every post tried from it.
        domain = "example.test"
        group, created = Group.objects.get_or_create(
            name="demo", defaults={"title": "Demo group",
                                   "description": "A group to try the platform with."})
        if created:
            add_members(group, [f"Olivia Owner <owner@{domain}>"], role=Membership.Role.OWNER)
            add_members(group, [f"Alice <alice@{domain}>", f"Bob <bob@{domain}>"])
            self.stdout.write(f"Created the demo group: post to {group.post_address} "
                              f"(members owner@, alice@ and bob@{domain}); mail lands in "
                              f"{settings.DATA_DIR / 'outbox'}")
        else:
            self.stdout.write(f"Demo group {group.post_address} already exists")
