"""manage.py dnsrecords [--check]: the DNS records to publish, as zone lines; --check asks the DNS."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from groups.dnsrecords import check_records, expected_records


class Command(BaseCommand):
    help = ("Print the MX, SPF, DKIM and DMARC records GROUPS_DOMAIN must publish (zone-file "
            "lines); with --check, ask the DNS (DNS_CHECK_NAMESERVER or the system's) and say "
            "OK, missing, wrong or unknown for each; exits 1 unless all are OK.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--check", action="store_true", help="check each record live")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if not options["check"]:
            for record in expected_records():
                self.stdout.write(f"; {record.purpose}\n{record.zone_line()}")
            return
        checks = check_records()
        for c in checks:
            found = "; ".join(c.found) or "-"
            note = f" ({c.note})" if c.note else ""
            self.stdout.write(f"{c.status.upper():8} {c.expected.name} {c.expected.rtype}{note}\n"
                              f"         expected: {c.expected.value}\n         found:    {found}")
        if any(c.status != "ok" for c in checks):
            raise CommandError("some DNS records are missing or wrong")
