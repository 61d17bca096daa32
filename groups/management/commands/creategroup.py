"""manage.py creategroup NAME --owner EMAIL [--title T]"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from groups.groupcreation import name_problem
from groups.membership import add_members
from groups.models import Group, Membership


class Command(BaseCommand):
    help = "Create a group with its first owner (an email address; no account needed)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The group's address name: NAME@GROUPS_DOMAIN.")
        parser.add_argument("--owner", required=True, help="The owner's email address.")
        parser.add_argument("--title", default="", help="A human title.")
        parser.add_argument("--description", default="")
        parser.add_argument("--privacy", choices=Group.Privacy.values, default="public")

    def handle(self, *args, **options):
        name = options["name"].strip().lower()
        try:
            validate_email(options["owner"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        problem = name_problem(name)
        if problem:
            raise CommandError(problem)
        group = Group.objects.create(name=name, title=options["title"],
                                     description=options["description"],
                                     privacy=options["privacy"])
        add_members(group, [options["owner"]], role=Membership.Role.OWNER)
        self.stdout.write(self.style.SUCCESS(
            f"Created {group.post_address} owned by {options['owner'].lower()}"))
